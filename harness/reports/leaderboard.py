"""The batch leaderboard: ``summary.csv`` and ``summary.html``, sorted by score.

For calibrating across candidates: score, status, verdict, the primary metric with its
confidence interval, time, and a link to each report. Candidate-controlled text (file names,
messages) is escaped; the page carries a CSP that allows no scripts.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from harness.reports.write import write_atomic
from harness.visible import visible

COLUMNS = (
    "rank",
    "submission",
    "score",
    "status",
    "verdict",
    "primary_metric",
    "value",
    "ci_low",
    "ci_high",
    "duration_s",
    "sha256",
    "report",
    "error",
    "panel",
    "final_score",
    "most_similar",
)


def rows(result) -> list[dict]:
    similar = _most_similar(result.out_dir)
    items = sorted(result.items, key=lambda i: (i.score is None, -(i.score or 0.0), i.slug))
    out = []
    for rank, item in enumerate(items, 1):
        report = item.report
        primary = _primary(report)
        value = report.metrics.get(primary) if report and primary else None
        out.append(
            {
                "rank": rank,
                "submission": item.slug if getattr(item, "blind", False) else item.source.name,
                "score": None if item.score is None else round(item.score, 2),
                # the submission's status, also when this run skipped it as already graded
                "status": report.status if report else (item.state or "not_done"),
                "verdict": report.sandbox.verdict.value if report and report.sandbox else "",
                "primary_metric": primary or "",
                "value": value,
                "ci_low": report.metrics.get(f"{primary}_ci_low") if report and primary else None,
                "ci_high": report.metrics.get(f"{primary}_ci_high") if report and primary else None,
                "duration_s": report.timings.get("total_s") if report else item.duration_s,
                "sha256": report.submission.sha256[:12] if report else "",
                # only a report of this submission: a failed regrade leaves an older one in the folder
                "report": ""
                if report is None
                else (
                    f"{item.slug}/report.html"
                    if (result.out_dir / item.slug / "report.html").exists()
                    else f"{item.slug}/report.json"
                ),
                "error": (item.error or "").splitlines()[0][:200] if item.error else "",
                **_panel_columns(report),
                "most_similar": similar.get(item.slug, ""),
            }
        )
    return out


def _panel_columns(report) -> dict:
    """Whose part is whose: the automated ``score``, the panel's progress, the combined ``final_score``."""
    panel = getattr(report, "panel", None)
    if panel is None:
        return {"panel": "", "final_score": None}
    done = min((len(c.levels) for c in panel.criteria), default=0)
    state = "complete" if panel.status == "complete" else f"{done}/{panel.required_reviewers} reviews"
    return {"panel": state, "final_score": panel.final_score}


def _most_similar(out_dir: Path) -> dict[str, str]:
    """slug -> "most similar: X, 0.83" from ``similarity.json`` (written by ``grade similarity``)."""
    from harness.panel.similarity import most_similar_by_slug

    return most_similar_by_slug(out_dir)  # evidence only: a missing or broken file is no column


def _primary(report) -> str | None:
    if report is None:
        return None
    for grader in report.graders:
        primary = grader.details.get("primary_metric")
        if primary:
            return primary
    return None


