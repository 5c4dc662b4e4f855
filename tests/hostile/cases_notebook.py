"""Notebook intake: broken, old, oversized and misbehaving notebooks, run by the in-container
runner (``sandbox/entry.py``, nbclient with a per-cell timeout). The notebook is parsed inside
the sandbox; the host only reads it as data (quality checks, the rendered copy for reviewers)."""

from __future__ import annotations

import base64
import json
import os

from harness.models import Verdict

from .builders import (
    ALL_HAM_CELL,
    MANIFEST,
    PREAMBLE,
    code,
    markdown,
    notebook,
    write_tree,
)
from .catalogue import Case, Env, Expect


def _nb(env: Env, text: str, **extra: str | bytes):
    return write_tree(env.tmp / "submission", {"solution.ipynb": text, "submission.toml": MANIFEST, **extra})


def _predictions_scored(outcome, env: Env) -> None:
    """The rest of the notebook was still graded: its predictions were read and scored."""
    assert outcome.report is not None
    assert outcome.report.metrics.get("f1") is not None, "the predictions written before the problem were not scored"
    assert "missing_output" not in outcome.codes


def _v3(env: Env):
    cell = {
        "cell_type": "code",
        "language": "python",
        "input": PREAMBLE + "\nwrite_all_ham()\n",
        "outputs": [],
        "metadata": {},
        "collapsed": False,
    }
    text = json.dumps(
        {
            "nbformat": 3,
            "nbformat_minor": 0,
            "metadata": {"name": "old"},
            "worksheets": [{"cells": [cell], "metadata": {}}],
        }
    )
    return _nb(env, text)


def _stored_outputs(env: Env):
    """A notebook submitted with 24 MB of stale image output in one cell."""
    blob = base64.b64encode(os.urandom(18 * 2**20)).decode()
    stale = code(
        "print('old run')",
        outputs=[
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": blob, "text/plain": "<Figure>"}}
        ],
    )
    return _nb(env, notebook([stale, ALL_HAM_CELL]))


def _ran_ok(outcome, env: Env) -> None:
    _predictions_scored(outcome, env)
    assert outcome.report.sandbox.runner.get("cells", 0) >= 1


def _executed_notebook_is_capped(outcome, env: Env) -> None:
    _predictions_scored(outcome, env)
    executed = outcome.out_dir / "artifacts" / "executed.ipynb"
    assert executed.is_file() and executed.stat().st_size < 12 * 2**20, "the reviewer's notebook copy is not capped"
    assert outcome.rss_growth_mb < 600, f"the harness grew by {outcome.rss_growth_mb:.0f} MB"


