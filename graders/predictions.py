"""The ``predictions`` grader: score the candidate's CSV of predictions against hidden labels.

Three steps, each a plain function that can be tested alone:

1. :func:`parse_predictions` turns the file's bytes into rows, strictly (the ``csv`` module,
   UTF-8, one header line, no guessing of types) and says what was wrong with the file.
2. :func:`align_predictions` lines the rows up with the ids the candidate had to predict and
   decides what each defect costs:

   - duplicate ids: the first row counts (warning);
   - ids not in the test set: ignored (error message);
   - missing ids, invalid labels, empty/NaN values: for classification they are scored as a
     guaranteed miss (the prediction is replaced by a label other than the truth: in a binary
     task, the opposite class; their probability, if any, by the worst possible one); for
     regression they are left out of the metrics and lower ``coverage`` instead;
   - any invalid probability: the whole probability column is dropped, so probability
     metrics are not computed.
3. :meth:`PredictionsGrader.grade` computes the metrics, a bootstrap interval for the primary
   one, and details (confusion matrix, PR curve, baselines).

Problems with the candidate's file are :class:`~harness.models.Message` feedback, never
exceptions; only problems with our own data or config (hidden labels, test ids, baselines,
no positive label) raise :class:`~harness.errors.GraderError`. Candidate-visible text names
only ids from the test inputs and values the candidate wrote, never a true label.

Message codes. Nothing can be scored: ``missing_output``, ``not_regular_file`` (also
symlinks), ``unreadable_output``, ``not_text``, ``empty_file``,
``missing_header``, ``missing_columns``, ``no_valid_rows``. Scored anyway: ``bom`` and
``extra_columns`` and ``duplicate_ids`` (warnings), ``no_probabilities`` (info),
``ragged_rows``, ``malformed_csv``, ``unknown_ids``, ``missing_ids``, ``invalid_labels``,
``nan_values``, ``invalid_probabilities``, ``output_truncated`` (a file over ``sandbox.output_read_mb``:
the rows on complete lines within the limit are scored).

Measurements: each metric by name, ``<primary>_ci_low``/``<primary>_ci_high``, ``coverage``
(share of expected ids with a valid prediction), ``n_expected``, ``n_scored`` (rows the
metrics saw: every expected id for classification, the valid ones for regression) and
``valid`` (1.0 if anything was scored). When nothing is usable, greater-is-better metrics
are 0.0, lower-is-better ones None, and ``valid`` is 0.0; the status is still OK.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import Field, model_validator

from graders.base import GradeContext, Grader, GraderConfig
from graders.bootstrap import bootstrap_ci
from graders.feedback import OUTPUT_CODES
from graders.feedback import msg as _msg
from graders.metrics import accepted_kwargs, evaluate, get_metric
from graders.outputs import OutputError, OutputLines, check_output_name
from graders.predictions_align import MISSING_LABEL, NAN_LIKE, Alignment, align_predictions
from graders.predictions_parse import PredictionRow, parse_predictions
from harness.errors import ConfigError, GraderError
from harness.models import GraderResult, Message

__all__ = [  # the public import paths (parsing and alignment live in predictions_parse/_align)
    "MISSING_LABEL",
    "NAN_LIKE",
    "Alignment",
    "PredictionRow",
    "PredictionsGrader",
    "align_predictions",
    "parse_predictions",
    "read_prefix",
]

if TYPE_CHECKING:  # numpy, pandas and sklearn are imported where used: see PredictionsGrader.warm_up
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

PR_CURVE_POINTS = 200
_HIDDEN_HINT = (
    "The assignment's hidden data is broken or does not match the grader config; this is not the candidate's fault."
)

FILE_UNUSABLE = frozenset({"not_text", "empty_file", "missing_header", "missing_columns"})
"""Codes from :func:`parse_predictions` after which there is nothing to line up."""

DEFAULT_METRICS = [
    "f1",
    "precision",
    "recall",
    "accuracy",
    "balanced_accuracy",
    "matthews_corrcoef",
    "roc_auc",
    "average_precision",
]


# --- hidden data ----------------------------------------------------------------------------


def _read_trusted_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read our own CSV (hidden labels, test inputs) as strings; any failure is our bug."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise GraderError(f"hidden or input file {path} does not exist", hint=_HIDDEN_HINT) from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise GraderError(f"cannot read {path} (need columns {', '.join(columns)}): {exc}", hint=_HIDDEN_HINT) from None
    return frame.apply(lambda col: col.str.strip())


def _unique_ids(frame: pd.DataFrame, column: str, path: Path) -> list[str]:
    ids = [str(i) for i in frame[column].tolist()]
    if len(set(ids)) != len(ids):
        raise GraderError(f"{path} has duplicate values in column {column!r}", hint=_HIDDEN_HINT)
    return ids


def load_truth(ctx: GradeContext, cfg: PredictionsGrader.Config) -> tuple[list[str], dict[str, Any]]:
    """The ids the candidate had to predict, and the true value for each."""
    hidden = ctx.hidden_dir / cfg.hidden_file
    frame = _read_trusted_csv(hidden, [cfg.id_column, cfg.target_column])
    ids = _unique_ids(frame, cfg.id_column, hidden)
    values: list[Any] = frame[cfg.target_column].tolist()
    if cfg.task == "regression":
        try:
            values = [float(v) for v in values]
        except ValueError as exc:
            raise GraderError(f"{hidden} has a non-numeric {cfg.target_column!r}: {exc}", hint=_HIDDEN_HINT) from None
        if not all(math.isfinite(v) for v in values):
            raise GraderError(f"{hidden} has a non-finite {cfg.target_column!r}", hint=_HIDDEN_HINT)
    truth = dict(zip(ids, values))
    expected = ids
    if cfg.inputs_file:
        inputs = ctx.inputs_dir / cfg.inputs_file
        expected = _unique_ids(_read_trusted_csv(inputs, [cfg.id_column]), cfg.id_column, inputs)
        unlabelled = [i for i in expected if i not in truth]
        if unlabelled:
            raise GraderError(
                f"{len(unlabelled)} ids in {inputs} have no label in {hidden} (e.g. {unlabelled[:3]})",
                hint=_HIDDEN_HINT,
            )
    if not expected:
        raise GraderError(f"no ids to score in {cfg.inputs_file or hidden}", hint=_HIDDEN_HINT)
    return expected, truth


def load_baselines(ctx: GradeContext, cfg: PredictionsGrader.Config) -> dict[str, dict[str, float]]:
    """``{baseline: {metric: value}}`` from the optional baselines file (``{}`` if absent)."""
    if not cfg.baselines_file:
        return {}
    path = ctx.hidden_dir / cfg.baselines_file
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {str(name): {str(k): float(v) for k, v in values.items()} for name, values in raw.items()}
    except (ValueError, TypeError, AttributeError, OSError) as exc:
        raise GraderError(
            f"{path} is not a JSON object of {{baseline: {{metric: number}}}}: {exc}", hint=_HIDDEN_HINT
        ) from None


def resolve_labels(cfg: PredictionsGrader.Config, truth: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The allowed labels and the positive label for a classification task.

    Labels are ``cfg.labels`` or the distinct true labels. The positive label is
    ``cfg.positive_label``, else ``"1"`` or ``"true"`` when present; None otherwise.
    """
    present = sorted({str(v) for v in truth.values()})
    if cfg.labels:
        unknown = [v for v in present if v not in cfg.labels]
        if unknown:
            raise GraderError(
                f"{cfg.hidden_file} has labels outside the configured labels {cfg.labels}: {unknown[:3]}",
                hint=_HIDDEN_HINT,
            )
        labels = list(cfg.labels)
    else:
        labels = sorted({*present, *([cfg.positive_label] if cfg.positive_label else [])})
    pos = cfg.positive_label or next((c for c in ("1", "true", "True") if c in labels), None)
    return labels, pos


