"""The applied_ml assignment's prepared data, built from the real SMS Spam Collection.

The raw file is never in the repository: it is found under ``GRADE_DATA_DIR`` or
``<repo>/../shared/data``. Without it these tests skip, unless ``REQUIRE_DATA=1`` (CI), where a
missing file is a failure.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest

from harness.data import PreparedPaths, load_manifest, prepare_assignment
from harness.settings import Settings
from harness.spec import load_assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = REPO / "assignments" / "applied_ml"
RAW = Path("sms_spam") / "SMSSpamCollection"
TOTAL_ROWS = 5574
TOTAL_SPAM = 747


def _find_raw_data() -> Path | None:
    env = os.environ.get("GRADE_DATA_DIR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    return next((c for c in candidates if (c / RAW).is_file()), None)


@pytest.fixture(scope="module")
def raw_data_dir() -> Path:
    found = _find_raw_data()
    if found is None:
        reason = f"the raw SMS Spam Collection ({RAW}) is not available: set GRADE_DATA_DIR to a folder that holds it"
        if os.environ.get("REQUIRE_DATA", "") in ("1", "true", "yes"):
            pytest.fail(f"{reason} (REQUIRE_DATA=1, so this is a failure, not a skip)")
        pytest.skip(reason)
    return found


def _prepare(raw_data_dir: Path, cache: Path) -> PreparedPaths:
    settings = Settings(data_dir=raw_data_dir, cache_dir=cache, allow_download=False)
    return prepare_assignment(load_assignment(ASSIGNMENT), settings)


@pytest.fixture(scope="module")
def prepared(raw_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedPaths:
    return _prepare(raw_data_dir, tmp_path_factory.mktemp("cache-a"))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def test_layout_and_headers(prepared: PreparedPaths) -> None:
    assert _header(prepared.inputs / "train.csv") == ["id", "text", "label"]
    assert _header(prepared.inputs / "test.csv") == ["id", "text"]  # holdout features, no labels
    assert _header(prepared.hidden / "test_labels.csv") == ["id", "label"]
    assert sorted(p.name for p in prepared.inputs.iterdir()) == ["test.csv", "train.csv"]
    assert sorted(p.name for p in prepared.kit.iterdir()) == ["train.csv"]
    assert (prepared.kit / "train.csv").read_bytes() == (prepared.inputs / "train.csv").read_bytes()


def test_row_counts_and_spam_share(prepared: PreparedPaths) -> None:
    train = _rows(prepared.inputs / "train.csv")
    labels = _rows(prepared.hidden / "test_labels.csv")
    assert len(train) + len(labels) == TOTAL_ROWS
    train_spam = sum(r["label"] == "spam" for r in train)
    test_spam = sum(r["label"] == "spam" for r in labels)
    assert train_spam + test_spam == TOTAL_SPAM
    assert abs(train_spam / len(train) - test_spam / len(labels)) < 0.02
    assert 0.15 < len(labels) / TOTAL_ROWS < 0.25
    assert {r["label"] for r in train} == {"ham", "spam"}


def test_no_text_in_both_train_and_test(prepared: PreparedPaths) -> None:
    train_texts = {r["text"] for r in _rows(prepared.inputs / "train.csv")}
    test_texts = {r["text"] for r in _rows(prepared.inputs / "test.csv")}
    assert train_texts.isdisjoint(test_texts)


def test_ids_unique_and_opaque(prepared: PreparedPaths) -> None:
    train_ids = [r["id"] for r in _rows(prepared.inputs / "train.csv")]
    test_ids = [r["id"] for r in _rows(prepared.inputs / "test.csv")]
    every = train_ids + test_ids
    assert len(set(every)) == len(every) == TOTAL_ROWS
    assert all(re.fullmatch(r"m[0-9a-f]{10}", i) for i in every)
    # rows are ordered by id, so the order says nothing about positions in the raw file
    assert train_ids == sorted(train_ids) and test_ids == sorted(test_ids)


def test_hidden_labels_match_test_ids(prepared: PreparedPaths) -> None:
    test_ids = [r["id"] for r in _rows(prepared.inputs / "test.csv")]
    labels = _rows(prepared.hidden / "test_labels.csv")
    assert [r["id"] for r in labels] == test_ids
    assert {r["label"] for r in labels} == {"ham", "spam"}


def test_texts_survive_csv_round_trip(prepared: PreparedPaths, raw_data_dir: Path) -> None:
    raw = (raw_data_dir / RAW).read_bytes().decode("utf-8").split("\n")
    raw_texts = sorted(line.split("\t", 1)[1] for line in raw if line)
    written = [r["text"] for r in _rows(prepared.inputs / "train.csv")] + [
        r["text"] for r in _rows(prepared.inputs / "test.csv")
    ]
    assert sorted(written) == raw_texts


def test_pandas_reads_every_row(prepared: PreparedPaths) -> None:
    pd = pytest.importorskip("pandas")
    train = pd.read_csv(prepared.inputs / "train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(prepared.inputs / "test.csv", dtype=str, keep_default_na=False)
    assert len(train) + len(test) == TOTAL_ROWS
    assert list(test.columns) == ["id", "text"]


def test_files_use_lf_line_endings(prepared: PreparedPaths) -> None:
    for path in (prepared.inputs / "train.csv", prepared.inputs / "test.csv", prepared.hidden / "test_labels.csv"):
        assert b"\r\n" not in path.read_bytes()


def test_baselines(prepared: PreparedPaths) -> None:
    baselines = json.loads((prepared.hidden / "baselines.json").read_text(encoding="utf-8"))
    keys = {"f1", "precision", "recall", "accuracy", "balanced_accuracy"}
    assert set(baselines) == {"all_ham", "naive_bayes"}
    assert all(set(scores) == keys for scores in baselines.values())
    assert baselines["all_ham"]["f1"] == 0
    assert baselines["all_ham"]["balanced_accuracy"] == 0.5
    assert baselines["naive_bayes"]["f1"] > 0.8


def test_prepare_is_deterministic(prepared: PreparedPaths, raw_data_dir: Path, tmp_path: Path) -> None:
    again = _prepare(raw_data_dir, tmp_path / "cache-b")
    first, second = load_manifest(prepared), load_manifest(again)
    assert first == second
    for rel in first["files"]:
        assert (prepared.root / rel).read_bytes() == (again.root / rel).read_bytes()
