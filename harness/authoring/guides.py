"""Rubric guides that agree with the measurement (``grade check``).

An automated criterion's level guide may state the range of its level before the first colon,
in words a reviewer reads: ``"F1 0.40-0.65: ..."``, ``"Recall below 0.25: ..."``,
``"F1 0.90 or more: ..."``, ``"More than 60 findings per 1000 lines: ..."``, ``"At most 5 ...:"``.
Three checks keep the words and the numbers together:

- :func:`guide_problems` (static): a stated range must be exactly the level's band of the
  thresholds (``thresholds = [0.40, 0.65, ...]`` makes level 2 ``0.40-0.65``);
- :func:`level_problems` (per canary): the measured value lies in the range the guide of the
  level it reached states, and, where the canary declares ``levels = {criterion = level}``
  (the level whose guide describes it, e.g. the keyword-rule canary and the guide that says
  "keyword rule"), it reached exactly that level.
"""

from __future__ import annotations

import math
import re

from harness.models import GradeReport
from harness.spec import AssignmentSpec, CriterionSpec

_NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
_BETWEEN = re.compile(_NUMBER + r"\s*(?:-|–|to)\s*" + _NUMBER)
_BOUND = re.compile(
    r"(?i)\b(below|under|less than|fewer than|more than|above|over|at most|at least)\s+"
    + _NUMBER
    + r"|"
    + _NUMBER
    + r"\s+or\s+(more|above|higher|less|fewer|below|lower)\b"
)


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def stated_bounds(guide: str) -> set[float] | None:
    """The numbers of the range a guide states before its first colon; None if it states none."""
    head = guide.split(":", 1)[0] if ":" in guide else ""
    found: list[float] = []
    for match in _BETWEEN.finditer(head):
        found += [_num(match.group(1)), _num(match.group(2))]
    rest = _BETWEEN.sub(" ", head)
    for match in _BOUND.finditer(rest):
        found.append(_num(match.group(2) or match.group(3)))
    return set(found) or None


def band(criterion: CriterionSpec, level: int) -> tuple[float, float]:
    """The measurement range (low, high) of ``level``: level 1 below the first threshold, level
    5 from the last (bounds in the direction of ``greater_is_better``; infinite ends)."""
    t = criterion.thresholds
    edges = [-math.inf, *t, math.inf] if criterion.greater_is_better else [math.inf, *t, -math.inf]
    a, b = edges[level - 1], edges[level]
    return (min(a, b), max(a, b))


def guide_problems(spec: AssignmentSpec) -> list[str]:
    """Guides whose stated range is not their level's band of the thresholds."""
    problems = []
    for i, c in enumerate(spec.rubric.criteria):
        if c.kind != "automated":
            continue
        for key, text in sorted(c.guide.items()):
            stated = stated_bounds(text)
            if stated is None or not key.isdigit():
                continue
            low, high = band(c, int(key))
            expected = {x for x in (low, high) if math.isfinite(x)}
            if not _same(stated, expected):
                shown = " and ".join(f"{x:g}" for x in sorted(expected))
                problems.append(
                    f"rubric.criteria[{i}] ({c.id}) guide {key}: states {', '.join(f'{x:g}' for x in sorted(stated))}, "
                    f"but level {key} is measured between {shown} (thresholds {c.thresholds}); "
                    "make the guide state its level's range"
                )
    return problems


def _same(a: set[float], b: set[float]) -> bool:
    return len(a) == len(b) and all(any(math.isclose(x, y, abs_tol=1e-9) for y in b) for x in a)


def _measured(report: GradeReport, measurement: str) -> float | None:
    grader, _, name = measurement.partition(".")
    for g in report.graders:
        if g.grader == grader:
            value = g.measurements.get(name)
            return value if isinstance(value, (int, float)) else None
    return None


def level_problems(report: GradeReport, spec: AssignmentSpec, declared: dict[str, int]) -> list[str]:
    """Rows of ``report`` whose level contradicts its guide, or the level ``declared`` for the canary."""
    problems = []
    criteria = {c.id: c for c in spec.rubric.criteria}
    for row in report.criteria:
        c = criteria.get(row.id)
        if c is None or c.kind != "automated" or row.level is None or not c.measurement:
            continue
        value = _measured(report, c.measurement)
        guide = c.guide.get(str(row.level), "")
        stated = stated_bounds(guide)
        if value is not None and stated is not None:
            low, high = band(c, row.level)
            if not low <= value <= high:
                problems.append(
                    f"{row.id}: {c.measurement} = {value:.3g} reached level {row.level}, whose guide says {guide[:90]!r}"
                )
        want = declared.get(row.id)
        if want is not None and want != row.level:
            measured = "not measured" if value is None else f"{c.measurement} = {value:.3g}"
            problems.append(
                f"{row.id}: {measured} puts it at level {row.level} ({guide[:90]!r}), but the canary is "
                f"declared as level {want} ({c.guide.get(str(want), '')[:90]!r}): fix the guides or the thresholds"
            )
    if unknown := sorted(set(declared) - set(criteria)):
        problems.append(f"levels: no criterion {', '.join(map(repr, unknown))}")
    return problems
