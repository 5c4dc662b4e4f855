"""The rubric: measurements → a level 1–5 per criterion → points; human criteria left blank.

Points for an automated criterion are ``weight × (level − 1) / 4``, rescaled so the automated
weights add up to 100: level 1 earns nothing, level 5 everything. A criterion whose
measurement is missing because a grader failed (our fault) gets no level and no score, and
the report is flagged ``needs_review`` instead of silently scoring the candidate zero.
"""

from __future__ import annotations

import math

from harness.models import CriterionScore
from harness.spec import CriterionSpec, RubricSpec


def level_for(value: float, thresholds: list[float], greater_is_better: bool = True) -> int:
    """1 + how many of the four thresholds (for levels 2..5) ``value`` reaches."""
    if greater_is_better:
        return 1 + sum(value >= t for t in thresholds)
    return 1 + sum(value <= t for t in thresholds)


def _format(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"


def score_criterion(
    spec: CriterionSpec,
    measurements: dict[str, float | None],
    failed_graders: set[str],
    max_score: float,
    evidence: list[str] | None = None,
) -> CriterionScore:
    row = CriterionScore(
        id=spec.id,
        title=spec.title,
        kind=spec.kind,
        weight=spec.weight,
        max_score=max_score,
        guide=dict(spec.guide),
        pass_level=spec.pass_level if spec.kind == "automated" else None,
    )
    if spec.kind == "human":
        row.evidence = ["for the reviewer: see the guide for each level"]
        return row
    assert spec.measurement is not None
    grader = spec.measurement.split(".", 1)[0]
    value = measurements.get(spec.measurement)
    if grader in failed_graders:
        row.evidence = [f"grader {grader!r} failed; this criterion needs a reviewer"]
        return row
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # The grader ran and had nothing to measure (no output, say): the lowest level.
        row.level, row.score = 1, 0.0
        row.evidence = [f"{spec.measurement}: not measured", *(evidence or [])]
        row.passed = row.level >= spec.pass_level
        return row
    row.level = level_for(value, spec.thresholds, spec.greater_is_better)
    row.score = round(max_score * (row.level - 1) / 4, 2)
    cmp = "≥" if spec.greater_is_better else "≤"
    bands = ", ".join(f"L{i + 2} {cmp} {_format(t)}" for i, t in enumerate(spec.thresholds))
    row.evidence = [f"{spec.measurement} = {_format(value)} ({bands})", *(evidence or [])]
    row.passed = row.level >= spec.pass_level
    return row


def score_rubric(
    rubric: RubricSpec,
    measurements: dict[str, float | None],
    *,
    failed_graders: set[str] = frozenset(),
    evidence: dict[str, list[str]] | None = None,
) -> tuple[list[CriterionScore], float | None]:
    """All rows and the automated score out of 100 (``None`` if any automated row is unscored).

    ``evidence`` is keyed by ``grader.measurement`` (preferred) or by grader name.
    """
    automated = [c for c in rubric.criteria if c.kind == "automated"]
    total_weight = sum(c.weight for c in automated) or 1.0
    rows = []
    for c in rubric.criteria:
        max_score = 100.0 * c.weight / total_weight if c.kind == "automated" else 0.0
        grader = (c.measurement or "").split(".", 1)[0]
        found = (evidence or {}).get(c.measurement or "") or (evidence or {}).get(grader)
        rows.append(score_criterion(c, measurements, set(failed_graders), max_score, found))
    scored = [r for r in rows if r.kind == "automated"]
    if not scored:
        return rows, None
    if any(r.score is None for r in scored):
        return rows, None
    return rows, round(sum(r.score or 0.0 for r in scored), 2)
