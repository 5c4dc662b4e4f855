"""Krippendorff's alpha for a reliability matrix, with missing values, in numpy.

Written from Krippendorff's "Computing Krippendorff's alpha-reliability" (2011): the values
each unit received are paired within the unit (every ordered pair of two different coders,
weighted by ``1 / (m_u - 1)``), which gives the coincidence matrix ``o[c, k]``; then

    alpha = 1 - (n - 1) * sum(o[c, k] * d[c, k]) / sum(n_c * n_k * d[c, k])

where ``n_c`` are the matrix's margins, ``n`` the number of pairable values and ``d`` the
squared difference for the level of measurement. Units coded by fewer than two coders carry no
information about agreement and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

LevelOfMeasurement = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


def as_matrix(data: Sequence[Sequence[float | None]] | np.ndarray) -> np.ndarray:
    """A float matrix (coders × units) with ``nan`` for missing; ``None`` counts as missing."""
    if isinstance(data, np.ndarray):
        matrix = data.astype(float)
    else:
        matrix = np.array([[np.nan if v is None else float(v) for v in row] for row in data], dtype=float)
    if matrix.ndim != 2:
        raise ValueError("a reliability matrix has one row per coder and one column per unit")
    return matrix


def value_counts(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (sorted) and, per unit, how often each was given: ``(values, counts[unit, value])``."""
    present = ~np.isnan(matrix)
    values = np.unique(matrix[present])
    counts = np.zeros((matrix.shape[1], len(values)))
    coder_idx, unit_idx = np.nonzero(present)
    value_idx = np.searchsorted(values, matrix[coder_idx, unit_idx])
    np.add.at(counts, (unit_idx, value_idx), 1)
    return values, counts


def coincidences(counts: np.ndarray) -> np.ndarray:
    """The coincidence matrix from per-unit value counts (units with fewer than two values drop out)."""
    m_u = counts.sum(axis=1)
    pairable = m_u >= 2
    c = counts[pairable]
    w = 1.0 / (m_u[pairable] - 1.0)
    return (c * w[:, None]).T @ c - np.diag((c * w[:, None]).sum(axis=0))


def distances(values: np.ndarray, margins: np.ndarray, level: str) -> np.ndarray:
    """The squared difference ``d[c, k]`` between every two values for the level of measurement."""
    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(total == 0, 0.0, ((c - k) / np.where(total == 0, 1, total)) ** 2)
        return out
    if level == "ordinal":
        # ranks are the sorted positions; the distance between ranks g < h counts the values in
        # between: (sum_{g..h} n - (n_g + n_h) / 2) ** 2
        cum = np.concatenate([[0.0], np.cumsum(margins)])
        i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi + 1] - cum[lo]
        return (between - (margins[i] + margins[j]) / 2.0) ** 2
    raise ValueError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")


def _alpha_from_counts(values: np.ndarray, counts: np.ndarray, level: str) -> float:
    o = coincidences(counts)
    margins = o.sum(axis=1)
    n = margins.sum()
    if n < 2:
        return float("nan")
    d = distances(values, margins, level)
    expected = (np.outer(margins, margins) * d).sum()
    if expected == 0:  # every pairable value is the same: agreement is not measurable
        return float("nan")
    return float(1.0 - (n - 1.0) * (o * d).sum() / expected)


def krippendorff_alpha(data, level: str = "ordinal") -> float:
    """Alpha for ``data`` (coders × units, ``nan``/``None`` = missing); ``nan`` when undefined
    (fewer than two pairable values, or no variation at all)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")
    values, counts = value_counts(as_matrix(data))
    return _alpha_from_counts(values, counts, level)


@dataclass(frozen=True)
class AlphaEstimate:
    alpha: float
    ci_low: float | None
    ci_high: float | None
    units: int
    """Units (candidates) rated by at least two coders."""
    coders: int
    level: str

    def as_dict(self) -> dict:
        def clean(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "alpha": clean(self.alpha),
            "ci_low": clean(self.ci_low),
            "ci_high": clean(self.ci_high),
            "units": self.units,
            "coders": self.coders,
            "level": self.level,
        }


def bootstrap_alpha(
    data, level: str = "ordinal", *, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> AlphaEstimate:
    """Alpha with a percentile bootstrap interval over units (resampled with replacement, seeded).

    Resamples whose alpha is undefined (no variation) are dropped; no interval when fewer than
    half of them are usable or fewer than two units are pairable.
    """
    matrix = as_matrix(data)
    values, counts = value_counts(matrix)
    alpha = _alpha_from_counts(values, counts, level)
    pairable = counts[counts.sum(axis=1) >= 2]
    units = len(pairable)
    coders = int((~np.isnan(matrix)).any(axis=1).sum())
    if units < 2 or samples <= 0:
        return AlphaEstimate(alpha, None, None, units, coders, level)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, units, size=(samples, units))
    estimates = np.array([_alpha_from_counts(values, pairable[idx], level) for idx in draws])
    estimates = estimates[np.isfinite(estimates)]
    if len(estimates) < samples / 2:
        return AlphaEstimate(alpha, None, None, units, coders, level)
    tail = (1.0 - confidence) / 2.0 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return AlphaEstimate(alpha, float(low), float(high), units, coders, level)


def matrix_from_csv(text: str, level: str) -> tuple[list[str], list[str], np.ndarray]:
    """(reviewers, unit ids, matrix) from a sheet: a header row of unit ids (its first cell names
    the reviewer column), then one row per reviewer, the name first; an empty cell is missing.
    Nominal values may be labels (coded in order of appearance); other levels need numbers."""
    import csv
    import io

    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise ValueError("need a header row of unit ids and at least one reviewer row")
    units = [u.strip() for u in rows[0][1:]]
    reviewers, matrix, codes = [], [], {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) - 1 > len(units):
            raise ValueError(f"line {line}: {len(row) - 1} values for {len(units)} units")
        reviewers.append(row[0].strip())
        values = []
        for cell in row[1:] + [""] * (len(units) - len(row) + 1):
            cell = cell.strip()
            if not cell:
                values.append(np.nan)
                continue
            try:
                values.append(float(cell))
            except ValueError:
                if level != "nominal":
                    raise ValueError(
                        f"line {line}: {cell!r} is not a number (only nominal data may use labels)"
                    ) from None
                values.append(float(codes.setdefault(cell, len(codes))))
        matrix.append(values)
    return reviewers, units, np.array(matrix, dtype=float)
