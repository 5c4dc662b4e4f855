"""The classifier's metrics section of ``report.html``: holdout metrics with the confidence
interval of the primary metric and the baselines, and the plots (metric vs baselines, confusion
matrix, precision-recall curve). Shown when a grader published ``primary_metric``."""

from __future__ import annotations

from typing import Any

from harness.models import GradeReport
from harness.reports import svg
from harness.reports.html_common import fmt as _fmt
from harness.reports.interview import find_details, nothing_measured
from harness.reports.svg import esc

_SHOWN_METRICS_SKIP = ("_ci_low", "_ci_high")


def metrics_section(report: GradeReport) -> str:
    details = find_details(report, "primary_metric")
    if not details:
        return ""
    primary = details.get("primary_metric")
    baselines: dict[str, dict[str, float]] = details.get("baselines") or report.baselines or {}
    grader = next(g for g in report.graders if "primary_metric" in g.details)
    names = [
        n
        for n in grader.measurements
        if not n.endswith(_SHOWN_METRICS_SKIP) and n not in ("coverage", "n_expected", "n_scored", "valid")
    ]
    head = "".join(f'<th class="num">{esc(b.replace("_", " "))}</th>' for b in baselines)
    rows = []
    measured = not nothing_measured(report)
    for name in names:
        value = grader.measurements.get(name)
        ci = ""
        if name == primary and not measured:
            ci = "–"
        elif name == primary:
            low, high = grader.measurements.get(f"{name}_ci_low"), grader.measurements.get(f"{name}_ci_high")
            ci = f"{_fmt(low)} – {_fmt(high)}" if low is not None and high is not None else "–"
        base_cells = "".join(f'<td class="num">{_fmt(b.get(name))}</td>' for b in baselines.values())
        weight = "<b>" if name == primary else ""
        rows.append(
            f'<tr><td>{weight}{esc(name)}{"</b> (primary)" if weight else ""}</td><td class="num">{weight}{_fmt(value)}'
            f'{"</b>" if weight else ""}</td><td class="num">{ci}</td>{base_cells}</tr>'
        )
    coverage = grader.measurements.get("coverage")
    note = (
        (
            f'<p class="muted">Scored on {int(grader.measurements.get("n_expected") or 0):,} holdout rows; '
            f"coverage {_fmt(coverage, 3)}. Baselines are simple models trained by the assignment author on the "
            "same data and scored on the same holdout.</p>"
        )
        if coverage is not None and measured
        else (
            '<p class="muted">No output to measure: the values are the floor the rubric scores, with no interval.</p>'
            if not measured
            else ""
        )
    )
    table = (
        f'<table><thead><tr><th>Metric</th><th class="num">Submission</th><th class="num">95% CI</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    plots = _plots(report, details, grader.measurements) if measured else ""
    return f'<section id="metrics"><h2>Holdout metrics</h2>{table}{note}<div class="grid">{plots}</div></section>'


def _plots(report: GradeReport, details: dict[str, Any], measured: dict[str, float | None]) -> str:
    figures = []
    primary = details.get("primary_metric")
    baselines: dict[str, dict[str, float]] = details.get("baselines") or report.baselines or {}
    shown = [m for m in (primary, "precision", "recall", "balanced_accuracy") if m and measured.get(m) is not None]
    shown = list(dict.fromkeys(shown))
    if shown and baselines:
        groups = []
        for m in shown:
            low, high = measured.get(f"{m}_ci_low"), measured.get(f"{m}_ci_high")
            bars = [
                svg.Bar(
                    "submission",
                    float(measured[m] or 0),
                    svg.SERIES[0],
                    note=f"[{_fmt(low)}–{_fmt(high)}]" if m == primary and low is not None and high is not None else "",
                    low=low if m == primary else None,
                    high=high if m == primary else None,
                )
            ]
            for k, (name, values) in enumerate(baselines.items()):
                if values.get(m) is not None:
                    bars.append(svg.Bar(name.replace("_", " "), float(values[m]), svg.SERIES[1 + (k % 2)]))
            groups.append((m, bars))
        figures.append(
            ("Submission vs baselines (holdout)", svg.bar_groups(groups, title="metric vs baselines", max_value=1.0))
        )
    cm = details.get("confusion_matrix")
    if cm and cm.get("labels") and cm.get("matrix"):
        figures.append(
            (
                "Confusion matrix",
                svg.confusion_matrix(
                    [str(x) for x in cm["labels"]],
                    cm["matrix"],
                    title="confusion matrix",
                    positive=cm.get("positive_label"),
                ),
            )
        )
    pr = details.get("pr_curve")
    if pr and pr.get("precision") and pr.get("recall"):
        points = []
        if measured.get("recall") is not None and measured.get("precision") is not None:
            points.append(("submission", float(measured["recall"]), float(measured["precision"]), svg.SERIES[0]))
        for name, values in baselines.items():
            if values.get("recall") and values.get("precision"):
                points.append((name.replace("_", " "), float(values["recall"]), float(values["precision"]), "#6b7280"))
        figures.append(
            (
                "Precision–recall curve",
                svg.pr_curve(
                    pr["precision"],
                    pr["recall"],
                    title="precision-recall curve",
                    points=points,
                    area=measured.get("average_precision"),
                ),
            )
        )
    elif cm:
        figures.append(
            (
                "Precision–recall curve",
                '<p class="muted">No probabilities submitted, so there is no curve: '
                "only the single operating point in the confusion matrix.</p>",
            )
        )
    return "".join(f"<figure><figcaption>{esc(caption)}</figcaption>{body}</figure>" for caption, body in figures)
