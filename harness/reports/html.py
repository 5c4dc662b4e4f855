"""``report.html``: one self-contained page a reviewer reads in two minutes.

Rendered from the :class:`GradeReport` alone (plus links to the artifacts next to it). Inline
CSS, charts as inline SVG (:mod:`harness.reports.svg`), no JavaScript, no external resources, and a
Content-Security-Policy that forbids scripts and every load except inline styles and
``data:`` images. Everything that came from the candidate (file names, code, stdout, messages)
or from the assignment is escaped with :func:`html.escape`, and every invisible format
character (bidi overrides, zero-width characters) is shown as a visible escape such as
``⟨U+202E⟩`` (:mod:`harness.visible`). Verbatim candidate output (log tails, test output, code
excerpts) sits in a labelled frame, "Candidate output — not from holdout", so none of it can
pass for the harness's own notices, which are never inside a frame.

Top to bottom: the score, status and run verdict; the scorecard; questions for the interview;
metrics with confidence intervals, baselines and plots (the classifier's in
:mod:`harness.reports.metrics_html`; a RAG assignment's, with its per-question table, in
:mod:`harness.reports.rag_html`); code quality (lint by category,
habits, the worst findings with code); the sandbox run with log tails; artifacts (the executed
notebook); messages; provenance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from harness.models import CriterionScore, GradeReport, Level, Verdict, Visibility
from harness.reports import svg
from harness.reports.gateway import gateway_html  # model gateway (issue 14)
from harness.reports.html_common import CANDIDATE_LABEL, CSP, root_cause
from harness.reports.html_common import fmt as _fmt
from harness.reports.interview import find_details, interview_questions, nothing_measured
from harness.reports.metrics_html import metrics_section
from harness.reports.rag_html import RAG_CSS, header_facts, rag_section
from harness.reports.svg import esc
from harness.streams import CELL_NUMBERING
from harness.visible import visible

CANDIDATE_OUTPUT_CODES = frozenset({"stderr_tail", "tests_output_tail", "test_failed", "candidate_test_failed"})
"""Message codes whose text is the candidate's own output, verbatim (shown framed)."""
LOG_TAIL_LINES = 40
YES, NO = '<span class="yes">✓</span>', '<span class="no">✗</span>'

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;background:#f3f4f6}
main{max-width:1120px;margin:0 auto;padding:0 20px 40px}
header.top{background:#111827;color:#f9fafb;padding:18px 0 20px;margin-bottom:18px}
header.top .wrap{max-width:1120px;margin:0 auto;padding:0 20px;display:flex;gap:28px;align-items:center;flex-wrap:wrap}
.score{font-size:52px;font-weight:700;line-height:1}.score small{font-size:20px;color:#9ca3af;font-weight:400}
.headline h1{font-size:20px;margin:0 0 6px}.headline .sub{color:#d1d5db;font-size:13px}
.pill{display:inline-block;border-radius:999px;padding:2px 10px;font-size:12px;font-weight:600;margin-right:6px}
.ok{background:#dcfce7;color:#166534}.warn{background:#fef3c7;color:#92400e}.bad{background:#fee2e2;color:#991b1b}
.info{background:#e0e7ff;color:#3730a3}.muted{color:#6b7280}
.facts{display:flex;gap:18px;flex-wrap:wrap;margin-top:8px;font-size:13px;color:#e5e7eb}.facts b{color:#fff}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 18px;margin:0 0 16px}
section h2{font-size:16px;margin:0 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #f3f4f6;vertical-align:top}
th{font-size:12px;color:#6b7280;font-weight:600;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.levels{display:inline-flex;gap:3px;vertical-align:middle}td.level{white-space:nowrap}
.levels i{display:block;width:16px;height:16px;border-radius:3px;background:#e5e7eb}
.levels.pass i.on{background:#16a34a}.levels.fail i.on{background:#dc2626}.levels.none i{background:#f3f4f6;border:1px dashed #d1d5db}
ul.evidence{margin:0;padding-left:16px;color:#374151}ul.evidence li{margin:0}
details summary{cursor:pointer;color:#2563eb}details ol{margin:4px 0 0;padding-left:20px}
ol.questions li{margin:4px 0}
.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.grid figure{margin:0}
figcaption{font-size:12px;color:#6b7280;margin-bottom:4px;font-weight:600}
pre{background:#f9fafb;border:1px solid #e5e7eb;border-radius:4px;padding:6px 8px;margin:4px 0 10px;
    font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto}
pre .hit{background:#fef3c7;display:block}pre .ln{color:#9ca3af;display:inline-block;min-width:3.5em}
.finding{margin:10px 0 0}.finding .head{font-size:13px}.finding code{background:#f3f4f6;padding:0 4px;border-radius:3px}
.habits{list-style:none;padding:0;margin:0}.habits li{margin:2px 0}
.yes{color:#16a34a;font-weight:700}.no{color:#dc2626;font-weight:700}
.kv td:first-child{color:#6b7280;width:220px}.kv td{border:0;padding:2px 8px}
.banner{border-radius:6px;padding:8px 12px;margin:0 0 12px}.banner.warn{border:1px solid #f59e0b}
.banner.bad{border:1px solid #dc2626}
footer{color:#6b7280;font-size:12px;text-align:center}
.candidate{border:2px dashed #7c3aed;border-radius:6px;padding:2px 8px 4px;margin:6px 0;background:#faf5ff}
.candidate>.candidate-label{font-size:11px;font-weight:700;color:#6d28d9;text-transform:uppercase;letter-spacing:.04em}
.candidate pre{margin:2px 0 0}
"""


def candidate_frame(inner: str, what: str = "") -> str:
    """``inner`` (already escaped HTML of the candidate's output) in its labelled frame."""
    label = CANDIDATE_LABEL + (f" · {esc(what)}" if what else "")
    return f'<div class="candidate"><div class="candidate-label">{label}</div>{inner}</div>'


def _status_class(status: str) -> str:
    return {"graded": "ok", "needs_review": "warn", "rejected": "bad", "awaiting_panel": "info"}.get(status, "info")


def _verdict_class(verdict: Verdict) -> str:
    return "ok" if verdict == Verdict.OK else "bad"


def _levels(c: CriterionScore) -> str:
    if c.level is None:
        label = "for the panel" if c.kind == "human" else "not scored"
        return (
            f'<span class="levels none" title="{label}">'
            + "<i></i>" * 5
            + f'</span> <span class="muted">{label}</span>'
        )
    state = "pass" if c.passed or (c.passed is None and c.level >= 3) else "fail"
    boxes = "".join(f'<i class="{"on" if n <= c.level else ""}"></i>' for n in range(1, 6))
    title = f"level {c.level} of 5" + (f"; pass level {c.pass_level}" if c.pass_level else "")
    return f'<span class="levels {state}" title="{esc(title)}">{boxes}</span> <b>{c.level}</b>'


# --- sections --------------------------------------------------------------------------------


def _header(report: GradeReport, links: dict[str, str]) -> str:
    score = "–" if report.score is None else f"{report.score:.1f}"
    pills = [f'<span class="pill {_status_class(report.status)}">{esc(report.status.replace("_", " "))}</span>']
    facts = []
    run = report.sandbox
    if run is not None:
        pills.append(
            f'<span class="pill {_verdict_class(run.verdict)}">run: {esc(run.verdict.value.replace("_", " "))}</span>'
        )
        limit = f" of {run.timeout_s:.0f} s" if run.timeout_s else ""
        facts.append(f"run <b>{run.duration_s:.1f} s</b>{limit}")
        if run.peak_memory_mb:
            facts.append(f"peak memory <b>{run.peak_memory_mb:.0f} MB</b>")
    details = find_details(report, "primary_metric")
    primary = details.get("primary_metric")
    if primary and nothing_measured(report):
        facts.insert(0, f"holdout {esc(primary)} <b>–</b> (no output to measure)")
    elif primary and report.metrics.get(primary) is not None:
        low, high = report.metrics.get(f"{primary}_ci_low"), report.metrics.get(f"{primary}_ci_high")
        ci = f" [{_fmt(low)}–{_fmt(high)}]" if low is not None and high is not None else ""
        facts.insert(0, f"holdout {esc(primary)} <b>{_fmt(report.metrics[primary])}</b>{ci}")
    facts[:0] = header_facts(report)  # RAG: context recall and answer F1 with intervals (issue 15)
    automated = [c for c in report.criteria if c.kind == "automated"]
    human = [c for c in report.criteria if c.kind == "human"]
    if automated:
        passed = sum(1 for c in automated if c.passed)
        facts.append(f"<b>{passed}/{len(automated)}</b> automated criteria pass")
    if human and report.panel is not None:
        facts.append(
            f"panel <b>{esc(report.panel.status.replace('_', ' '))}</b> · final "
            f"<b>{'–' if report.panel.final_score is None else f'{report.panel.final_score:.1f}'}</b>"
        )
    elif human:
        facts.append(f"<b>{len(human)}</b> for the panel")
    sub = (
        f"{esc(report.submission.name)} · sha256 {esc(report.submission.sha256[:12])} · "
        f"{report.submission.files} files"
        + (f" · entry {esc(report.submission.entry_point)}" if report.submission.entry_point else "")
    )
    if "notebook" in links:
        sub += f' · <a href="{esc(links["notebook"])}" style="color:#93c5fd">open the executed notebook</a>'
    return (
        '<header class="top"><div class="wrap">'
        f'<div class="score" id="score">{score}<small> / {report.max_score:.0f}</small></div>'
        f'<div class="headline"><h1>{esc(report.assignment.title or report.assignment.id)}</h1>'
        f'<div>{"".join(pills)}</div><div class="facts">{"".join(f"<span>{f}</span>" for f in facts)}</div>'
        f'<div class="sub">{sub}</div></div></div></header>'
    )


def _banners(report: GradeReport) -> str:
    out = []
    cause = root_cause(report)
    if cause:
        out.append(f'<div class="banner bad" id="cause"><b>Why the run failed:</b> {_cause_html(report, cause)}</div>')
    if report.status == "needs_review":
        failed = [g for g in report.graders if g.status.value == "error"]
        names = ", ".join(esc(g.grader) for g in failed) or "a grader"
        out.append(
            f'<div class="banner warn warn"><b>Needs review.</b> {names} failed (a harness problem, not the '
            "candidate's): the score is incomplete and the affected criteria are blank.</div>"
        )
    if report.status == "rejected":
        out.append(
            '<div class="banner bad bad"><b>Rejected.</b> The submission could not be unpacked safely; nothing '
            "was run. See the messages below.</div>"
        )
    return "".join(out)


def _cause_html(report: GradeReport, text: str) -> str:
    """The harness's sentence, and the candidate's own error message in its frame (never as
    the page's words); a cause without a quote (a limit hit) is the harness's text alone."""
    cause = next((g.details["cause"] for g in report.graders if isinstance(g.details.get("cause"), dict)), {})
    summary, quote = cause.get("summary"), cause.get("quote")
    if not isinstance(summary, str) or not isinstance(quote, str):
        return esc(text)
    return esc(summary) + (candidate_frame(f"<pre>{esc(quote)}</pre>", "error message") if quote else "")


def _scorecard(report: GradeReport) -> str:
    if not report.criteria:
        return ""
    rows = []
    for c in report.criteria:
        points = "–" if c.score is None else f"{c.score:.1f} / {c.max_score:.1f}"
        evidence = "".join(f"<li>{esc(line)}</li>" for line in c.evidence)
        guide = ""
        if c.guide:
            items = "".join(
                f"<li{' style=font-weight:600' if c.level is not None and str(c.level) == k else ''}>{esc(v)}</li>"
                for k, v in sorted(c.guide.items())
            )
            guide = f"<details><summary>guide for levels 1–5</summary><ol>{items}</ol></details>"
        kind = '<span class="pill info">panel</span>' if c.kind == "human" else ""
        rows.append(
            f'<tr class="criterion" id="criterion-{esc(c.id)}"><td><b>{esc(c.title)}</b> {kind}</td><td class="level">{_levels(c)}</td>'
            f'<td class="num">{points}</td><td><ul class="evidence">{evidence}</ul>{guide}</td></tr>'
        )
    return (
        '<section id="scorecard"><h2>Scorecard</h2><table><thead><tr><th>Criterion</th><th>Level</th>'
        '<th class="num">Points</th><th>Evidence</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _panel(report: GradeReport) -> str:
    from harness.panel.render import panel_html

    return panel_html(report)


def _questions(report: GradeReport) -> str:
    questions = interview_questions(report)
    items = "".join(f"<li>{esc(q)}</li>" for q in questions)
    return f'<section id="questions"><h2>Questions to ask in the interview</h2><ol class="questions">{items}</ol></section>'


def _quality(report: GradeReport) -> str:
    details = find_details(report, "lint")
    if not details:
        return ""
    lint = details.get("lint") or {}
    habits = details.get("habits") or {}
    grader = next(g for g in report.graders if "lint" in g.details)
    per_kloc = grader.measurements.get("findings_per_kloc")
    complexity = grader.measurements.get("complexity_max")
    summary = (
        f"<p><b>{lint.get('findings', 0)}</b> finding(s) in <b>{lint.get('loc', 0)}</b> lines of code "
        f"({lint.get('files', 0)} file(s)) → <b>{_fmt(per_kloc, 1)}</b> per kLOC · highest cyclomatic complexity "
        f"<b>{'–' if complexity is None else f'{complexity:.0f}'}</b>"
        f" (limit {lint.get('max_complexity', '–')})</p>"
        f'<p class="muted">ruff {esc(lint.get("ruff_version", ""))} with the harness\'s rules '
        f"({esc(', '.join(lint.get('select', [])))}); the candidate's configuration files and "
        "<code># noqa</code> comments are ignored.</p>"
    )
    parts = [summary]
    by_category = lint.get("by_category") or {}
    figures = []
    if by_category:
        colours = {
            "syntax": "#991b1b",
            "security": "#dc2626",
            "correctness": "#ea580c",
            "bug risk": "#f59e0b",
            "complexity": "#8b5cf6",
            "naming": "#60a5fa",
            "simplification": "#93c5fd",
            "style": "#9ca3af",
        }
        bars = [svg.Bar(name, float(count), colours.get(name, "#9ca3af")) for name, count in by_category.items()]
        figures.append(
            ("Lint findings by category", svg.bar_groups([("", bars)], title="lint by category", digits=0, width=420))
        )
    if habits:
        items = "".join(
            f"<li>{'–' if h.get('value') is None else YES if h.get('value') else NO} <b>{esc(h.get('title', name))}</b> — "
            f'<span class="muted">{esc("; ".join(h.get("evidence") or []))}</span></li>'
            for name, h in habits.items()
            if name != "deps_declared"
        )
        figures.append(("Engineering habits", f'<ul class="habits">{items}</ul>'))
    parts.append(
        '<div class="grid">'
        + "".join(
            f'<figure style="flex:1;min-width:320px"><figcaption>{esc(c)}</figcaption>{b}</figure>' for c, b in figures
        )
        + "</div>"
    )
    worst = lint.get("worst") or []
    if not worst and lint.get("files"):
        parts.append('<p class="muted">No findings under the harness\'s rules.</p>')
    if worst:
        numbering = f' <span class="muted">({esc(CELL_NUMBERING)})</span>' if any(f.get("cell") for f in worst) else ""
        parts.append(f"<h3>Worst findings{numbering}</h3>")
        for f in worst:
            where = esc(f.get("file", "")) + (f" cell {f['cell']}" if f.get("cell") else "") + f" line {f.get('line')}"
            code_lines = "".join(
                f'<span class="{"hit" if line.get("hit") else ""}"><span class="ln">{line.get("line")}</span>'
                f"{esc(line.get('text', ''))}</span>" + ("" if line.get("hit") else "\n")
                for line in f.get("context") or []
            )
            severe = "bad" if f.get("category") in ("syntax", "security", "correctness") else "warn"
            parts.append(
                f'<div class="finding"><div class="head"><span class="pill {severe}">'
                f"{esc(f.get('category', ''))}</span><code>{esc(f.get('code', ''))}</code> {esc(f.get('message', ''))} "
                f'<span class="muted">— {where}</span></div>'
                + (candidate_frame(f"<pre>{code_lines}</pre>", "code") if code_lines else "")
                + "</div>"
            )
    for note in lint.get("notes") or []:
        parts.append(f'<p class="muted">{esc(note)}</p>')
    return f'<section id="quality"><h2>Code quality</h2>{"".join(parts)}</section>'


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    split = text.splitlines()
    shown = split[-lines:]
    prefix = f"… {len(split) - lines} earlier line(s) not shown here\n" if len(split) > lines else ""
    return prefix + "\n".join(shown)


def _run(report: GradeReport, links: dict[str, str]) -> str:
    run = report.sandbox
    if run is None:
        return ""
    rows = [
        ("verdict", f'<span class="pill {_verdict_class(run.verdict)}">{esc(run.verdict.value)}</span>'),
        ("exit code", esc(_fmt(run.exit_code))),
        ("wall time", f"{run.duration_s:.1f} s" + (f" of {run.timeout_s:.0f} s allowed" if run.timeout_s else "")),
        (
            "peak memory",
            (f"{run.peak_memory_mb:.0f} MB" + (f" ({esc(run.peak_memory_source)})" if run.peak_memory_source else ""))
            if run.peak_memory_mb
            else "–",
        ),
        ("out of memory", "yes" if run.oom_killed else "no"),
        ("command", f"<code>{esc(' '.join(run.command))}</code>" if run.command else "–"),
        ("image", esc(run.image or "–")),
    ]
    cell_errors = find_details(report, "cell_errors").get("cell_errors") or []  # numbered by the run grader
    if isinstance(cell_errors, list) and cell_errors:
        rows.append(
            (
                "notebook cell errors",
                esc(
                    ", ".join(
                        f"cell {e.get('cell') or '?'}: {e.get('ename')}" for e in cell_errors[:5] if isinstance(e, dict)
                    )
                    + f" ({CELL_NUMBERING})"
                ),
            )
        )
    table = '<table class="kv">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
    logs = []
    for name, stream in (("stdout", run.stdout), ("stderr", run.stderr)):
        if not stream.text.strip():
            logs.append(f'<p class="muted">{name}: empty</p>')
            continue
        size = f"{stream.total_bytes:,} bytes" + (", middle dropped" if stream.truncated else "")
        link = f' · <a href="{esc(links[name])}">full log</a>' if name in links else ""
        logs.append(
            f'<div><b>{name}</b> <span class="muted">(last {LOG_TAIL_LINES} lines; {size}{link})</span>'
            + candidate_frame(f"<pre>{esc(_tail(stream.text))}</pre>", name)
            + "</div>"
        )
    return f'<section id="run"><h2>Sandbox run</h2>{table}{"".join(logs)}</section>'


def _artifacts(links: dict[str, str], notes: list[str]) -> str:
    labels = {
        "notebook": "executed notebook (rendered, sanitised)",
        "executed.ipynb": "executed notebook (.ipynb)",
        "stdout": "full stdout",
        "stderr": "full stderr",
    }
    items = "".join(f'<li><a href="{esc(href)}">{esc(labels.get(name, name))}</a></li>' for name, href in links.items())
    items += "".join(f'<li class="muted">{esc(n)}</li>' for n in notes)
    if not items:
        return ""
    return f'<section id="artifacts"><h2>Artifacts</h2><ul>{items}</ul></section>'


def _messages(report: GradeReport) -> str:
    seen, rows = set(), []
    all_messages = list(report.messages) + [
        m for g in report.graders for m in g.messages if m.visibility == Visibility.REVIEWER
    ]
    for m in all_messages:
        key = (m.code, m.text)
        if key in seen or m.code == "lint_summary":
            continue
        seen.add(key)
        cls = {Level.ERROR: "bad", Level.WARNING: "warn", Level.INFO: "info"}[m.level]
        who = ' <span class="pill info">reviewer only</span>' if m.visibility == Visibility.REVIEWER else ""
        first, _, rest = m.text.strip().partition("\n")
        if m.code in CANDIDATE_OUTPUT_CODES:
            body = candidate_frame(f"<pre>{esc(m.text)}</pre>")
        elif rest:
            body = f"<details><summary>{esc(first[:200])}</summary><pre>{esc(m.text)}</pre></details>"
        else:
            body = esc(m.text)
        rows.append(
            f'<tr><td><span class="pill {cls}">{m.level.value}</span></td><td><code>{esc(m.code)}</code>{who}</td>'
            f"<td>{body}</td></tr>"
        )
    for g in report.graders:
        if g.error:
            rows.append(
                f'<tr><td><span class="pill bad">error</span></td><td><code>grader {esc(g.grader)}</code>'
                f' <span class="pill info">reviewer only</span></td><td><pre>{esc(g.error)}</pre></td></tr>'
            )
    if not rows:
        return ""
    return f'<section id="messages"><h2>Messages</h2><table><tbody>{"".join(rows)}</tbody></table></section>'


def _timing(name: str, value: float) -> str:
    if name.endswith("_at"):
        return f"{name} {datetime.fromtimestamp(value, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"
    return f"{name} {value:.2f} s"


def _plain(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _fmt(value)


def _provenance(report: GradeReport) -> str:
    rows = [
        ("report schema", report.schema_version),
        ("submission sha256", report.submission.sha256),
        ("assignment", f"{report.assignment.id} v{report.assignment.version}"),
    ]
    rows += [(k.replace("_", " "), v) for k, v in report.provenance.items()]
    graders = ", ".join(f"{g.grader} ({g.status.value}, {g.duration_s:.2f} s)" for g in report.graders)
    if graders:
        rows.append(("graders", graders))
    if report.timings:
        rows.append(("timings", ", ".join(_timing(k, v) for k, v in report.timings.items())))
    body = "".join(f"<tr><td>{esc(k)}</td><td><code>{esc(_plain(v))}</code></td></tr>" for k, v in rows)
    return f'<section id="provenance"><h2>Provenance</h2><table class="kv">{body}</table></section>'


def render_html(report: GradeReport, *, links: dict[str, str] | None = None, notes: list[str] | None = None) -> str:
    """The whole page. ``links`` maps artifact names (``notebook``, ``stdout`` ...) to relative hrefs."""
    links = dict(links or {})
    title = f"{report.assignment.id}: {'–' if report.score is None else f'{report.score:.1f}'} / {report.max_score:.0f} ({report.status})"
    body = "".join(
        [
            _header(report, links),
            "<main>",
            _banners(report),
            _scorecard(report),
            _panel(report),
            _questions(report),
            metrics_section(report),
            rag_section(report),  # RAG assignments (issue 15)
            _quality(report),
            _run(report, links),
            gateway_html(report),  # model gateway (issue 14)
            _artifacts(links, notes or []),
            _messages(report),
            _provenance(report),
            "<footer>holdout report · everything the candidate wrote is shown as plain text · "
            "human criteria are left blank for the panel</footer></main>",
        ]
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}{RAG_CSS}</style></head><body>{body}</body></html>\n"
    )
    return visible(page)  # the page's own text has no format characters: every one is the candidate's
