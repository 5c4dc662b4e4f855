"""Prepare hook for the ``applied_ml`` assignment (SMS spam classification).

Called by ``harness.data.prepare_assignment`` as ``prepare(sources, out, seed)``. It reads the raw
SMS Spam Collection, gives every message an opaque stable id, applies the committed split in
``splits/train_ids.txt`` / ``splits/test_ids.txt`` (it never re-splits; see ``make_splits.py``)
and writes:

- ``inputs/train.csv``   ``id,text,label``  (mounted at /data in the sandbox)
- ``inputs/test.csv``    ``id,text``        (holdout features, no labels)
- ``hidden/test_labels.csv`` ``id,label``   (host only)
- ``hidden/baselines.json``  holdout scores of an all-ham model and a naive Bayes reference
- ``kit/train.csv``      same bytes as ``inputs/train.csv``

Rows are written sorted by id, so row order reveals nothing about the original file.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.data import PreparedPaths

SOURCE = "sms_spam/SMSSpamCollection"
EXPECTED_ROWS = 5574
EXPECTED_SPAM = 747
LABELS = ("ham", "spam")
POSITIVE = "spam"
ID_SALT = "applied_ml"
SPLITS_DIR = Path(__file__).resolve().parent / "splits"
TRAIN_IDS = "train_ids.txt"
TEST_IDS = "test_ids.txt"


@dataclass(frozen=True)
class Message:
    id: str
    line: int
    label: str
    text: str


def message_id(line_number: int) -> str:
    """Opaque, stable id of the message on 1-based ``line_number`` of the raw file."""
    return "m" + hashlib.sha256(f"{ID_SALT}:{line_number}".encode()).hexdigest()[:10]


def read_messages(path: Path) -> list[Message]:
    """Parse the raw file: ``label<TAB>text`` per LF-terminated line, split on the first tab.

    No CSV quoting is applied (some texts start with a double quote, which makes a default
    ``pandas.read_csv`` silently merge rows). Lines are split on ``\\n`` only, not with
    ``str.splitlines``, which would also break on characters such as U+2028 inside a text.
    """
    content = Path(path).read_bytes().decode("utf-8")
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    messages = [_parse_line(number, line) for number, line in enumerate(lines, start=1)]
    _check_counts(messages)
    return messages


def _parse_line(number: int, line: str) -> Message:
    label, tab, text = line.partition("\t")
    if not tab or label not in LABELS or not text:
        raise ValueError(f"{SOURCE} line {number}: expected 'ham|spam<TAB>text', got {line[:60]!r}")
    return Message(id=message_id(number), line=number, label=label, text=text)


def _check_counts(messages: Sequence[Message]) -> None:
    spam = sum(m.label == POSITIVE for m in messages)
    if len(messages) != EXPECTED_ROWS or spam != EXPECTED_SPAM:
        raise ValueError(
            f"{SOURCE}: expected {EXPECTED_ROWS} rows with {EXPECTED_SPAM} spam, found {len(messages)} rows "
            f"with {spam} spam; this is not the original file"
        )
    ids = Counter(m.id for m in messages)
    clashes = [i for i, n in ids.items() if n > 1]
    if clashes:
        raise ValueError(f"message id collision: {clashes[:5]}")


def read_id_list(path: Path) -> list[str]:
    """One id per line; blank lines ignored; duplicates are an error."""
    ids = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"{path.name} lists ids more than once: {repeated[:5]}")
    return ids


def apply_split(
    messages: Sequence[Message], train_ids: Iterable[str], test_ids: Iterable[str]
) -> tuple[list[Message], list[Message]]:
    """Partition ``messages`` by the committed id lists; every id must be in exactly one list."""
    train, test = set(train_ids), set(test_ids)
    known = {m.id for m in messages}
    problems = []
    if both := sorted(train & test):
        problems.append(f"{len(both)} ids are in both lists (e.g. {both[0]})")
    if neither := sorted(known - train - test):
        problems.append(f"{len(neither)} messages are in neither list (e.g. {neither[0]})")
    if unknown := sorted((train | test) - known):
        problems.append(f"{len(unknown)} listed ids match no message (e.g. {unknown[0]})")
    if problems:
        raise ValueError(
            "the committed split does not match the data: "
            + "; ".join(problems)
            + ". Regenerate splits/ with make_splits.py only if the raw data really changed."
        )
    by_id = sorted(messages, key=lambda m: m.id)
    return [m for m in by_id if m.id in train], [m for m in by_id if m.id in test]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """UTF-8, LF line endings, minimal quoting (texts contain quotes and commas)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    from sklearn import metrics

    kwargs: dict[str, Any] = {"pos_label": POSITIVE, "zero_division": 0}
    values = {
        "f1": metrics.f1_score(truth, predicted, **kwargs),
        "precision": metrics.precision_score(truth, predicted, **kwargs),
        "recall": metrics.recall_score(truth, predicted, **kwargs),
        "accuracy": metrics.accuracy_score(truth, predicted),
        "balanced_accuracy": metrics.balanced_accuracy_score(truth, predicted),
    }
    return {name: round(float(value), 6) for name, value in values.items()}


def baselines(train: Sequence[Message], test: Sequence[Message]) -> dict[str, dict[str, float]]:
    """Holdout scores of the all-ham model and a bag-of-words naive Bayes trained on train."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    truth = [m.label for m in test]
    vectorizer = CountVectorizer()
    model = MultinomialNB().fit(vectorizer.fit_transform([m.text for m in train]), [m.label for m in train])
    predicted = [str(p) for p in model.predict(vectorizer.transform([m.text for m in test]))]
    return {
        "all_ham": _scores(truth, ["ham"] * len(test)),
        "naive_bayes": _scores(truth, predicted),
    }


def prepare(sources: dict[str, Path], out: PreparedPaths, seed: int) -> None:
    """Write the public inputs, the hidden labels and baselines, and the kit data.

    ``seed`` is unused: the split is committed and the baselines are deterministic.
    """
    messages = read_messages(sources[SOURCE])
    train, test = apply_split(messages, read_id_list(SPLITS_DIR / TRAIN_IDS), read_id_list(SPLITS_DIR / TEST_IDS))
    train_rows = [(m.id, m.text, m.label) for m in train]
    write_csv(out.inputs / "train.csv", ("id", "text", "label"), train_rows)
    write_csv(out.inputs / "test.csv", ("id", "text"), [(m.id, m.text) for m in test])
    write_csv(out.hidden / "test_labels.csv", ("id", "label"), [(m.id, m.label) for m in test])
    write_csv(out.kit / "train.csv", ("id", "text", "label"), train_rows)
    text = json.dumps(baselines(train, test), indent=2, sort_keys=True) + "\n"
    (out.hidden / "baselines.json").write_text(text, encoding="utf-8")
