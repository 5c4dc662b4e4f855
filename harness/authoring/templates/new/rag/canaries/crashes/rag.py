"""Broken canary: reads the questions, then fails on a file that does not exist. Must score low."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))


def main() -> None:
    print(len((DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()), "questions")
    print((DATA_DIR / "index.faiss").read_bytes())


if __name__ == "__main__":
    main()
