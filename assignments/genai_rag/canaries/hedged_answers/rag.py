"""Gaming canary: retrieves the best-matching sentence of the corpus and answers every question
"Yes no <that sentence>", hedging every yes/no question and padding every open answer. Answer
containment, a whole-word test, once paid for both; token F1 with yes/no polarity pays neither."""

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
    sentences = []
    for path in sorted(root.rglob("*.txt")):
        doc_id = path.relative_to(root).as_posix()[: -len(".txt")]
        text = " ".join(path.read_text(encoding="utf-8").split())
        sentences += [(doc_id, s) for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 4]
    questions = [json.loads(line) for line in (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform([s for _, s in sentences])
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            doc_id, best = sentences[int((matrix @ vectorizer.transform([q["question"]]).T).toarray().ravel().argmax())]
            answer = "Yes no " + " ".join(best.split()[:40])
            out.write(json.dumps({"id": q["id"], "answer": answer, "contexts": [{"doc_id": doc_id, "text": best}]}) + "\n")


if __name__ == "__main__":
    main()
