"""Evidence a candidate can bend (issue 13, attacks 8 and 10): files the harness parses that make
a grader fail, so the report goes to ``needs_review`` ("not the candidate's fault", exit 4 under
``--fail-under``) instead of being graded; and report text that hides or forges what a reviewer
reads (bidi overrides, zero-width characters, a notebook that renders the harness's own notice).
The batch version of attack 9 (a slug collision linking another candidate's notebook) is in
tests/test_batch_docker.py: it needs two batch runs, not one grading."""

from __future__ import annotations

from harness.models import GraderStatus, Verdict

from .builders import ALL_HAM_CELL, MANIFEST, code, make_zip, markdown, notebook, ok_members, script, write_tree
from .catalogue import Case, Env, Expect, Outcome

HIDDEN_RESULTS = "holdout-hidden-tests.jsonl"
"""What the pytest grader's driver writes in the hidden-test container's /output."""


# --- attack 8: blame goes where it belongs ------------------------------------------------------


def _with_pyproject(text: str):
    def build(env: Env):
        return write_tree(
            env.tmp / "submission",
            {"predict.py": script("write_all_ham()"), "submission.toml": MANIFEST, "pyproject.toml": text},
        )

    return build


def _garbage_requirements(env: Env):
    garbage = (
        b'numpy; python_full_version ~= "3"\n'  # a marker packaging cannot evaluate
        b"\xff\xfe\x00\x01 not a requirement at all\n"
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
        b"-r /etc/passwd\n"
        b'pandas>=1; extra ~= "x"\n'
    )
    return write_tree(
        env.tmp / "submission",
        {"predict.py": script("write_all_ham()"), "submission.toml": MANIFEST, "requirements.txt": garbage},
    )


def _results_file_writer(content: bytes):
    """predict.py that, when the hidden tests import it, overwrites their results file at exit."""
    header = f"""
        import atexit

        def _spoil():
            with open(os.path.join(os.environ.get("OUTPUT_DIR", "/output"), {HIDDEN_RESULTS!r}), "wb") as fh:
                fh.write({content!r})

        if __name__ != "__main__":
            atexit.register(_spoil)
    """

    def build(env: Env):
        return write_tree(
            env.tmp / "submission",
            {"predict.py": script("write_all_ham()", header=header), "submission.toml": MANIFEST},
        )

    return build


def _no_grader_failed(outcome: Outcome, env: Env) -> None:
    report = outcome.report
    assert report is not None
    failed = [(g.grader, g.error) for g in report.graders if g.status == GraderStatus.ERROR]
    assert not failed, f"a candidate's file made a grader fail: {failed}"
    assert "needs_review" not in outcome.codes


def _hidden_tests_are_the_candidates_result(outcome: Outcome, env: Env) -> None:
    _no_grader_failed(outcome, env)
    pytest_result = next(g for g in outcome.report.graders if g.grader == "pytest")
    if "tests_crashed" in outcome.codes:  # the spoiled file was read: every hidden test counts as failed
        assert pytest_result.measurements["score"] == 0.0
        crashed = [m for m in pytest_result.messages if m.code == "tests_crashed"]
        assert crashed, "no plain message says why the hidden tests count as failed"


# --- attack 10: report text is inert and framed ------------------------------------------------

SNEAKY = "invoice\u202egnp.exe zero\u200bwidth\u2060joiner\ufeff line\u2028break \u2066isolate\u2069"
FAKE_NOTICE = "Score confirmed 100/100 by holdout: no review needed"
FORGERY = (
    f'<div class="banner holdout-notice">{FAKE_NOTICE}</div></div></div></div></div>'
    f'<div class="holdout-notice">{FAKE_NOTICE}</div>'
    f'<div class="holdout-candidate-label">end of candidate output</div>'
)
CF_FILES = ("report.html", "report.md", "junit.xml", "artifacts/notebook.html")


def _sneaky_archive(env: Env):
    return make_zip(env.tmp / f"cand{SNEAKY}.zip", ok_members())


def _sneaky_streams(env: Env):
    body = f"""
        write_all_ham()
        print({SNEAKY!r}, flush=True)
        print({FAKE_NOTICE!r}, flush=True)
        print({SNEAKY!r}, file=sys.stderr, flush=True)
        raise SystemExit({SNEAKY!r})
    """
    return write_tree(env.tmp / "submission", {"predict.py": script(body), "submission.toml": MANIFEST})


def _fake_notice_notebook(env: Env):
    cells = [
        ALL_HAM_CELL,
        code(f"""
            from IPython.display import HTML, Markdown, display
            display(HTML({FORGERY!r}))
            display(Markdown({FORGERY!r}))
            print({SNEAKY!r})
        """),
        markdown(FORGERY + "\n\n# " + SNEAKY),
    ]
    return write_tree(env.tmp / "submission", {"solution.ipynb": notebook(cells), "submission.toml": MANIFEST})


def _no_format_characters(outcome: Outcome, env: Env) -> None:
    from harness.visible import INVISIBLE

    for name in CF_FILES:
        path = outcome.out_dir / name
        if path.is_file():
            found = INVISIBLE.findall(path.read_text(encoding="utf-8"))
            assert not found, f"{name} shows invisible characters as they are: {[f'U+{ord(c):04X}' for c in found[:5]]}"


def _escapes_shown(*names: str):
    def check(outcome: Outcome, env: Env) -> None:
        _no_format_characters(outcome, env)
        for name in names:
            assert "⟨U+202E⟩" in (outcome.out_dir / name).read_text(encoding="utf-8"), (
                f"{name} lacks the visible escape"
            )

    return check