# --- 3. the grader --------------------------------------------------------------------------


def read_prefix(
    output_dir: Path, file: str, max_bytes: int, source: str, max_lines: int | None = None
) -> tuple[bytes, list[Message]]:
    """The complete lines of ``output_dir/file`` within its first ``max_bytes`` (and no more than
    ``max_lines + 1``, enough for :func:`parse_predictions` to say ``too_many_rows``: memory stays
    bounded by the lines it parses), and an ``output_truncated`` message when the file is over
    ``max_bytes``: an over-limit file still scores the rows that were read. :class:`OutputError`
    when it cannot be opened at all."""
    lines: list[bytes] = []
    with OutputLines(output_dir, file, max_bytes=max_bytes, max_line_bytes=max(max_bytes, 1)) as reader:
        for _, line in reader:
            lines.append(line)
            if max_lines is not None and len(lines) > max_lines:
                break
    data = b"\n".join(lines) + (b"\n" if lines else b"")
    if reader.size <= max_bytes:
        return data, []
    limit = f"{max_bytes / 2**20:,.4g} MiB"
    text = (
        f"{file} is {reader.size / 2**20:,.4g} MiB, over the {limit} limit for {file}: only rows on complete lines "
        f"within its first {limit} were read ({len(lines):,} lines), and ids after that count as missing."
    )
    return data, [_msg("output_truncated", text, source)]


