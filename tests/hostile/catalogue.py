"""The catalogue's machinery: a :class:`Case` is a hostile submission built in the test plus the
:class:`Expect`-ed outcome; :func:`drive_api` grades it end to end through
:func:`harness.api.grade` (real Docker, real applied_ml data) and writes every report format;
:func:`check_invariants` then asserts, for every case alike:

- no holdout container is left behind (by owner-pid label);
- nothing is left in the temp dir the harness used (job dirs, pytest temp dirs);
- nothing outside the job dir changed: the host folder the attacks aim at, the prepared data
  (public inputs *and* hidden labels) and the submission itself are byte-for-byte unchanged;
- the hidden labels never became readable: no run of hidden-label rows and no host secret (a
  file's content, an environment variable) appears in any report, artifact or log, and no
  hostile submission reaches a near-perfect F1 (which only the labels would give it);
- every report renders from the candidate's text without active content: ``junit.xml`` parses,
  ``report.html`` (and the rendered notebook) carries the CSP and holds no script, event
  handler or ``javascript:`` URL, and ``report.md`` rendered as HTML holds none either.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import resource
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HoldoutError
from harness.models import GradeReport, SandboxRun, Verdict
from harness.settings import Settings

GROUPS = ("archive", "notebook", "output", "runtime", "report", "harness")
TEST_ID = "tests/hostile/test_catalogue.py::test_case[{id}]"
REPORT_FILES = {"report.json", "report.md", "report.html", "junit.xml"}
ARTIFACT_FILES = {
    "executed.ipynb",
    "notebook.html",
    "stdout.txt",
    "stderr.txt",
    "submission.sha256",
    "gateway-calls.jsonl",
}  # + the model gateway's call log (issue 14)
LEAK_F1 = 0.99
"""No hostile submission trains a model: an F1 this high could only come from the labels."""


@dataclass
class Env:
    """What a case may build with and what the invariants watch."""

    tmp: Path
    """The case's own folder: submissions are built here."""
    tmp_root: Path
    """The temp dir the harness runs with (``tempfile.tempdir`` / ``TMPDIR``); empty afterwards."""
    host_target: Path
    """A host folder with a secret file: what attacks aim at; must stay unchanged and unread."""
    hidden_labels: Path
    """The real hidden labels file on the host (attacks point links at it)."""
    secret: str
    """Also in the harness's environment (``HOLDOUT_HOST_SECRET``): must never reach a report."""
    settings: Settings
    assignments: dict[str, Path]
    """Variant name → assignment folder (``lean``, ``real``, ``short_cells``, ``small_intake``)."""
    prepared: Path
    """The prepared data folder of applied_ml (inputs and hidden)."""
    extra: dict = field(default_factory=dict)
    """What a case's build wants its check to see (snapshots taken before the run)."""


@dataclass
class Outcome:
    report: GradeReport | None
    out_dir: Path
    error: Exception | None = None
    runs: list[SandboxRun] = field(default_factory=list)
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    owner_pids: tuple[int, ...] = ()
    duration_s: float = 0.0
    rss_growth_mb: float = 0.0
    docker: bool = True

    @property
    def codes(self) -> set[str]:
        """Every message code in the report: pipeline, candidate-visible and reviewer-only."""
        if self.report is None:
            return set()
        codes = {m.code for m in self.report.messages}
        codes |= {m.code for g in self.report.graders for m in g.messages}
        return codes

    @property
    def text(self) -> str:
        """Every message text (for "names the offending member" checks)."""
        if self.report is None:
            return str(self.error or "") + self.stderr
        parts = [m.text for m in self.report.messages] + [m.text for g in self.report.graders for m in g.messages]
        return "\n".join(parts)