CASES = [
    Case(
        "notebook_invalid_json",
        "notebook",
        "solution.ipynb is not JSON",
        lambda env: _nb(env, '{"cells": [ this is not json'),
        Expect(verdict=Verdict.CRASHED, messages=("notebook_invalid",), max_score=30),
    ),
    Case(
        "notebook_json_nesting_bomb",
        "notebook",
        "solution.ipynb is 50,000 nested JSON arrays (parser recursion bomb)",
        lambda env: _nb(env, "[" * 50000 + "]" * 50000),
        Expect(verdict=Verdict.CRASHED, messages=("notebook_invalid",), max_score=30),
    ),
    Case(
        "notebook_unsupported_nbformat",
        "notebook",
        "a notebook declaring nbformat 99",
        lambda env: _nb(env, notebook([ALL_HAM_CELL], nbformat=99, minor=0)),
        Expect(verdict=Verdict.CRASHED, messages=("notebook_invalid",), max_score=30),
    ),
    Case(
        "notebook_nbformat_3",
        "notebook",
        "an nbformat 3 notebook (worksheets, `input`)",
        _v3,
        Expect(
            verdict=Verdict.OK,
            messages=("notebook_converted",),
            check=_predictions_scored,
            note="converted to nbformat 4 and run",
        ),
    ),
    Case(
        "notebook_without_kernelspec",
        "notebook",
        "no kernelspec or language_info in the metadata",
        lambda env: _nb(env, notebook([ALL_HAM_CELL], metadata={})),
        Expect(verdict=Verdict.OK, check=_ran_ok, note="runs with the image's python3 kernel"),
    ),
    Case(
        "notebook_hostile_kernelspec",
        "notebook",
        "a kernelspec naming another kernel and a shell command line",
        lambda env: _nb(
            env,
            notebook(
                [ALL_HAM_CELL],
                metadata={
                    "kernelspec": {
                        "name": "../../../bin/sh",
                        "display_name": "x",
                        "language": "sh",
                        "argv": ["/bin/sh", "-c", "id"],
                    }
                },
            ),
        ),
        Expect(verdict=Verdict.OK, check=_ran_ok, note="the kernelspec is ignored: the image's python3 kernel runs"),
    ),
    Case(
        "notebook_huge_stored_outputs",
        "notebook",
        "24 MB of stale image output saved in the submitted notebook",
        _stored_outputs,
        Expect(verdict=Verdict.OK, check=_ran_ok, note="runs; stale outputs are replaced on execution"),
    ),
    Case(
        "notebook_huge_generated_outputs",
        "notebook",
        "a cell that prints 48 MB and displays 8 MB of images",
        lambda env: _nb(
            env,
            notebook(
                [
                    ALL_HAM_CELL,
                    code("""
             import base64, os
             from IPython.display import Image, display
             for _ in range(48):
                 print("x" * (2**20 - 1))
             for _ in range(4):
                 display({"image/png": base64.b64encode(os.urandom(2 * 2**20)).decode()}, raw=True)
         """),
                    code("print('after the flood')"),
                ]
            ),
        ),
        Expect(
            verdict=Verdict.OK,
            messages=("notebook_output_truncated",),
            check=_executed_notebook_is_capped,
            note="the reviewer's copy is capped; harness memory bounded",
        ),
    ),
    Case(
        "notebook_cell_hangs",
        "notebook",
        "a cell that loops forever after predictions were written (cell limit 4 s)",
        lambda env: _nb(env, notebook([ALL_HAM_CELL, code("while True:\n    pass"), code("print('never')")])),
        Expect(
            verdict=Verdict.CRASHED,
            messages=("cell_timeout",),
            check=_predictions_scored,
            note="the predictions written before it are still scored",
        ),
        assignment="short_cells",
        timeout_s=60,
    ),
    Case(
        "notebook_cell_ignores_interrupt",
        "notebook",
        "a cell that ignores SIGINT and sleeps (cell limit 4 s)",
        lambda env: _nb(
            env,
            notebook(
                [
                    ALL_HAM_CELL,
                    code("""
             import signal, time
             signal.signal(signal.SIGINT, signal.SIG_IGN)
             signal.signal(signal.SIGTERM, signal.SIG_IGN)
             time.sleep(3600)
         """),
                ]
            ),
        ),
        Expect(
            verdict=Verdict.CRASHED,
            messages=("cell_timeout",),
            check=_predictions_scored,
            note="the predictions written before it are still scored",
        ),
        assignment="short_cells",
        timeout_s=60,
    ),
    Case(
        "notebook_kills_its_kernel",
        "notebook",
        "a cell that SIGKILLs its own kernel",
        lambda env: _nb(
            env,
            notebook(
                [ALL_HAM_CELL, code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), code("print('never')")]
            ),
        ),
        Expect(
            verdict=Verdict.CRASHED,
            messages=("kernel_died",),
            check=_predictions_scored,
            note="the predictions written before it are still scored",
        ),
    ),
    Case(
        "notebook_bang_pip_install",
        "notebook",
        "`!pip install` of a package, then importing it, then the real work",
        lambda env: _nb(
            env,
            notebook(
                [
                    code("!pip install holdout-surely-missing-pkg==1.0"),
                    code("import holdout_surely_missing_pkg"),
                    ALL_HAM_CELL,
                ]
            ),
        ),
        Expect(
            verdict=Verdict.OK,
            messages=("pip_install_blocked", "cell_errors"),
            check=_predictions_scored,
            note="fails fast (no network, PIP_NO_INDEX); the rest is graded",
        ),
    ),
    Case(
        "notebook_percent_pip_install",
        "notebook",
        "`%pip install` of a package, then the real work",
        lambda env: _nb(
            env, notebook([markdown("# setup"), code("%pip install holdout-surely-missing-pkg"), ALL_HAM_CELL])
        ),
        Expect(
            verdict=Verdict.OK,
            messages=("pip_install_blocked",),
            check=_predictions_scored,
            note="fails fast; the rest is graded",
        ),
    ),
]
