"""The predictions grader, its CSV parser and its alignment rules, on hand-built folders."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from graders.base import GradeContext
from graders.predictions import PredictionRow, PredictionsGrader, align_predictions, parse_predictions
from harness.errors import GraderError
from harness.models import GraderResult, GraderStatus, Level, Visibility
from harness.spec import AssignmentSpec

N = 20
SPAM_IDS = {"1", "2", "3", "4", "5"}  # ids 1..20; five spam, fifteen ham (75% ham)
HEADER = "id,label,spam_probability\n"


def _truth(i: str) -> str:
    return "spam" if i in SPAM_IDS else "ham"


IDS = [str(i) for i in range(1, N + 1)]


class Folders:
    """tmp_path laid out as the pipeline would: output/, hidden/, inputs/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.output, self.hidden, self.inputs = root / "output", root / "hidden", root / "inputs"
        for path in (self.output, self.hidden, self.inputs):
            path.mkdir()
        (self.inputs / "test.csv").write_text("id,text\n" + "".join(f'{i},"message\nnumber {i}"\n' for i in IDS))
        (self.hidden / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},{_truth(i)}\n" for i in IDS))

    def ctx(self, **kw: Any) -> GradeContext:
        return GradeContext(
            spec=AssignmentSpec(id="t", title="t"),
            assignment_dir=self.root,
            submission_dir=self.root,
            inputs_dir=self.inputs,
            hidden_dir=self.hidden,
            output_dir=self.output,
            logs_dir=self.root,
            **kw,
        )

    def write(self, text: str | bytes, name: str = "predictions.csv") -> None:
        data = text.encode() if isinstance(text, str) else text
        (self.output / name).write_bytes(data)


@pytest.fixture()
def folders(tmp_path: Path) -> Folders:
    return Folders(tmp_path)


def _grader(**overrides: Any) -> PredictionsGrader:
    config = {
        "labels": ["ham", "spam"],
        "positive_label": "spam",
        "probability_column": "spam_probability",
        "metrics": ["f1", "accuracy", "precision", "recall", "roc_auc", "log_loss"],
        "bootstrap": 200,
    }
    config.update(overrides)
    return PredictionsGrader(PredictionsGrader.Config(**config))


def _grade(folders: Folders, text: str | bytes | None = None, **overrides: Any) -> GraderResult:
    if text is not None:
        folders.write(text)
    return _grader(**overrides).grade(folders.ctx())


def _rows(label: Any = _truth, prob: Any = None, ids: list[str] = IDS) -> str:
    """CSV body: one row per id with ``label(id)`` and, if given, ``prob(id)``."""
    if prob is None:
        return "id,label\n" + "".join(f"{i},{label(i)}\n" for i in ids)
    return HEADER + "".join(f"{i},{label(i)},{prob(i)}\n" for i in ids)


def _codes(result: GraderResult) -> set[str]:
    return {m.code for m in result.messages}


def _message(result: GraderResult, code: str) -> str:
    texts = [m.text for m in result.messages if m.code == code and m.visibility == Visibility.CANDIDATE]
    assert len(texts) == 1, result.messages
    return texts[0]


def _assert_unusable(result: GraderResult) -> None:
    m = result.measurements
    assert result.status == GraderStatus.OK
    assert m["valid"] == 0.0 and m["coverage"] == 0.0 and m["n_scored"] == 0.0 and m["n_expected"] == N
    assert m["f1"] == 0.0 and m["accuracy"] == 0.0 and m["roc_auc"] == 0.0
    assert m["log_loss"] is None  # lower is better: no "worst" number to give
    assert m["f1_ci_low"] == 0.0 and m["f1_ci_high"] == 0.0


# --- whole submissions ----------------------------------------------------------------------


