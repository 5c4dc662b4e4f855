"""The ``run`` grader: how cleanly the candidate's code ran, from the sandbox's own record.

When the run did not end well, its first message is the root cause in plain words (a limit hit,
the exception that stopped the code and where: :mod:`graders.causes`), also named in
``details["cause"]`` so that the report puts it first; ``details["cell_errors"]`` lists a
notebook's cell errors with the cells numbered as every report numbers them."""

from __future__ import annotations

import math

from graders.base import GradeContext, Grader, GraderConfig
from graders.causes import CELL_NUMBERING, cell_errors, exception_cause
from graders.run_hints import blocked_resources
from harness.models import GraderResult, Level, Message, SandboxRun, Verdict, Visibility
from harness.streams import is_notebook_run, shown_stream


class RunConfig(GraderConfig):
    slow_fraction: float = 0.5
    """A run that takes more than this share of the time limit counts as slow."""


_VERDICT_TEXT = {
    Verdict.TIMEOUT: ("timeout", "The code ran past the {limit:.0f} s time limit and was stopped."),
    Verdict.OUT_OF_MEMORY: ("out_of_memory", "The code used more than the memory limit and was killed."),
    Verdict.CRASHED: ("crashed", "The code exited with status {code} before finishing."),
    Verdict.NO_OUTPUT: ("no_output", "The code finished but wrote none of the expected output files."),
    Verdict.INVALID_OUTPUT: ("invalid_output", "The output is not a readable regular file."),
    Verdict.NOT_RUN: ("not_run", "The code was not run."),
}


