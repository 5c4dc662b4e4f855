"""The RAG part of ``report.html``: metrics with intervals, plots, and the per-question table.

Shown when the report has the ``rag`` grader's per-question table (:mod:`harness.reports.rag_stats`).
The metrics table gives every retrieval and answer metric with its 95% bootstrap interval over
the questions; the plots (inline SVG, :mod:`harness.reports.svg`) show the metrics with their
intervals, yes/no against open questions, the rank of the first right document, the spread of
answer F1 and retrieval misses by question type. The per-question table sits in a ``<details>``
element (collapsed until the reviewer opens it; no script), worst answers first, at most
:data:`MAX_ROWS` rows, every string cut to :data:`CELL_CHARS` and escaped. Reference answers are
hidden data: they appear here because this page is the reviewer's (candidates never receive a
report); the column says so.
"""

from __future__ import annotations

from harness.models import GradeReport
from harness.reports import svg
from harness.reports.html_common import fmt
from harness.reports.rag_stats import MetricLine, QuestionRow, RagStats, rag_stats, worst_first
from harness.reports.svg import esc

MAX_ROWS = 300
"""Rows of the per-question table in the page (the rest are in report.json)."""
CELL_CHARS = 300
RAG_CSS = """
table.rag-q td{font-size:13px}table.rag-q td.cand{border-left:3px dashed #7c3aed;background:#faf5ff}
table.rag-q td.ref{background:#f0fdf4}table.rag-q code{font-size:12px}
details.rag-table>summary{font-weight:600;margin:6px 0}
.docs code.right{background:#dcfce7}
"""


def _ci(ci: tuple[float, float] | None) -> str:
    return f"{fmt(ci[0])} – {fmt(ci[1])}" if ci else "–"


def header_facts(report: GradeReport) -> list[str]:
    """For the score band: context recall and answer F1 with their intervals."""
    stats = rag_stats(report)
    if stats is None or not stats.has_output:
        return []
    out = []
    for line in stats.metrics:
        if line.name in ("context_recall", "answer_f1"):
            ci = f" [{fmt(line.ci[0])}–{fmt(line.ci[1])}]" if line.ci else ""
            out.append(f"holdout {esc(line.label)} <b>{fmt(line.value)}</b>{ci}")
    return out


