"""Broken canary: retrieves sensibly (TF-IDF over whole articles) but leaves every answer empty."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def main() -> None:
    root = DATA_DIR / "corpus"
    corpus = {p.relative_to(root).as_posix()[: -len(".txt")]: p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.txt"))}
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = list(corpus)
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform([corpus[d] for d in ids])
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            scores = (matrix @ vectorizer.transform([q["question"]]).T).toarray().ravel()
            best = ids[int(scores.argmax())]
            out.write(json.dumps({"id": q["id"], "answer": "", "contexts": [{"doc_id": best, "text": corpus[best][:1000]}]}) + "\n")


if __name__ == "__main__":
    main()
