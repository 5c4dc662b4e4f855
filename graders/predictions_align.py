"""Lining the candidate's predictions up with the expected ids (step 2 of the ``predictions``
grader), and what each defect costs: see :mod:`graders.predictions`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from graders.feedback import msg as _msg
from graders.feedback import quote as _quote
from graders.predictions_parse import PredictionRow, _count
from harness.models import Level, Message, Visibility

if TYPE_CHECKING:  # numpy is imported where used: loading a grader stays cheap (the run starts sooner)
    import numpy as np
    from numpy.typing import NDArray

NAN_LIKE = frozenset({"", "nan", "na", "n/a", "null", "none"})
"""Prediction cells (lower-cased) reported as ``nan_values`` rather than ``invalid_labels``."""
MISSING_LABEL = "<missing>"
"""Stand-in prediction for a guaranteed miss when the task has a single known label."""


class AlignConfig(Protocol):
    """What lining up reads of the grader's config: the fields of
    :class:`graders.predictions.PredictionsGrader.Config` it needs."""

    @property
    def file(self) -> str: ...
    @property
    def inputs_file(self) -> str | None: ...
    @property
    def task(self) -> str: ...
    @property
    def target_column(self) -> str: ...
    @property
    def probability_column(self) -> str | None: ...
    @property
    def labels(self) -> list[str] | None: ...


@dataclass
class Alignment:
    """Predictions lined up with the expected ids, ready for metrics.

    For classification every expected id is scored (defects replaced by a guaranteed miss);
    for regression only ids with a valid value are. ``n_valid`` counts valid predictions.
    """

    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    y_score: NDArray[np.float64] | None
    n_valid: int
    messages: list[Message]


def _parse_probability(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _parse_number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def align_predictions(
    rows: Sequence[PredictionRow],
    expected_ids: Sequence[str],
    truth: Mapping[str, Any],
    cfg: AlignConfig,
    *,
    labels: Sequence[str] = (),
    pos_label: str | None = None,
    source: str = "predictions",
) -> Alignment:
    """Line ``rows`` up with ``expected_ids`` and report unknown, missing and invalid predictions.

    ``truth`` maps every expected id to its label (a float for regression); ``labels`` are
    the allowed labels (classification). See the module docstring for what each defect costs.
    """
    by_id = {row.id: row for row in rows}
    expected_set = set(expected_ids)
    messages: list[Message] = []
    unknown = [row.id for row in rows if row.id not in expected_set]
    if unknown:
        where = cfg.inputs_file or "the test set"
        messages.append(
            _msg(
                "unknown_ids",
                f"{_count(len(unknown), 'id', 'are')} in {cfg.file} but not in {where}; ignored ({_quote(unknown)}).",
                source,
            )
        )
    missing = [i for i in expected_ids if i not in by_id]
    if missing:
        messages.extend(_missing_messages(missing, len(expected_ids), cfg, source))
    if cfg.task == "regression":
        return _align_regression(by_id, expected_ids, truth, cfg, messages, source)
    return _align_classification(by_id, expected_ids, truth, cfg, labels, pos_label, messages, source)


def _missing_messages(missing: list[str], n_expected: int, cfg: AlignConfig, source: str) -> list[Message]:
    cost = (
        "each is scored as wrong"
        if cfg.task == "classification"
        else "each is left out of the metrics and lowers the coverage"
    )
    if cfg.inputs_file:  # the candidate had these ids: safe to name a few
        return [
            _msg(
                "missing_ids",
                f"{_count(len(missing), 'id', 'have', f'from {cfg.inputs_file}')} no prediction in {cfg.file} ({_quote(missing)}); {cost}.",
                source,
            )
        ]
    return [
        _msg(
            "missing_ids",
            f"{len(missing)} of the {n_expected} test ids {'has' if len(missing) == 1 else 'have'} no prediction in {cfg.file}; {cost}.",
            source,
        ),
        _msg("missing_ids", f"missing ids: {_quote(missing)}", source, visibility=Visibility.REVIEWER),
    ]


def _align_regression(
    by_id: Mapping[str, PredictionRow],
    expected_ids: Sequence[str],
    truth: Mapping[str, Any],
    cfg: AlignConfig,
    messages: list[Message],
    source: str,
) -> Alignment:
    import numpy as np

    y_true: list[float] = []
    y_pred: list[float] = []
    bad: list[str] = []
    for id_ in expected_ids:
        row = by_id.get(id_)
        if row is None:
            continue
        value = _parse_number(row.value)
        if value is None:
            bad.append(id_)
            continue
        y_true.append(float(truth[id_]))
        y_pred.append(value)
    if bad:
        messages.append(
            _msg(
                "nan_values",
                f"{_count(len(bad), 'prediction', 'are', f'in column {cfg.target_column!r}')} empty, NaN, infinite or not numbers (ids {_quote(bad)}); each is left out of the metrics and lowers the coverage.",
                source,
            )
        )
    return Alignment(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float), None, len(y_pred), messages)


def _align_classification(
    by_id: Mapping[str, PredictionRow],
    expected_ids: Sequence[str],
    truth: Mapping[str, Any],
    cfg: AlignConfig,
    labels: Sequence[str],
    pos_label: str | None,
    messages: list[Message],
    source: str,
) -> Alignment:
    import numpy as np

    allowed = set(labels)
    miss = {lab: labels[(i + 1) % len(labels)] for i, lab in enumerate(labels)} if len(labels) > 1 else {}
    y_true: list[str] = []
    y_pred: list[str] = []
    scores: list[float] = []
    empty: list[str] = []
    invalid: list[tuple[str, str]] = []
    bad_probs: list[str] = []
    has_probs = cfg.probability_column is not None and any(r.probability is not None for r in by_id.values())
    n_valid = 0
    for id_ in expected_ids:
        true = str(truth[id_])
        y_true.append(true)
        row = by_id.get(id_)
        if row is not None and row.value in allowed:
            n_valid += 1
            y_pred.append(row.value)
        else:
            y_pred.append(miss.get(true, MISSING_LABEL))  # a guaranteed miss
            if row is not None and row.value.lower() in NAN_LIKE:
                empty.append(id_)
            elif row is not None:
                invalid.append((id_, row.value))
        prob = None if row is None or row.probability is None else _parse_probability(row.probability)
        if row is not None and has_probs and prob is None:
            bad_probs.append(id_)
        scores.append((0.0 if true == pos_label else 1.0) if prob is None else prob)  # missing: the worst
    if empty:
        messages.append(
            _msg(
                "nan_values",
                f"{_count(len(empty), 'prediction', 'are', f'in column {cfg.target_column!r}')} empty or NaN (ids {_quote(empty)}); each is scored as wrong.",
                source,
            )
        )
    if invalid:
        allowed_text = f"one of {', '.join(cfg.labels)}" if cfg.labels else "a label of this task"
        found = list(dict.fromkeys(v for _, v in invalid))
        messages.append(
            _msg(
                "invalid_labels",
                f"{_count(len(invalid), 'prediction', 'are', f'in column {cfg.target_column!r}')} not {allowed_text} (values {_quote(found)}; ids {_quote([i for i, _ in invalid])}); each is scored as wrong.",
                source,
            )
        )
    y_score: NDArray[np.float64] | None = np.asarray(scores, dtype=float) if has_probs else None
    if has_probs and bad_probs:
        y_score = None
        messages.append(
            _msg(
                "invalid_probabilities",
                f"{_count(len(bad_probs), 'value', 'are', f'in column {cfg.probability_column!r}')} invalid (expected a number from 0 to 1; ids {_quote(bad_probs)}); the column was ignored, so probability metrics were not computed.",
                source,
            )
        )
    elif cfg.probability_column and not has_probs:
        messages.append(
            _msg(
                "no_probabilities",
                f"{cfg.file} has no column {cfg.probability_column!r}; it is optional, but probability metrics were not computed without it.",
                source,
                Level.INFO,
            )
        )
    return Alignment(np.asarray(y_true), np.asarray(y_pred), y_score, n_valid, messages)