def _downsample(values: NDArray[Any], points: int) -> list[float]:
    import numpy as np

    if len(values) <= points:
        return [float(v) for v in values]
    idx = np.unique(np.linspace(0, len(values) - 1, points).round().astype(int))
    return [float(v) for v in values[idx]]


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class PredictionsGrader(Grader):
    """Scores ``predictions.csv`` (id, label[, probability]) against hidden labels."""

    PLUGIN_NAME = "predictions"
    DESCRIPTION = "Score a CSV of predictions against hidden labels: metrics, bootstrap interval, coverage."

    class Config(GraderConfig):
        file: str = "predictions.csv"
        """The candidate's file, in the output folder."""
        hidden_file: str = "test_labels.csv"
        """In ``ctx.hidden_dir``: columns ``<id_column>,<target_column>``."""
        inputs_file: str | None = "test.csv"
        """In ``ctx.inputs_dir``: the ids the candidate had to predict. None: all hidden ids."""
        id_column: str = "id"
        target_column: str = "label"
        task: Literal["classification", "regression"] = "classification"
        labels: list[str] | None = None
        """Allowed labels, e.g. ``["ham", "spam"]``; None: the distinct true labels."""
        positive_label: str | None = None
        """For f1/precision/recall and probability metrics, e.g. ``"spam"``."""
        probability_column: str | None = None
        """Optional column of positive-class probabilities, e.g. ``"spam_probability"``."""
        primary_metric: str = "f1"
        metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))
        bootstrap: int = Field(default=1000, ge=0)
        """Resamples for the primary metric's confidence interval; 0 disables it."""
        seed: int = 0
        baselines_file: str | None = "baselines.json"
        """In ``ctx.hidden_dir``, optional: ``{"all_ham": {"f1": 0.0}, ...}``."""

        @model_validator(mode="after")
        def _check(self) -> PredictionsGrader.Config:
            check_output_name(self.file)
            if self.id_column == self.target_column or self.probability_column in (self.id_column, self.target_column):
                raise ValueError("id_column, target_column and probability_column must be different columns")
            if self.task == "regression" and (self.probability_column or self.labels or self.positive_label):
                raise ValueError("probability_column, labels and positive_label only apply to task = 'classification'")
            if self.labels is not None:
                if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
                    raise ValueError("labels must list at least two distinct labels")
                if self.positive_label is not None and self.positive_label not in self.labels:
                    raise ValueError(f"positive_label {self.positive_label!r} is not one of labels {self.labels}")
            for name in self.metric_names:
                try:
                    metric = get_metric(name)
                except ConfigError as exc:
                    raise ValueError(str(exc)) from None
                if metric.task != self.task:
                    raise ValueError(
                        f"metric {name!r} is for {metric.task}, but task is {self.task!r}; set primary_metric and metrics"
                    )
            return self

        @property
        def metric_names(self) -> list[str]:
            """``metrics`` plus ``primary_metric`` (first) if it is not listed."""
            return list(dict.fromkeys([self.primary_metric, *self.metrics]))

    @property
    def cfg(self) -> PredictionsGrader.Config:
        return cast(PredictionsGrader.Config, self.config)

    def outputs(self) -> list[str]:
        return [self.cfg.file]

    def output_limits(self, output_read_bytes: int) -> list[tuple[str, str]]:
        return [(f"largest {self.cfg.file} read", f"{output_read_bytes / 2**20:g} MiB")]

    def warm_up(self) -> None:
        import pandas  # noqa: F401
        import sklearn.metrics  # noqa: F401

    def grade(self, ctx: GradeContext) -> GraderResult:
        started = time.perf_counter()
        cfg = self.cfg
        expected, truth = load_truth(ctx, cfg)
        labels, pos = resolve_labels(cfg, truth) if cfg.task == "classification" else ([], None)
        self._require_pos_label(pos)
        details: dict[str, Any] = {
            "primary_metric": cfg.primary_metric,
            "baselines": load_baselines(ctx, cfg),
            "metric_errors": {},
        }
        max_lines = max(10 * len(expected), 10_000)
        try:
            data, truncated = read_prefix(ctx.output_dir, cfg.file, ctx.output_read_bytes, self.name, max_lines)
        except OutputError as err:
            messages = [_msg(OUTPUT_CODES[err.code], err.text, self.name)]
            return self._result(self._unusable(len(expected)), messages, details, started)
        rows, messages = parse_predictions(
            data,
            file=cfg.file,
            id_column=cfg.id_column,
            target_column=cfg.target_column,
            probability_column=cfg.probability_column,
            source=self.name,
            max_lines=max_lines,
        )
        messages = truncated + messages
        if any(m.code in FILE_UNUSABLE for m in messages):
            return self._result(self._unusable(len(expected)), messages, details, started)
        aligned = align_predictions(rows, expected, truth, cfg, labels=labels, pos_label=pos, source=self.name)
        messages += aligned.messages
        if aligned.n_valid == 0:
            if rows:
                messages.append(
                    _msg(
                        "no_valid_rows",
                        f"{cfg.file} has no usable prediction for any test id; every metric is at its worst.",
                        self.name,
                    )
                )
            return self._result(self._unusable(len(expected)), messages, details, started)
        measurements = self._score(aligned, pos, details)
        measurements.update(
            coverage=aligned.n_valid / len(expected),
            n_expected=float(len(expected)),
            n_scored=float(len(aligned.y_true)),
            valid=1.0,
        )
        if cfg.task == "classification":
            from sklearn.metrics import confusion_matrix

            details["confusion_matrix"] = {
                "labels": labels,
                "positive_label": pos,
                "matrix": confusion_matrix(aligned.y_true, aligned.y_pred, labels=labels).tolist(),
            }
        if aligned.y_score is not None and pos is not None and (aligned.y_true == pos).any():
            details["pr_curve"] = self._pr_curve(aligned.y_true == pos, aligned.y_score)
        return self._result(measurements, messages, details, started)

    def _require_pos_label(self, pos: str | None) -> None:
        """A metric that needs a positive label without one is an assignment-config error."""
        if pos is not None or self.cfg.task != "classification":
            return
        needing = [
            n for n in self.cfg.metric_names if "pos_label" in accepted_kwargs(get_metric(n).func, {"pos_label": None})
        ]
        if needing:
            raise GraderError(
                f"metrics {', '.join(needing)} need a positive label, but positive_label is not set and the labels are not 0/1",
                hint='Set positive_label in the predictions grader\'s config (e.g. positive_label = "spam").',
            )

    def _score(self, aligned: Alignment, pos: str | None, details: dict[str, Any]) -> dict[str, float | None]:
        cfg = self.cfg
        kw = {"pos_label": pos} if pos is not None else {}
        values, errors = evaluate(cfg.metric_names, aligned.y_true, aligned.y_pred, aligned.y_score, **kw)
        details["metric_errors"] = errors
        measurements: dict[str, float | None] = dict(values)
        low = high = None
        metric = get_metric(cfg.primary_metric)
        second = aligned.y_score if metric.needs == "scores" else aligned.y_pred
        if cfg.bootstrap and values.get(cfg.primary_metric) is not None and second is not None:
            ci = bootstrap_ci(metric, aligned.y_true, second, n=cfg.bootstrap, seed=cfg.seed, **kw)
            low, high = _finite_or_none(ci[0]), _finite_or_none(ci[1])
        measurements[f"{cfg.primary_metric}_ci_low"] = low
        measurements[f"{cfg.primary_metric}_ci_high"] = high
        return measurements

    def _unusable(self, n_expected: int) -> dict[str, float | None]:
        """Measurements when nothing could be scored: the worst value (0.0, or None if lower is better)."""
        cfg = self.cfg
        out: dict[str, float | None] = {n: 0.0 if get_metric(n).greater_is_better else None for n in cfg.metric_names}
        out[f"{cfg.primary_metric}_ci_low"] = out[f"{cfg.primary_metric}_ci_high"] = out[cfg.primary_metric]
        out.update(coverage=0.0, n_expected=float(n_expected), n_scored=0.0, valid=0.0)
        return out

    @staticmethod
    def _pr_curve(y_binary: NDArray[np.bool_], y_score: NDArray[np.float64]) -> dict[str, list[float]]:
        from sklearn.metrics import precision_recall_curve

        prec, rec, _ = precision_recall_curve(y_binary, y_score)
        return {"precision": _downsample(prec, PR_CURVE_POINTS), "recall": _downsample(rec, PR_CURVE_POINTS)}

    def _result(
        self, measurements: dict[str, float | None], messages: list[Message], details: dict[str, Any], started: float
    ) -> GraderResult:
        return GraderResult(
            grader=self.name,
            measurements=measurements,
            messages=messages,
            details=details,
            duration_s=time.perf_counter() - started,
        )
