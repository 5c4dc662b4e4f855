"""Broken canary: reads the questions, then fails on a field that does not exist (KeyError)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"loaded {len(questions)} questions")
    queries = [q["query"] for q in questions]  # bug: the field is called "question" -> KeyError
    (OUTPUT_DIR / "answers.jsonl").write_text("", encoding="utf-8")
    print(len(queries))


if __name__ == "__main__":
    main()
