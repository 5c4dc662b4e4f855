"""``junit.xml``: one test case per rubric criterion, for CI systems that show JUnit results.

- an automated criterion at or above its pass level passes;
- below it: ``<failure type="below_pass_level">`` with the evidence;
- an automated criterion with no level (its grader failed): ``<error>`` — our problem, not a fail;
- a human criterion: ``<skipped>`` (the panel scores it);
- a rejected submission (no criteria): one ``submission`` case with a failure.

Every string is XML-escaped by ElementTree, after removing characters XML 1.0 cannot carry
(control characters, surrogates, U+FFFE/U+FFFF), so any candidate text yields a valid file;
invisible format characters (bidi overrides, zero-width) are shown as ``⟨U+202E⟩`` escapes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.models import CriterionScore, GradeReport
from harness.visible import visible

_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: object) -> str:
    """``text`` without the characters XML 1.0 forbids, invisible format characters made visible."""
    return visible(_XML_INVALID.sub("", str(text)))


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = xml_safe(text)
    return element


def _case(suite: ET.Element, classname: str, c: CriterionScore) -> str:
    """Add the test case for ``c``; return its outcome (passed, failure, error, skipped)."""
    case = _el(suite, "testcase", classname=classname, name=f"{c.id}: {c.title}", time="0")
    evidence = "\n".join(c.evidence)
    if c.kind == "human":
        guide = "\n".join(f"level {k}: {v}" for k, v in sorted(c.guide.items()))
        _el(case, "skipped", guide or None, message="human criterion: scored by the review panel")
        return "skipped"
    if c.level is None:
        _el(case, "error", evidence, message="not scored: a grader failed; the report needs review", type="not_scored")
        return "error"
    points = "" if c.score is None else f"; {c.score:.1f}/{c.max_score:.1f} points"
    if c.passed is False:
        need = f" (pass level {c.pass_level})" if c.pass_level else ""
        _el(
            case,
            "failure",
            evidence,
            message=f"level {c.level} of 5, below the pass level{need}{points}",
            type="below_pass_level",
        )
        return "failure"
    _el(case, "system-out", f"level {c.level} of 5{points}\n{evidence}")
    return "passed"


def render_junit(report: GradeReport) -> str:
    classname = f"holdout.{report.assignment.id}"
    root = ET.Element("testsuites", {"name": "holdout"})
    suite = _el(root, "testsuite", name=classname, timestamp=None, hostname=None)
    props = _el(suite, "properties")
    for name, value in (
        ("score", "" if report.score is None else f"{report.score:.2f}"),
        ("max_score", f"{report.max_score:.0f}"),
        ("status", report.status),
        ("submission", report.submission.name),
        ("submission_sha256", report.submission.sha256),
        ("verdict", report.sandbox.verdict.value if report.sandbox else ""),
        ("schema_version", report.schema_version),
    ):
        _el(props, "property", name=name, value=value)
    outcomes = [_case(suite, classname, c) for c in report.criteria]
    if report.status == "rejected":
        case = _el(suite, "testcase", classname=classname, name="submission: accepted for grading", time="0")
        _el(case, "failure", "\n".join(m.text for m in report.messages), message="submission rejected", type="rejected")
        outcomes.append("failure")
    durations = {k: v for k, v in report.timings.items() if not k.endswith("_at")}  # started_at is a timestamp
    total_time = durations.get("total_s", sum(durations.values()))
    counts = {k: outcomes.count(k) for k in ("failure", "error", "skipped")}
    for element in (root, suite):
        element.set("tests", str(len(outcomes)))
        element.set("failures", str(counts["failure"]))
        element.set("errors", str(counts["error"]))
        element.set("skipped", str(counts["skipped"]))
        element.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
