"""Hanging canary: runs fine as a script, but blocks forever when imported (as code that waits on
a lock, a socket or stdin at import time would). The hidden tests import it: the per-test limit
must stop it, and every hidden test counts as failed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    return make_pipeline(CountVectorizer(), MultinomialNB())


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(DATA_DIR / "test.csv", dtype=str, keep_default_na=False)
    model = build_model().fit(train["text"], train["label"])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "label": model.predict(test["text"])}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
else:
    while True:  # blocks whoever imports this module
        time.sleep(1)