def _csv_safe(value) -> str:
    """Spreadsheet formula injection: a cell starting with = + - @ is prefixed with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def render_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([_csv_safe(row[c]) for c in COLUMNS])
    return buf.getvalue()


def _fmt(value, digits=3) -> str:
    return "–" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def render_html(table: list[dict], counts: dict[str, int], wall_s: float) -> str:
    esc = html.escape
    head = "".join(
        f"<th>{esc(c)}</th>"
        for c in (
            "#",
            "submission",
            "score",
            "status",
            "verdict",
            "metric",
            "95% CI",
            "time",
            "report",
            "panel",
            "final",
            "similarity",
        )
    )
    body = []
    for r in table:
        ci = f"{_fmt(r['ci_low'])}–{_fmt(r['ci_high'])}" if r["ci_low"] is not None else "–"
        link = f'<a href="{esc(r["report"], quote=True)}">report</a>' if r["report"] else esc(r["error"])
        metric = f"{esc(r['primary_metric'])} {_fmt(r['value'])}" if r["primary_metric"] else "–"
        body.append(
            f"<tr class='{esc(r['status'])}'><td>{r['rank']}</td><td>{esc(r['submission'])}</td>"
            f"<td class='num'>{_fmt(r['score'], 1)}</td><td>{esc(r['status'])}</td><td>{esc(r['verdict'])}</td>"
            f"<td>{metric}</td><td>{ci}</td><td class='num'>{_fmt(r['duration_s'], 1)} s</td><td>{link}</td>"
            f"<td>{esc(r.get('panel') or '–')}</td><td class='num'>{_fmt(r.get('final_score'), 1)}</td>"
            f"<td>{esc(r.get('most_similar') or '')}</td></tr>"
        )
    summary = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(counts.items()))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>holdout batch summary</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
th,td{{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left}} td.num{{text-align:right}}
tr.rejected td,tr.error td,tr.infra_error td{{color:#a00}} tr.needs_review td{{color:#a60}}
</style></head><body>
<h1>Batch summary</h1>
<p>{len(table)} submissions ({summary}); wall time {wall_s:.1f} s.</p>
<p>score: the harness's automated criteria · panel: reviews recorded per criterion · final: automated and panel
criteria combined by the rubric's weights · similarity: evidence for a person, never a score change.</p>
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(body)}
</tbody></table></body></html>
"""


def write_leaderboard(result) -> dict[str, Path]:
    table = rows(result)
    paths = {"csv": result.out_dir / "summary.csv", "html": result.out_dir / "summary.html"}
    write_atomic(paths["csv"], visible(render_csv(table)))  # file names are the candidates' text
    write_atomic(paths["html"], visible(render_html(table, result.counts, result.wall_s)))
    write_atomic(result.out_dir / ROUND_FILE, round_json(result))
    return paths


ROUND_FILE = "round.json"


def round_json(result) -> str:
    """What the leaderboard was built from, so ``grade review``/``grade similarity`` can rebuild it."""
    import json

    blind = any(getattr(i, "blind", False) for i in result.items)
    items = [
        {
            "slug": i.slug,
            "source": None if blind else str(i.source),
            "state": i.state,
            "error": i.error,
            "duration_s": i.duration_s,
        }
        for i in sorted(result.items, key=lambda i: i.slug)
    ]
    return (
        json.dumps(
            {"schema_version": "1", "blind": blind, "wall_s": result.wall_s, "counts": result.counts, "items": items},
            indent=2,
        )
        + "\n"
    )


def render_batch_junit(result) -> str:
    """One JUnit file for the batch: a test suite per submission (its criteria as test cases),
    and a failing case for a submission that could not be graded at all."""
    import xml.etree.ElementTree as ET

    from harness.reports.junit import render_junit, xml_safe

    root = ET.Element("testsuites", {"name": "holdout batch"})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for item in sorted(result.items, key=lambda i: i.slug):
        if item.report is not None:
            suite = ET.fromstring(render_junit(item.report).split("\n", 1)[1]).find("testsuite")
            suite.set("name", xml_safe(f"{suite.get('name')}.{item.slug}"))
        else:
            suite = ET.Element(
                "testsuite",
                {
                    "name": xml_safe(f"holdout.{item.slug}"),
                    "tests": "1",
                    "failures": "0",
                    "errors": "1",
                    "skipped": "0",
                    "time": f"{item.duration_s:.3f}",
                },
            )
            case = ET.SubElement(suite, "testcase", {"classname": "holdout.batch", "name": xml_safe(item.slug)})
            error = ET.SubElement(
                case,
                "error",
                {"message": xml_safe(item.state or "not graded"), "type": xml_safe(item.state or "not_done")},
            )
            error.text = xml_safe(item.error or "interrupted before it was graded")
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{result.wall_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
