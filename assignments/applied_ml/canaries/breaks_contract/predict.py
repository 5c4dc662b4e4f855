"""Contract-breaking canary: a good model and clean predictions, but no build_model() (the model is
built inline in main), so the hidden "model" tests fail while the "importable" ones pass."""

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
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "label": model.predict(test["text"])}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