class RunGrader(Grader):
    """Publishes ``clean`` in [0, 1]: 1.0 a clean run within half the time limit; 0.75 ok but
    slow or with a traceback on stderr; 0.5 ok with notebook cell errors; 0.0 crashed, timed out,
    out of memory, or no output. Also ``duration_s``, ``exit_code`` and ``peak_memory_mb``."""

    PLUGIN_NAME = "run"
    Config = RunConfig
    DESCRIPTION = "How cleanly the submission ran in the sandbox (verdict, errors, time)."

    def grade(self, ctx: GradeContext) -> GraderResult:
        run = ctx.sandbox
        result = GraderResult(grader=self.name)
        if run is None:
            result.measurements["clean"] = 0.0
            result.messages.append(Message(code="not_run", text="The code was not run.", source=self.name))
            return result
        result.measurements.update(
            duration_s=run.duration_s,
            exit_code=float(run.exit_code) if run.exit_code is not None else None,
            peak_memory_mb=run.peak_memory_mb,
        )
        messages = result.messages
        messages.extend(self._blocked_resources(run))
        messages.extend(self._notebook_notes(run))
        errors = cell_errors(run.runner)
        if errors:
            result.details["cell_errors"] = [{k: e[k] for k in ("cell", "ename", "evalue")} for e in errors]
        if run.verdict != Verdict.OK:
            code, text = _VERDICT_TEXT[run.verdict]
            messages.append(
                Message(code=code, text=text.format(limit=run.timeout_s or 0, code=run.exit_code), source=self.name)
            )
            if run.runner.get("killed") == "output_quota":
                messages.append(
                    Message(
                        code="output_quota",
                        text="The code wrote more data to /output or its working directory than allowed and was stopped.",
                        source=self.name,
                    )
                )
            stderr = shown_stream(run.stderr.text, notebook=is_notebook_run(run))
            if stderr.strip():
                messages.append(
                    Message(
                        code="stderr_tail",
                        text=stderr[-3000:],
                        level=Level.INFO,
                        source=self.name,
                        visibility=Visibility.REVIEWER,
                    )
                )
            self._cause_first(run, result)
            result.measurements["clean"] = 0.0
            return result
        clean = 1.0
        if errors:
            clean = 0.5
            names = ", ".join(f"cell {e['cell'] or '?'}: {e['ename']}" for e in errors[:5])
            messages.append(
                Message(
                    code="cell_errors",
                    text=f"{len(errors)} notebook cell(s) raised an error ({names}; {CELL_NUMBERING}).",
                    level=Level.WARNING,
                    source=self.name,
                )
            )
        if run.timeout_s and run.duration_s > self.config.slow_fraction * run.timeout_s:
            clean = min(clean, 0.75)
            messages.append(
                Message(
                    code="slow",
                    text=f"The run took {run.duration_s:.0f} s of the {run.timeout_s:.0f} s limit.",
                    level=Level.WARNING,
                    source=self.name,
                )
            )
        if "Traceback (most recent call last)" in run.stderr.text:
            clean = min(clean, 0.75)
            messages.append(
                Message(
                    code="stderr_traceback",
                    text="The run succeeded but printed a Python traceback on stderr.",
                    level=Level.WARNING,
                    source=self.name,
                )
            )
        result.measurements["clean"] = clean
        return result

    def _cause_first(self, run: SandboxRun, result: GraderResult) -> None:
        """Put the root cause first among the messages and name it in ``details["cause"]``: a
        limit the engine or the runner saw (by :data:`CAUSE_PRECEDENCE`), else the exception
        that stopped the code (:func:`graders.causes.exception_cause`), else the verdict."""
        messages = result.messages
        known = {m.code: m for m in messages}
        cause = next((known[code] for code in CAUSE_PRECEDENCE if code in known), None)
        if cause is None:
            found = exception_cause(run)
            if found is not None:
                cause = Message(code=found.code, text=found.text, source=self.name)
                messages.insert(0, cause)
                result.details["cause"] = {"summary": found.summary, "quote": found.quote}
        if cause is None:
            cause = known.get(_VERDICT_TEXT[run.verdict][0])
        if cause is None:
            return
        messages.remove(cause)
        messages.insert(0, cause)
        result.details["cause"] = {"code": cause.code, "text": cause.text, **result.details.get("cause", {})}

    def _notebook_notes(self, run) -> list[Message]:
        """What the in-container runner said about a notebook run. ``run.runner`` is the runner's
        own record, read from its trusted folder (written as the runner uid, which the candidate's
        uid cannot write, signal or ptrace); a record the candidate's code leaves in its logs is
        never read. The verdict itself comes from the engine."""
        info = run.runner if isinstance(run.runner, dict) else {}
        if info.get("mode") != "notebook":
            return []
        found = []
        error = info.get("error") if isinstance(info.get("error"), str) else None
        detail = str(info.get("detail") or "")[:300]
        if error in _NOTEBOOK_ERRORS:
            code, text = _NOTEBOOK_ERRORS[error]
            found.append(
                Message(
                    code=code,
                    text=text.format(limit=_as_number(info.get("cell_timeout_s")), detail=detail),
                    source=self.name,
                )
            )
        if info.get("converted_from") is not None:
            found.append(
                Message(
                    code="notebook_converted",
                    level=Level.WARNING,
                    source=self.name,
                    text=f"The notebook is nbformat {str(info['converted_from'])[:10]}; it was converted to nbformat 4 to run. "
                    "Save it with a current Jupyter.",
                )
            )
        if _as_number(info.get("outputs_truncated")):
            found.append(
                Message(
                    code="notebook_output_truncated",
                    level=Level.INFO,
                    source=self.name,
                    text=f"{_as_number(info['outputs_truncated']):g} very large cell output(s) were shortened in the executed "
                    "notebook kept for the reviewer.",
                )
            )
        return found

    def _blocked_resources(self, run) -> list[Message]:
        """Explain, in plain words, failures that come from the sandbox (no network, NLTK data)."""
        return blocked_resources(run.stdout.text + run.stderr.text, self.name)


def _as_number(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return 0.0
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return 0.0
    return number if math.isfinite(number) else 0.0


CAUSE_PRECEDENCE = (
    "output_quota",
    "timeout",
    "out_of_memory",
    "cell_timeout",
    "kernel_died",
    "notebook_invalid",
    "notebook_failed",
)
"""Limits and runner failures that are the root cause when they happened, the first one found first."""

_NOTEBOOK_ERRORS = {
    "invalid_notebook": ("notebook_invalid", "The notebook could not be read, so nothing ran: {detail}"),
    "cell_timeout": (
        "cell_timeout",
        ("A notebook cell ran past the {limit:g} s per-cell limit and was stopped; the cells after it did not run."),
    ),
    "kernel_died": (
        "kernel_died",
        ("The notebook's kernel died (it ran out of memory or was killed); the cells after it did not run."),
    ),
    "execution_failed": ("notebook_failed", "The notebook could not be executed: {detail}"),
}
"""``runner.json`` error → (message code, text)."""
