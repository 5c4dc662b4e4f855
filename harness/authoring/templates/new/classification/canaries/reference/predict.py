"""Reference solution (a bundled canary, never in the starter kit): scaled numeric features and
one-hot categories into a logistic regression.
Replace it with a good solution for your data."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    features = make_column_transformer(
        (numeric, make_column_selector(dtype_include="number")),
        (categorical, make_column_selector(dtype_exclude="number")),
    )
    return make_pipeline(features, LogisticRegression(max_iter=2000))


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype={"label": str})
    test = pd.read_csv(DATA_DIR / "test.csv")
    model = build_model().fit(train.drop(columns=["id", "label"]), train["label"])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    predictions = pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))})
    predictions.to_csv(OUTPUT_DIR / "predictions.csv", index=False)
    print(f"wrote {len(predictions)} predictions")


if __name__ == "__main__":
    main()
