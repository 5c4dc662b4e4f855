"""Broken canary: answers with the best-matching sentence of the whole corpus, but reports no
retrieved contexts (as if the retriever's output were dropped)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    root = DATA_DIR / "corpus"
    texts = [p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.txt"))]
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+", " ".join(t.split())) if len(s.split()) >= 4]
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform(sentences)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            scores = (matrix @ vectorizer.transform([q["question"]]).T).toarray().ravel()
            answer = " ".join(sentences[int(scores.argmax())].split()[:40])
            out.write(json.dumps({"id": q["id"], "answer": answer, "contexts": []}) + "\n")


if __name__ == "__main__":
    main()
