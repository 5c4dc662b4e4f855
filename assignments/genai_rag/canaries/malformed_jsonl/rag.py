"""Broken canary: writes Python dict reprs (single quotes, None) instead of JSON, one per line,
and one truncated JSON line at the end, as if the writer were killed mid-way."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions[:-1]:
            out.write(str({"id": q["id"], "answer": None, "contexts": [{"doc_id": "set1/a1", "text": "Ant"}]}) + "\n")
        out.write(json.dumps({"id": questions[-1]["id"], "answer": "Yes", "contexts": []})[:25] + "\n")


if __name__ == "__main__":
    main()