def test_perfect_submission(folders: Folders) -> None:
    result = _grade(folders, _rows(prob=lambda i: 0.9 if i in SPAM_IDS else 0.1))
    m = result.measurements
    assert m["f1"] == 1.0 and m["accuracy"] == 1.0 and m["roc_auc"] == 1.0
    assert m["f1_ci_low"] == 1.0 and m["f1_ci_high"] == 1.0
    assert m["coverage"] == 1.0 and m["valid"] == 1.0 and m["n_expected"] == N and m["n_scored"] == N
    assert result.messages == []
    assert result.details["confusion_matrix"] == {
        "labels": ["ham", "spam"],
        "positive_label": "spam",
        "matrix": [[15, 0], [0, 5]],
    }
    assert result.details["primary_metric"] == "f1"


def test_measurement_names(folders: Folders) -> None:
    result = _grade(folders, _rows())
    assert set(result.measurements) == {
        "f1",
        "accuracy",
        "precision",
        "recall",
        "roc_auc",
        "log_loss",
        "f1_ci_low",
        "f1_ci_high",
        "coverage",
        "n_expected",
        "n_scored",
        "valid",
    }
    assert result.measurements["roc_auc"] is None
    assert result.details["metric_errors"] == {"roc_auc": "no probabilities", "log_loss": "no probabilities"}
    assert "no_probabilities" in _codes(result) and "pr_curve" not in result.details


def test_all_ham_submission(folders: Folders) -> None:
    m = _grade(folders, _rows(label=lambda i: "ham")).measurements
    assert m["f1"] == 0.0 and m["recall"] == 0.0 and m["precision"] == 0.0
    assert m["accuracy"] == pytest.approx(15 / 20)
    assert m["valid"] == 1.0 and m["coverage"] == 1.0


def test_probabilities_give_roc_auc_and_pr_curve(folders: Folders) -> None:
    probs = {i: round(0.05 * int(i), 2) for i in IDS}  # spam ids 1..5 get the lowest scores
    probs["1"] = 0.99
    result = _grade(folders, _rows(prob=probs.__getitem__))
    y_true = np.array([i in SPAM_IDS for i in IDS])
    expected = roc_auc_score(y_true, [probs[i] for i in IDS])
    assert result.measurements["roc_auc"] == pytest.approx(expected)
    assert 0 < expected < 1
    curve = result.details["pr_curve"]
    assert len(curve["precision"]) == len(curve["recall"]) <= 200
    assert curve["recall"][0] == 1.0 and curve["recall"][-1] == 0.0


def test_pr_curve_is_downsampled(tmp_path: Path) -> None:
    folders = Folders(tmp_path)
    ids = [str(i) for i in range(1, 1001)]
    (folders.inputs / "test.csv").write_text("id\n" + "\n".join(ids) + "\n")
    (folders.hidden / "test_labels.csv").write_text(
        "id,label\n" + "".join(f"{i},{'spam' if int(i) % 3 == 0 else 'ham'}\n" for i in ids)
    )
    rng = np.random.default_rng(0)
    folders.write(HEADER + "".join(f"{i},ham,{rng.random():.6f}\n" for i in ids))
    result = _grader(bootstrap=0).grade(folders.ctx())
    curve = result.details["pr_curve"]
    assert 100 < len(curve["precision"]) <= 200 and len(curve["recall"]) == len(curve["precision"])
    assert result.measurements["f1_ci_low"] is None  # bootstrap disabled


def test_bootstrap_is_deterministic_and_contains_the_estimate(folders: Folders) -> None:
    noisy = {"1": "ham", "2": "spam", "3": "spam", "4": "spam", "5": "spam", "6": "spam", "7": "spam"}
    text = _rows(label=lambda i: noisy.get(i, _truth(i)))
    first = _grade(folders, text).measurements
    second = _grade(folders, text).measurements
    assert (first["f1_ci_low"], first["f1_ci_high"]) == (second["f1_ci_low"], second["f1_ci_high"])
    assert first["f1_ci_low"] < first["f1"] < first["f1_ci_high"]
    other = _grade(folders, text, seed=7).measurements
    assert (other["f1_ci_low"], other["f1_ci_high"]) != (first["f1_ci_low"], first["f1_ci_high"])


