"""Small inline-SVG charts for the HTML report: no JavaScript, no external resources.

Every label may come from the candidate or the assignment, so all text goes through
:func:`esc`. Numbers are formatted here; callers pass plain floats.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\""
INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
SERIES = ("#2563eb", "#9ca3af", "#d1d5db", "#f59e0b", "#10b981", "#8b5cf6")
"""The submission first (blue), baselines after (greys), then accents."""


def esc(text: object) -> str:
    """Escape for SVG/HTML text and attributes; control characters are dropped."""
    cleaned = "".join(ch for ch in str(text) if ch in "\n\t" or ord(ch) >= 32)
    return html.escape(cleaned, quote=True)


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT} font-size="12"><title>{esc(title)}</title>' + "".join(body) + "</svg>"
    )


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    colour: str = SERIES[0]
    note: str = ""
    """Text after the value (e.g. a confidence interval)."""
    low: float | None = None
    high: float | None = None
    """An interval drawn as a whisker over the bar."""


def bar_groups(
    groups: list[tuple[str, list[Bar]]],
    *,
    title: str,
    max_value: float | None = None,
    width: int = 560,
    digits: int = 3,
) -> str:
    """Horizontal bars, grouped (e.g. one group per metric, one bar per model)."""
    label_w, value_w, bar_h, gap, group_gap, top = 130, 160, 14, 3, 12, 8
    values = [b.high if b.high is not None else b.value for _, bars in groups for b in bars]
    top_value = max_value if max_value is not None else max([v for v in values if math.isfinite(v)] + [1e-9])
    plot_w = width - label_w - value_w
    body: list[str] = []
    y = top
    for name, bars in groups:
        if name:
            body.append(f'<text x="0" y="{y + 11}" fill="{INK}" font-weight="600">{esc(name)}</text>')
            y += 16
        for bar in bars:
            length = 0.0 if not math.isfinite(bar.value) else max(0.0, min(1.0, bar.value / top_value)) * plot_w
            body.append(f'<text x="12" y="{y + bar_h - 3}" fill="{MUTED}">{esc(bar.label)}</text>')
            body.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#f3f4f6"/>')
            body.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{esc(bar.colour)}"/>')
            if bar.low is not None and bar.high is not None:
                x1 = label_w + max(0.0, min(1.0, bar.low / top_value)) * plot_w
                x2 = label_w + max(0.0, min(1.0, bar.high / top_value)) * plot_w
                mid = y + bar_h / 2
                body.append(
                    f'<path d="M{x1:.1f} {mid}H{x2:.1f}M{x1:.1f} {y + 2}V{y + bar_h - 2}M{x2:.1f} {y + 2}V{y + bar_h - 2}" '
                    f'stroke="{INK}" stroke-width="1.5" fill="none"/>'
                )
            text = _num(bar.value, digits) if math.isfinite(bar.value) else "–"
            note = f' <tspan fill="{MUTED}">{esc(bar.note)}</tspan>' if bar.note else ""
            body.append(f'<text x="{label_w + plot_w + 6}" y="{y + bar_h - 3}" fill="{INK}">{esc(text)}{note}</text>')
            y += bar_h + gap
        y += group_gap
    return _svg(width, int(y), body, title)


def confusion_matrix(labels: list[str], matrix: list[list[int]], *, title: str, positive: str | None = None) -> str:
    """Rows are true labels, columns predicted; cells shaded by share of their row."""
    n = len(labels)
    cell = 86 if n <= 3 else max(34, 260 // n)
    left, top = 96, 44
    width, height = max(left + n * cell + 10, 300), top + n * cell + 34
    body = [
        f'<text x="{left + n * cell / 2}" y="14" text-anchor="middle" fill="{MUTED}">predicted</text>',
        f'<text x="14" y="{top + n * cell / 2}" text-anchor="middle" fill="{MUTED}" '
        f'transform="rotate(-90 14 {top + n * cell / 2})">true</text>',
    ]
    for j, label in enumerate(labels):
        weight = ' font-weight="600"' if label == positive else ""
        body.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" text-anchor="middle" fill="{INK}"{weight}>{esc(label)}</text>'
        )
    for i, label in enumerate(labels):
        row = matrix[i] if i < len(matrix) else []
        total = sum(row) or 1
        weight = ' font-weight="600"' if label == positive else ""
        body.append(
            f'<text x="{left - 8}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end" fill="{INK}"{weight}>{esc(label)}</text>'
        )
        for j in range(n):
            count = row[j] if j < len(row) else 0
            share = count / total
            correct = i == j
            hue = (37, 99, 235) if correct else (220, 38, 38)
            alpha = 0.08 + 0.8 * share
            colour = f"rgba({hue[0]},{hue[1]},{hue[2]},{alpha:.2f})"
            ink = "#ffffff" if alpha > 0.5 else INK
            x, y = left + j * cell, top + i * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" rx="3" fill="{colour}"/>')
            centre = f'x="{x + cell / 2 - 1}" text-anchor="middle" fill="{ink}"'
            body.append(f'<text {centre} y="{y + cell / 2}" font-size="16" font-weight="600">{count:,}</text>')
            body.append(f'<text {centre} y="{y + cell / 2 + 16}" font-size="11">{share:.1%} of row</text>')
    body.append(
        f'<text x="{left}" y="{height - 8}" fill="{MUTED}" font-size="11">rows: true label · columns: prediction</text>'
    )
    return _svg(width, height, body, title)


def pr_curve(
    precision: list[float],
    recall: list[float],
    *,
    title: str,
    points: list[tuple[str, float, float, str]] = (),
    area: float | None = None,
) -> str:
    """Precision (y) against recall (x), with labelled operating points ``(label, recall, precision, colour)``."""
    width, height, left, bottom, top, right = 420, 320, 44, 36, 12, 12
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(r: float, p: float) -> tuple[float, float]:
        return left + max(0.0, min(1.0, r)) * plot_w, top + (1 - max(0.0, min(1.0, p))) * plot_h

    body: list[str] = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x, _ = xy(tick, 0)
        _, y = xy(0, tick)
        body.append(f'<path d="M{x:.1f} {top}V{top + plot_h}M{left} {y:.1f}H{left + plot_w}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="{MUTED}" font-size="10">{tick:g}</text>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end" fill="{MUTED}" font-size="10">{tick:g}</text>'
        )
    body.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" fill="{MUTED}">recall</text>')
    middle = top + plot_h / 2
    body.append(
        f'<text x="11" y="{middle}" text-anchor="middle" fill="{MUTED}" transform="rotate(-90 11 {middle})">precision</text>'
    )
    pairs = [(r, p) for r, p in zip(recall, precision, strict=False) if math.isfinite(r) and math.isfinite(p)]
    if pairs:
        path = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in (xy(r, p) for r, p in pairs))
        body.append(f'<path d="{path}" stroke="{SERIES[0]}" stroke-width="2" fill="none"/>')
    if area is not None:
        body.append(
            f'<text x="{left + 8}" y="{top + plot_h - 8}" fill="{SERIES[0]}">average precision {area:.3f}</text>'
        )
    for k, (label, r, p, colour) in enumerate(points):
        x, y = xy(r, p)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{esc(colour)}" stroke="#fff" stroke-width="1.5"/>')
        anchor, dx = ("end", -9) if x > left + plot_w * 0.6 else ("start", 9)
        dy = 4 + (18 if k % 2 else -10) if k else 4  # alternate labels below/above so nearby points stay readable
        body.append(
            f'<text x="{x + dx:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}" fill="{INK}" font-size="11">{esc(label)}</text>'
        )
    return _svg(width, height, body, title)
