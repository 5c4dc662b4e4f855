"""Generate the committed split of the SMS Spam Collection (run once; the id lists are the truth).

    python assignments/applied_ml/make_splits.py [PATH_TO_SMSSpamCollection] [--check]

The path defaults to ``$GRADE_DATA_DIR/sms_spam/SMSSpamCollection``. Rows are grouped by exact
text (the raw file holds 403 duplicate messages, 5,171 distinct texts) so that no text is in both
train and holdout; groups are split 80/20 within each label (stratified at the group level) with
a numpy Generator seeded with 20240601. numpy rather than scikit-learn so the procedure is easy
to read; the committed ``splits/*.txt`` are what ``prepare.py`` uses, whatever library versions
are installed. ``--check`` only compares the result with the committed lists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from prepare import LABELS, POSITIVE, SOURCE, SPLITS_DIR, TEST_IDS, TRAIN_IDS, Message, read_messages

SEED = 20240601
TEST_FRACTION = 0.2


def group_by_text(messages: Sequence[Message]) -> list[list[Message]]:
    """Groups of messages with identical text, in order of first appearance."""
    groups: dict[str, list[Message]] = {}
    for message in messages:
        groups.setdefault(message.text, []).append(message)
    for text, members in groups.items():
        if len({m.label for m in members}) > 1:
            raise ValueError(f"text {text[:40]!r} appears with different labels")
    return list(groups.values())


def split_groups(groups: Sequence[list[Message]], seed: int = SEED) -> tuple[list[str], list[str]]:
    """Stratified group split: for each label, a seeded permutation sends 20% of groups to test."""
    rng = np.random.default_rng(seed)
    train: list[str] = []
    test: list[str] = []
    for label in LABELS:
        labelled = [g for g in groups if g[0].label == label]
        order = rng.permutation(len(labelled))
        n_test = round(TEST_FRACTION * len(labelled))
        for rank, index in enumerate(order):
            (test if rank < n_test else train).extend(m.id for m in labelled[index])
    return sorted(train), sorted(test)


def _default_source() -> Path:
    data_dir = os.environ.get("GRADE_DATA_DIR")
    if not data_dir:
        raise SystemExit("give the path of SMSSpamCollection, or set GRADE_DATA_DIR")
    return Path(data_dir) / SOURCE


def _summary(name: str, ids: Sequence[str], labels: dict[str, str]) -> str:
    spam = Counter(labels[i] for i in ids)[POSITIVE]
    return f"{name}: {len(ids)} rows, {spam} spam ({100 * spam / len(ids):.2f}%)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="the raw SMSSpamCollection file")
    parser.add_argument("--check", action="store_true", help="compare with the committed lists, write nothing")
    args = parser.parse_args(argv)
    messages = read_messages(args.source or _default_source())
    groups = group_by_text(messages)
    train, test = split_groups(groups)
    labels = {m.id: m.label for m in messages}
    print(f"{len(messages)} rows, {len(groups)} distinct texts, {len(messages) - len(groups)} duplicates")
    print(_summary("train", train, labels))
    print(_summary("test", test, labels))
    files = {SPLITS_DIR / TRAIN_IDS: train, SPLITS_DIR / TEST_IDS: test}
    if args.check:
        stale = [p.name for p, ids in files.items() if not p.is_file() or p.read_text(encoding="utf-8").split() != ids]
        print("committed lists match" if not stale else f"differs from the committed: {', '.join(stale)}")
        return 1 if stale else 0
    SPLITS_DIR.mkdir(exist_ok=True)
    for path, ids in files.items():
        path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
