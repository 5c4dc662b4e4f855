"""junit.xml: one test case per criterion, valid XML whatever the candidate wrote."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sample_reports import HOSTILE, needs_review_report, realistic_report, rejected_report

from harness.reports.junit import render_junit, xml_safe


def cases(xml_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml_text.encode("utf-8"))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return {case.get("name", "").split(":")[0]: case for case in suite.findall("testcase")}


def test_one_case_per_criterion_with_failures_below_the_pass_level():
    text = render_junit(realistic_report())
    root = ET.fromstring(text.encode("utf-8"))
    suite = root.find("testsuite")
    found = cases(text)
    assert list(found) == ["holdout_performance", "runs_cleanly", "lint", "habits", "approach"]
    assert found["holdout_performance"].find("failure") is None
    failure = found["lint"].find("failure")
    assert failure is not None and failure.get("type") == "below_pass_level"
    assert "level 2 of 5" in failure.get("message") and "pass level 3" in failure.get("message")
    assert HOSTILE in failure.text  # escaped in the file, intact once parsed
    assert found["approach"].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "0",
        "1",
    )
    assert suite.get("time") == "43.100"  # the step durations, not the started_at timestamp
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["score"] == "80.55" and props["status"] == "graded" and props["verdict"] == "ok"


def test_unscored_criteria_are_errors_not_failures():
    found = cases(render_junit(needs_review_report()))
    assert found["lint"].find("error") is not None and found["lint"].find("failure") is None


def test_rejected_submission_is_one_failing_case():
    found = cases(render_junit(rejected_report()))
    assert list(found) == ["submission"]
    assert "etc/passwd" in found["submission"].find("failure").text


def test_characters_xml_cannot_carry_are_removed():
    report = realistic_report()
    report.criteria[2].evidence.append("nul\x00 bell\x07 esc\x1b ]]> surrogate \ud800 fffe\ufffe ok")
    text = render_junit(report)
    failure = cases(text)["lint"].find("failure")  # parses: the file is valid XML 1.0
    assert "nul bell esc ]]> surrogate  fffe ok" in failure.text
    assert xml_safe("a\x0bb\tc\n") == "ab\tc\n"
