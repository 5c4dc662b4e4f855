"""Rendering a :class:`GradeReport`: ``report.json`` (canonical), ``report.md``, the terminal.

Everything the candidate controls (messages, stream tails, file names) is untrusted text:
Markdown output escapes it; the terminal prints it with rich markup disabled; in both, invisible
format characters (bidi overrides, zero-width characters) are shown as visible escapes such as
``⟨U+202E⟩`` (:mod:`harness.visible`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from harness.models import GradeReport, Verdict
from harness.reports.html_common import root_cause
from harness.visible import clip, number, visible

VOLATILE = frozenset(
    {"duration_s", "timings", "peak_memory_mb", "peak_memory_source", "peak_rss_mb", "latency_ms"}
)  # latency_ms: model gateway calls (issue 14)
"""Fields that change between two gradings of the same submission (time and memory)."""


def stable_view(report: GradeReport) -> dict:
    """The report as a dict without volatile fields: equal for equal submissions."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k.rsplit(".", 1)[-1] not in VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(report.model_dump(mode="json"))


def report_json(report: GradeReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: GradeReport, out_dir: Path) -> dict[str, Path]:
    """Write every format into ``out_dir``; return format → path.

    ``report.html`` links the executed notebook (rendered to ``artifacts/notebook.html``) and
    the full logs when the run's artifacts are in ``out_dir/artifacts``.
    """
    from harness.reports.html import render_html
    from harness.reports.junit import render_junit
    from harness.reports.notebook import artifact_links

    paths = {
        "json": out_dir / "report.json",
        "md": out_dir / "report.md",
        "html": out_dir / "report.html",
        "junit": out_dir / "junit.xml",
    }
    write_atomic(paths["json"], report_json(report))
    write_atomic(paths["md"], render_markdown(report))
    write_atomic(paths["junit"], render_junit(report))
    links, notes = _artifact_links(report, out_dir, artifact_links)
    write_atomic(paths["html"], render_html(report, links=links, notes=notes))
    return paths


def _artifact_links(report: GradeReport, out_dir: Path, artifact_links) -> tuple[dict[str, str], list[str]]:
    """The artifacts next to the report, only if they came from the submission it grades."""
    from harness.reports.assembly import artifacts_belong_to
    from harness.reports.notebook import ARTIFACTS_DIR

    folder = out_dir / ARTIFACTS_DIR
    if not os.path.lexists(folder):
        return {}, []
    if not artifacts_belong_to(folder, report.submission.sha256):
        note = (
            f"the {ARTIFACTS_DIR}/ folder next to this report is not from this submission "
            f"(sha256 {report.submission.sha256[:12]}); it is not linked"
        )
        return {}, [note]
    return artifact_links(out_dir, notebook_run=report.provenance.get("entry_kind") == "notebook")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~])")


def md_escape(text: str) -> str:
    """Escape untrusted text for inline Markdown (no HTML, links or emphasis survive)."""
    text = "".join(ch if ch in "\n\t" or ord(ch) >= 32 else " " for ch in str(text))
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def render_markdown(report: GradeReport) -> str:
    lines = [f"# holdout report: {md_escape(report.assignment.title or report.assignment.id)}", ""]
    score = "–" if report.score is None else f"{number(report.score)} / {number(report.max_score)}"
    lines += [
        f"**Score:** {score} · **Status:** {report.status} · "
        f"**Submission:** `{report.submission.sha256[:12]}` ({md_escape(report.submission.name)})",
        "",
    ]
    if report.sandbox is not None:
        run = report.sandbox
        lines += [
            f"**Run:** {run.verdict.value}, exit code {run.exit_code}, {run.duration_s:.1f} s"
            + (f", peak memory {run.peak_memory_mb:.0f} MB" if run.peak_memory_mb else ""),
            "",
        ]
    cause = root_cause(report)
    if cause:
        lines += [f"**Cause:** {md_escape(cause)}", ""]
    if report.criteria:
        lines += ["| Criterion | Level | Score | Evidence |", "|---|---|---|---|"]
        for c in report.criteria:
            level = "reviewer" if c.level is None and c.kind == "human" else (str(c.level) if c.level else "–")
            pts = "–" if c.score is None else f"{number(c.score)} / {number(c.max_score)}"
            lines.append(f"| {md_escape(c.title)} | {level} | {pts} | {md_escape('; '.join(c.evidence))} |")
        lines.append("")
    from harness.panel.render import panel_markdown
    from harness.reports.interview import interview_questions, nothing_measured

    lines += panel_markdown(report, md_escape)
    lines += ["**Questions to ask in the interview**", ""]
    lines += [f"{i}. {md_escape(q)}" for i, q in enumerate(interview_questions(report), start=1)] + [""]
    if report.metrics:
        empty = nothing_measured(report)
        if empty:
            lines += ["No output to measure: the metrics are the floor the rubric scores, with no interval.", ""]
        lines += ["| Metric | Value |", "|---|---|"]
        for name, value in report.metrics.items():
            if not (empty and name.endswith(("_ci_low", "_ci_high"))):
                lines.append(f"| {md_escape(name)} | {_fmt(value)} |")
        lines.append("")
    if report.baselines:
        lines += ["Baselines on the same holdout:", ""]
        for name, values in report.baselines.items():
            shown = ", ".join(f"{md_escape(k)} {_fmt(v)}" for k, v in values.items())
            lines.append(f"- {md_escape(name)}: {shown}")
        lines.append("")
    from harness.reports.gateway import gateway_markdown  # model gateway (issue 14)

    lines += gateway_markdown(report, md_escape)
    if report.messages:
        lines += ["## Messages", ""]
        for m in report.messages:
            lines.append(f"- **{m.level.value}** `{m.code}`: {md_escape(m.text)}")
        lines.append("")
    for result in report.graders:
        budget = MAX_MARKDOWN_CHARS - TABLE_RESERVE - sum(len(line) + 1 for line in lines)
        lines += _details_table(result.grader, result.details.get("table"), budget)
    return cap_markdown(visible("\n".join(lines)))


