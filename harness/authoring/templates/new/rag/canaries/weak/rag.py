"""Weak canary: always "retrieves" the first document and answers with its first sentence."""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def retrieve(question: str, k: int = 5) -> list[dict]:
    corpus = DATA_DIR / "corpus"
    first = sorted(corpus.rglob("*.txt"))[0]
    doc_id = first.relative_to(corpus).as_posix().removesuffix(".txt")
    return [{"doc_id": doc_id, "text": first.read_text(encoding="utf-8")[:500]}]


def main() -> None:
    lines = (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in (json.loads(line) for line in lines if line.strip()):
            contexts = retrieve(q["question"])
            out.write(json.dumps({"id": q["id"], "answer": contexts[0]["text"].split(".")[0], "contexts": contexts}) + "\n")


if __name__ == "__main__":
    main()
