"""Baseline canary: predicts the most common training label for every row. Must score low."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.dummy import DummyClassifier

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    return DummyClassifier(strategy="most_frequent")


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype={"label": str})
    test = pd.read_csv(DATA_DIR / "test.csv")
    model = build_model().fit(train.drop(columns=["id", "label"]), train["label"])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