@dataclass(frozen=True)
class Expect:
    """The outcome a case must get. Fields left None are not checked (the invariants always are)."""

    status: str | None = "graded"
    reason: str | None = None
    """For ``rejected``: the intake reason code (the message code is ``rejected_<reason>``)."""
    names: str | None = None
    """Text the messages (or the error) must contain: the offending member, file or limit."""
    verdict: Verdict | None = None
    messages: tuple[str, ...] = ()
    """Message codes that must appear (candidate-visible or reviewer-only)."""
    max_score: float | None = None
    min_score: float | None = None
    raises: type[HoldoutError] | None = None
    """The error ``grade()`` must raise instead of returning a report."""
    exit_code: int | None = None
    """For cases driven through the ``grade`` CLI."""
    runs: int | None = None
    """How many sandbox containers may start (0: nothing of the submission ran)."""
    check: Callable[[Outcome, Env], None] | None = None
    """Case-specific assertions, after the generic ones."""
    note: str = ""
    """The outcome in words where the fields do not say it all (for docs/security.md)."""

    def describe(self) -> str:
        parts: list[str] = []
        if self.raises is not None:
            parts.append(f"`{self.raises.__name__}` (exit {self.raises.exit_code})")
        elif self.status == "rejected":
            parts.append(f"rejected `{self.reason}` (exit 3)")
        elif self.status:
            parts.append(self.status)
        if self.exit_code is not None:
            parts.append(f"exit {self.exit_code}")
        if self.names:
            parts.append(f"message names {self.names!r}")
        if self.verdict is not None:
            parts.append(f"verdict `{self.verdict.value}`")
        if self.messages:
            parts.append("messages " + ", ".join(f"`{m}`" for m in self.messages))
        if self.max_score is not None and self.status != "rejected":
            parts.append(f"score ≤ {self.max_score:g}")
        if self.min_score is not None:
            parts.append(f"score ≥ {self.min_score:g}")
        if self.runs == 0:
            parts.append("nothing run")
        elif self.runs is not None:
            parts.append(f"{self.runs} containers")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    attack: str
    """What the submission does, in words (for docs/security.md)."""
    build: Callable[[Env], Path]
    """Writes the submission under ``env.tmp`` and returns its path."""
    expect: Expect
    assignment: str | None = "lean"
    """Which variant grades it (``env.assignments``); None: the submission's own manifest decides."""
    timeout_s: float | None = None
    """A short wall-clock limit for cases that hang (GradeOptions.timeout_s)."""
    drive: Callable[[Case, Env, Path], Outcome] | None = None
    """How the built submission is graded; default :func:`drive_api`."""
    browser: bool = False
    """Also open report.html (and the notebook page) in headless Chromium."""

    def __post_init__(self) -> None:
        assert self.group in GROUPS, self.group


# --- driving --------------------------------------------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drive_api(case: Case, env: Env, submission: Path) -> Outcome:
    """Grade in-process through :func:`harness.api.grade`, counting the containers started."""
    from harness.api import docker_runner, grade
    from harness.pipeline import GradeOptions
    from harness.reports.write import write_reports

    out_dir = env.tmp / "out"
    runner, tag, python = docker_runner(env.settings.image, env.settings)
    runs: list[SandboxRun] = []

    def counting(request):
        run = runner(request)
        runs.append(run)
        return run

    options = GradeOptions(
        image=tag, image_python=python, timeout_s=case.timeout_s, artifacts_dir=out_dir / "artifacts"
    )
    assignment = env.assignments[case.assignment] if case.assignment else None
    before, started = _maxrss_mb(), time.monotonic()
    report, error = None, None
    try:
        report = grade(submission, assignment, settings=env.settings, options=options, runner=counting)
    except HoldoutError as exc:
        error = exc
    duration = time.monotonic() - started
    if report is not None:
        write_reports(report, out_dir)
    return Outcome(
        report=report,
        out_dir=out_dir,
        error=error,
        runs=runs,
        owner_pids=(os.getpid(),),
        duration_s=duration,
        rss_growth_mb=_maxrss_mb() - before,
        docker=bool(runs),
    )


# --- the expected outcome -------------------------------------------------------------------


