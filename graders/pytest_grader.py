"""The ``pytest`` grader: the author's hidden tests, and the candidate's own, run in the sandbox.

Two runs, each in a fresh hardened container through ``ctx.run_in_sandbox`` (never on the host):

1. **Hidden tests** — a folder of the assignment (``tests = "hidden_tests"``; never in a starter
   kit) is copied to a read-only mount at ``/tests`` and run with pytest in a two-uid
   container: the in-container entry starts the server of the candidate's code
   (:mod:`graders.pytest_bridge.server`) as the candidate uid, drops itself to the runner uid
   and becomes pytest there, with no submission folder on ``sys.path``. The tests reach the
   candidate's code only through the ``candidate`` fixture, as data across a Unix socket
   (``docs/authoring.md``), and pytest writes its results into the runner's trusted folder,
   which the candidate's uid cannot write: nothing the candidate's code does can forge them.
   No network, the assignment's sandbox limits, its own wall-clock limit (``timeout_s``) and a
   per-test limit (``per_test_timeout_s``). Points come from the TOML:
   ``[[graders.config.groups]]`` give a group of tests (fnmatch patterns over node ids) its
   points; any other test is worth ``points_per_test``.
2. **The candidate's own tests** (``test_*.py``/``*_test.py`` anywhere in the submission), the
   same way in a second container: their pass/fail counts are evidence for engineering habits,
   never points here.

pytest runs inside the container through :mod:`graders.pytest_driver`, which writes one JSON
line per finished test (into the trusted folder for the hidden tests, ``/output`` for the
candidate's own); the host reads that file as data all the same (no links followed,
size-capped, every line validated). Tests that never report (the run was stopped at the
limit, or crashed) count as failed. The candidate's own tests run next to its code, as
before: their counts are evidence for a reviewer, never points.

Measurements: ``score`` (earned / possible points, 0–1), ``points``, ``max_points``,
``passed``, ``failed``, ``total``, ``timed_out``; ``candidate_tests_found`` (0/1),
``candidate_tests_passed``, ``candidate_tests_failed``, ``candidate_tests_total``.

Candidate-visible messages name groups (their ``description``) and counts only; failure
details (test ids, assertion messages, tracebacks) are reviewer-only. Codes:
``hidden_tests_failed``, ``test_timeout``, ``tests_timeout``, ``tests_crashed``,
``tests_collection_error``, ``test_failed`` (reviewer), ``candidate_tests``,
``candidate_test_failed`` (reviewer: one of the candidate's own tests and why it failed, also in
``details["table"]``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from graders.base import GradeContext, Grader
from graders.outputs import OutputError, open_output
from graders.pytest_config import PytestConfig, TestGroupSpec
from graders.pytest_results import PytestRun, Scoring, TestOutcome, parse_results, score_tests
from graders.pytest_staging import (
    CANDIDATE_RESULTS,
    DRIVER_MOUNT,
    HIDDEN_RESULTS,
    TESTS_MOUNT,
    candidate_test_files,
    driver_command,
    hidden_command,
    stage_driver,
    stage_tree,
)
from harness.errors import GraderError
from harness.models import GraderResult, Level, Message, SandboxRun, Verdict, Visibility

__all__ = [
    "PytestConfig",
    "PytestGrader",
    "TestGroupSpec",
    "candidate_test_files",
    "parse_results",
    "score_tests",
    "stage_tree",
]

DETAIL_CHARS = 2000


# --- the grader -----------------------------------------------------------------------------


class PytestGrader(Grader):
    """Runs the assignment's hidden pytest tests (points) and the candidate's own tests
    (evidence) inside the sandbox; reads the results as data."""

    PLUGIN_NAME = "pytest"
    Config = PytestConfig
    DESCRIPTION = (
        "Run the author's hidden pytest tests (points) and the candidate's own tests (evidence) in the sandbox."
    )

    @property
    def cfg(self) -> PytestConfig:
        assert isinstance(self.config, PytestConfig)
        return self.config

    def independent_of_run(self) -> bool:
        return True  # hidden and own tests need the submission, not what its run wrote

    def hidden_paths(self, assignment_dir: Path) -> list[Path]:
        return [assignment_dir / self.cfg.tests] if self.cfg.tests else []

    def problems(self, assignment_dir: Path) -> list[str]:
        if not self.cfg.tests:
            return []
        folder = assignment_dir / self.cfg.tests
        if not folder.is_dir():
            return [f"hidden tests folder {self.cfg.tests!r} does not exist in {assignment_dir}"]
        if not any(folder.rglob("test_*.py")) and not any(folder.rglob("*_test.py")):
            return [f"hidden tests folder {self.cfg.tests!r} holds no test_*.py or *_test.py file"]
        return []

    def grade(self, ctx: GradeContext) -> GraderResult:
        if ctx.run_in_sandbox is None:
            raise GraderError("the pytest grader needs ctx.run_in_sandbox (tests never run on the host)")
        result = GraderResult(grader=self.name)
        with tempfile.TemporaryDirectory(prefix="holdout-pytest-") as tmp:
            driver_dir = Path(tmp) / "driver"
            stage_driver(driver_dir)
            if self.cfg.tests:
                self._hidden(ctx, Path(tmp), driver_dir, result)
            if self.cfg.candidate_tests:
                self._candidate(ctx, driver_dir, result)
        return result

    # --- hidden tests -------------------------------------------------------------------

    def _hidden(self, ctx: GradeContext, tmp: Path, driver_dir: Path, result: GraderResult) -> None:
        cfg = self.cfg
        assert cfg.tests is not None and ctx.run_in_sandbox is not None
        source = ctx.assignment_dir / cfg.tests
        if not source.is_dir():
            raise GraderError(f"the assignment's hidden tests folder {source} does not exist")
        staged = tmp / "tests"
        stage_tree(source, staged)
        sandbox, trusted = ctx.run_in_sandbox(
            hidden_command(cfg),
            extra_mounts=((staged, TESTS_MOUNT), (driver_dir, DRIVER_MOUNT)),
            timeout_s=cfg.timeout_s,
            name="pytest-hidden",
            trusted=True,
        )
        run = self._read(trusted, HIDDEN_RESULTS, result)
        stopped = sandbox.verdict in (Verdict.TIMEOUT, Verdict.OUT_OF_MEMORY)
        if (run.empty and not stopped) or (run.exit_code in (3, 4) and not run.tests and not run.collect_errors):
            # pytest never got as far as collecting (the candidate's code had not run yet), or a
            # usage/internal error before any test: the author's tests, the image or our command
            raise GraderError(
                f"pytest could not run the hidden tests (verdict {sandbox.verdict.value}, exit "
                f"{run.exit_code if run.exit_code is not None else sandbox.exit_code}): "
                f"{sandbox.stderr.text[-DETAIL_CHARS:] or sandbox.stdout.text[-DETAIL_CHARS:]}"
            )
        scoring = score_tests(run, cfg)
        outcomes = run.outcomes()
        passed = sum(t.outcome == "passed" for t in outcomes)
        timed_out = [t for t in outcomes if t.outcome == "timeout"]
        result.measurements.update(
            score=round(scoring.earned / scoring.possible, 4) if scoring.possible else None,
            points=scoring.earned,
            max_points=scoring.possible,
            passed=float(passed),
            failed=float(len(outcomes) - passed + len(run.collect_errors)),
            total=float(len(outcomes)),
            timed_out=float(len(timed_out)),
        )
        result.details["hidden_tests"] = {
            "run": _run_summary(sandbox),
            "exit_code": run.exit_code,
            "groups": [g.__dict__ for g in scoring.groups],
            "tests": scoring.rows,
            "malformed_lines": run.malformed_lines,
        }
        result.messages.extend(self._hidden_messages(sandbox, run, scoring, timed_out))

    def _hidden_messages(
        self, sandbox: SandboxRun, run: PytestRun, scoring: Scoring, timed_out: list[TestOutcome]
    ) -> list[Message]:
        cfg, src = self.cfg, self.name
        msgs: list[Message] = []
        if sandbox.verdict == Verdict.TIMEOUT:
            msgs.append(
                Message(
                    code="tests_timeout",
                    source=src,
                    text=(
                        f"The hidden tests were stopped at their {cfg.timeout_s:g} s limit; tests that had not "
                        "finished count as failed. Check that importing and calling your code cannot hang."
                    ),
                )
            )
        elif run.exit_code is None:
            why = "ran out of memory" if sandbox.verdict == Verdict.OUT_OF_MEMORY else "stopped before finishing"
            msgs.append(
                Message(
                    code="tests_crashed",
                    source=src,
                    text=(f"The hidden test run {why}; tests that had not finished count as failed."),
                )
            )
        if timed_out:
            msgs.append(
                Message(
                    code="test_timeout",
                    source=src,
                    text=(
                        f"{len(timed_out)} hidden test(s) ran past the {cfg.per_test_timeout_s:g} s per-test limit and were "
                        "stopped (code that loops or waits forever when imported or called?)."
                    ),
                )
            )
        if run.collect_errors:
            msgs.append(
                Message(
                    code="tests_collection_error",
                    source=src,
                    text=(f"{len(run.collect_errors)} hidden test module(s) could not be loaded against your code."),
                )
            )
        for group in scoring.groups:
            if group.earned < group.points:
                what = group.description or f"group {group.name!r}"
                ran = f"{group.total - group.passed} of {group.total} test(s) failed" if group.total else "no test ran"
                msgs.append(
                    Message(
                        code="hidden_tests_failed",
                        source=src,
                        level=Level.WARNING,
                        text=(
                            f"Hidden tests — {what}: {ran} ({group.points - group.earned:g} of {group.points:g} points lost)."
                        ),
                    )
                )
        ungrouped = [r for r in scoring.rows if r["group"] is None and r["outcome"] != "collection_error"]
        lost = [r for r in ungrouped if r["outcome"] != "passed"]
        if lost:
            msgs.append(
                Message(
                    code="hidden_tests_failed",
                    source=src,
                    level=Level.WARNING,
                    text=(f"Hidden tests: {len(lost)} of {len(ungrouped)} other test(s) failed."),
                )
            )
        for test in [*run.outcomes(), *run.collect_errors]:
            if test.outcome == "passed":
                continue
            detail = f"{test.nodeid}: {test.outcome}" + (f" — {test.message}" if test.message else "")
            if test.longrepr:
                detail += "\n" + test.longrepr[-DETAIL_CHARS:]
            msgs.append(
                Message(code="test_failed", text=detail, level=Level.INFO, source=src, visibility=Visibility.REVIEWER)
            )
        if run.exit_code is None and (sandbox.stderr.text.strip() or sandbox.stdout.text.strip()):
            msgs.append(
                Message(
                    code="tests_output_tail",
                    level=Level.INFO,
                    source=src,
                    visibility=Visibility.REVIEWER,
                    text=(sandbox.stderr.text or sandbox.stdout.text)[-DETAIL_CHARS:],
                )
            )
        return msgs

    # --- the candidate's tests ----------------------------------------------------------

    def _candidate(self, ctx: GradeContext, driver_dir: Path, result: GraderResult) -> None:
        assert ctx.run_in_sandbox is not None
        files = candidate_test_files(ctx.submission_dir)
        zero = {
            "candidate_tests_found": 0.0,
            "candidate_tests_passed": 0.0,
            "candidate_tests_failed": 0.0,
            "candidate_tests_total": 0.0,
        }
        if not files:
            result.measurements.update(zero)
            result.messages.append(
                Message(
                    code="candidate_tests",
                    level=Level.INFO,
                    source=self.name,
                    text="No tests of your own were found (test_*.py or *_test.py).",
                )
            )
            return
        command = driver_command(CANDIDATE_RESULTS, self.cfg.per_test_timeout_s, ["--rootdir", "/submission", *files])
        sandbox, output = ctx.run_in_sandbox(
            command,
            extra_mounts=((driver_dir, DRIVER_MOUNT),),
            timeout_s=self.cfg.candidate_timeout_s,
            name="pytest-candidate",
        )
        run = self._read(output, CANDIDATE_RESULTS, None)
        outcomes = run.outcomes()
        passed = sum(t.outcome == "passed" for t in outcomes)
        skipped = sum(t.outcome == "skipped" for t in outcomes)
        failed = len(outcomes) - passed - skipped + len(run.collect_errors)
        result.measurements.update(
            candidate_tests_found=1.0,
            candidate_tests_passed=float(passed),
            candidate_tests_failed=float(failed),
            candidate_tests_total=float(len(outcomes)),
        )
        result.details["candidate_tests"] = {
            "files": files,
            "run": _run_summary(sandbox),
            "exit_code": run.exit_code,
            "tests": [
                {"nodeid": t.nodeid, "outcome": t.outcome}
                | ({"reason": failure_reason(t)} if t.outcome not in ("passed", "skipped") else {})
                for t in outcomes[:500]
            ],
            "collect_errors": [t.nodeid for t in run.collect_errors],
        }
        result.messages.extend(self._candidate_failures(outcomes, run.collect_errors, result))
        stopped = " (the run was stopped at its time limit)" if sandbox.verdict == Verdict.TIMEOUT else ""
        result.messages.append(
            Message(
                code="candidate_tests",
                level=Level.INFO,
                source=self.name,
                text=(
                    f"Your own tests, run with pytest in the sandbox: {passed} passed, {failed} failed"
                    + (f", {skipped} skipped" if skipped else "")
                    + f"{stopped}."
                ),
            )
        )

    def _candidate_failures(
        self, outcomes: list[TestOutcome], collect_errors: list[TestOutcome], result: GraderResult
    ) -> list[Message]:
        """Why the candidate's own tests failed, for the reviewer: the test id and a short reason
        (pytest's assertion message), the first :data:`SHOWN_FAILURES` of them; also as a table."""
        failing = [t for t in [*outcomes, *collect_errors] if t.outcome not in ("passed", "skipped")]
        if not failing:
            return []
        shown = failing[:SHOWN_FAILURES]
        result.details["table"] = {
            "title": "The candidate's own tests that failed",
            "columns": ["test", "outcome", "reason"],
            "rows": [[t.nodeid[:200], _outcome_word(t), failure_reason(t)] for t in shown],
        }
        msgs = [
            Message(
                code="candidate_test_failed",
                text=f"{t.nodeid[:200]}: {_outcome_word(t)}" + (f" — {failure_reason(t)}" if failure_reason(t) else ""),
                level=Level.INFO,
                source=self.name,
                visibility=Visibility.REVIEWER,
            )
            for t in shown
        ]
        if len(failing) > len(shown):
            msgs.append(
                Message(
                    code="candidate_test_failed",
                    text=f"… and {len(failing) - len(shown)} more of the candidate's own tests failed (report.json).",
                    level=Level.INFO,
                    source=self.name,
                    visibility=Visibility.REVIEWER,
                )
            )
        return msgs

    # --- reading results ----------------------------------------------------------------

    def _read(self, output: Path, name: str, result: GraderResult | None) -> PytestRun:
        try:
            data = open_output(output, name, self.cfg.results_read_mb * 2**20)
        except OutputError as err:
            if result is not None and err.code != "missing":
                result.messages.append(
                    Message(
                        code="tests_results_unreadable",
                        text=err.text,
                        source=self.name,
                        level=Level.INFO,
                        visibility=Visibility.REVIEWER,
                    )
                )
            return PytestRun()
        return parse_results(data)


SHOWN_FAILURES = 10
"""How many of the candidate's own failing tests the report names, with their reasons."""
REASON_CHARS = 300


def failure_reason(test: TestOutcome) -> str:
    """A failing test's short reason: pytest's one-line crash message (``assert 0.4 > 0.9``), else
    the last line of its report; untrusted text, so control characters go and it is cut short."""
    text = test.message or (test.longrepr.strip().splitlines() or [""])[-1]
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text[: REASON_CHARS * 4]).split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def _outcome_word(test: TestOutcome) -> str:
    return {"error": "error", "timeout": "timed out", "not_run": "did not finish"}.get(test.outcome, "failed")


def _run_summary(run: SandboxRun) -> dict[str, Any]:
    return {
        "verdict": run.verdict.value,
        "exit_code": run.exit_code,
        "duration_s": run.duration_s,
        "timeout_s": run.timeout_s,
    }
