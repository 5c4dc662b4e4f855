"""Bootstrap confidence intervals for the metrics of :mod:`graders.metrics`.

Percentile bootstrap over resampled indices; accuracy, precision, recall and f1 are computed
vectorised from confusion counts and roc_auc from score ranks, any other metric once per
resample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from graders.metrics import Metric, accepted_kwargs, accuracy, f1, precision, recall, roc_auc

if TYPE_CHECKING:  # numpy is imported where used: loading a grader stays cheap (the run starts sooner)
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

_MAX_CELLS = 4_000_000
"""Resampled index cells generated at once (bounds memory for large test sets)."""


def _confusion_counts(code: NDArray[np.int8], idx: NDArray[np.intp]) -> NDArray[np.int_]:
    """Per resample: counts of codes 0..3 (tn, fp, fn, tp) over ``code[idx]`` rows."""
    import numpy as np

    k = idx.shape[0]
    shifted = code[idx] + (np.arange(k, dtype=np.intp) * 4)[:, None]
    return np.bincount(shifted.ravel(), minlength=4 * k).reshape(k, 4)


def _safe_ratio(num: NDArray[Any], den: NDArray[Any]) -> NDArray[np.float64]:
    import numpy as np

    out = np.zeros(num.shape, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _fast_stats(
    func: Callable[..., Any], y_true: NDArray[Any], y_pred: NDArray[Any], kw: Mapping[str, Any]
) -> Callable[[NDArray[np.intp]], NDArray[np.float64]] | None:
    """A vectorised ``indices -> metric per resample`` for accuracy/precision/recall/f1/roc_auc, or None.

    The binary fast path is used only where sklearn would accept the data (at most two
    distinct labels, ``pos_label`` among them when there are two), so results match.
    """
    import numpy as np

    if func is accuracy:
        correct = (y_true == y_pred).astype(float)
        return lambda idx: correct[idx].mean(axis=1)
    if func is roc_auc:
        return _roc_auc_stats(y_true, y_pred, kw.get("pos_label", 1))
    if func not in (precision, recall, f1):
        return None
    pos_label = kw.get("pos_label", 1)
    present = set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist())
    if len(present) > 2 or (len(present) == 2 and pos_label not in present):
        return None
    code = ((y_true == pos_label).astype(np.int8) * 2 + (y_pred == pos_label).astype(np.int8)).astype(np.int8)

    def stats(idx: NDArray[np.intp]) -> NDArray[np.float64]:
        counts = _confusion_counts(code, idx)
        fp, fn, tp = counts[:, 1], counts[:, 2], counts[:, 3]
        if func is precision:
            return _safe_ratio(tp, tp + fp)
        if func is recall:
            return _safe_ratio(tp, tp + fn)
        return _safe_ratio(2 * tp, 2 * tp + fp + fn)

    return stats


def _roc_auc_stats(
    y_true: NDArray[Any], y_score: NDArray[Any], pos_label: Any
) -> Callable[[NDArray[np.intp]], NDArray[np.float64]] | None:
    """ROC AUC per resample as the Mann-Whitney statistic over distinct score levels (ties count half)."""
    import numpy as np

    try:
        scores = y_score.astype(float)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(scores).all():
        return None
    levels, level_of = np.unique(scores, return_inverse=True)
    width = 2 * len(levels)
    code = level_of * 2 + (y_true == pos_label)

    def stats(idx: NDArray[np.intp]) -> NDArray[np.float64]:
        k = idx.shape[0]
        shifted = code[idx] + (np.arange(k, dtype=np.intp) * width)[:, None]
        counts = np.bincount(shifted.ravel(), minlength=width * k).reshape(k, width // 2, 2)
        neg, pos = counts[..., 0], counts[..., 1]
        below = np.cumsum(neg, axis=1) - neg
        pairs = pos.sum(axis=1) * neg.sum(axis=1)
        wins = (pos * (below + 0.5 * neg)).sum(axis=1)
        out = np.full(k, math.nan)
        np.divide(wins, pairs, out=out, where=pairs > 0)
        return out

    return stats


def _generic_stats(
    func: Callable[..., Any], y_true: NDArray[Any], y_pred: NDArray[Any], kw: Mapping[str, Any]
) -> Callable[[NDArray[np.intp]], NDArray[np.float64]]:
    """Call ``func`` once per resample; a resample the metric rejects (ValueError) gives NaN."""
    import numpy as np

    kwargs = accepted_kwargs(func, kw)

    def one(rows: NDArray[np.intp]) -> float:
        try:
            return float(func(y_true[rows], y_pred[rows], **kwargs))
        except ValueError:
            return math.nan

    def stats(idx: NDArray[np.intp]) -> NDArray[np.float64]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.array([one(rows) for rows in idx], dtype=float)

    return stats


def bootstrap_ci(
    metric_fn: Metric | Callable[..., float],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    **kw: Any,
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` for ``metric_fn`` at level ``1 - alpha``.

    Resample indices are drawn with ``numpy.random.default_rng(seed)``, so a fixed seed gives
    a fixed interval. ``kw`` (e.g. ``pos_label``) goes to the metric. accuracy, precision,
    recall and f1 are computed vectorised from confusion counts, roc_auc from score ranks;
    any other metric is called once per resample. Resamples where the metric is undefined are left out; if all are,
    the result is ``(nan, nan)``.
    """
    import numpy as np

    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    func = metric_fn.func if isinstance(metric_fn, Metric) else metric_fn
    t, p = np.asarray(y_true), np.asarray(y_pred)
    m = len(t)
    if m == 0 or len(p) != m:
        raise ValueError(f"y_true and y_pred must be non-empty and of equal length (got {m} and {len(p)})")
    stats = _fast_stats(func, t, p, kw) or _generic_stats(func, t, p, kw)
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // m)
    parts = []
    for start in range(0, n, chunk):
        idx = rng.integers(0, m, size=(min(chunk, n - start), m))
        parts.append(stats(idx))
    values = np.concatenate(parts)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