def check_expected(case: Case, outcome: Outcome, env: Env) -> None:
    exp, report = case.expect, outcome.report
    summary = _summary(outcome)
    if exp.raises is not None:
        assert isinstance(outcome.error, exp.raises), (f"expected {exp.raises.__name__}", summary)
    elif exp.status is not None:
        assert outcome.error is None, ("grade() raised", repr(outcome.error), summary)
        assert report is not None and report.status == exp.status, (f"expected status {exp.status}", summary)
    if exp.exit_code is not None:
        assert outcome.exit_code == exp.exit_code, (f"expected exit {exp.exit_code}", summary)
    if exp.reason is not None:
        assert f"rejected_{exp.reason}" in outcome.codes, (f"expected rejection reason {exp.reason}", summary)
    if exp.names is not None:
        assert exp.names in outcome.text, (f"the message should name {exp.names!r}", summary)
    if exp.verdict is not None:
        assert report is not None and report.sandbox is not None, summary
        assert report.sandbox.verdict == exp.verdict, (f"expected verdict {exp.verdict.value}", summary)
    missing = [code for code in exp.messages if code not in outcome.codes]
    assert not missing, (f"missing message codes {missing}", summary)
    if exp.max_score is not None:
        assert report is not None and report.score is not None and report.score <= exp.max_score, summary
    if exp.min_score is not None:
        assert report is not None and report.score is not None and report.score >= exp.min_score, summary
    if exp.runs is not None:
        assert len(outcome.runs) == exp.runs, (
            f"expected {exp.runs} container run(s), got {len(outcome.runs)}",
            summary,
        )
    if exp.check is not None:
        exp.check(outcome, env)


def _summary(outcome: Outcome) -> dict:
    report = outcome.report
    if report is None:
        return {"error": repr(outcome.error), "exit": outcome.exit_code, "stderr": outcome.stderr[-1500:]}
    run = report.sandbox
    return {
        "status": report.status,
        "score": report.score,
        "verdict": run and run.verdict.value,
        "exit_code": run and run.exit_code,
        "codes": sorted(outcome.codes),
        "messages": [m.text[:200] for m in report.messages][:12],
        "stderr": run and run.stderr.text[-800:],
        "runner": run and run.runner,
        "grader_errors": [g.error for g in report.graders if g.error],
    }


# --- the invariants -------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed): type, mode, size and content hash."""
    found: dict[str, tuple] = {}
    if not os.path.lexists(root):
        return found
    if not root.is_dir() or root.is_symlink():
        st = root.lstat()
        return {"": (st.st_mode, st.st_size, hashlib.sha256(root.read_bytes()).hexdigest() if root.is_file() else "")}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_symlink():
                digest = os.readlink(path)
            found[str(path.relative_to(root))] = (st.st_mode, st.st_size if not path.is_dir() else 0, digest)
    return found


@dataclass
class Watch:
    """What the invariants compare before and after a case."""

    submission: Path
    host_target: dict
    prepared: dict
    source: dict

    @classmethod
    def take(cls, env: Env, submission: Path) -> Watch:
        return cls(
            submission=submission,
            host_target=snapshot(env.host_target),
            prepared=snapshot(env.prepared),
            source=snapshot(submission),
        )


def label_windows(hidden_labels: Path, count: int = 8, size: int = 4) -> list[str]:
    """Runs of ``size`` consecutive hidden-label rows that mix both labels: no all-ham or all-spam
    output can contain one, and any dump of the labels file does."""
    rows = hidden_labels.read_text(encoding="utf-8").splitlines()[1:]
    windows = []
    for start in range(0, len(rows) - size, size):
        chunk = rows[start : start + size]
        if len({row.rsplit(",", 1)[-1] for row in chunk}) > 1:
            windows.append("\n".join(chunk))
        if len(windows) >= count:
            break
    return windows


def _read_all(root: Path) -> dict[str, str]:
    texts = {}
    if not root.exists():
        return texts
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            texts[str(path.relative_to(root))] = path.read_bytes()[: 80 * 2**20].decode("utf-8", "replace")
    return texts


