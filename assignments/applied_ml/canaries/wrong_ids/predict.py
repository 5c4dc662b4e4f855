"""Broken canary: a fine model, but the predictions use row numbers instead of the ids."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(DATA_DIR / "test.csv", dtype=str, keep_default_na=False)
    model = make_pipeline(CountVectorizer(), MultinomialNB()).fit(train["text"], train["label"])
    predictions = pd.DataFrame({"id": range(len(test)), "label": model.predict(test["text"])})
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(OUTPUT_DIR / "predictions.csv", index=False)  # bug: ids are row numbers


if __name__ == "__main__":
    main()
