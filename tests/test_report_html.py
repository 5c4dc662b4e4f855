"""report.html (self-contained, strict CSP, everything escaped), the sanitised notebook page,
write_reports wiring, and the interview questions. No browser here: see test_report_html_browser."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from sample_reports import needs_review_report, realistic_report, rejected_report

from harness.models import SandboxRun, StreamCapture, Verdict
from harness.reports.assembly import ARTIFACTS_STAMP
from harness.reports.html import CSP, render_html
from harness.reports.interview import interview_questions, self_reported
from harness.reports.notebook import render_notebook
from harness.reports.write import write_reports


class _Tags(HTMLParser):
    """Collects every start tag and attribute, to prove nothing active is in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def assert_inert(page: str) -> None:
    tags = parse(page)
    names = {t for t, _ in tags}
    assert not names & {"script", "iframe", "object", "embed", "form", "base", "link"}, names
    for tag, attrs in tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not value.startswith(("http:", "https:", "//", "javascript:")), (tag, attrs)
    csp = [a for t, a in tags if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert csp and "default-src 'none'" in csp[0]["content"] and "script-src" not in csp[0]["content"]


def test_page_is_self_contained_with_a_strict_csp():
    page = render_html(realistic_report())
    assert_inert(page)
    assert f'content="{CSP.replace(chr(39), "&#x27;")}"' in page
    assert page.index("Content-Security-Policy") < page.index("<style>")  # the policy comes before any content


def test_candidate_text_is_escaped_everywhere():
    page = render_html(realistic_report())
    assert "<script>" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "\x00" not in page and "\x07" not in page and "\x1b" not in page


def test_page_shows_what_a_reviewer_needs_in_order():
    page = render_html(realistic_report())
    sections = [
        'id="score"',
        'id="scorecard"',
        'id="questions"',
        'id="metrics"',
        'id="quality"',
        'id="run"',
        'id="messages"',
        'id="provenance"',
    ]
    positions = [page.index(s) for s in sections]
    assert positions == sorted(positions)
    assert ">80.5<" in page or ">80.6<" in page  # the score, at the top
    for title in ("Holdout performance (F1 on spam)", "Engineering habits", "Approach and validation (reviewer)"):
        assert title in page
    assert "0.780 – 0.870" in page  # the confidence interval
    assert page.count("<svg") == 4  # metric vs baselines, confusion matrix, PR curve, lint by category
    assert "naive bayes" in page and "guide for levels 1–5" in page
    assert "return eval(x)" in page  # lint excerpt with its code
    assert "sha256:" + "1" * 64 in page  # provenance: image id


def test_needs_review_and_rejected_reports_render():
    page = render_html(needs_review_report())
    assert "Needs review." in page and "not scored" in page and ">–<" in page
    assert "ruff exited with 2" in page
    page = render_html(rejected_report())
    assert "Rejected." in page and "../../etc/passwd" in page
    assert_inert(page)


def test_a_report_without_predictions_or_quality_still_renders():
    report = realistic_report().model_copy(update={"graders": [], "sandbox": None, "criteria": []})
    page = render_html(report)
    assert 'id="metrics"' not in page and 'id="quality"' not in page
    assert len(re.findall(r"<li>", page.split('id="questions"')[1].split("</section>")[0])) >= 3


# --- interview questions ---------------------------------------------------------------------


def test_questions_come_from_the_evidence():
    questions = interview_questions(realistic_report())
    assert 3 <= len(questions) <= 5
    joined = "\n".join(questions)
    assert "0.12 below the validation score you printed (0.830 against 0.950)" in joined
    assert "naive bayes baseline (0.930)" in joined
    assert "labels 13 ham message(s) as spam and misses 34 spam" in joined


def test_questions_for_a_crash_lead_with_the_crash():
    report = realistic_report()
    crashed = SandboxRun(
        verdict=Verdict.CRASHED,
        exit_code=1,
        timeout_s=120,
        stderr=StreamCapture(text="Traceback (most recent call last):\n  File x\nKeyError: 'label'\n"),
    )
    questions = interview_questions(report.model_copy(update={"sandbox": crashed}))
    assert questions[0].startswith("Your code crashed") and "KeyError: 'label'" in questions[0]
    assert 3 <= len(questions) <= 5


def test_rejected_report_still_gets_three_questions():
    assert len(interview_questions(rejected_report())) == 3


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("5-fold CV F1 on train: 0.960 +/- 0.012\n", 0.96),
        ("validation f1=0.91\n", 0.91),
        ("epoch 3 loss 0.2\nF1: 0.8\n", None),  # not a validation score
        ("cv accuracy 0.97\n", None),  # another metric
    ],
)
def test_self_reported_scores(stdout, expected):
    assert self_reported(stdout, "f1") == expected


