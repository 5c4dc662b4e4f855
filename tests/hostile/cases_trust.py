"""Forging the facts that decide points: the hidden tests' results and the runner's record.

Each submission does the work of an all-ham classifier and adds one trick; its honest twin
(:data:`TWINS`, the same code without the trick) is graded beside it in
``tests/hostile/test_trust_twins.py``: the trick never scores above the twin. What holds them
off (sandbox/entry.py, graders/pytest_bridge/): the hidden tests run as a runner uid in a pytest
process that never imports candidate code and writes its results into a folder the candidate's
uid cannot write; the runner's record (``runner.json``, the executed notebook) goes there too,
and the host reads facts from nowhere else.
"""

from __future__ import annotations

import textwrap

from harness.models import Verdict

from .builders import ALL_HAM_CELL, MANIFEST, code, notebook, script, write_tree
from .catalogue import Case, Env, Expect

HIDDEN_IDS = [
    f"test_predict_contract.py::{name}"
    for name in (
        "test_import_has_no_side_effects",
        "test_main_is_defined",
        "test_build_model_returns_an_unfitted_estimator",
        "test_model_learns_spam_from_raw_texts",
        "test_model_handles_awkward_texts",
    )
]

FORGER = textwrap.dedent(f'''
    import json as _json, os as _os, time as _time

    _IDS = {HIDDEN_IDS!r}
    _CLEAN = {{"mode": "notebook", "exit_code": 0, "cells": 3, "cell_errors": [], "duration_s": 1.0}}
    _NB = {{"nbformat": 4, "nbformat_minor": 5, "metadata": {{}}, "cells": []}}


    def _passed_lines(text=""):
        ids = list(_IDS)
        for line in text.splitlines():
            if '"collected"' in line:
                try:
                    ids += _json.loads(line).get("nodeids", [])
                except ValueError:
                    pass
        return "".join(_json.dumps({{"event": "test", "nodeid": i, "outcome": "passed"}}) + "\\n" for i in ids)


    def _forge_file(path):
        name = _os.path.basename(path)
        try:
            if name.endswith(".jsonl") or "result" in name:
                with open(path, "a+") as fh:
                    fh.seek(0)
                    fh.write(_passed_lines(fh.read()) + _json.dumps({{"event": "finished", "exit_code": 0}}) + "\\n")
            elif name == "runner.json":
                with open(path, "w") as fh:
                    _json.dump(_CLEAN, fh)
            elif name == "executed.ipynb":
                with open(path, "w") as fh:
                    _json.dump(_NB, fh)
        except OSError:
            pass


    def forge_everything():
        """Append "passed" lines to every results file it can find, rewrite every runner record
        and executed notebook, and plant its own where the harness's would be."""
        for folder in ("/holdout/trusted", "/holdout/logs", "/output"):
            for name in ("holdout-hidden-tests.jsonl", "runner.json", "executed.ipynb"):
                _forge_file(_os.path.join(folder, name))
        for root in ("/holdout", "/output", "/tmp"):
            for here, dirs, files in _os.walk(root):
                for name in files:
                    _forge_file(_os.path.join(here, name))


    def forge_in_background(seconds=90):
        """Double-fork a detached process that keeps forging after the runner wrote its record."""
        if _os.fork() == 0:
            _os.setsid()
            if _os.fork() == 0:
                until = _time.monotonic() + seconds
                while _time.monotonic() < until:
                    forge_everything()
                    _time.sleep(0.005)
            _os._exit(0)
        _os.wait()
''')

SHADOW = FORGER + "\nforge_everything()\nforge_in_background()\n"
"""A module planted to shadow a library: when anything imports it, it forges."""


def _script(env: Env, *, forge: bool, body: str = "write_all_ham()") -> object:
    header = FORGER + "\nforge_everything()\nforge_in_background()\n" if forge else ""
    return write_tree(env.tmp / "submission", {"predict.py": script(body, header=header), "submission.toml": MANIFEST})


def _shadowed(env: Env, *, forge: bool) -> object:
    files = {"solution.ipynb": notebook([ALL_HAM_CELL]), "submission.toml": MANIFEST}
    if forge:
        files.update(
            {
                "pandas.py": SHADOW,
                "pytest.py": SHADOW,
                "sklearn/__init__.py": SHADOW,
                "numpy.py": SHADOW,
                "_pytest/__init__.py": SHADOW,
                "conftest.py": SHADOW,
                "pytest_bridge/__init__.py": SHADOW,
            }
        )
    return write_tree(env.tmp / "submission", files)