def test_primary_score_metric_gets_an_interval(folders: Folders) -> None:
    probs = {i: (0.8 if i in SPAM_IDS else 0.3) for i in IDS}
    probs["6"] = 0.9
    m = _grade(folders, _rows(prob=probs.__getitem__), primary_metric="roc_auc").measurements
    assert m["roc_auc_ci_low"] <= m["roc_auc"] <= m["roc_auc_ci_high"] and m["roc_auc_ci_low"] < 1.0


def test_baselines_are_reported(folders: Folders) -> None:
    baselines = {"all_ham": {"f1": 0.0, "accuracy": 0.75}, "reference_model": {"f1": 0.9}}
    (folders.hidden / "baselines.json").write_text(json.dumps(baselines))
    assert _grade(folders, _rows()).details["baselines"] == baselines


# --- unusable outputs -----------------------------------------------------------------------


def test_missing_output(folders: Folders) -> None:
    result = _grade(folders)
    _assert_unusable(result)
    assert "predictions.csv" in _message(result, "missing_output")


def test_symlink_to_hidden_labels_is_refused(folders: Folders) -> None:
    (folders.output / "predictions.csv").symlink_to(folders.hidden / "test_labels.csv")
    result = _grade(folders)
    _assert_unusable(result)
    assert "symbolic link" in _message(result, "not_regular_file")
    assert "spam" not in json.dumps(result.model_dump(mode="json")["messages"])


def test_directory_output(folders: Folders) -> None:
    (folders.output / "predictions.csv").mkdir()
    result = _grade(folders)
    _assert_unusable(result)
    assert "folder" in _message(result, "not_regular_file")


def test_output_over_the_limit_scores_the_rows_it_could_read(folders: Folders) -> None:
    """An over-limit file is not rejected whole: the complete lines within the limit count."""
    data = _rows()
    folders.write(data)
    result = _grader().grade(folders.ctx(output_read_bytes=50))
    read = data.encode()[:50].count(b"\n") - 1  # complete rows after the header
    assert 0 < read < N
    assert result.measurements["coverage"] == pytest.approx(read / N)
    assert {"output_truncated", "missing_ids"} <= _codes(result)
    text = _message(result, "output_truncated")
    assert "over the 4.768e-05 MiB limit for predictions.csv" in text and f"were read ({read + 1} lines)" in text