# --- notebook page and wiring ----------------------------------------------------------------


def hostile_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Title\n<script>alert(1)</script><img src=x onerror=alert(2)>"
            "<meta http-equiv=refresh content='0;url=https://evil.example'>"
        ),
        nbformat.v4.new_code_cell(
            "print(1)",
            execution_count=1,
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": "<div onclick='x()'>ok<iframe src='https://evil.example'></iframe>"
                        "<a href='javascript:alert(3)'>link</a><script>alert(4)</script></div>",
                        "text/plain": "x",
                    },
                ),
                nbformat.v4.new_output(
                    "display_data", data={"image/svg+xml": "<svg onload='alert(5)'/>", "text/plain": "x"}
                ),
                nbformat.v4.new_output("error", ename="ValueError", evalue="<bad>", traceback=["ValueError: <bad>"]),
            ],
        ),
    ]
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def test_executed_notebook_is_rendered_sanitised_and_under_the_csp(tmp_path):
    source = hostile_notebook(tmp_path / "executed.ipynb")
    assert render_notebook(source, tmp_path / "notebook.html") is None
    page = (tmp_path / "notebook.html").read_text()
    assert_inert(page)
    assert "<h1" in page and "Title" in page  # Markdown still renders as headings
    assert "refresh" not in page.lower().replace("&", "")
    assert "ValueError" in page


def notebook_run_report():
    """The realistic report, graded from a notebook entry point (only then is a notebook rendered)."""
    report = realistic_report()
    return report.model_copy(update={"provenance": {**report.provenance, "entry_kind": "notebook"}})


def test_unreadable_notebook_is_a_note_not_a_crash(tmp_path):
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / ARTIFACTS_STAMP).write_text(realistic_report().submission.sha256)
    (tmp_path / "artifacts" / "executed.ipynb").write_text("{not a notebook")
    paths = write_reports(notebook_run_report(), tmp_path)
    page = paths["html"].read_text()
    assert "executed notebook not rendered" in page
    assert not (tmp_path / "artifacts" / "notebook.html").exists()


def test_write_reports_writes_every_format_and_links_artifacts(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / ARTIFACTS_STAMP).write_text(realistic_report().submission.sha256 + "\n")
    hostile_notebook(artifacts / "executed.ipynb")
    (artifacts / "stdout.txt").write_text("out\n")
    paths = write_reports(notebook_run_report(), tmp_path)
    assert {k: p.name for k, p in paths.items()} == {
        "json": "report.json",
        "md": "report.md",
        "html": "report.html",
        "junit": "junit.xml",
    }
    page = paths["html"].read_text()
    assert 'href="artifacts/notebook.html"' in page and 'href="artifacts/stdout.txt"' in page
    assert (artifacts / "notebook.html").is_file()


@pytest.mark.parametrize("stamp", [None, "cd" * 32, ""])
def test_artifacts_of_another_submission_are_never_linked(tmp_path, stamp):
    # issue 13, attack 9: a report linked the stale notebook another candidate left in the folder
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    if stamp is not None:
        (artifacts / ARTIFACTS_STAMP).write_text(stamp + "\n")
    hostile_notebook(artifacts / "executed.ipynb")
    (artifacts / "stdout.txt").write_text("someone else's log\n")
    page = write_reports(realistic_report(), tmp_path)["html"].read_text()
    assert 'href="artifacts/' not in page
    assert "not from this submission" in page
    assert not (artifacts / "notebook.html").exists(), "the other submission's notebook was rendered"
