"""Causes first (issue 15, item 8) in real Docker, through ``grade()`` on applied_ml: a notebook
with a SyntaxError, a script whose import fails (with a test of its own that fails, and why),
each graded for real; the reports lead with the cause, show no interval or metric question
without output, keep the kernel's noise out of the candidate's stderr and number cells one way."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nbformat
import pytest
from rich.console import Console

from harness.api import grade
from harness.pipeline import GradeOptions
from harness.reports.html import render_html
from harness.reports.interview import interview_questions
from harness.reports.write import print_summary, render_markdown
from harness.settings import Settings
from harness.streams import KERNEL_NOISE

pytestmark = pytest.mark.docker
MANIFEST = 'assignment = "applied_ml"\n'


@pytest.fixture(scope="module")
def settings(data_dir, session_cache, sandbox_image) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=session_cache, image=sandbox_image, allow_download=False)


def graded(folder: Path, settings: Settings, tmp_path: Path):
    options = GradeOptions(artifacts_dir=tmp_path / "artifacts")
    return grade(folder, settings=settings, options=options)


def terminal(report) -> list[str]:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_summary(report, console)
    return console.file.getvalue().splitlines()


@pytest.fixture(scope="module")
def syntax_notebook(settings, tmp_path_factory):
    """Markdown first, then a code cell whose second line is broken, then one that would write."""
    tmp = tmp_path_factory.mktemp("syntax-notebook")
    folder = tmp / "submission"
    folder.mkdir()
    (folder / "submission.toml").write_text(MANIFEST)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Spam classifier"),
        nbformat.v4.new_code_cell("import pandas as pd\ndef load(:\n    return pd.read_csv('/data/train.csv')"),
        nbformat.v4.new_code_cell("load().head(3).to_csv('/output/predictions.csv')"),
    ]
    nbformat.write(nb, folder / "solution.ipynb")
    return graded(folder, settings, tmp), tmp


def test_a_notebook_syntax_error_is_the_first_message(syntax_notebook):
    report, _ = syntax_notebook
    first = report.messages[0]
    assert first.code == "syntax_error", [m.code for m in report.messages]
    assert "notebook cell 2, line 2" in first.text and "SyntaxError" in first.text
    codes = [m.code for m in report.messages]
    assert "no_output" in codes[1:]  # the consequence comes after its cause
    lines = terminal(report)
    assert lines[2].startswith("cause SyntaxError at notebook cell 2, line 2"), lines[:4]
    md = render_markdown(report).replace("\\", "")
    assert md.index("**Cause:** SyntaxError at notebook cell 2") < md.index("| Criterion |")


def test_no_interval_and_no_metric_question_without_output(syntax_notebook):
    report, _ = syntax_notebook
    assert report.metrics["f1"] == 0.0  # the floor the rubric scores
    page = render_html(report)
    assert not re.search(r"0\.000 ?– ?0\.000", page) and "no output to measure" in page
    md = render_markdown(report)
    assert "f1\\_ci\\_low" not in md and "No output to measure" in md
    questions = interview_questions(report)
    assert not any(re.search(r"F1|baseline|precision|0\.000", q) for q in questions), questions
    assert any("cell 2" in q for q in questions), questions


def test_one_cell_numbering_in_run_lint_and_html(syntax_notebook):
    report, _ = syntax_notebook
    run = next(g for g in report.graders if g.grader == "run")
    assert [e["cell"] for e in run.details["cell_errors"]][:1] == [2]
    lint = next(g for g in report.graders if "lint" in g.details).details["lint"]
    syntax = [f for f in lint["worst"] if f.get("category") == "syntax"]
    assert syntax and {f["cell"] for f in syntax} == {2}, lint["worst"]
    page = render_html(report)
    assert "cell 2: SyntaxError" in page and "cell 1: SyntaxError" not in page
    assert "numbered from 1, Markdown cells included" in page


def test_the_kernels_noise_is_not_in_the_candidates_stderr(syntax_notebook):
    report, tmp = syntax_notebook
    shown = report.sandbox.stderr.text
    assert "SyntaxError" in shown and "[cell 2]" in shown and "[cell 1]" not in shown
    assert not any(p.fullmatch(line) for line in shown.splitlines() for p in KERNEL_NOISE)
    raw = (tmp / "artifacts" / "stderr.txt").read_text()
    assert "[cell 1]" in raw  # the full log is the runner's raw capture
    noisy = [line for line in raw.splitlines() if any(p.fullmatch(line) for p in KERNEL_NOISE)]
    print(f"kernel noise lines in the raw log: {len(noisy)}")


def test_a_clean_notebooks_stderr_box_has_no_kernel_warning(settings, tmp_path):
    """With nothing on the cells' stderr, the log shown is the kernel process's own: its TCP
    warning is the only line there, and it is not the candidate's."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "submission.toml").write_text(MANIFEST)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import pandas as pd\nprint('predicting')\n"
            "pd.read_csv('/data/test.csv')[['id']].assign(label='ham').to_csv('/output/predictions.csv', index=False)"
        )
    ]
    nbformat.write(nb, folder / "solution.ipynb")
    report = graded(folder, settings, tmp_path)
    assert report.sandbox.verdict == "ok" and report.sandbox.stdout.text.strip() == "[cell 1] predicting"
    assert "Kernel is running over TCP" not in report.sandbox.stderr.text
    assert "Kernel is running over TCP" not in render_html(report) + render_markdown(report)
    raw = (tmp_path / "artifacts" / "stderr.txt").read_text()
    assert "Kernel is running over TCP" in raw  # the full log keeps everything
    assert not any(m.code == "stderr_traceback" for m in report.messages)


