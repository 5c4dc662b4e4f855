"""Reading a pytest run's JSON-lines results (written where candidate code runs: parsed as
data, every line validated) and turning them into points per group and per test."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from graders.pytest_config import PytestConfig, TestGroupSpec
from harness.safeio import UntrustedDataError, loads_json

OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "timeout"})


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
