"""Causes first (issue 15, item 8), fast: the root cause read from trusted facts and a bounded
parse of the candidate's stderr; the kernel's noise left out; one cell numbering; no interval
or metric question without output. The same runs for real in ``test_causes_docker.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.base import GradeContext
from graders.causes import last_exception
from graders.run import RunGrader
from harness.models import GraderResult, Message, SandboxRun, StreamCapture, Verdict
from harness.reports.assembly import _cause_first
from harness.reports.html import render_html
from harness.reports.interview import interview_questions
from harness.reports.write import render_markdown
from harness.spec import AssignmentSpec
from harness.streams import shown_run, shown_stream
from tests.sample_reports import realistic_report

SCRIPT_SYNTAX = '  File "/submission/predict.py", line 3\n    def f(:\n          ^\nSyntaxError: invalid syntax\n'
SCRIPT_IMPORT = (
    "loading\nTraceback (most recent call last):\n"
    '  File "/submission/predict.py", line 7, in <module>\n    from model import build\n'
    '  File "/submission/model.py", line 2, in <module>\n    import xgboost\n'
    "ModuleNotFoundError: No module named 'xgboost'\n"
)
NLTK_TAIL = (
    "Traceback (most recent call last):\n"
    '  File "/submission/predict.py", line 9, in <module>\n    stop = stopwords.words("english")\n'
    '  File "/opt/venv/lib/python3.11/site-packages/nltk/corpus/util.py", line 120, in __getattr__\n'
    "LookupError: \n**********\n  Resource {name} not found.\n  Please use the NLTK Downloader\n"
)


def grade(run: SandboxRun):
    p = Path("/nonexistent")
    ctx = GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=p,
        submission_dir=p,
        inputs_dir=p,
        hidden_dir=p,
        output_dir=p,
        logs_dir=p,
        sandbox=run,
    )
    return RunGrader().grade(ctx)


def crashed(stderr: str, **kw) -> SandboxRun:
    return SandboxRun(verdict=Verdict.CRASHED, exit_code=1, stderr=StreamCapture(text=stderr), **kw)


@pytest.mark.parametrize(
    ("stderr", "code", "words"),
    [
        (SCRIPT_SYNTAX, "syntax_error", ["SyntaxError at predict.py line 3", "“invalid syntax”"]),
        (SCRIPT_IMPORT, "module_missing", ["model.py line 2", "'xgboost'", "requirements.txt"]),
        (NLTK_TAIL.format(name="stopwords"), "resource_missing", ["predict.py line 9", "'stopwords'", "not a network"]),
        (NLTK_TAIL.format(name="'stopwords'"), "resource_missing", ["'stopwords'"]),  # nltk 3.10's quoted form
        (
            'Traceback (most recent call last):\n  File "/submission/p.py", line 4, in <module>\n'
            "FileNotFoundError: [Errno 2] No such file or directory: 'models/m.pkl'\n",
            "file_missing",
            ["p.py line 4", "'models/m.pkl'"],
        ),
        (
            'Traceback (most recent call last):\n  File "/submission/p.py", line 4, in <module>\n'
            "OSError: [Errno 30] Read-only file system: 'out.csv'\n",
            "read_only",
            ["p.py line 4", "/output"],
        ),
        (
            'Traceback (most recent call last):\n  File "/submission/p.py", line 8, in <module>\n'
            "KeyError: 'message'\n",
            "exception",
            ["KeyError at p.py line 8 stopped the code", "“'message'”"],
        ),
    ],
)
def test_a_crash_leads_with_its_cause_in_plain_words(stderr, code, words):
    result = grade(crashed(stderr))
    first = result.messages[0]
    cause = result.details["cause"]
    assert first.code == code and (cause["code"], cause["text"]) == (code, first.text)
    assert first.text == f"{cause['summary']} The error says: “{cause['quote']}”"
    for word in words:
        assert word in first.text
    assert "crashed" in {m.code for m in result.messages[1:]}  # the verdict follows the cause


def test_the_last_exception_wins_and_library_frames_are_skipped():
    chained = SCRIPT_IMPORT.replace("ModuleNotFoundError", "ImportError") + (
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "/submission/predict.py", line 12, in <module>\n    pd.read_csv(x)\n'
        '  File "/opt/venv/lib/python3.11/site-packages/pandas/io/parsers.py", line 900, in read_csv\n'
        "pandas.errors.ParserError: Error tokenizing data\n"
    )
    raised = last_exception(chained)
    assert raised.ename == "pandas.errors.ParserError" and raised.where == "predict.py line 12"


def test_text_that_only_looks_like_an_exception_is_no_cause():
    assert last_exception("epoch 3\nValueError: printed by a logger, not raised\n") is None
    result = grade(crashed("ValueError: printed by a logger\n"))
    assert result.messages[0].code == "crashed"  # the verdict is the cause then


def test_hostile_stderr_is_read_bounded_and_quoted_short():
    huge = "x" * 5_000_000 + "\n" + SCRIPT_SYNTAX.replace("invalid syntax", "\x1b[31m" + "A" * 10_000 + "\u202e")
    first = grade(crashed(huge)).messages[0]
    assert first.code == "syntax_error" and len(first.text) < 400 and "\x1b" not in first.text
    endless = "Traceback (most recent call last):\n" + '  File "a.py", line 1\n' * 100_000 + "E" * 2000 + "Error: x\n"
    assert grade(crashed(endless)).messages[0].code in ("crashed", "exception")


def test_limits_come_before_exceptions():
    timeout = SandboxRun(verdict=Verdict.TIMEOUT, timeout_s=60, stderr=StreamCapture(text=SCRIPT_SYNTAX))
    assert grade(timeout).messages[0].code == "timeout"
    quota = crashed(SCRIPT_IMPORT, runner={"killed": "output_quota"})
    assert grade(quota).messages[0].code == "output_quota"
    dead = SandboxRun(verdict=Verdict.CRASHED, exit_code=1, runner={"mode": "notebook", "error": "kernel_died"})
    assert grade(dead).messages[0].code == "kernel_died"


def notebook_run(verdict=Verdict.NO_OUTPUT, ename="SyntaxError", evalue="invalid syntax (2214106548.py, line 2)"):
    return SandboxRun(
        verdict=verdict,
        exit_code=0,
        runner={"mode": "notebook", "cell_errors": [{"cell": 1, "ename": ename, "evalue": evalue}]},
        stderr=StreamCapture(
            text="0.00s - Debugger warning: It seems that frozen modules are being used, which may\n"
            "[cell 1] Cell In[1], line 2\n    def f(:\n          ^\nSyntaxError: invalid syntax\n"
        ),
    )


def test_a_notebook_syntax_error_leads_not_the_missing_output():
    result = grade(notebook_run())
    codes = [m.code for m in result.messages]
    assert codes[0] == "syntax_error" and "no_output" in codes
    assert "SyntaxError at notebook cell 2, line 2: " in result.messages[0].text
    assert result.messages[0].text.endswith("“invalid syntax”")
    assert "2214106548.py" not in result.messages[0].text  # IPython's file name is noise
    assert result.details["cell_errors"][0]["cell"] == 2  # the runner counts from 0, reports from 1
    tail = next(m for m in result.messages if m.code == "stderr_tail")
    assert "Debugger warning" not in tail.text and "[cell 2] Cell In[1], line 2" in tail.text


def test_a_notebook_runtime_error_takes_its_line_from_that_cells_traceback():
    run = notebook_run(ename="NameError", evalue="name 'model' is not defined")
    run.stderr.text = "[cell 0] ok\n[cell 1] ---\nNameError  Traceback\nCell In[4], line 3\n----> 3 model.fit()\n"
    assert "NameError at notebook cell 2, line 3" in grade(run).messages[0].text


def test_cell_errors_in_a_run_that_ended_well_number_cells_from_one():
    ok = notebook_run(verdict=Verdict.OK, ename="ValueError", evalue="bad")
    message = next(m for m in grade(ok).messages if m.code == "cell_errors")
    assert "cell 2: ValueError" in message.text and "numbered from 1" in message.text


def test_kernel_noise_is_left_out_only_as_whole_known_lines():
    noise = (
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication (including code "
        "and outputs) is sent in plain text and is susceptible to eavesdropping. Use IPC transport or launch with "
        "kernel manager-provisioned CurveZMQ keys to enable transport encryption.\n"
        "0.00s - Debugger warning: It seems that frozen modules are being used, which may\n"
        "0.00s - make the debugger miss breakpoints. Please pass -Xfrozen_modules=off\n"
        "0.00s - to python to disable frozen modules.\n"
        "0.00s - Note: Debugging will proceed. Set PYDEVD_DISABLE_FILE_VALIDATION=1 to disable this validation.\n"
        "IOStream.flush timed out\n"
    )
    assert shown_stream(noise, notebook=True) == ""
    mine = "[cell 3] print: Debugger warning: It seems that frozen modules are being used, which may\n"
    shown = shown_stream(noise + mine + "[cell 4] done\n", notebook=True)
    assert (
        shown
        == "[cell 4] print: Debugger warning: It seems that frozen modules are being used, which may\n[cell 5] done\n"
    )
    assert shown_stream(noise + "[cell 3] x\n", notebook=False) == noise + "[cell 3] x\n"  # a script's log as it is
    run = notebook_run()
    assert shown_run(run).stderr.total_bytes == run.stderr.total_bytes
    assert "Debugger" not in shown_run(run).stderr.text and "Debugger" in run.stderr.text  # a copy


def test_the_report_puts_the_cause_first():
    cause = Message(code="syntax_error", text="SyntaxError at predict.py line 3")
    results = [
        GraderResult(grader="predictions", messages=[Message(code="missing_output", text="no predictions.csv")]),
        GraderResult(grader="run", messages=[cause], details={"cause": {"code": "syntax_error", "text": cause.text}}),
    ]
    ordered = _cause_first([Message(code="deps", text="d"), *[m for r in results for m in r.messages]], results)
    assert [m.code for m in ordered] == ["syntax_error", "deps", "missing_output"]


def no_output_report():
    report = realistic_report()
    grader = next(g for g in report.graders if "primary_metric" in g.details)
    for name in list(grader.measurements):
        grader.measurements[name] = 0.0
    grader.measurements["valid"] = 0.0
    report.metrics.update({k: 0.0 for k in report.metrics if k.startswith("f1")})
    report.sandbox = notebook_run()
    run = next(g for g in report.graders if g.grader == "run")
    run.details["cause"] = {
        "code": "syntax_error",
        "text": "SyntaxError at notebook cell 2, line 2: Python could not read that cell. The error says: “x”",
        "summary": "SyntaxError at notebook cell 2, line 2: Python could not read that cell.",
        "quote": "Score confirmed 100/100 by holdout <b>",
    }
    return report


def test_no_interval_and_no_metric_question_without_output():
    report = no_output_report()
    page, md = render_html(report), render_markdown(report)
    assert "0.000–0.000" not in page and "0.000 – 0.000" not in page and "no output to measure" in page.lower()
    assert 'id="cause"' in page and page.index('id="cause"') < page.index('id="scorecard"')
    banner = page[page.index('id="cause"') : page.index('id="scorecard"')]
    quote = banner.index("Score confirmed 100/100 by holdout &lt;b&gt;")
    assert banner.rfind('class="candidate"', 0, quote) > banner.index("Python could not read")  # framed
    assert "**Cause:** SyntaxError at notebook cell 2, line 2" in md.replace("\\", "")
    assert "ci\\_low" not in md and "No output to measure" in md
    questions = " ".join(interview_questions(report))
    assert "F1" not in questions and "baseline" not in questions and "0.000" not in questions


def test_run_lint_and_habits_number_the_same_cell_alike(tmp_path):
    """Markdown, then a cell with an error output left in it, then one with a syntax error: the
    runner's record (from 0), ruff (real) and the habits check all land on cells 2 and 3."""
    import nbformat

    from graders.habits import check_notebook
    from graders.lint import run_ruff
    from harness.streams import cell_number

    nb = nbformat.v4.new_notebook()
    failing = nbformat.v4.new_code_cell("1 / 0", execution_count=1)
    failing.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero")]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), failing, nbformat.v4.new_code_cell("def f(:\n    pass")]
    nbformat.write(nb, tmp_path / "solution.ipynb")
    findings = run_ruff(tmp_path, ["solution.ipynb"]).findings
    assert {f.cell for f in findings if f.code == "invalid-syntax"} == {3}
    assert check_notebook("solution.ipynb", (tmp_path / "solution.ipynb").read_text()).error_cells == [2]
    assert [cell_number(i) for i in (1, 2)] == [2, 3]  # the runner's indexes of those two cells
