from __future__ import annotations

from pathlib import Path

from graders.base import GradeContext
from graders.run import RunGrader
from harness.models import SandboxRun, StreamCapture, Verdict
from harness.spec import AssignmentSpec


def ctx(run: SandboxRun | None) -> GradeContext:
    p = Path("/nonexistent")
    return GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=p,
        submission_dir=p,
        inputs_dir=p,
        hidden_dir=p,
        output_dir=p,
        logs_dir=p,
        sandbox=run,
    )


def clean(run: SandboxRun | None) -> tuple[float, set[str]]:
    result = RunGrader().grade(ctx(run))
    return result.measurements["clean"], {m.code for m in result.messages}


def test_clean_fast_run_scores_one():
    assert clean(SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=3, timeout_s=120)) == (1.0, set())


def test_failures_score_zero_with_a_named_message():
    for verdict, code in [
        (Verdict.TIMEOUT, "timeout"),
        (Verdict.CRASHED, "crashed"),
        (Verdict.OUT_OF_MEMORY, "out_of_memory"),
        (Verdict.NO_OUTPUT, "no_output"),
    ]:
        value, codes = clean(SandboxRun(verdict=verdict, exit_code=1, timeout_s=10))
        assert value == 0.0 and code in codes


def test_crash_keeps_the_stderr_tail_for_reviewers_only():
    run = SandboxRun(verdict=Verdict.CRASHED, exit_code=1, stderr=StreamCapture(text="Traceback: boom"))
    result = RunGrader().grade(ctx(run))
    tail = next(m for m in result.messages if m.code == "stderr_tail")
    assert tail.visibility == "reviewer" and "boom" in tail.text


def test_slow_noisy_and_cell_errors_lower_the_score():
    slow = SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=90, timeout_s=120)
    assert clean(slow)[0] == 0.75
    noisy = SandboxRun(verdict=Verdict.OK, exit_code=0, stderr=StreamCapture(text="Traceback (most recent call last):"))
    assert clean(noisy) == (0.75, {"stderr_traceback"})
    cells = SandboxRun(verdict=Verdict.OK, exit_code=0, runner={"cell_errors": [{"cell": 3, "ename": "ValueError"}]})
    assert clean(cells) == (0.5, {"cell_errors"})


def test_not_run():
    assert clean(None) == (0.0, {"not_run"})
