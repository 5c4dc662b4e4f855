"""Calibration across a round: how far the panel's reviewers agree, who is lenient, how well
the automated score predicts the panel's, and who has waited too long for a decision.

- Agreement per criterion: Krippendorff's alpha (ordinal: levels are ranked, not measured) with
  a bootstrap interval over candidates. Below ``min_candidates`` candidates with two or more
  levels the verdict is "not enough data yet": alpha over a handful of candidates swings
  wildly and would only mislead.
- Leniency: a reviewer's mean of (their level - the mean of the others' levels) over every
  candidate and criterion they share with someone; positive is lenient.
- Pairwise agreement: per pair of reviewers, the share of shared ratings that are equal and
  that are within one level.
- Rank correlation (Spearman) of the automated score with the panel's score over candidates
  whose panel is complete.
- Turnaround from grading to each review and to the decision; who waits past the target.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.panel.alpha import bootstrap_alpha
from harness.panel.round import load_reports
from harness.panel.scorecard import graded_at, hours_between

DEFAULT_MIN_CANDIDATES = 5
DEFAULT_TARGET_HOURS = 48.0


def verdict_for(alpha: float | None) -> str:
    """Krippendorff's conventions: rely on alpha >= .800, draw tentative conclusions from .667."""
    if alpha is None or not math.isfinite(alpha):
        return "undefined (no variation in the levels)"
    if alpha >= 0.8:
        return "reliable"
    if alpha >= 0.667:
        return "tentative"
    return "unreliable: calibrate the panel"


def _clean(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)


def spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(x, y).statistic
    return _clean(rho)


def _min_candidates_from(reports) -> int:
    from harness.assignments import find_assignment
    from harness.errors import HoldoutError
    from harness.settings import Settings

    for _, _, report in reports:
        try:
            return find_assignment(report.assignment.id, Settings.from_env()).spec.panel.min_candidates
        except HoldoutError:  # an assignment that is gone: try the next report, then the default
            continue
    return DEFAULT_MIN_CANDIDATES


