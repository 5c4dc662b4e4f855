"""Broken canary: trains, prints a score, exits 0 and never writes predictions.csv."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype=str, keep_default_na=False)
    spam_share = (train["label"] == "spam").mean()
    print(f"{len(train)} rows, {spam_share:.1%} spam; forgot to write {OUTPUT_DIR / 'predictions.csv'}")


if __name__ == "__main__":
    main()