@pytest.mark.parametrize("data", [b"id,label\n1,spam\x00\n", b"id,label\n1,sp\xffam\n", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_binary_junk_is_not_text(folders: Folders, data: bytes) -> None:
    result = _grade(folders, data)
    _assert_unusable(result)
    assert _codes(result) == {"not_text"}


@pytest.mark.parametrize("data", ["", "\n\n  \r\n"])
def test_empty_file(folders: Folders, data: str) -> None:
    result = _grade(folders, data)
    _assert_unusable(result)
    assert _codes(result) == {"empty_file"}


def test_missing_header(folders: Folders) -> None:
    result = _grade(folders, "".join(f"{i},{_truth(i)}\n" for i in IDS))
    _assert_unusable(result)
    text = _message(result, "missing_header")
    assert "id,label" in text and "header" in text


def test_missing_columns(folders: Folders) -> None:
    result = _grade(folders, "id,prediction\n" + "".join(f"{i},ham\n" for i in IDS))
    _assert_unusable(result)
    text = _message(result, "missing_columns")
    assert "'label'" in text and "prediction" in text


def test_header_only_file(folders: Folders) -> None:
    result = _grade(folders, "id,label\n")
    _assert_unusable(result)
    assert "20 ids from test.csv have no prediction" in _message(result, "missing_ids")


def test_no_valid_rows(folders: Folders) -> None:
    result = _grade(folders, _rows(label=lambda i: "maybe"))
    _assert_unusable(result)
    assert {"invalid_labels", "no_valid_rows"} <= _codes(result)


# --- defects that still allow scoring -------------------------------------------------------


def test_bom_is_stripped_with_a_warning(folders: Folders) -> None:
    result = _grade(folders, b"\xef\xbb\xbf" + _rows().encode())
    assert result.measurements["f1"] == 1.0
    assert [(m.code, m.level) for m in result.messages if m.code != "no_probabilities"] == [("bom", Level.WARNING)]


def test_crlf_line_endings(folders: Folders) -> None:
    result = _grade(folders, _rows().replace("\n", "\r\n"))
    assert result.measurements["f1"] == 1.0 and _codes(result) == {"no_probabilities"}


def test_extra_columns_are_a_warning(folders: Folders) -> None:
    text = "id,label,notes\n" + "".join(f"{i},{_truth(i)},x\n" for i in IDS)
    result = _grade(folders, text)
    assert result.measurements["f1"] == 1.0
    [message] = [m for m in result.messages if m.code == "extra_columns"]
    assert message.level == Level.WARNING and "notes" in message.text


def test_duplicate_ids_keep_the_first_row(folders: Folders) -> None:
    result = _grade(folders, _rows() + "1,ham\n1,ham\n")
    assert result.measurements["f1"] == 1.0
    [message] = [m for m in result.messages if m.code == "duplicate_ids"]
    assert message.level == Level.WARNING and "'1'" in message.text and message.text.startswith("1 id ")


def test_unknown_ids_are_ignored(folders: Folders) -> None:
    result = _grade(folders, _rows() + "999,spam\nabc,ham\n")
    assert result.measurements["f1"] == 1.0 and result.measurements["coverage"] == 1.0
    text = _message(result, "unknown_ids")
    assert "'999'" in text and "'abc'" in text and text.startswith("2 ids")


def test_missing_ids_are_scored_as_wrong(folders: Folders) -> None:
    result = _grade(folders, _rows(ids=[i for i in IDS if i not in {"1", "20"}]))
    m = result.measurements
    assert m["recall"] == pytest.approx(4 / 5)  # the missing spam counts as predicted ham
    assert m["precision"] == pytest.approx(4 / 5)  # the missing ham counts as predicted spam
    assert m["accuracy"] == pytest.approx(18 / 20)
    assert m["coverage"] == pytest.approx(18 / 20) and m["n_scored"] == N
    text = _message(result, "missing_ids")
    assert text.startswith("2 ids from test.csv have no prediction") and "'1'" in text and "'20'" in text


def test_missing_ids_without_inputs_file_are_named_only_to_reviewers(folders: Folders) -> None:
    result = _grade(folders, _rows(ids=IDS[:-1]), inputs_file=None)
    candidate = [m for m in result.messages if m.code == "missing_ids" and m.visibility == Visibility.CANDIDATE]
    reviewer = [m for m in result.messages if m.code == "missing_ids" and m.visibility == Visibility.REVIEWER]
    assert len(candidate) == 1 and "'20'" not in candidate[0].text and "1 of the 20" in candidate[0].text
    assert len(reviewer) == 1 and "'20'" in reviewer[0].text


def test_missing_probability_is_the_worst_score(folders: Folders) -> None:
    result = _grade(folders, _rows(prob=lambda i: 0.9 if i in SPAM_IDS else 0.1, ids=IDS[1:]))
    assert result.measurements["roc_auc"] == pytest.approx(1 - 15 / (5 * 15))  # id 1 ranks below every ham


def test_invalid_labels_are_wrong(folders: Folders) -> None:
    result = _grade(folders, _rows(label=lambda i: "SPAM" if i == "1" else _truth(i)))
    m = result.measurements
    assert m["recall"] == pytest.approx(4 / 5) and m["coverage"] == pytest.approx(19 / 20)
    text = _message(result, "invalid_labels")
    assert "'SPAM'" in text and "ham, spam" in text and "'1'" in text


@pytest.mark.parametrize("cell", ["", "nan", "NaN", "null"])
def test_nan_values_are_wrong(folders: Folders, cell: str) -> None:
    result = _grade(folders, _rows(label=lambda i: cell if i == "2" else _truth(i)))
    assert result.measurements["recall"] == pytest.approx(4 / 5)
    assert "'2'" in _message(result, "nan_values") and "invalid_labels" not in _codes(result)


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "high", "", "nan", "inf"])
def test_invalid_probabilities_drop_the_column(folders: Folders, bad: str) -> None:
    result = _grade(folders, _rows(prob=lambda i: bad if i == "3" else "0.5"))
    m = result.measurements
    assert m["roc_auc"] is None and m["log_loss"] is None and m["f1"] == 1.0
    assert result.details["metric_errors"]["roc_auc"] == "no probabilities"
    assert "'3'" in _message(result, "invalid_probabilities") and "pr_curve" not in result.details


