"""The panel block in each report view (HTML section, Markdown, terminal). Reviewer comments
are people's text: escaped like everything else."""

from __future__ import annotations

from collections.abc import Callable

from harness.models import GradeReport, PanelBlock


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def whose(panel: PanelBlock, automated: float | None) -> str:
    """One sentence saying which part of the score is whose."""
    auto = f"automated {_num(automated)} (the harness, weight {panel.automated_weight:g})"
    if panel.status != "complete":
        done = min((len(c.levels) for c in panel.criteria), default=0)
        return (
            f"{auto}; panel awaiting reviews ({done}/{panel.required_reviewers} per criterion, weight "
            f"{panel.panel_weight:g}); no final score yet"
        )
    if panel.panel_weight == 0:
        return f"{auto}; panel complete (weight 0: informs, does not change the score); final {_num(panel.final_score)}"
    return (
        f"{auto}; panel {_num(panel.panel_score)} (reviewers' medians, weight {panel.panel_weight:g}); "
        f"final {_num(panel.final_score)}"
    )


def panel_html(report: GradeReport) -> str:
    from harness.reports.svg import esc

    panel = report.panel
    if panel is None:
        return ""
    reviewers = panel.reviewers
    head = "".join(f"<th class='num'>{esc(r)}</th>" for r in reviewers)
    rows = []
    for c in panel.criteria:
        cells = "".join(f"<td class='num'>{c.levels.get(r, '–')}</td>" for r in reviewers)
        comments = "".join(f"<li><b>{esc(r)}</b>: {esc(text)}</li>" for r, text in c.comments.items())
        flag = ' <span class="pill bad">disagree by 2+ levels</span>' if c.disagreement else ""
        style = ' style="background:#fef2f2"' if c.disagreement else ""
        rows.append(
            f'<tr class="panel-criterion{" disagree" if c.disagreement else ""}"{style}><td><b>{esc(c.title)}</b>{flag}'
            f'<ul class="evidence">{comments}</ul></td>{cells}<td class="num">{_num(c.median)}</td>'
            f'<td class="num">{"–" if c.spread is None else c.spread}</td><td class="num">{c.weight:g}</td></tr>'
        )
    recs = ", ".join(f"{esc(r)}: {esc(v)}" for r, v in panel.recommendations.items()) or "none yet"
    notes = "".join(f"<li>{esc(n)}</li>" for n in panel.notes)
    state = "complete" if panel.status == "complete" else "awaiting reviews"
    return (
        f'<section id="panel"><h2>Panel <span class="pill {"ok" if panel.status == "complete" else "info"}">{state}</span></h2>'
        f'<p id="whose">{esc(whose(panel, report.score))}.</p>'
        f'<table><thead><tr><th>Panel criterion</th>{head}<th class="num">median</th><th class="num">spread</th>'
        f'<th class="num">weight</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f'<p class="muted">Recommendations: {recs}. {panel.required_reviewers} reviewers needed per criterion.</p>'
        + (f'<ul class="muted">{notes}</ul>' if notes else "")
        + "</section>"
    )


def panel_markdown(report: GradeReport, md_escape: Callable[[str], str]) -> list[str]:
    """The panel block as Markdown; ``md_escape`` escapes people's text (report.md's own)."""
    panel = report.panel
    if panel is None:
        return []
    lines = ["## Panel", "", md_escape(whose(panel, report.score)) + ".", ""]
    reviewers = panel.reviewers
    lines += [
        "| Panel criterion | "
        + " | ".join(md_escape(r) for r in reviewers)
        + (" | " if reviewers else "")
        + "Median | Spread |",
        "|---|" + "---|" * len(reviewers) + "---|---|",
    ]
    for c in panel.criteria:
        title = md_escape(c.title) + (" **(disagree by 2+ levels)**" if c.disagreement else "")
        levels = " | ".join(str(c.levels.get(r, "–")) for r in reviewers)
        lines.append(
            f"| {title} | {levels}{' | ' if reviewers else ''}{_num(c.median)} | "
            f"{'–' if c.spread is None else c.spread} |"
        )
    lines.append("")
    for c in panel.criteria:
        for r, text in c.comments.items():
            lines.append(f"- {md_escape(c.title)}, {md_escape(r)}: {md_escape(text)}")
    if panel.recommendations:
        lines.append(
            "- Recommendations: "
            + ", ".join(f"{md_escape(r)} {md_escape(v)}" for r, v in panel.recommendations.items())
        )
    return [*lines, ""]


def panel_terminal(report: GradeReport, console) -> None:
    from rich.text import Text

    panel = report.panel
    if panel is None:
        return
    console.print(Text(whose(panel, report.score)))
    for c in panel.criteria:
        levels = ", ".join(f"{r} {lvl}" for r, lvl in c.levels.items()) or "no reviews"
        mark = "  ← disagree by 2+ levels" if c.disagreement else ""
        console.print(Text(f"  {c.title}: {levels}; median {_num(c.median)}{mark}"))
