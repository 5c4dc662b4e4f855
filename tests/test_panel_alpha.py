"""Krippendorff's alpha: the published worked example, a brute-force pairwise definition on
random matrices, and the bootstrap interval."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.panel.alpha import bootstrap_alpha, krippendorff_alpha

N = None
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: four observers,
# twelve units, missing cells.
WORKED = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


@pytest.mark.parametrize(
    "level,expected", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_worked_example_reproduces_to_three_decimals(level, expected):
    assert round(krippendorff_alpha(WORKED, level), 3) == expected


def brute_force_alpha(matrix: list[list[float | None]], level: str) -> float:
    """Alpha from its pairwise definition: 1 - D_o / D_e, looping over every pair of values."""
    units = [[row[u] for row in matrix if row[u] is not None] for u in range(len(matrix[0]))]
    units = [vals for vals in units if len(vals) >= 2]
    pooled = [v for vals in units for v in vals]
    n = len(pooled)
    if n < 2:
        return float("nan")
    ranks = sorted(set(pooled))
    freq = {v: pooled.count(v) for v in ranks}

    def delta(c, k):
        if level == "nominal":
            return 0.0 if c == k else 1.0
        if level == "interval":
            return (c - k) ** 2
        if level == "ratio":
            return 0.0 if c + k == 0 else ((c - k) / (c + k)) ** 2
        lo, hi = min(c, k), max(c, k)
        return (sum(freq[g] for g in ranks if lo <= g <= hi) - (freq[c] + freq[k]) / 2) ** 2

    observed = (
        sum(
            delta(vals[i], vals[j]) / (len(vals) - 1)
            for vals in units
            for i, j in itertools.permutations(range(len(vals)), 2)
        )
        / n
    )
    expected = sum(delta(pooled[i], pooled[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    return float("nan") if expected == 0 else 1 - observed / expected


matrices = st.integers(2, 5).flatmap(
    lambda coders: st.integers(1, 9).flatmap(
        lambda units: st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, 5)), min_size=units, max_size=units),
            min_size=coders,
            max_size=coders,
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(matrices, st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_matches_the_pairwise_definition(matrix, level):
    fast = krippendorff_alpha(matrix, level)
    slow = brute_force_alpha(matrix, level)
    if math.isnan(slow):
        assert math.isnan(fast)
    else:
        assert fast == pytest.approx(slow, abs=1e-9)


def test_perfect_agreement_is_one_and_no_variation_is_undefined():
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 3, 4]], "ordinal") == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, 3]], "ordinal"))
    assert math.isnan(krippendorff_alpha([[1, N], [N, 2]], "ordinal"))  # nothing pairable


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="nominal, ordinal"):
        krippendorff_alpha(WORKED, "cardinal")


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    a = bootstrap_alpha(WORKED, "ordinal", samples=500, seed=3)
    b = bootstrap_alpha(WORKED, "ordinal", samples=500, seed=3)
    assert a == b and a.units == 11 and a.coders == 4
    assert a.ci_low is not None and a.ci_low <= a.alpha <= a.ci_high <= 1.0
    assert bootstrap_alpha(WORKED, "ordinal", samples=500, seed=4) != a


def test_bootstrap_has_no_interval_without_two_pairable_units():
    est = bootstrap_alpha([[1, 2], [1, N]], "ordinal")
    assert est.units == 1 and est.ci_low is None and est.as_dict()["alpha"] is None


def test_random_ratings_are_near_zero_and_copied_ratings_near_one():
    rng = np.random.default_rng(0)
    noise = rng.integers(1, 6, size=(3, 300)).astype(float)
    assert abs(krippendorff_alpha(noise, "ordinal")) < 0.1
    truth = rng.integers(1, 6, size=300).astype(float)
    assert krippendorff_alpha(np.vstack([truth, truth, truth]), "interval") == pytest.approx(1.0)