def test_ragged_rows_are_dropped(folders: Folders) -> None:
    text = _rows().replace("\n1,spam\n", "\n1,spam,extra\n").replace("\n7,ham\n", "\n7\n")
    result = _grade(folders, text)
    assert result.measurements["coverage"] == pytest.approx(18 / 20)
    text = _message(result, "ragged_rows")
    assert text.startswith("2 rows") and "(line 2, 8)" in text


def test_malformed_csv_keeps_earlier_rows(folders: Folders) -> None:
    text = _rows().replace("11,ham\n", '11,"ha"m\n')
    result = _grade(folders, text)
    assert "Line 12" in _message(result, "malformed_csv")
    assert result.measurements["coverage"] == pytest.approx(10 / 20)
    assert result.measurements["valid"] == 1.0


def test_candidate_messages_never_echo_true_labels(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text(
        "id,label\n" + "".join(f"{i},{'omega' if i in SPAM_IDS else 'alpha'}\n" for i in IDS)
    )
    text = "id,label,p,extra\n1,zeta,2,x\n1,zeta,2,x\n2,,0.5,x\n999,zeta,0.5,x\n4,x\n"
    result = _grade(folders, text, labels=None, positive_label="omega", probability_column="p")
    assert {
        "duplicate_ids",
        "nan_values",
        "unknown_ids",
        "invalid_labels",
        "invalid_probabilities",
        "ragged_rows",
        "missing_ids",
        "extra_columns",
    } <= _codes(result)
    for message in result.messages:
        assert "alpha" not in message.text and "omega" not in message.text, message


# --- regression -----------------------------------------------------------------------------


def test_regression_excludes_missing_and_reports_coverage(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},{int(i) * 1.5}\n" for i in IDS))
    preds = {i: int(i) * 1.5 + (1.0 if int(i) % 2 else -1.0) for i in IDS}
    body = "id,label\n" + "".join(f"{i},{preds[i]}\n" for i in IDS[:16]) + "17,abc\n18,nan\n"
    result = _grade(
        folders,
        body,
        task="regression",
        labels=None,
        positive_label=None,
        probability_column=None,
        primary_metric="rmse",
        metrics=["rmse", "mae", "r2"],
    )
    m = result.measurements
    assert m["rmse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0)
    assert m["coverage"] == pytest.approx(16 / 20) and m["n_scored"] == 16 and m["n_expected"] == N
    assert m["rmse_ci_low"] == pytest.approx(1.0) and m["rmse_ci_high"] == pytest.approx(1.0)
    assert "'17'" in _message(result, "nan_values") and "'19'" in _message(result, "missing_ids")
    assert "confusion_matrix" not in result.details


def test_regression_unusable_gives_none_for_lower_is_better(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},1.0\n" for i in IDS))
    result = _grade(
        folders,
        None,
        task="regression",
        labels=None,
        positive_label=None,
        probability_column=None,
        primary_metric="rmse",
        metrics=["rmse", "r2"],
    )
    m = result.measurements
    assert m["rmse"] is None and m["rmse_ci_low"] is None and m["r2"] == 0.0 and m["valid"] == 0.0


# --- our own faults and configuration --------------------------------------------------------


def test_missing_hidden_file_is_a_grader_error(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").unlink()
    with pytest.raises(GraderError):
        _grade(folders, _rows())


def test_hidden_labels_outside_config_are_a_grader_error(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},other\n" for i in IDS))
    with pytest.raises(GraderError):
        _grade(folders, _rows())


def test_test_ids_without_labels_are_a_grader_error(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text("id,label\n1,spam\n")
    with pytest.raises(GraderError):
        _grade(folders, _rows())


def test_corrupt_baselines_are_a_grader_error(folders: Folders) -> None:
    (folders.hidden / "baselines.json").write_text("{not json")
    with pytest.raises(GraderError):
        _grade(folders, _rows())


def test_missing_positive_label_is_a_grader_error(folders: Folders) -> None:
    with pytest.raises(GraderError) as info:
        _grade(folders, _rows(), positive_label=None)
    assert "positive_label" in info.value.hint


def test_zero_one_labels_need_no_positive_label(folders: Folders) -> None:
    (folders.hidden / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},{int(i in SPAM_IDS)}\n" for i in IDS))
    result = _grade(
        folders, "id,label\n" + "".join(f"{i},{int(i in SPAM_IDS)}\n" for i in IDS), labels=None, positive_label=None
    )
    assert result.measurements["f1"] == 1.0


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"metrics": ["f1", "acuracy"]}, "did you mean 'accuracy'"),
        (
            {"task": "regression", "labels": None, "positive_label": None, "probability_column": None},
            "is for classification",
        ),
        ({"positive_label": "eggs"}, "not one of labels"),
        ({"file": "../predictions.csv"}, "simple relative path"),
        ({"labels": ["ham"], "positive_label": None}, "at least two"),
        ({"bootstrap": -1}, "greater than or equal"),
        ({"unknown_key": 1}, "Extra inputs"),
    ],
)
def test_config_validation(overrides: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        _grader(**overrides)
    assert needle in str(info.value)


def test_default_config_is_valid() -> None:
    grader = PredictionsGrader()
    assert grader.name == "predictions" and grader.cfg.primary_metric == "f1" and grader.cfg.metric_names[0] == "f1"


# --- the parser and aligner alone ------------------------------------------------------------


def test_parse_predictions_alone() -> None:
    rows, messages = parse_predictions(b" id , label ,p\n\n1, spam ,0.9\r\n2,ham,\n", probability_column="p")
    assert rows == [PredictionRow(3, "1", "spam", "0.9"), PredictionRow(4, "2", "ham", "")]
    assert messages == []
    rows, messages = parse_predictions(b"id,label\n1,spam\n")
    assert rows[0].probability is None


def test_align_predictions_alone() -> None:
    cfg = PredictionsGrader.Config(labels=["ham", "spam"], positive_label="spam", probability_column="p")
    rows = [PredictionRow(2, "a", "spam", "0.8"), PredictionRow(3, "b", "??", "0.3")]
    aligned = align_predictions(
        rows, ["a", "b", "c"], {"a": "spam", "b": "ham", "c": "spam"}, cfg, labels=["ham", "spam"], pos_label="spam"
    )
    assert aligned.y_pred.tolist() == ["spam", "spam", "ham"]  # b and c: the opposite of the truth
    assert aligned.y_score is not None and aligned.y_score.tolist() == [0.8, 0.3, 0.0]
    assert aligned.n_valid == 1
    assert {m.code for m in aligned.messages} == {"invalid_labels", "missing_ids"}
    assert not any(math.isnan(s) for s in aligned.y_score)