class ActiveContent(html.parser.HTMLParser):
    """Finds anything in an HTML page that could run or load: script-ish elements, event-handler
    attributes, ``javascript:``/``vbscript:``/``data:text/html`` URLs, meta refresh."""

    ELEMENTS = frozenset({"script", "iframe", "frame", "object", "embed", "applet", "base", "form", "link", "portal"})
    URL_ATTRS = frozenset(
        {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcdoc", "background"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.csp = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.ELEMENTS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            squeezed = "".join(ch for ch in value if ch > " ").lower()
            if name in self.URL_ATTRS and squeezed.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.found.append(f"<{tag} {name}={value[:40]}>")
        if tag == "meta":
            attr = {k: (v or "") for k, v in attrs}
            if attr.get("http-equiv", "").lower() == "refresh":
                self.found.append("<meta refresh>")
            if attr.get("http-equiv", "").lower() == "content-security-policy" and "default-src 'none'" in attr.get(
                "content", ""
            ):
                self.csp = True

    handle_startendtag = handle_starttag


def active_content(page: str) -> ActiveContent:
    parser = ActiveContent()
    parser.feed(page)
    parser.close()
    return parser


def check_reports(out_dir: Path) -> None:
    """Every rendered format is inert and well-formed, whatever the candidate wrote."""
    from markdown_it import MarkdownIt

    names = {p.name for p in out_dir.iterdir()}
    assert names <= REPORT_FILES | {"artifacts"}, f"unexpected files in the report folder: {names - REPORT_FILES}"
    artifacts = out_dir / "artifacts"
    if artifacts.exists():
        extra = {p.name for p in artifacts.iterdir()} - ARTIFACT_FILES
        assert not extra, f"unexpected artifacts (names the candidate chose?): {extra}"
        for path in artifacts.iterdir():
            assert path.is_file() and not path.is_symlink(), f"artifact {path.name} is not a regular file"
    ET.fromstring((out_dir / "junit.xml").read_bytes())  # parses: escaped, no forbidden characters
    page = active_content((out_dir / "report.html").read_text(encoding="utf-8"))
    assert page.csp, "report.html lacks its Content-Security-Policy"
    assert not page.found, f"report.html holds active content: {page.found[:5]}"
    notebook = artifacts / "notebook.html"
    if notebook.exists():
        nb_page = active_content(notebook.read_text(encoding="utf-8"))
        assert nb_page.csp, "notebook.html lacks its Content-Security-Policy"
        assert not nb_page.found, f"notebook.html holds active content: {nb_page.found[:5]}"
    rendered = MarkdownIt("commonmark", {"html": True}).render((out_dir / "report.md").read_text(encoding="utf-8"))
    md_page = active_content(rendered)
    assert not md_page.found, f"report.md renders to active content: {md_page.found[:5]}"
    for tag in ("<img", "<svg", "<a ", "<details", "<style"):
        assert tag not in rendered, f"report.md lets candidate HTML through ({tag})"


def holdout_containers(client, pids: tuple[int, ...]) -> list[str]:
    found = []
    for pid in pids:
        found += [
            c.short_id
            for c in client.containers.list(all=True, filters={"label": f"io.holdout.pid={pid}"}, sparse=True)
        ]
    return found


def check_invariants(case: Case, outcome: Outcome, env: Env, watch: Watch, client) -> None:
    left = holdout_containers(client, outcome.owner_pids) if client is not None else []
    assert not left, f"containers left behind: {left}"
    leftovers = sorted(p.name for p in env.tmp_root.iterdir())
    assert not leftovers, f"left in the harness's temp dir: {leftovers}"
    assert snapshot(env.host_target) == watch.host_target, "the host folder the attack aimed at changed"
    assert snapshot(env.prepared) == watch.prepared, "the prepared data (inputs or hidden labels) changed"
    assert snapshot(watch.submission) == watch.source, "the submission itself changed"
    texts = _read_all(outcome.out_dir)
    texts["<error>"] = str(outcome.error or "") + (
        outcome.error.hint if isinstance(outcome.error, HoldoutError) else ""
    )
    texts["<cli stdout>"], texts["<cli stderr>"] = outcome.stdout, outcome.stderr
    windows = label_windows(env.hidden_labels)
    for name, text in texts.items():
        assert env.secret not in text, f"a host secret reached {name}"
        hits = [w for w in windows if w in text]
        assert not hits, f"hidden labels reached {name}"
    report = outcome.report
    if report is not None:
        f1 = report.metrics.get("f1")
        assert f1 is None or f1 < LEAK_F1, f"F1 {f1}: a hostile submission cannot score this without the labels"
    if (outcome.out_dir / "report.json").exists():
        check_reports(outcome.out_dir)
