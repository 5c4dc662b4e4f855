"""Broken canary: reads the data, then fails on a column that does not exist. Must score low."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv")
    print(train["no_such_column"].mean())


if __name__ == "__main__":
    main()
