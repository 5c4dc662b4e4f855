"""__TITLE__: your solution starts here.

Run it the way the grader will, from this folder:

    DATA_DIR=data OUTPUT_DIR=out python predict.py

Write OUTPUT_DIR/predictions.csv with columns id,target for every id in DATA_DIR/test.csv
(see README.md). Keep the code contract: importing this file does nothing, and build_model()
returns an unfitted scikit-learn estimator.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    """A new, unfitted estimator: fit(X, y) on the feature columns, then predict(X)."""
    raise NotImplementedError("return e.g. a scikit-learn Pipeline")


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv")
    model = build_model().fit(train.drop(columns=["id", "target"]), train["target"])
    test = pd.read_csv(DATA_DIR / "test.csv")  # only in the sandbox: the holdout rows
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "target": model.predict(test.drop(columns=["id"]))}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False
    )


if __name__ == "__main__":
    main()
