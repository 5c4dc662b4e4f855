"""The scorecard completes: a report's panel block from the reviews beside it, and the final
score that combines the harness's criteria with the panel's by the rubric's weights.

- Until every panel criterion has ``required_reviewers`` levels the report's status is
  ``awaiting_panel`` and only the automated score exists.
- Then ``final_score = (W_a * automated + W_p * panel) / (W_a + W_p)``, where ``automated`` is
  the report's score (0–100 over the automated rows), ``panel`` is
  ``100 * sum(w * (median - 1) / 4) / W_p`` over the panel rows, and ``W_a``, ``W_p`` are the
  rubric weights of each part. A panel with weight 0 informs and leaves the score as it is.
- A report the harness could not finish (``needs_review``, ``rejected``) keeps its status; the
  reviews are shown but no final score is made up.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import ConfigError
from harness.models import GradeReport, PanelBlock, PanelCriterion, ReportStatus
from harness.panel.reviews import Review, load_reviews

MAX_REPORT_BYTES = 64 * 2**20


def panel_criteria(report: GradeReport) -> dict[str, str]:
    """The report's panel (human) criteria: id -> title, in rubric order."""
    return {c.id: c.title for c in report.criteria if c.kind == "human"}


def read_report(report_dir: Path) -> GradeReport:
    """``report_dir/report.json`` (size-capped); :class:`ConfigError` when it is not a report."""
    from harness.safeio import UntrustedDataError, read_bounded

    path = Path(report_dir) / "report.json"
    try:
        data = read_bounded(path, MAX_REPORT_BYTES)
    except UntrustedDataError as exc:
        hint = "Point at a folder written by `grade` or `grade batch`."
        raise ConfigError(f"no report at {path}" if exc.code == "missing" else exc.message, hint=hint) from None
    try:
        return GradeReport.model_validate_json(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a holdout report: {str(exc).splitlines()[0]}") from None


def grading_status(report: GradeReport) -> ReportStatus:
    """What the harness itself concluded, whatever the panel's state."""
    if report.status in (ReportStatus.GRADED, ReportStatus.AWAITING_PANEL):
        return ReportStatus.GRADED
    return ReportStatus(report.status)


def graded_at(report: GradeReport) -> float | None:
    start = report.timings.get("started_at")
    return None if start is None else start + report.timings.get("total_s", 0.0)


def build_panel(
    report: GradeReport,
    reviews: list[Review],
    *,
    required_reviewers: int = 2,
    target_hours: float = 48.0,
    notes: list[str] | None = None,
) -> PanelBlock:
    """The panel block for ``report`` from ``reviews`` (pure: no files)."""
    criteria = [c for c in report.criteria if c.kind == "human"]
    notes = list(notes or [])
    usable = []
    for review in reviews:
        if review.submission_sha256 and review.submission_sha256 != report.submission.sha256:
            notes.append(
                f"review by {review.reviewer} was for other submission bytes "
                f"({review.submission_sha256[:12]}); not counted"
            )
            continue
        usable.append(review)
    rows = []
    for c in criteria:
        levels = {r.reviewer: r.levels[c.id] for r in usable if c.id in r.levels}
        comments = {r.reviewer: r.comments[c.id] for r in usable if c.id in r.comments}
        median = float(statistics.median(levels.values())) if levels else None
        spread = max(levels.values()) - min(levels.values()) if levels else None
        rows.append(
            PanelCriterion(
                id=c.id,
                title=c.title,
                weight=c.weight,
                levels=levels,
                comments=comments,
                median=median,
                spread=spread,
                disagreement=bool(spread is not None and spread >= 2),
            )
        )
    complete = bool(rows) and all(len(r.levels) >= required_reviewers for r in rows)
    automated_weight = sum(c.weight for c in report.criteria if c.kind == "automated")
    panel_weight = sum(r.weight for r in rows)
    panel_score = None
    if complete and panel_weight > 0:
        panel_score = round(100.0 * sum(r.weight * (r.median - 1) / 4 for r in rows) / panel_weight, 2)
    final = None
    if complete and report.score is not None and grading_status(report) == ReportStatus.GRADED:
        if panel_weight == 0:
            final = report.score
        else:
            total = automated_weight + panel_weight
            final = round((automated_weight * report.score + panel_weight * panel_score) / total, 2)
    decided_at = None
    if complete:
        # the moment the last review needed arrived
        stamps = sorted(r.recorded_at for r in usable)
        decided_at = stamps[-1] if stamps else None
    return PanelBlock(
        status="complete" if complete else "awaiting_panel",
        required_reviewers=required_reviewers,
        target_hours=target_hours,
        reviewers=[r.reviewer for r in usable],
        recommendations={r.reviewer: r.recommendation for r in usable if r.recommendation},
        reviewed_at={r.reviewer: r.recorded_at for r in usable},
        criteria=rows,
        automated_weight=automated_weight,
        panel_weight=panel_weight,
        automated_score=report.score,
        panel_score=panel_score,
        final_score=final,
        decided_at=decided_at,
        notes=notes,
    )


def apply_panel(report: GradeReport, panel: PanelBlock) -> GradeReport:
    """``report`` with ``panel`` attached and its status set from it."""
    status = grading_status(report)
    if status == ReportStatus.GRADED and panel.status != "complete":
        status = ReportStatus.AWAITING_PANEL
    return report.model_copy(update={"panel": panel, "status": status})


def panel_settings(report: GradeReport, settings=None, assignment=None) -> tuple[int, float]:
    """(required reviewers, target hours): from the report's panel block, else the assignment's
    ``[panel]`` table, else the defaults (2, 48 h)."""
    if report.panel is not None:
        return report.panel.required_reviewers, report.panel.target_hours
    from harness.assignments import find_assignment
    from harness.errors import HoldoutError
    from harness.settings import Settings
    from harness.spec import PanelSpec

    try:
        spec = find_assignment(assignment or report.assignment.id, settings or Settings.from_env()).spec.panel
    except HoldoutError:  # an assignment that moved or changed must not block recording a review
        spec = PanelSpec()
    return spec.reviewers, spec.target_hours


def refresh_panel(
    report_dir: Path, report: GradeReport | None = None, *, settings=None, assignment=None, write: bool = True
) -> GradeReport:
    """Recompute the panel block of the report in ``report_dir`` from its reviews, and re-render
    report.json/md/html/junit (``write``). A report without panel criteria is returned as is."""
    from harness.reports.write import write_reports

    report = report if report is not None else read_report(report_dir)
    if not panel_criteria(report):
        return report
    required, target = panel_settings(report, settings, assignment)
    reviews, problems = load_reviews(report_dir)
    updated = apply_panel(
        report, build_panel(report, reviews, required_reviewers=required, target_hours=target, notes=problems)
    )
    if write:
        write_reports(updated, Path(report_dir))
    return updated


def hours_between(start: float | None, end_iso: str | None) -> float | None:
    if start is None or not end_iso:
        return None
    try:
        end = datetime.fromisoformat(end_iso).timestamp()
    except ValueError:
        return None
    return round((end - start) / 3600.0, 2)


def hours_waiting(report: GradeReport, now: float | None = None) -> float | None:
    start = graded_at(report)
    if start is None:
        return None
    now = datetime.now(UTC).timestamp() if now is None else now
    return round((now - start) / 3600.0, 2)