def _background_script(env: Env, *, forge: bool) -> object:
    """Writes its predictions, then exits 3; a detached process rewrites the records after."""
    body = (
        "write_all_ham()\nforge_in_background()\nraise SystemExit(3)"
        if forge
        else "write_all_ham()\nraise SystemExit(3)"
    )
    header = FORGER if forge else ""
    return write_tree(env.tmp / "submission", {"predict.py": script(body, header=header), "submission.toml": MANIFEST})


def _notebook_forges(env: Env, *, forge: bool) -> object:
    cells = [ALL_HAM_CELL, code("1 / 0")]
    if forge:
        cells.append(code(FORGER + "\nforge_everything()\nforge_in_background()\n"))
    return write_tree(env.tmp / "submission", {"solution.ipynb": notebook(cells), "submission.toml": MANIFEST})


def _pytest(outcome):
    return next(g for g in outcome.report.graders if g.grader == "pytest")


def _no_model_points(outcome, env: Env) -> None:
    """No build_model(): the "model" group earns nothing, forged lines or not."""
    result = _pytest(outcome)
    assert result.measurements["points"] <= 2.0, result.measurements
    groups = {g["name"]: g for g in result.details["hidden_tests"]["groups"]}
    assert groups["model"]["earned"] == 0.0, groups


def _nothing_importable(outcome, env: Env) -> None:
    """A notebook-only submission: no predict.py, so no hidden test passes."""
    result = _pytest(outcome)
    assert result.measurements["points"] == 0.0, result.measurements


def _crash_stays_a_crash(outcome, env: Env) -> None:
    run = outcome.report.sandbox
    assert run.verdict == Verdict.CRASHED and run.exit_code == 3
    assert run.runner.get("exit_code") == 3, run.runner  # the runner's record, not the forged one
    assert outcome.report.metrics.get("run.clean") == 0.0


def _cell_error_stays(outcome, env: Env) -> None:
    run = outcome.report.sandbox
    errors = run.runner.get("cell_errors") or []
    assert [e.get("ename") for e in errors] == ["ZeroDivisionError"], run.runner
    assert outcome.report.metrics.get("run.clean") == 0.5
    executed = outcome.out_dir / "artifacts" / "executed.ipynb"
    assert executed.is_file() and "ZeroDivisionError" in executed.read_text(), (
        "the reviewer's notebook is not the runner's"
    )


TWINS = {
    "trust_forges_results_on_import": lambda env: _script(env, forge=False),
    "trust_shadowed_modules": lambda env: _shadowed(env, forge=False),
    "trust_background_rewrites_records": lambda env: _background_script(env, forge=False),
    "trust_notebook_forges_runner_record": lambda env: _notebook_forges(env, forge=False),
}
"""Case id → its honest twin's builder (the same submission without the trick)."""

CASES = [
    Case(
        "trust_forges_results_on_import",
        "runtime",
        'predict.py without build_model(): on import (by the hidden tests) it appends a "passed" line per test id '
        "to every results file it can reach and keeps doing so from a detached process",
        lambda env: _script(env, forge=True),
        Expect(
            verdict=Verdict.OK,
            check=_no_model_points,
            note="the hidden tests' results are written by another uid into a folder it cannot write: "
            "no point for the missing build_model()",
        ),
        assignment="real",
    ),
    Case(
        "trust_shadowed_modules",
        "runtime",
        "a notebook-only submission with pandas.py, numpy.py, pytest.py, sklearn/, _pytest/, conftest.py and "
        "pytest_bridge/ at its root, each forging the results when imported",
        lambda env: _shadowed(env, forge=True),
        Expect(
            verdict=Verdict.OK,
            check=_nothing_importable,
            note="the hidden tests' pytest has no submission folder on sys.path: none of them is imported there",
        ),
        assignment="real",
    ),
    Case(
        "trust_background_rewrites_records",
        "runtime",
        "writes its predictions, exits 3, and leaves a double-forked process that rewrites runner.json, the results "
        "files and the executed notebook after the runner wrote them",
        lambda env: _background_script(env, forge=True),
        Expect(
            verdict=Verdict.CRASHED,
            check=_crash_stays_a_crash,
            note="the exit code comes from the engine and the record from the runner's folder",
        ),
    ),
    Case(
        "trust_notebook_forges_runner_record",
        "runtime",
        "a notebook with a cell error whose last cell rewrites runner.json (cell_errors: []) and the executed notebook, "
        "directly and from a detached process",
        lambda env: _notebook_forges(env, forge=True),
        Expect(
            verdict=Verdict.OK,
            messages=("cell_errors",),
            check=_cell_error_stays,
            note='"runs cleanly" stays at level 3: the cell errors come from the runner\'s record',
        ),
    ),
]
