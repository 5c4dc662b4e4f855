"""Baseline canary: predicts the training mean for every row (R² about 0). Must score low."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.dummy import DummyRegressor

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    return DummyRegressor(strategy="mean")


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv")
    test = pd.read_csv(DATA_DIR / "test.csv")
    model = build_model().fit(train.drop(columns=["id", "target"]), train["target"])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "target": model.predict(test.drop(columns=["id"]))}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
