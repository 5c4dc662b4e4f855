"""The model gateway's part of a report (issue 14): totals, the budget in plain words, habits,
and — in report.html — every shown call, collapsed (``<details>``, no script: the page's CSP
allows none). Everything under ``report.gateway`` was written by the host, but the prompts and
answers are the candidate's text: always escaped."""

from __future__ import annotations

from harness.models import GradeReport
from harness.reports.svg import esc


def budget_line(summary: dict) -> str:
    """The calls, tokens and budget in plain words."""
    b = summary.get("budget") or {}
    parts = [
        (
            f"{summary.get('calls', 0)} model call(s), {summary.get('total_tokens', 0):,} tokens "
            f"({summary.get('prompt_tokens', 0):,} prompt, {summary.get('completion_tokens', 0):,} completion)"
        )
    ]
    if summary.get("errors"):
        parts.append(f"{summary['errors']} failed")
    if b.get("max_tokens"):
        parts.append(
            f"{b.get('tokens', 0):,} of {b['max_tokens']:,} budget tokens used ({b.get('tokens_left') or 0:,} left)"
        )
    if b.get("max_requests"):
        parts.append(f"{b.get('requests', 0)} of {b['max_requests']} requests")
    if summary.get("cost_usd") or b.get("max_cost_usd"):
        parts.append(
            f"${summary.get('cost_usd', 0):.4f}" + (f" of ${b['max_cost_usd']:.2f}" if b.get("max_cost_usd") else "")
        )
    text = "; ".join(parts) + "."
    if summary.get("budget_exhausted"):
        text += (
            f" Budget exhausted: {summary['budget_exhausted']}; {summary.get('refused_over_budget', 0)} call(s) "
            "were refused."
        )
    return text


def gateway_markdown(report: GradeReport, md_escape) -> list[str]:
    g = report.gateway
    if not g:
        return []
    lines = [
        "## Model calls (gateway)",
        "",
        f"Backend `{md_escape(str(g.get('backend', '')))}`: {md_escape(budget_line(g))}",
        "",
    ]
    for habit in g.get("habits") or []:
        lines.append(f"- {md_escape(str(habit.get('text', '')))}")
    for failure in g.get("failures") or []:
        lines.append(f"- gateway failure (not the candidate's): {md_escape(str(failure))}")
    return [*lines, ""] if len(lines) > 4 else lines


def gateway_html(report: GradeReport) -> str:
    g = report.gateway
    if not g:
        return ""
    b = g.get("budget") or {}
    rows = [
        ("backend", esc(str(g.get("backend", "")))),
        ("models offered", esc(", ".join(map(str, g.get("models") or [])))),
        (
            "calls",
            f"{g.get('calls', 0)} ({g.get('errors', 0)} failed, {g.get('refused_over_budget', 0)} refused over budget)",
        ),
        (
            "tokens",
            f"{g.get('total_tokens', 0):,} ({g.get('prompt_tokens', 0):,} prompt, {g.get('completion_tokens', 0):,} completion)",
        ),
        ("cost", f"${g.get('cost_usd', 0):.4f}" if g.get("cost_usd") or b.get("max_cost_usd") else "–"),
        ("budget", esc(budget_line(g))),
    ]
    if g.get("budget_exhausted"):
        rows.append(("budget exhausted", f'<span class="pill warn">yes</span> {esc(str(g["budget_exhausted"]))}'))
    table = '<table class="kv">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
    notes = "".join(
        f'<li><span class="pill info">habit</span> {esc(str(h.get("text", "")))}</li>' for h in g.get("habits") or []
    )
    notes += "".join(
        f'<li><span class="pill bad">gateway failure</span> {esc(str(f))} (not the candidate\'s fault)</li>'
        for f in g.get("failures") or []
    )
    notes = f'<ul class="habits">{notes}</ul>' if notes else ""
    calls = []
    for c in g.get("calls_shown") or []:
        status = int(c.get("status") or 0)
        cls = "ok" if status == 200 else ("warn" if status == 429 else "bad")
        head = (
            f"#{int(c.get('seq') or 0)} <code>{esc(str(c.get('endpoint', '')))}</code> {esc(str(c.get('model', '')))} "
            f'<span class="pill {cls}">{status}</span> {int(c.get("prompt_tokens") or 0):,}+{int(c.get("completion_tokens") or 0):,} tokens'
        )
        parts = [
            f"<pre>{esc(str(m.get('role', '')))}: {esc(str(m.get('content', '')))}</pre>"
            for m in c.get("messages") or []
        ]
        if c.get("prompt"):
            parts.append(f"<pre>{esc(str(c['prompt']))}</pre>")
        if c.get("answer"):
            parts.append(f"<b>answer</b><pre>{esc(str(c['answer']))}</pre>")
        if c.get("error"):
            parts.append(f"<b>error</b><pre>{esc(str(c['error']))}</pre>")
        calls.append(f"<details><summary>{head}</summary>{''.join(parts)}</details>")
    more = (
        f'<p class="muted">{int(g.get("calls_omitted") or 0)} more call(s) in the call log.</p>'
        if g.get("calls_omitted")
        else ""
    )
    listing = (
        f"<details><summary>The calls ({len(calls)} shown)</summary>{''.join(calls)}{more}</details>" if calls else ""
    )
    return f'<section id="gateway"><h2>Model calls (gateway)</h2>{table}{notes}{listing}</section>'
