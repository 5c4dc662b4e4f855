"""The metric registry, bulk evaluation and bootstrap intervals."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from graders import bootstrap, metrics
from graders.bootstrap import bootstrap_ci
from graders.metrics import (
    Metric,
    MetricRegistry,
    default_registry,
    evaluate,
    get_metric,
    get_metric_names,
    register_metric,
)
from harness.errors import ConfigError

CLASSIFICATION = {
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "matthews_corrcoef",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier_score",
}
REGRESSION = {"r2", "mae", "mse", "rmse", "median_absolute_error", "explained_variance", "mape"}


def _spam_data(n: int = 1100, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = np.where(rng.random(n) < 0.15, "spam", "ham")
    flip = rng.random(n) < 0.1
    y_pred = np.where(flip, np.where(y_true == "spam", "ham", "spam"), y_true)
    y_score = np.clip((y_true == "spam") * 0.4 + rng.random(n) * 0.6, 0, 1).round(2)
    return y_true, y_pred, y_score


def _boom(y_true: object, y_pred: object) -> float:
    raise RuntimeError("boom")


# --- registry -------------------------------------------------------------------------------


def test_default_registry_has_the_builtins_by_task() -> None:
    reg = default_registry()
    assert set(reg.names("classification")) == CLASSIFICATION
    assert set(reg.names("regression")) == REGRESSION
    assert reg.names() == sorted(CLASSIFICATION | REGRESSION)


def test_every_builtin_is_documented_and_directed() -> None:
    reg = default_registry()
    for metric in reg:
        assert metric.description, metric.name
    lower = {m.name for m in reg if not m.greater_is_better}
    assert lower == {"log_loss", "brier_score", "mae", "mse", "rmse", "median_absolute_error", "mape"}
    assert {m.name for m in reg if m.needs == "scores"} == {"roc_auc", "average_precision", "log_loss", "brier_score"}


def test_unknown_metric_suggests_close_matches_and_how_to_list() -> None:
    with pytest.raises(ConfigError) as info:
        default_registry().get("acuracy")
    assert "did you mean 'accuracy'" in str(info.value)
    assert "grade list metrics" in info.value.hint


def test_unknown_metric_lists_at_most_three_matches() -> None:
    reg = MetricRegistry(Metric(f"score_{i}", metrics.accuracy, "classification") for i in range(6))
    with pytest.raises(ConfigError) as info:
        reg.get("score_")
    assert str(info.value).count("'score_") == 4  # the unknown name and three suggestions


def test_unknown_metric_without_close_match_still_hints() -> None:
    with pytest.raises(ConfigError) as info:
        default_registry().get("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "grade list metrics" in info.value.hint


def test_duplicate_registration_names_both_functions() -> None:
    reg = default_registry()
    with pytest.raises(ValueError) as info:
        reg.register(Metric("f1", _boom, "classification"))
    text = str(info.value)
    assert "graders.metrics.f1" in text and "_boom" in text
    assert reg.get("f1").func is metrics.f1  # unchanged


def test_replace_overrides() -> None:
    reg = default_registry()
    reg.register(Metric("f1", _boom, "classification"), replace=True)
    assert reg.get("f1").func is _boom


def test_fresh_registries_are_independent() -> None:
    first, second = default_registry(), default_registry()
    first.register(Metric("custom", metrics.accuracy, "classification"))
    assert "custom" in first and "custom" not in second
    assert "custom" not in default_registry()


def test_convenience_functions_use_one_lazy_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_shared", None)  # a fresh shared registry for this test only
    assert get_metric("f1").func is metrics.f1
    register_metric(Metric("custom_acc", metrics.accuracy, "classification"))
    assert "custom_acc" in get_metric_names("classification")
    assert "custom_acc" not in get_metric_names("regression")
    assert "custom_acc" not in default_registry()
    with pytest.raises(ValueError):
        register_metric(Metric("custom_acc", metrics.accuracy, "classification"))


# --- built-in values ------------------------------------------------------------------------


def test_label_metrics_use_pos_label_and_zero_division() -> None:
    y_true = np.array(["ham", "spam", "spam", "ham"])
    y_pred = np.array(["spam", "spam", "ham", "ham"])
    assert get_metric("precision")(y_true, y_pred, pos_label="spam") == 0.5
    assert get_metric("recall")(y_true, y_pred, pos_label="spam") == 0.5
    assert get_metric("f1")(y_true, y_pred, pos_label="ham") == 0.5
    all_ham = np.array(["ham"] * 4)
    assert get_metric("precision")(y_true, all_ham, pos_label="spam") == 0.0
    assert get_metric("f1")(y_true, all_ham, pos_label="spam") == 0.0
    assert get_metric("accuracy")(y_true, all_ham, pos_label="spam") == 0.5  # extra kwargs dropped


def test_score_metrics_binarise_string_labels() -> None:
    y_true = np.array(["ham", "spam", "spam", "ham"])
    score = np.array([0.1, 0.8, 0.4, 0.35])
    binary = (y_true == "spam").astype(int)
    assert get_metric("roc_auc")(y_true, score, pos_label="spam") == pytest.approx(skm.roc_auc_score(binary, score))
    assert get_metric("average_precision")(y_true, score, pos_label="spam") == pytest.approx(
        skm.average_precision_score(binary, score)
    )
    assert get_metric("log_loss")(y_true, score, pos_label="spam") == pytest.approx(skm.log_loss(binary, score))
    assert get_metric("brier_score")(y_true, score, pos_label="spam") == pytest.approx(np.mean((binary - score) ** 2))
    # flipping the positive class flips the AUC
    assert get_metric("roc_auc")(y_true, score, pos_label="ham") == pytest.approx(1 - skm.roc_auc_score(binary, score))


def test_regression_metrics() -> None:
    y_true = np.array([1.0, 2.0, 4.0])
    y_pred = np.array([1.0, 3.0, 2.0])
    assert get_metric("mae")(y_true, y_pred) == pytest.approx(1.0)
    assert get_metric("mse")(y_true, y_pred) == pytest.approx(5 / 3)
    assert get_metric("rmse")(y_true, y_pred) == pytest.approx(math.sqrt(5 / 3))
    assert get_metric("median_absolute_error")(y_true, y_pred) == pytest.approx(1.0)
    assert get_metric("mape")(y_true, y_pred) == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert get_metric("r2")(y_true, y_true) == 1.0


# --- evaluate -------------------------------------------------------------------------------


def test_evaluate_captures_a_failing_metric_and_computes_the_others() -> None:
    reg = default_registry()
    reg.register(Metric("explodes", _boom, "classification"))
    y_true = np.array(["ham", "spam", "spam", "ham"])
    y_pred = np.array(["ham", "spam", "ham", "ham"])
    values, errors = evaluate(["accuracy", "explodes", "f1"], y_true, y_pred, registry=reg, pos_label="spam")
    assert values == {"accuracy": 0.75, "explodes": None, "f1": pytest.approx(2 / 3)}
    assert errors == {"explodes": "RuntimeError: boom"}


def test_evaluate_skips_score_metrics_without_probabilities() -> None:
    y = np.array([0, 1, 1, 0])
    values, errors = evaluate(["roc_auc", "log_loss", "accuracy"], y, y, registry=default_registry())
    assert values == {"roc_auc": None, "log_loss": None, "accuracy": 1.0}
    assert errors == {"roc_auc": "no probabilities", "log_loss": "no probabilities"}
    values, errors = evaluate(["roc_auc"], y, y, np.array([0.2, 0.9, 0.7, 0.1]), registry=default_registry())
    assert values == {"roc_auc": 1.0} and errors == {}


def test_evaluate_reports_sklearn_errors_per_metric() -> None:
    y_true = np.array(["a", "b", "c"])
    values, errors = evaluate(["f1", "accuracy"], y_true, y_true, registry=default_registry(), pos_label="a")
    assert values["f1"] is None and errors["f1"].startswith("ValueError")  # binary f1 on 3 classes
    assert values["accuracy"] == 1.0
    single = np.array(["ham", "ham"])  # sklearn returns NaN for AUC with one class
    values, errors = evaluate(
        ["roc_auc"], single, single, np.array([0.1, 0.2]), registry=default_registry(), pos_label="spam"
    )
    assert values["roc_auc"] is None and "undefined" in errors["roc_auc"]


def test_evaluate_turns_non_finite_values_into_errors() -> None:
    reg = MetricRegistry([Metric("nan_metric", lambda t, p: math.nan, "regression")])
    values, errors = evaluate(["nan_metric"], [1.0], [1.0], registry=reg)
    assert values == {"nan_metric": None} and "undefined" in errors["nan_metric"]


def test_evaluate_rejects_unknown_names_up_front() -> None:
    with pytest.raises(ConfigError):
        evaluate(["accuracy", "acuracy"], [1, 0], [1, 0], registry=default_registry())


# --- bootstrap ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["f1", "precision", "recall", "accuracy"])
def test_bootstrap_is_deterministic_and_contains_the_estimate(name: str) -> None:
    y_true, y_pred, _ = _spam_data()
    metric = get_metric(name)
    first = bootstrap_ci(metric, y_true, y_pred, n=500, seed=3, pos_label="spam")
    assert first == bootstrap_ci(metric, y_true, y_pred, n=500, seed=3, pos_label="spam")
    assert first != bootstrap_ci(metric, y_true, y_pred, n=500, seed=4, pos_label="spam")
    point = metric(y_true, y_pred, pos_label="spam")
    assert first[0] < point < first[1]
    assert first[1] - first[0] < 0.2


@pytest.mark.parametrize("name", ["f1", "precision", "recall", "accuracy", "roc_auc"])
def test_fast_paths_match_the_generic_path(name: str) -> None:
    y_true, y_pred, y_score = _spam_data(n=150)
    metric = get_metric(name)
    second = y_score if metric.needs == "scores" else y_pred

    def wrapped(t: np.ndarray, p: np.ndarray, pos_label: str) -> float:  # not recognised: generic path
        return metric(t, p, pos_label=pos_label)

    fast = bootstrap_ci(metric, y_true, second, n=60, seed=0, pos_label="spam")
    slow = bootstrap_ci(wrapped, y_true, second, n=60, seed=0, pos_label="spam")
    assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_f1_is_fast() -> None:
    y_true, y_pred, _ = _spam_data(n=1100)
    started = time.perf_counter()
    bootstrap_ci(get_metric("f1"), y_true, y_pred, n=1000, seed=0, pos_label="spam")
    assert time.perf_counter() - started < 0.5


def test_bootstrap_multiclass_f1_is_not_taken_for_binary() -> None:
    y_true = np.array(["a", "b", "c", "a", "b", "c"])
    y_pred = np.array(["a", "b", "a", "a", "c", "c"])
    assert bootstrap._fast_stats(metrics.f1, y_true, y_pred, {"pos_label": "a"}) is None
    # sklearn refuses binary f1 on resamples with three classes; those resamples are left out
    low, high = bootstrap_ci(get_metric("f1"), y_true, y_pred, n=50, pos_label="a")
    assert 0.0 <= low <= high <= 1.0


def test_bootstrap_all_resamples_undefined_gives_nan() -> None:
    def undefined(y_true: object, y_pred: object) -> float:
        raise ValueError("undefined")

    low, high = bootstrap_ci(undefined, [1, 0], [1, 0], n=5)
    assert math.isnan(low) and math.isnan(high)


def test_bootstrap_generic_regression_metric() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=200)
    y_pred = y_true + rng.normal(scale=0.5, size=200)
    low, high = bootstrap_ci(get_metric("rmse"), y_true, y_pred, n=200, seed=1)
    assert low < metrics.rmse(y_true, y_pred) < high


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bootstrap_ci(metrics.accuracy, [], [], n=10)
    with pytest.raises(ValueError):
        bootstrap_ci(metrics.accuracy, [1, 0], [1], n=10)
    with pytest.raises(ValueError):
        bootstrap_ci(metrics.accuracy, [1, 0], [1, 0], n=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_fast_binary_counts_equal_sklearn(pairs: list[tuple[bool, bool]]) -> None:
    y_true = np.array(["spam" if t else "ham" for t, _ in pairs])
    y_pred = np.array(["spam" if p else "ham" for _, p in pairs])
    everything = np.arange(len(pairs))[None, :]
    for func in (metrics.f1, metrics.precision, metrics.recall):
        stats = bootstrap._fast_stats(func, y_true, y_pred, {"pos_label": "spam"})
        assert stats is not None
        assert stats(everything)[0] == pytest.approx(func(y_true, y_pred, pos_label="spam"))