TABLE_ROWS = 500
MAX_MARKDOWN_CHARS = 60_000
"""report.md stays under this (a GitHub comment holds 65,536): the details are in report.html."""
TABLE_RESERVE = 2_000
CUT_NOTE = (
    "\n\n*report.md is cut here to stay under {limit:,} characters: the rest is in report.html and report.json.*\n"
)


def cap_markdown(text: str, limit: int = MAX_MARKDOWN_CHARS) -> str:
    """``text`` if it fits in ``limit`` characters, else cut at a line break with a pointer to report.html."""
    if len(text) <= limit:
        return text
    note = CUT_NOTE.format(limit=limit)
    keep = text[: limit - len(note)]
    cut = keep.rfind("\n")
    return (keep[:cut] if cut > 0 else keep) + note


def _details_table(grader: str, table: object, budget: int = MAX_MARKDOWN_CHARS) -> list[str]:
    """A grader's ``details["table"]`` (``title``, ``columns``, ``rows``) as Markdown; cells are untrusted.

    Rows stop at :data:`TABLE_ROWS` or when the table would pass ``budget`` characters; a last
    line says how many rows are left out and where they are."""
    if not isinstance(table, dict) or not table.get("columns") or not isinstance(table.get("rows"), list):
        return []
    columns = [md_escape(str(c)) for c in table["columns"]]
    rows = table["rows"]
    out = [
        f"## {md_escape(str(table.get('title') or 'Details'))} ({md_escape(grader)})",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    used, shown = sum(len(line) + 1 for line in out), 0
    for row in rows[:TABLE_ROWS]:
        cells = [md_escape("" if c is None else str(c)[:300]) for c in (row if isinstance(row, list) else [row])]
        line = "| " + " | ".join(cells) + " |"
        used += len(visible(line)) + 1
        if used > budget:
            break
        out.append(line)
        shown += 1
    if shown == 0 and rows:
        return [out[0], "", f"{len(rows)} rows: too long for report.md, see report.html and report.json.", ""]
    if len(rows) > shown:
        out.append(f"\n{len(rows) - shown} more rows in report.html and report.json.")
    return [*out, ""]


EVIDENCE_CHARS = 160
MESSAGE_CHARS = 300
MESSAGES_SHOWN = 8


def print_summary(report: GradeReport, console) -> None:
    """A short rich summary for the terminal. Candidate text is printed without markup."""
    from rich.table import Table
    from rich.text import Text

    colour = {"graded": "green", "needs_review": "yellow", "rejected": "red", "awaiting_panel": "cyan"}[report.status]
    score = "–" if report.score is None else f"{number(report.score)}/{number(report.max_score)}"
    head = Text.assemble(
        ("holdout ", "bold"),
        (f"{report.assignment.id}", "cyan"),
        "  score ",
        (score, f"bold {colour}"),
        "  status ",
        (report.status, colour),
    )
    console.print(head)
    if report.sandbox is not None:
        run = report.sandbox
        style = "green" if run.verdict == Verdict.OK else "red"
        console.print(
            Text.assemble(
                "run ",
                (run.verdict.value, style),
                f"  exit {run.exit_code}  {run.duration_s:.1f} s",
                f"  peak {run.peak_memory_mb:.0f} MB" if run.peak_memory_mb else "",
            )
        )
    cause = root_cause(report)
    if cause:
        console.print(Text.assemble(("cause ", "bold red"), Text(visible(cause[:300]))))
    if report.criteria:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("criterion", "level", "score", "evidence"):
            table.add_column(col, overflow="fold")
        for c in report.criteria:
            level = "reviewer" if c.kind == "human" else (str(c.level) if c.level else "–")
            pts = "" if c.score is None else f"{number(c.score)}/{number(c.max_score)}"
            table.add_row(
                Text(visible(c.title)), level, pts, Text(visible(clip("; ".join(c.evidence), EVIDENCE_CHARS)))
            )
        console.print(table)
    from harness.panel.render import panel_terminal

    panel_terminal(report, console)
    if report.gateway:  # model gateway (issue 14)
        from harness.reports.gateway import budget_line

        console.print(Text("model calls: " + budget_line(report.gateway)))
    shown = [m for m in report.messages if m.text != cause]
    for m in shown[:MESSAGES_SHOWN]:
        console.print(
            Text.assemble(
                (f"{m.level.value} ", "yellow" if m.level.value == "warning" else "red"),
                Text(visible(clip(m.text, MESSAGE_CHARS))),
            )
        )
    if len(shown) > MESSAGES_SHOWN:
        more = len(shown) - MESSAGES_SHOWN
        console.print(Text(f"{more} more message{'s' if more != 1 else ''} in report.html / report.md"))
