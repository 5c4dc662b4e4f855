"""__TITLE__: your pipeline starts here.

Run it the way the grader will, from this folder:

    DATA_DIR=data OUTPUT_DIR=out python rag.py

Read DATA_DIR/corpus/<doc_id>.txt and DATA_DIR/questions.jsonl; write OUTPUT_DIR/answers.jsonl
with {"id", "answer", "contexts": [{"doc_id", "text"}, ...]} per question (see README.md).
Keep the code contract: importing this file does nothing, and retrieve(question, k) works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def retrieve(question: str, k: int = 5) -> list[dict]:
    """At most k contexts {"doc_id", "text"} for the question, best first."""
    raise NotImplementedError


def answer(question: str, contexts: list[dict]) -> str:
    raise NotImplementedError


def main() -> None:
    lines = (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            contexts = retrieve(q["question"])
            out.write(json.dumps({"id": q["id"], "answer": answer(q["question"], contexts), "contexts": contexts}) + "\n")


if __name__ == "__main__":
    main()