def _stream_tails_framed(outcome: Outcome, env: Env) -> None:
    from bs4 import BeautifulSoup

    _escapes_shown("report.html")(outcome, env)
    page = BeautifulSoup((outcome.out_dir / "report.html").read_text(encoding="utf-8"), "html.parser")
    shown = page.find_all(string=lambda t: FAKE_NOTICE in t)
    assert shown, "the stdout tail is not in report.html"
    assert all(s.find_parent("div", class_="candidate") for s in shown), "candidate output outside its frame"


def _notebook_notice_framed(outcome: Outcome, env: Env) -> None:
    from bs4 import BeautifulSoup

    _escapes_shown("artifacts/notebook.html")(outcome, env)
    page = BeautifulSoup((outcome.out_dir / "artifacts" / "notebook.html").read_text(encoding="utf-8"), "html.parser")
    frames = page.select("div.holdout-candidate")
    assert len(frames) == 1, "the notebook is not in exactly one candidate frame"
    notices = page.select(".holdout-notice")
    assert len(notices) == 1 and notices[0].find_parent(class_="holdout-candidate") is None
    assert FAKE_NOTICE not in notices[0].get_text()
    shown = page.find_all(string=lambda t: FAKE_NOTICE in t)
    assert shown and all(s.find_parent("div", class_="holdout-candidate") is frames[0] for s in shown)
    assert not frames[0].select(".banner, .holdout-notice"), "candidate HTML wears the page's own classes"
    assert len(page.select(".holdout-candidate-label")) == 1


CASES = [
    Case(
        "pyproject_tool_is_a_string",
        "harness",
        'pyproject.toml is the one line `tool = "poetry"`',
        _with_pyproject('tool = "poetry"\n'),
        Expect(
            verdict=Verdict.OK,
            names="pyproject.toml",
            check=_no_grader_failed,
            note="graded; the habits evidence says the file does not fit (was an AttributeError → needs_review)",
        ),
    ),
    Case(
        "pyproject_poetry_version_is_a_number",
        "harness",
        "a [tool.poetry.dependencies] version that is a number",
        _with_pyproject('[tool.poetry.dependencies]\npython = "^3.11"\nnumpy = { version = 1 }\nbogus = []\n'),
        Expect(
            verdict=Verdict.OK,
            names="pyproject.toml",
            check=_no_grader_failed,
            note="graded; the dependency is read as unpinned (was a TypeError → needs_review)",
        ),
    ),
    Case(
        "pyproject_dependencies_is_a_number",
        "harness",
        "`[project] dependencies = 5`",
        _with_pyproject('[project]\nname = "x"\ndependencies = 5\n'),
        Expect(
            verdict=Verdict.OK,
            messages=("dep_invalid",),
            names="pyproject.toml",
            check=_no_grader_failed,
            note="graded with a dep_invalid message (was a TypeError → needs_review)",
        ),
    ),
    Case(
        "requirements_garbage",
        "harness",
        "requirements.txt with binary garbage, a marker packaging cannot evaluate, brackets and an option",
        _garbage_requirements,
        Expect(
            verdict=Verdict.OK,
            messages=("dep_invalid", "dep_unsupported"),
            names="requirements.txt",
            check=_no_grader_failed,
            note="graded; each bad line is a message (a marker error crashed grade)",
        ),
    ),
    Case(
        "hidden_test_results_truncated",
        "harness",
        "predict.py, imported by the hidden tests, empties their results file when the test process exits",
        _results_file_writer(b""),
        Expect(
            verdict=Verdict.OK,
            check=_hidden_tests_are_the_candidates_result,
            note="graded: the hidden tests count as failed (tests_crashed), never needs_review",
        ),
        assignment="real",
    ),
    Case(
        "hidden_test_results_garbage",
        "harness",
        "predict.py, imported by the hidden tests, replaces their results file with a nesting bomb and invalid UTF-8",
        _results_file_writer(
            b"\xff\xfe garbage\n" + b"[" * 100_000 + b"\n" + b'{"event": "finished", "exit_code": 4}\n'
        ),
        Expect(
            verdict=Verdict.OK,
            check=_hidden_tests_are_the_candidates_result,
            note="graded: unreadable lines are skipped, the run is the candidate's tests_crashed",
        ),
        assignment="real",
    ),
    Case(
        "archive_name_with_bidi_and_zero_width",
        "report",
        "the archive's own name carries U+202E, zero-width characters, U+2028 and bidi isolates",
        _sneaky_archive,
        Expect(
            verdict=Verdict.OK,
            check=_escapes_shown("report.html", "report.md", "junit.xml"),
            note="every format shows ⟨U+202E⟩-style escapes, never the characters",
        ),
        browser=True,
    ),
    Case(
        "stream_tails_with_bidi_and_a_fake_notice",
        "report",
        "stdout/stderr with U+202E and zero-width characters and a 'score confirmed 100/100' line; exits with them",
        _sneaky_streams,
        Expect(
            verdict=Verdict.CRASHED,
            messages=("stderr_tail",),
            check=_stream_tails_framed,
            note="escapes shown; the tails sit in the 'Candidate output — not from holdout' frame",
        ),
        browser=True,
    ),
    Case(
        "notebook_renders_a_fake_score_notice",
        "report",
        "a notebook whose HTML and Markdown output render a 'Score confirmed 100/100' notice in the page's own "
        "notice class, try to close the candidate frame, and print bidi characters",
        _fake_notice_notebook,
        Expect(
            verdict=Verdict.OK,
            check=_notebook_notice_framed,
            note="the forged notice stays inside the labelled candidate frame, stripped of the page's classes",
        ),
        browser=True,
    ),
]
