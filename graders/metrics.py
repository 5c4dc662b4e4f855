"""The metric registry, modelled on scikit-learn's metrics and scorers.

A metric is a pure function ``f(y_true, y_pred, **kw) -> float``. A :class:`Metric` wraps one
with what a grader needs to know about it: the task it applies to, whether it takes predicted
labels or positive-class probabilities (``needs="scores"``), and whether greater is better.
Values are reported raw (no ``neg_`` prefixes).

Registries are plain objects: :func:`default_registry` returns a fresh one holding the
built-ins, so tests and assignments can extend their own without touching anyone else's.
The convenience functions :func:`get_metric`, :func:`get_metric_names` and
:func:`register_metric` share one registry, created lazily on first use; that shared registry
is the only module-level mutable state here, and it is what graders use by default.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import ConfigError

if TYPE_CHECKING:  # numpy is imported where used: loading a grader stays cheap (the run starts sooner)
    import numpy as np
    from numpy.typing import ArrayLike, NDArray


class _LazyModule:
    """A module imported on first attribute access.

    ``sklearn.metrics`` costs about a second to import (it pulls in scipy.stats). Graders are
    loaded before the sandbox run but score after it, so the import can overlap the candidate's
    run (see :meth:`graders.base.Grader.warm_up`) instead of delaying it.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


skm = _LazyModule("sklearn.metrics")

Task = Literal["classification", "regression"]
Needs = Literal["labels", "scores"]
MetricFunc = Callable[..., float]


@dataclass(frozen=True)
class Metric:
    """A named metric function and how to use it.

    ``needs="scores"`` metrics take the positive class's probability as their second argument
    instead of predicted labels.
    """

    name: str
    func: MetricFunc
    task: Task
    needs: Needs = "labels"
    greater_is_better: bool = True
    description: str = ""

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike, **kw: Any) -> float:
        """Call the function with the keyword arguments it accepts (others are dropped)."""
        return float(self.func(y_true, y_pred, **accepted_kwargs(self.func, kw)))