def _metrics_table(stats: RagStats) -> str:
    slices = stats.slices
    names = [s for s in ("yes_no", "open") if s in slices]
    head = "".join(
        f'<th class="num">{"yes/no" if s == "yes_no" else "open"} ({int(slices[s].get("questions") or 0)})</th>'
        for s in names
    )
    rows = []
    for line in stats.metrics:
        cells = "".join(f'<td class="num">{fmt(slices[s].get(line.name))}</td>' for s in names)
        note = f' <span class="muted">({esc(line.note)})</span>' if line.note else ""
        bold = line.name in ("context_recall", "answer_f1")
        value = f"<b>{fmt(line.value)}</b>" if bold else fmt(line.value)
        rows.append(
            f'<tr><td>{esc(line.label)}{note}</td><td class="muted">{esc(line.group)}</td>'
            f'<td class="num">{value}</td><td class="num">{_ci(line.ci)}</td>{cells}</tr>'
        )
    return (
        '<table><thead><tr><th>Metric</th><th>Kind</th><th class="num">Submission</th><th class="num">95% CI</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _breakdown_table(title: str, rows: list[tuple[str, int, float, float]]) -> str:
    if len(rows) < 2:
        return ""
    body = "".join(
        f'<tr><td>{esc(name)}</td><td class="num">{n}</td><td class="num">{miss:.0%}</td>'
        f'<td class="num">{fmt(f1)}</td></tr>'
        for name, n, miss, f1 in rows
    )
    return (
        f'<figure style="flex:1;min-width:300px"><figcaption>{esc(title)}</figcaption><table><thead><tr>'
        '<th>Questions</th><th class="num">n</th><th class="num">retrieval misses</th><th class="num">answer F1</th>'
        f"</tr></thead><tbody>{body}</tbody></table></figure>"
    )


def _metric_bars(lines: list[MetricLine]) -> str:
    groups = []
    for group in ("retrieval", "answers", "judge"):
        bars = [
            svg.Bar(
                line.label.replace("answer containment", "containment"),
                float(line.value or 0.0),
                svg.SERIES[0] if group != "judge" else svg.SERIES[5],
                note=f"[{fmt(line.ci[0])}–{fmt(line.ci[1])}]" if line.ci else "",
                low=line.ci[0] if line.ci else None,
                high=line.ci[1] if line.ci else None,
            )
            for line in lines
            if line.group == group
        ]
        if bars:
            groups.append((group, bars))
    return svg.bar_groups(groups, title="RAG metrics with 95% intervals", max_value=1.0, width=600)


def _slice_bars(stats: RagStats) -> str:
    slices = stats.slices
    if not {"yes_no", "open"} <= set(slices):
        return ""
    overall = {line.name: line.value for line in stats.metrics}
    groups = []
    for name, label in (
        ("context_recall", "context recall"),
        ("answer_f1", "answer F1"),
        ("exact_match", "exact match"),
    ):
        bars = [svg.Bar("all", float(overall.get(name) or 0.0), svg.SERIES[0])]
        for k, (key, text) in enumerate((("yes_no", "yes/no"), ("open", "open"))):
            value = slices[key].get(name)
            if isinstance(value, (int, float)):
                bars.append(svg.Bar(text, float(value), svg.SERIES[3 + k]))
        groups.append((label, bars))
    return svg.bar_groups(groups, title="yes/no against open questions", max_value=1.0, width=480)


def _rank_bars(stats: RagStats) -> str:
    if not stats.ranks:
        return ""
    bars = [
        svg.Bar(f"rank {k}" if k.isdigit() else k, float(n), svg.SERIES[0] if k.isdigit() else "#dc2626")
        for k, n in stats.ranks.items()
    ]
    return svg.bar_groups([("", bars)], title="rank of the first right document", digits=0, width=420)


def _f1_histogram(rows: list[QuestionRow]) -> str:
    bins = [("0", 0), ("0–0.25", 0), ("0.25–0.5", 0), ("0.5–0.75", 0), ("0.75–1", 0), ("1", 0)]
    counts = [0] * len(bins)
    for r in rows:
        f1 = r.answer_f1
        k = 0 if f1 <= 0 else 5 if f1 >= 1 else 1 + min(3, int(f1 / 0.25))
        counts[k] += 1
    bars = [
        svg.Bar(label, float(n), "#dc2626" if k == 0 else svg.SERIES[0])
        for k, ((label, _), n) in enumerate(zip(bins, counts))
    ]
    return svg.bar_groups([("", bars)], title="answer F1 per question", digits=0, width=420)


def _type_bars(stats: RagStats) -> str:
    shown = [t for t in stats.by_type if t[1] >= 3]
    if len(shown) < 2:
        return ""
    bars = [svg.Bar(name, miss, "#dc2626", note=f"n={n}") for name, n, miss, _ in shown]
    return svg.bar_groups([("", bars)], title="retrieval misses by question type", max_value=1.0, width=420)


def _plots(stats: RagStats) -> str:
    figures = [
        ("Metrics with 95% bootstrap intervals", _metric_bars(stats.metrics)),
        ("Yes/no against open questions", _slice_bars(stats)),
        ("Rank of the first right document", _rank_bars(stats)),
        ("Answer F1 per question", _f1_histogram(stats.rows)),
        ("Retrieval misses by question type (share)", _type_bars(stats)),
    ]
    return "".join(f"<figure><figcaption>{esc(c)}</figcaption>{b}</figure>" for c, b in figures if b)


def _cut(text: str) -> str:
    return esc(text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…")


def _docs(row: QuestionRow) -> str:
    if not row.retrieved:
        return '<span class="muted">none</span>'
    items = [f'<code class="{"right" if d in row.reference_docs else ""}">{_cut(d)}</code>' for d in row.retrieved]
    wanted = ""
    if row.reference_docs and not row.hit:
        wanted = f'<br><span class="muted">wanted {", ".join(_cut(d) for d in row.reference_docs[:3])}</span>'
    return " ".join(items) + wanted


def _question_row(n: int, row: QuestionRow) -> str:
    hit = '<span class="pill ok">hit</span>' if row.hit else '<span class="pill bad">miss</span>'
    rank = f"rank {row.rank}" if row.rank else ""
    answer = (
        '<span class="muted">no line</span>'
        if row.answer is None
        else (_cut(row.answer) or '<span class="muted">empty</span>')
    )
    refs = "<br>".join(_cut(r) for r in row.references[:3]) or '<span class="muted">–</span>'
    meta = esc(row.qtype) + (f" · {esc(row.difficulty)}" if row.difficulty else "")
    return (
        f'<tr><td class="num">{n}</td><td>{_cut(row.question)}<br><span class="muted">{meta} · {_cut(row.id)}</span></td>'
        f'<td class="ref">{refs}</td><td class="cand">{answer}</td><td class="docs">{_docs(row)}</td>'
        f'<td>{hit}<br><span class="muted">{rank}</span></td><td class="num">{fmt(row.answer_f1, 2)}</td>'
        f'<td>{"yes" if row.exact_match else "no"}</td><td class="muted">{esc(row.scored_as)}</td></tr>'
    )


def question_table(stats: RagStats) -> str:
    ordered = worst_first(stats.rows)
    shown = ordered[:MAX_ROWS]
    misses = sum(not r.hit for r in stats.rows)
    more = (
        f'<p class="muted">{len(ordered) - len(shown)} more question(s), the best answered, are in report.json.</p>'
        if len(ordered) > len(shown)
        else ""
    )
    summary = f"Per question: {len(stats.rows)} questions, {misses} retrieval miss(es), worst answers first" + (
        f" (the {len(shown)} worst shown)" if len(shown) < len(ordered) else ""
    )
    body = "".join(_question_row(n, r) for n, r in enumerate(shown, start=1))
    return (
        f'<details class="rag-table" id="rag-questions"><summary>{esc(summary)}</summary>'
        '<p class="muted">Reference answers are the hidden references (reviewer only: candidates never receive '
        "this report). The candidate's answers (dashed cells) are their output, verbatim and cut to "
        f"{CELL_CHARS} characters; document ids in green are the question's article.</p>"
        '<table class="rag-q"><thead><tr><th class="num">#</th><th>Question</th><th>Reference answer (hidden)</th>'
        "<th>Candidate answer — not from holdout</th><th>Retrieved doc ids</th><th>Hit</th>"
        f'<th class="num">F1</th><th>Exact</th><th>Scored as</th></tr></thead><tbody>{body}</tbody></table>{more}'
        "</details>"
    )


def rag_section(report: GradeReport) -> str:
    """The RAG metrics section (empty when the report has no ``rag`` grader table)."""
    stats = rag_stats(report)
    if stats is None:
        return ""
    if not stats.has_output:
        return (
            '<section id="metrics" class="rag"><h2>Holdout metrics (RAG)</h2><p>No question has a usable line in '
            f"the answers file, so every metric is 0 over the {len(stats.rows)} questions and there are no intervals, "
            "plots or per-question table. The messages below say why.</p></section>"
        )
    note = (
        f'<p class="muted">Over {len(stats.rows)} hidden questions; a missing or unusable answer counts 0. '
        f"Retrieval is scored on the first {stats.max_contexts} contexts by document id (fair to any chunking). "
        "Intervals: 95% percentile bootstrap over the questions (1,000 resamples, fixed seed). "
        "ROUGE-L, chrF and semantic similarity are information only.</p>"
    )
    breakdowns = _breakdown_table("By question type", stats.by_type) + _breakdown_table(
        "By difficulty (from the dataset's question writers)", stats.by_difficulty
    )
    return (
        '<section id="metrics" class="rag"><h2>Holdout metrics (RAG)</h2>'
        f"{_metrics_table(stats)}{note}"
        f'<div class="grid">{_plots(stats)}</div>'
        + (f'<div class="grid">{breakdowns}</div>' if breakdowns else "")
        + f"{question_table(stats)}</section>"
    )
