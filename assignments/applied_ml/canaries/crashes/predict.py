"""Broken canary: starts training, then fails on a column that does not exist (KeyError)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    train = pd.read_csv(DATA_DIR / "train.csv", dtype=str, keep_default_na=False)
    print(f"loaded {len(train)} training rows")
    messages = train["message"]  # bug: the column is called "text" -> KeyError
    print(len(messages))
    (OUTPUT_DIR / "predictions.csv").write_text("id,label\n", encoding="utf-8")


if __name__ == "__main__":
    main()
