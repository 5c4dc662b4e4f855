"""Spam classifier: your solution starts here.

Run it the way the grader will, on the kit's small dev split, from this folder:

    DATA_DIR=dev/data OUTPUT_DIR=out python predict.py
    grade selfcheck        # the same run in the grading sandbox, and a check of out/predictions.csv

It must write OUTPUT_DIR/predictions.csv with columns id,label[,spam_probability] for every id
in DATA_DIR/test.csv (see README.md). Keep the code contract: importing this file does nothing,
and build_model() returns an unfitted scikit-learn estimator that takes raw texts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def read(name: str) -> pd.DataFrame:
    # keep_default_na=False: a message such as "NA" must stay text.
    return pd.read_csv(DATA_DIR / name, dtype=str, keep_default_na=False)


def build_model():
    """A new, unfitted estimator: fit(texts, labels) with labels "ham"/"spam", then predict(texts)."""
    raise NotImplementedError("return e.g. a scikit-learn Pipeline of a text vectorizer and a classifier")


def main() -> None:
    train = read("train.csv")
    model = build_model().fit(train["text"], train["label"])
    test = read("test.csv")  # the messages to label: the holdout in the sandbox, dev/data/test.csv locally
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "label": model.predict(test["text"])}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