def accepted_kwargs(func: Callable[..., Any], kw: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kw`` that ``func`` accepts, so one call can feed many metrics.

    ``evaluate(..., pos_label="spam")`` passes ``pos_label`` to ``f1`` but not to ``accuracy``.
    """
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass nothing extra
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(kw)
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return {k: v for k, v in kw.items() if k in names}


# --- built-in metric functions --------------------------------------------------------------


def _binary(y_true: ArrayLike, pos_label: Any) -> NDArray[np.int_]:
    import numpy as np

    return (np.asarray(y_true) == pos_label).astype(int)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.accuracy_score(y_true, y_pred))


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.balanced_accuracy_score(y_true, y_pred))


def precision(y_true: ArrayLike, y_pred: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.precision_score(y_true, y_pred, pos_label=pos_label, zero_division=0))


def recall(y_true: ArrayLike, y_pred: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.recall_score(y_true, y_pred, pos_label=pos_label, zero_division=0))


def f1(y_true: ArrayLike, y_pred: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.f1_score(y_true, y_pred, pos_label=pos_label, zero_division=0))


def f1_macro(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def matthews_corrcoef(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.matthews_corrcoef(y_true, y_pred))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.roc_auc_score(_binary(y_true, pos_label), y_score))


def average_precision(y_true: ArrayLike, y_score: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.average_precision_score(_binary(y_true, pos_label), y_score))


def log_loss(y_true: ArrayLike, y_score: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.log_loss(_binary(y_true, pos_label), y_score, labels=[0, 1]))


def brier_score(y_true: ArrayLike, y_score: ArrayLike, pos_label: Any = 1) -> float:
    return float(skm.brier_score_loss(_binary(y_true, pos_label), y_score, pos_label=1, labels=[0, 1]))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.r2_score(y_true, y_pred))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def mse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.mean_squared_error(y_true, y_pred))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.root_mean_squared_error(y_true, y_pred))


def median_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.median_absolute_error(y_true, y_pred))


def explained_variance(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.explained_variance_score(y_true, y_pred))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    return float(skm.mean_absolute_percentage_error(y_true, y_pred))


BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric("accuracy", accuracy, "classification", description="Share of predictions that equal the label."),
    Metric("balanced_accuracy", balanced_accuracy, "classification", description="Mean recall over classes."),
    Metric(
        "precision",
        precision,
        "classification",
        description="Of the predicted positives, the share that are positive (pos_label).",
    ),
    Metric(
        "recall",
        recall,
        "classification",
        description="Of the actual positives, the share predicted positive (pos_label).",
    ),
    Metric(
        "f1",
        f1,
        "classification",
        description="Harmonic mean of precision and recall for the positive class (pos_label).",
    ),
    Metric("f1_macro", f1_macro, "classification", description="Unweighted mean of per-class F1."),
    Metric(
        "matthews_corrcoef",
        matthews_corrcoef,
        "classification",
        description="Correlation between predictions and labels, -1 to 1.",
    ),
    Metric(
        "roc_auc",
        roc_auc,
        "classification",
        "scores",
        description="Area under the ROC curve of the positive-class probability.",
    ),
    Metric(
        "average_precision",
        average_precision,
        "classification",
        "scores",
        description="Area under the precision-recall curve (step-wise).",
    ),
    Metric("log_loss", log_loss, "classification", "scores", False, "Cross-entropy of the positive-class probability."),
    Metric(
        "brier_score",
        brier_score,
        "classification",
        "scores",
        False,
        "Mean squared error of the positive-class probability.",
    ),
    Metric("r2", r2, "regression", description="Coefficient of determination (1 is perfect, 0 predicts the mean)."),
    Metric("mae", mae, "regression", greater_is_better=False, description="Mean absolute error."),
    Metric("mse", mse, "regression", greater_is_better=False, description="Mean squared error."),
    Metric("rmse", rmse, "regression", greater_is_better=False, description="Root mean squared error."),
    Metric(
        "median_absolute_error",
        median_absolute_error,
        "regression",
        greater_is_better=False,
        description="Median absolute error.",
    ),
    Metric("explained_variance", explained_variance, "regression", description="Explained variance score."),
    Metric(
        "mape",
        mape,
        "regression",
        greater_is_better=False,
        description="Mean absolute percentage error (a fraction, not %).",
    ),
)


# --- the registry ---------------------------------------------------------------------------


def _describe(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"


class MetricRegistry:
    """Metrics by name. Create one with :func:`default_registry` to start from the built-ins."""

    def __init__(self, metrics: Iterable[Metric] = ()) -> None:
        self._metrics: dict[str, Metric] = {}
        for metric in metrics:
            self.register(metric)

    def register(self, metric: Metric, *, replace: bool = False) -> Metric:
        """Add ``metric``; a second metric with the same name is an error unless ``replace``."""
        existing = self._metrics.get(metric.name)
        if existing is not None and not replace:
            raise ValueError(
                f"metric {metric.name!r} is already registered ({_describe(existing.func)}); "
                f"cannot also register {_describe(metric.func)} under that name "
                "(pick another name or pass replace=True)"
            )
        self._metrics[metric.name] = metric
        return metric

    def get(self, name: str) -> Metric:
        """The metric called ``name``; an unknown name raises :class:`ConfigError` with close matches."""
        try:
            return self._metrics[name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(self._metrics), n=3)
        suggestion = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(
            f"unknown metric {name!r}{suggestion}",
            hint="Run `grade list metrics` to see every metric name.",
        )

    def names(self, task: Task | None = None) -> list[str]:
        """Sorted metric names, optionally only those for ``task``."""
        return sorted(n for n, m in self._metrics.items() if task is None or m.task == task)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))

    def __len__(self) -> int:
        return len(self._metrics)


def default_registry() -> MetricRegistry:
    """A new registry holding the built-in metrics (independent of every other registry)."""
    return MetricRegistry(BUILTIN_METRICS)


_shared: MetricRegistry | None = None


def shared_registry() -> MetricRegistry:
    """The registry behind the convenience functions, created on first use."""
    global _shared
    if _shared is None:
        _shared = default_registry()
    return _shared


def get_metric(name: str) -> Metric:
    return shared_registry().get(name)


def get_metric_names(task: Task | None = None) -> list[str]:
    return shared_registry().names(task)


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add ``metric`` to the shared registry (what graders use unless given another)."""
    return shared_registry().register(metric, replace=replace)


# --- bulk evaluation ------------------------------------------------------------------------

NO_PROBABILITIES = "no probabilities"


def evaluate(
    metrics: Sequence[str],
    y_true: ArrayLike,
    y_pred: ArrayLike,
    y_score: ArrayLike | None = None,
    registry: MetricRegistry | None = None,
    **kw: Any,
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Compute each named metric; return ``(values, errors)``.

    A metric that raises, or returns a non-finite value, gets ``None`` and an entry in
    ``errors``; the others are still computed. ``needs="scores"`` metrics are skipped with the
    reason ``"no probabilities"`` when ``y_score`` is None. ``kw`` (e.g. ``pos_label``) goes
    to each metric that accepts it. Unknown names raise :class:`ConfigError` before anything
    is computed: they are the assignment author's mistake, not the data's.
    """
    reg = registry if registry is not None else shared_registry()
    resolved = [reg.get(name) for name in metrics]
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for metric in resolved:
        second = y_score if metric.needs == "scores" else y_pred
        if second is None:
            values[metric.name], errors[metric.name] = None, NO_PROBABILITIES
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = metric(y_true, second, **kw)
        except Exception as exc:
            values[metric.name], errors[metric.name] = None, f"{type(exc).__name__}: {exc}"
            continue
        if math.isfinite(value):
            values[metric.name] = value
        else:
            values[metric.name], errors[metric.name] = None, f"undefined for this data ({value})"
    return values, errors