@pytest.fixture(scope="module")
def import_error_script(settings, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import-error")
    folder = tmp / "submission"
    folder.mkdir()
    (folder / "submission.toml").write_text(MANIFEST)
    (folder / "predict.py").write_text(
        '"""Trains a boosted model."""\n\nimport pandas as pd\nimport xgboost\n\nprint(pd, xgboost)\n'
    )
    (folder / "features.py").write_text("def tokens(text):\n    return [t for t in text.split() if t.isalpha()]\n")
    (folder / "test_features.py").write_text(
        "from features import tokens\n\n\n"
        "def test_keeps_words():\n    assert tokens('free prize') == ['free', 'prize']\n\n\n"
        "def test_keeps_digits():\n"
        "    assert tokens('call 0800 now') == ['call', '0800', 'now'], '<b>the tokenizer drops digits</b>'\n"
    )
    return graded(folder, settings, tmp)


def test_an_import_error_is_the_first_message(import_error_script):
    report = import_error_script
    first = report.messages[0]
    assert first.code == "module_missing", [m.code for m in report.messages]
    assert "predict.py line 4" in first.text and "'xgboost'" in first.text
    assert terminal(report)[2].startswith("cause ModuleNotFoundError at predict.py line 4")


def test_the_candidates_failing_test_shows_its_reason(import_error_script):
    report = import_error_script
    pytest_result = next(g for g in report.graders if g.grader == "pytest")
    assert pytest_result.measurements["candidate_tests_failed"] == 1.0
    failed = [m for m in pytest_result.messages if m.code == "candidate_test_failed"]
    assert len(failed) == 1 and failed[0].visibility == "reviewer"
    assert "test_features.py::test_keeps_digits: failed" in failed[0].text
    assert "<b>the tokenizer drops digits</b>" in failed[0].text
    page = render_html(report)
    assert "&lt;b&gt;the tokenizer drops digits&lt;/b&gt;" in page and "<b>the tokenizer" not in page
    md = render_markdown(report)
    assert "test\\_keeps\\_digits" in md and "the tokenizer drops digits" in md
    assert "<b>" not in md
    json.dumps(report.model_dump(mode="json"))
