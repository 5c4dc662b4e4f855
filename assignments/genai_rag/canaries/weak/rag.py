"""Weak canary: "retrieves" a random document per question and answers with its first sentence.

What a pipeline that does not look at the question scores: about 1 in 60 retrievals hit.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    root = DATA_DIR / "corpus"
    corpus = {p.relative_to(root).as_posix()[: -len(".txt")]: p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.txt"))}
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(0)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            doc_id = rng.choice(sorted(corpus))
            body = " ".join(corpus[doc_id].split("\n", 1)[-1].split())
            first = re.split(r"(?<=[.!?])\s+", body, maxsplit=1)[0]
            out.write(json.dumps({"id": q["id"], "answer": first, "contexts": [{"doc_id": doc_id, "text": body[:1000]}]}) + "\n")


if __name__ == "__main__":
    main()
