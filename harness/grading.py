"""Running the graders: each under a wall-clock limit, and those that do not depend on the
candidate's run (:meth:`graders.base.Grader.independent_of_run`: the hidden tests, the
candidate's own tests, the code-quality checks) started while that run is still going.

The early ones run one after another in one background thread, so a submission has at most
one extra container at a time next to its run (each with its own limits and every
protection); a batch gives them a container slot only when one is free, so ``-j``
still counts containers. Their results are collected, in the graders' order, when the others
are done, exactly as if they had run afterwards.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from harness.errors import HoldoutError
from harness.models import GraderResult, GraderStatus, Message, Visibility


class EarlyGrades:
    """Independent graders started alongside the run, in a thread of their own."""

    def __init__(self, graders: dict[int, object], ctx, timeout_s: float, slot=None) -> None:
        self.graders = graders
        self.results: dict[int, GraderResult] = {}
        self.seconds = 0.0
        """Wall time from their start to the last one's end."""
        self._cancelled = threading.Event()
        call = ctx.run_in_sandbox
        self._ctx = replace(ctx, run_in_sandbox=self._fenced(call) if call is not None else None)
        self._timeout_s, self._slot = timeout_s, slot
        self._thread = threading.Thread(target=self._work, name="holdout-early-graders", daemon=True)

    def _fenced(self, call):
        def fenced_call(*args, **kwargs):
            if self._cancelled.is_set():
                raise HoldoutError("the grading this check belongs to has failed: no more sandbox runs")
            return call(*args, **kwargs)

        return fenced_call

    def cancel(self) -> None:
        """The job failed (an engine error in its run): start no more containers for it."""
        self._cancelled.set()

    def start(self) -> EarlyGrades:
        self._thread.start()
        return self

    def _work(self) -> None:
        started = time.monotonic()
        try:
            for index, grader in self.graders.items():
                self.results[index] = timed_grade(grader, self._ctx, self._timeout_s)
        finally:
            self.seconds = round(time.monotonic() - started, 3)
            if self._slot is not None:
                self._slot.release()

    def wait(self) -> dict[int, GraderResult]:
        """Every early result (each grader's own limit bounds the wait)."""
        self._thread.join()
        return self.results


def start_early(graders: list, ctx, timeout_s: float, slots=None) -> EarlyGrades | None:
    """Start the independent graders of ``graders`` now, or None when there are none or (in a
    batch, ``slots`` given) no container slot is free this moment."""
    early = {i: g for i, g in enumerate(graders) if g.independent_of_run()}
    if not early:
        return None
    if slots is not None and not slots.acquire(blocking=False):
        return None
    return EarlyGrades(early, ctx, timeout_s, slots).start()


def run_all(graders: list, ctx, timeout_s: float, early: EarlyGrades | None = None) -> list[GraderResult]:
    """Every grader's result in order: the early ones collected, the others run now."""
    done = early.wait() if early is not None else {}
    return [done[i] if i in done else timed_grade(g, ctx, timeout_s) for i, g in enumerate(graders)]


def timed_grade(grader, ctx, timeout_s: float) -> GraderResult:
    started = time.monotonic()
    result = run_grader_with_limit(grader, ctx, timeout_s)
    result.duration_s = round(time.monotonic() - started, 3)
    return result


def run_grader_with_limit(grader, ctx, timeout_s: float) -> GraderResult:
    """``grader.grade(ctx)`` in a thread of its own, waited for at most ``timeout_s``.

    Past the limit the grader's result is ``timeout`` with a candidate-facing ``grader_timeout``
    message, and its measurements are missing (the lowest level, like a run with no output).
    Why the candidate's result and not ``needs_review``: graders are our code with bounded inputs
    (capped reads, linear scans), so what makes one run for minutes is what the submission gave
    it — huge or very many files, outputs or notebooks. The message says so plainly; the
    reviewer sees the grader and the limit.

    A Python thread cannot be killed, so the late work is fenced off instead: it gets its own
    copy of the context (its own ``extras`` and ``sandbox`` record), its result object is never
    looked at, and its sandbox calls fail from the moment of the timeout, so it can neither
    reach the report nor start containers for a job that is over. It may go on using CPU until
    it returns; it is a daemon thread, so it never keeps the process alive.
    """
    over = threading.Event()
    call = ctx.run_in_sandbox

    def fenced_call(*args, **kwargs):
        if over.is_set():
            raise HoldoutError(f"grader {grader.name!r} is past its time limit: no more sandbox runs")
        return call(*args, **kwargs)

    own = replace(
        ctx,
        extras=dict(ctx.extras),
        run_in_sandbox=fenced_call if call is not None else None,
        sandbox=ctx.sandbox.model_copy(deep=True) if ctx.sandbox is not None else None,
    )
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["result"] = grader.grade(own)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"holdout-grader-{grader.name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        over.set()
        return GraderResult(
            grader=grader.name,
            status=GraderStatus.TIMEOUT,
            messages=[
                Message(
                    code="grader_timeout",
                    source=grader.name,
                    text=f"The {grader.name!r} check did not finish within its {timeout_s:g} s limit and was stopped, "
                    "so its measurements are missing. This happens when a submission gives it too much to read "
                    "(very large or very many files, outputs or notebook cells).",
                ),
            ],
        )
    if "error" in box:  # a grader bug must not become the candidate's zero
        exc = box["error"]
        detail = exc.describe() if isinstance(exc, HoldoutError) else f"{type(exc).__name__}: {exc}"
        result = GraderResult(grader=grader.name, status=GraderStatus.ERROR, error=detail)
        result.messages.append(
            Message(
                code="grader_error",
                text=f"grader {grader.name!r} failed: {detail}",
                source=grader.name,
                visibility=Visibility.REVIEWER,
            )
        )
        return result
    return box["result"]  # type: ignore[return-value]