def calibrate_round(
    round_dir: Path,
    *,
    min_candidates: int | None = None,
    target_hours: float | None = None,
    now: float | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> dict:
    """Everything ``grade panel`` shows, as plain data."""
    from harness.panel.scorecard import panel_criteria, refresh_panel

    reports = []
    for slug, folder, report in load_reports(round_dir):
        if report.panel is None and panel_criteria(report):  # graded before the panel opened: no reviews yet
            report = refresh_panel(folder, report, write=False)
        if report.panel is not None:
            reports.append((slug, folder, report))
    min_candidates = min_candidates or _min_candidates_from(reports)
    now = datetime.now(UTC).timestamp() if now is None else now
    criteria: dict[str, str] = {}
    for _, _, report in reports:
        for c in report.panel.criteria:
            criteria.setdefault(c.id, c.title)
    reviewers = sorted({r for _, _, report in reports for c in report.panel.criteria for r in c.levels})
    slugs = [slug for slug, _, _ in reports]

    per_criterion = []
    for cid, title in criteria.items():
        matrix = np.full((len(reviewers), len(slugs)), np.nan)
        for j, (_, _, report) in enumerate(reports):
            row = next((c for c in report.panel.criteria if c.id == cid), None)
            for reviewer, level in row.levels.items() if row else ():
                matrix[reviewers.index(reviewer), j] = level
        est = bootstrap_alpha(matrix, "ordinal", samples=samples, seed=seed) if len(slugs) else None
        n = est.units if est else 0
        enough = n >= min_candidates
        alpha = _clean(est.alpha) if est else None
        per_criterion.append(
            {
                "id": cid,
                "title": title,
                "candidates": n,
                "enough_data": enough,
                "alpha": alpha,
                "ci_low": _clean(est.ci_low) if est else None,
                "ci_high": _clean(est.ci_high) if est else None,
                "verdict": verdict_for(alpha)
                if enough
                else f"not enough data yet ({n} of {min_candidates} candidates with two or more reviews)",
            }
        )

    ratings = [(slug, c.id, c.levels) for slug, _, report in reports for c in report.panel.criteria]
    leniency = {}
    for reviewer in reviewers:
        offsets = [
            levels[reviewer] - np.mean([v for r, v in levels.items() if r != reviewer])
            for _, _, levels in ratings
            if reviewer in levels and len(levels) >= 2
        ]
        leniency[reviewer] = {"offset": _clean(np.mean(offsets)) if offsets else None, "ratings": len(offsets)}
    pairs = []
    for a, b in itertools.combinations(reviewers, 2):
        shared = [(levels[a], levels[b]) for _, _, levels in ratings if a in levels and b in levels]
        pairs.append(
            {
                "a": a,
                "b": b,
                "shared": len(shared),
                "exact": _clean(np.mean([x == y for x, y in shared])) if shared else None,
                "within_one": _clean(np.mean([abs(x - y) <= 1 for x, y in shared])) if shared else None,
            }
        )

    complete = [
        (
            report.score,
            report.panel.panel_score
            if report.panel.panel_score is not None
            else float(np.mean([c.median for c in report.panel.criteria])),
        )
        for _, _, report in reports
        if report.panel.status == "complete" and report.score is not None
    ]
    rho = spearman([a for a, _ in complete], [p for _, p in complete])

    turnaround, waiting = [], []
    for slug, _, report in reports:
        start = graded_at(report)
        target = target_hours or report.panel.target_hours or DEFAULT_TARGET_HOURS
        entry = {
            "submission": slug,
            "status": report.status,
            "graded_at": None if start is None else datetime.fromtimestamp(start, UTC).isoformat(timespec="seconds"),
            "reviews_h": {r: hours_between(start, at) for r, at in report.panel.reviewed_at.items()},
            "decision_h": hours_between(start, report.panel.decided_at) if report.panel.status == "complete" else None,
            "waiting_h": None,
            "target_h": target,
        }
        if report.panel.status != "complete" and start is not None:
            entry["waiting_h"] = round((now - start) / 3600.0, 2)
            if entry["waiting_h"] > target:
                waiting.append(
                    {
                        "submission": slug,
                        "waiting_h": entry["waiting_h"],
                        "target_h": target,
                        "reviews": len(report.panel.reviewers),
                    }
                )
        turnaround.append(entry)
    waiting.sort(key=lambda w: -w["waiting_h"])

    return {
        "round": str(round_dir),
        "candidates": len(reports),
        "reviewers": reviewers,
        "min_candidates": min_candidates,
        "criteria": per_criterion,
        "leniency": leniency,
        "pairs": pairs,
        "automated_vs_panel": {
            "spearman": rho,
            "candidates": len(complete),
            "enough_data": len(complete) >= min_candidates,
        },
        "turnaround": turnaround,
        "waiting": waiting,
    }


def render_calibration_html(data: dict) -> str:
    from harness.reports.html import CSP, CSS
    from harness.reports.svg import esc

    def num(x, d=3):
        return "–" if x is None else f"{x:.{d}f}"

    crit = "".join(
        f"<tr><td>{esc(c['title'])}</td><td class='num'>{c['candidates']}</td><td class='num'>{num(c['alpha'])}</td>"
        f"<td class='num'>{num(c['ci_low'])}–{num(c['ci_high'])}</td><td>{esc(c['verdict'])}</td></tr>"
        for c in data["criteria"]
    )
    len_rows = "".join(
        f"<tr><td>{esc(r)}</td><td class='num'>{num(v['offset'], 2)}</td><td class='num'>{v['ratings']}</td></tr>"
        for r, v in data["leniency"].items()
    )
    pair_rows = "".join(
        f"<tr><td>{esc(p['a'])} – {esc(p['b'])}</td><td class='num'>{p['shared']}</td><td class='num'>{num(p['exact'], 2)}</td>"
        f"<td class='num'>{num(p['within_one'], 2)}</td></tr>"
        for p in data["pairs"]
    )
    avp = data["automated_vs_panel"]
    avp_text = f"Spearman {num(avp['spearman'])} over {avp['candidates']} candidates" + (
        "" if avp["enough_data"] else f" (not enough data yet: fewer than {data['min_candidates']})"
    )
    turn_rows = "".join(
        f"<tr><td>{esc(t['submission'])}</td><td>{esc(t['status'])}</td>"
        f"<td>{esc(', '.join(f'{r} {num(h, 1)} h' for r, h in t['reviews_h'].items()) or '–')}</td>"
        f"<td class='num'>{num(t['decision_h'], 1)}</td><td class='num'>{num(t['waiting_h'], 1)}</td></tr>"
        for t in data["turnaround"]
    )
    late = (
        "".join(
            f"<li>{esc(w['submission'])}: waiting {w['waiting_h']:.1f} h (target {w['target_h']:g} h, "
            f"{w['reviews']} reviews)</li>"
            for w in data["waiting"]
        )
        or "<li>nobody</li>"
    )
    body = (
        f"<main><h1>Panel calibration</h1><p>{data['candidates']} candidates, reviewers: "
        f"{esc(', '.join(data['reviewers']) or 'none yet')}.</p>"
        "<section><h2>Agreement per criterion (Krippendorff's alpha, ordinal)</h2><table><thead><tr><th>criterion</th>"
        "<th class='num'>candidates</th><th class='num'>alpha</th><th class='num'>95% CI</th><th>verdict</th></tr></thead>"
        f"<tbody>{crit}</tbody></table></section>"
        "<section><h2>Leniency (mean offset from the others; positive = lenient)</h2><table><thead><tr><th>reviewer</th>"
        f"<th class='num'>offset</th><th class='num'>ratings</th></tr></thead><tbody>{len_rows}</tbody></table></section>"
        "<section><h2>Pairwise agreement</h2><table><thead><tr><th>pair</th><th class='num'>shared</th>"
        f"<th class='num'>exact</th><th class='num'>within 1</th></tr></thead><tbody>{pair_rows}</tbody></table></section>"
        f"<section><h2>Automated score vs panel</h2><p>{esc(avp_text)}</p></section>"
        f"<section><h2>Waiting longer than the target</h2><ul>{late}</ul>"
        "<h2>Turnaround (hours from grading)</h2><table><thead><tr><th>submission</th><th>status</th><th>reviews</th>"
        f"<th class='num'>decision</th><th class='num'>waiting</th></tr></thead><tbody>{turn_rows}</tbody></table></section>"
        "</main>"
    )
    from harness.visible import visible

    return visible(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        f"<title>holdout panel calibration</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )
