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
``tests_collection_error``, ``test_failed`` (reviewer), ``candidate_tests``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, field_validator, model_validator

from graders.base import GradeContext, Grader, GraderConfig
from graders.outputs import OutputError, open_output
from harness.errors import GraderError
from harness.models import GraderResult, Level, Message, SandboxRun, Verdict, Visibility
from harness.safeio import UntrustedDataError, loads_json
from sandbox.layout import LAYOUT

PYTHON = LAYOUT.python
ENTRY = LAYOUT.entry
DRIVER = Path(__file__).with_name("pytest_driver.py")
BRIDGE = Path(__file__).with_name("pytest_bridge")
DRIVER_MOUNT = "/holdout-pytest"
TRUSTED_MOUNT = LAYOUT.trusted_mount
BRIDGE_SOCKET = "/tmp/holdout-bridge/server.sock"
CANDIDATE_UID = LAYOUT.candidate_uid
TESTS_MOUNT = "/tests"
HIDDEN_RESULTS = "holdout-hidden-tests.jsonl"
CANDIDATE_RESULTS = "holdout-candidate-tests.jsonl"
OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "timeout"})
MAX_CANDIDATE_TEST_FILES = 200
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env", "__MACOSX"})
DETAIL_CHARS = 2000


class TestGroupSpec(GraderConfig):
    """Points for a group of hidden tests."""

    name: str
    tests: list[str] = Field(min_length=1)
    """fnmatch patterns over node ids (``test_contract.py::test_build_model*``); a pattern
    without ``::`` also matches the bare test name."""
    points: float = Field(gt=0)
    all_or_nothing: bool = False
    """Award the points only when every test of the group passes (default: pro rata)."""
    description: str = ""
    """What the group checks, in words a candidate may read (shown when it loses points)."""


class PytestConfig(GraderConfig):
    tests: str | None = "hidden_tests"
    """Folder of the assignment with the hidden tests; None runs only the candidate's tests."""
    timeout_s: float = Field(default=60, gt=0)
    """Wall-clock limit for the whole hidden-test run (enforced from outside the container)."""
    per_test_timeout_s: float = Field(default=10, gt=0)
    """Limit for one test (setup, call and teardown each) or one module's collection."""
    points_per_test: float = Field(default=1.0, ge=0)
    """Points of a test that is in no group (and the cost of a module that fails to load)."""
    groups: list[TestGroupSpec] = Field(default_factory=list)
    candidate_tests: bool = True
    """Also run the candidate's own tests (evidence for engineering habits, never points)."""
    candidate_timeout_s: float = Field(default=60, gt=0)
    results_read_mb: int = Field(default=8, ge=1)
    preload: list[str] = Field(default_factory=list)
    """Modules the server of the candidate's code imports before the first test (outside the
    per-test limits), without the submission on ``sys.path``: the heavy libraries the
    candidate's code is expected to import (``["pandas", "sklearn.pipeline"]``), so that importing
    it in a test is quick. Each session is a fork of that server and shares what it loaded."""
    bridge_max_mb: int = Field(default=64, ge=1)
    """Largest message across the bridge (either way)."""

    @field_validator("tests")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError("must be a folder inside the assignment (a relative path without '..')")
        return value

    @model_validator(mode="after")
    def _unique_groups(self) -> PytestConfig:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"group names must be unique: {names}")
        return self


# --- results --------------------------------------------------------------------------------


@dataclass
class TestOutcome:
    nodeid: str
    outcome: str
    """``passed``, ``failed``, ``error``, ``skipped``, ``timeout`` or ``not_run``."""
    duration_s: float = 0.0
    message: str = ""
    longrepr: str = ""


@dataclass
class PytestRun:
    """What one run's JSON-lines file says, validated."""

    collected: list[str] = field(default_factory=list)
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    collect_errors: list[TestOutcome] = field(default_factory=list)
    exit_code: int | None = None
    """pytest's exit status from the ``finished`` line; None when it never finished."""
    malformed_lines: int = 0

    @property
    def empty(self) -> bool:
        """Nothing at all was reported (not even the collection)."""
        return not (self.collected or self.tests or self.collect_errors) and self.exit_code is None

    def outcomes(self) -> list[TestOutcome]:
        """Every known test in collection order; collected tests without a result are ``not_run``."""
        out = [self.tests.get(n) or TestOutcome(n, "not_run") for n in self.collected]
        seen = set(self.collected)
        out += [t for n, t in self.tests.items() if n not in seen]
        return out


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


RESULT_LINE_DEPTH = 8
"""A results line is a flat record; anything nested deeper is not one (and never reaches the parser)."""


def _duration(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e9
    return float(value) if ok else 0.0  # also refuses NaN and ints too large for a float


def parse_results(data: bytes) -> PytestRun:
    """Parse the driver's JSON-lines file strictly: bad lines are counted and skipped.

    Total over any bytes (truncated, garbage, nesting bombs, huge numbers): the file is written
    where candidate code runs, so whatever is in it is the candidate's result, never an error."""
    run = PytestRun()
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            record = loads_json(raw, max_depth=RESULT_LINE_DEPTH, what="a results line")
        except UntrustedDataError:
            run.malformed_lines += 1
            continue
        event = record.get("event") if isinstance(record, dict) else None
        if event == "collected" and isinstance(record.get("nodeids"), list):
            run.collected = list(dict.fromkeys(n for n in record["nodeids"] if isinstance(n, str)))[:10_000]
        elif event in ("test", "collect_error") and isinstance(record.get("nodeid"), str):
            outcome = record.get("outcome") if event == "test" else "error"
            if outcome not in OUTCOMES:
                run.malformed_lines += 1
                continue
            item = TestOutcome(
                nodeid=record["nodeid"][:500],
                outcome=outcome,
                duration_s=_duration(record.get("duration_s")),
                message=_text(record.get("message"), 500),
                longrepr=_text(record.get("longrepr"), 4000),
            )
            if event == "test":
                run.tests.setdefault(item.nodeid, item)
            else:
                run.collect_errors.append(item)
        elif event == "finished" and isinstance(record.get("exit_code"), int):
            run.exit_code = record["exit_code"]
        else:
            run.malformed_lines += 1
    return run


# --- points ---------------------------------------------------------------------------------


def _matches(nodeid: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(nodeid, pattern):
        return True
    return "::" not in pattern and fnmatch.fnmatchcase(nodeid.rsplit("::", 1)[-1], pattern)


def group_of(nodeid: str, groups: list[TestGroupSpec]) -> TestGroupSpec | None:
    """The first group with a pattern matching ``nodeid``."""
    return next((g for g in groups if any(_matches(nodeid, p) for p in g.tests)), None)


@dataclass
class GroupScore:
    name: str
    description: str
    points: float
    earned: float
    passed: int
    total: int


@dataclass
class Scoring:
    earned: float
    possible: float
    groups: list[GroupScore]
    rows: list[dict[str, Any]]


def score_tests(run: PytestRun, cfg: PytestConfig) -> Scoring:
    """Points per group (pro rata or all-or-nothing) and per ungrouped test.

    A group no test matched (its module failed to load, say) earns nothing but keeps its
    points in the total; each module that fails to load costs ``points_per_test``.
    """
    by_group: dict[str, list[TestOutcome]] = {g.name: [] for g in cfg.groups}
    rows: list[dict[str, Any]] = []
    earned = possible = 0.0
    for test in run.outcomes():
        group = group_of(test.nodeid, cfg.groups)
        row = {
            "nodeid": test.nodeid,
            "outcome": test.outcome,
            "duration_s": round(test.duration_s, 3),
            "group": group.name if group else None,
        }
        if group is not None:
            by_group[group.name].append(test)
        else:
            row["points"] = cfg.points_per_test if test.outcome == "passed" else 0.0
            row["max_points"] = cfg.points_per_test
            earned += row["points"]
            possible += cfg.points_per_test
        rows.append(row)
    for error in run.collect_errors:
        rows.append(
            {
                "nodeid": error.nodeid,
                "outcome": "collection_error",
                "group": None,
                "points": 0.0,
                "max_points": cfg.points_per_test,
            }
        )
        possible += cfg.points_per_test
    groups = []
    for spec in cfg.groups:
        members = by_group[spec.name]
        passed = sum(t.outcome == "passed" for t in members)
        if not members:
            got = 0.0
        elif spec.all_or_nothing:
            got = spec.points if passed == len(members) else 0.0
        else:
            got = spec.points * passed / len(members)
        groups.append(GroupScore(spec.name, spec.description, spec.points, round(got, 4), passed, len(members)))
        earned += got
        possible += spec.points
    return Scoring(earned=round(earned, 4), possible=round(possible, 4), groups=groups, rows=rows)


# --- staging and discovery ------------------------------------------------------------------


def stage_tree(src: Path, dest: Path) -> int:
    """Copy regular files of ``src`` (no links, no caches) to ``dest``, readable by the sandbox uid."""
    count = 0
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not (here / d).is_symlink())
        target = dest / here.relative_to(src)
        target.mkdir(exist_ok=True)
        target.chmod(0o755)
        for name in sorted(filenames):
            path = here / name
            if name.endswith((".pyc", ".pyo")) or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            shutil.copyfile(path, target / name)
            (target / name).chmod(0o644)
            count += 1
    return count


def candidate_test_files(root: Path) -> list[str]:
    """The candidate's test files (``test_*.py``, ``*_test.py``), relative, read as names only."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and not (here / d).is_symlink()
        )
        for name in sorted(filenames):
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                path = here / name
                if stat.S_ISREG(os.lstat(path).st_mode):
                    found.append(path.relative_to(root).as_posix())
        if len(found) >= MAX_CANDIDATE_TEST_FILES:
            return found[:MAX_CANDIDATE_TEST_FILES]
    return found


PYTEST_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:stepwise",
    "-q",
    "--color=no",
    "-o",
    "console_output_style=classic",
)


def _driver_command(results: str, per_test_timeout_s: float, pytest_args: list[str]) -> list[str]:
    """pytest next to the candidate's code, as its uid (the candidate's own tests)."""
    return [
        PYTHON,
        f"{DRIVER_MOUNT}/{DRIVER.name}",
        "--results",
        f"/output/{results}",
        "--per-test-timeout",
        f"{per_test_timeout_s:g}",
        "--path",
        "/submission",
        "--",
        *PYTEST_OPTIONS,
        *pytest_args,
    ]


def hidden_command(cfg: PytestConfig) -> list[str]:
    """The two-uid run of the hidden tests: ``entry.py pair SERVER RUNNER``."""
    server = [
        PYTHON,
        "-B",
        "-c",
        f"import sys; sys.path[0] = {DRIVER_MOUNT!r}; from pytest_bridge.server import main; sys.exit(main())",
        "--socket",
        BRIDGE_SOCKET,
        "--root",
        "/submission",
        "--max-bytes",
        str(cfg.bridge_max_mb * 2**20),
        "--preload",
        *cfg.preload,
    ]
    runner = [
        PYTHON,
        "-I",
        "-B",
        f"{DRIVER_MOUNT}/{DRIVER.name}",
        "--results",
        f"{TRUSTED_MOUNT}/{HIDDEN_RESULTS}",
        "--per-test-timeout",
        f"{cfg.per_test_timeout_s:g}",
        "--logs",
        "-",
        "--bridge",
        BRIDGE_SOCKET,
        "--bridge-peer-uid",
        str(CANDIDATE_UID),
        "--",
        *PYTEST_OPTIONS,
        "--rootdir",
        TESTS_MOUNT,
        "--import-mode=importlib",
        TESTS_MOUNT,
    ]
    return [*ENTRY, "pair", json.dumps(server), json.dumps(runner)]


def stage_driver(dest: Path) -> None:
    """The driver and the bridge package, readable by every uid of the sandbox."""
    dest.mkdir(exist_ok=True)
    dest.chmod(0o755)
    shutil.copyfile(DRIVER, dest / DRIVER.name)
    (dest / DRIVER.name).chmod(0o644)
    package = dest / BRIDGE.name
    package.mkdir(exist_ok=True)
    package.chmod(0o755)
    for module in sorted(BRIDGE.glob("*.py")):
        shutil.copyfile(module, package / module.name)
        (package / module.name).chmod(0o644)


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
        command = _driver_command(CANDIDATE_RESULTS, self.cfg.per_test_timeout_s, ["--rootdir", "/submission", *files])
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
            "tests": [{"nodeid": t.nodeid, "outcome": t.outcome} for t in outcomes[:500]],
            "collect_errors": [t.nodeid for t in run.collect_errors],
        }
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


def _run_summary(run: SandboxRun) -> dict[str, Any]:
    return {
        "verdict": run.verdict.value,
        "exit_code": run.exit_code,
        "duration_s": run.duration_s,
        "timeout_s": run.timeout_s,
    }
