"""Reference pipeline (a bundled canary, never in the starter kit): TF-IDF retrieval over
passages of a few sentences, and an extractive answer (the retrieved sentence most similar to
the question; "Yes" for questions that start with an auxiliary verb). Replace it with a good
pipeline for your data."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))
SENTENCES_PER_PASSAGE = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_YES_NO = re.compile(r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.I)


@lru_cache(maxsize=1)
def index():
    passages = []
    corpus = DATA_DIR / "corpus"
    for path in sorted(corpus.rglob("*.txt")):
        doc_id = path.relative_to(corpus).as_posix().removesuffix(".txt")
        sentences = [s for s in _SENTENCE.split(path.read_text(encoding="utf-8", errors="replace")) if s.strip()]
        for start in range(0, len(sentences), SENTENCES_PER_PASSAGE):
            passages.append({"doc_id": doc_id, "text": " ".join(sentences[start:start + SENTENCES_PER_PASSAGE])})
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    return passages, vectorizer, vectorizer.fit_transform([p["text"] for p in passages])


def retrieve(question: str, k: int = 5) -> list[dict]:
    passages, vectorizer, matrix = index()
    scores = linear_kernel(vectorizer.transform([question]), matrix).ravel()
    return [dict(passages[i]) for i in scores.argsort()[::-1][:k]]


def answer(question: str, contexts: list[dict]) -> str:
    if _YES_NO.match(question.strip()):
        return "Yes"
    sentences = [s for c in contexts[:2] for s in _SENTENCE.split(c["text"]) if s.strip()]
    if not sentences:
        return ""
    _, vectorizer, _ = index()
    scores = linear_kernel(vectorizer.transform([question]), vectorizer.transform(sentences)).ravel()
    return sentences[int(scores.argmax())]


def main() -> None:
    lines = (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT_DIR / "answers.jsonl", "w", encoding="utf-8") as out:
        for q in questions:
            contexts = retrieve(q["question"])
            out.write(json.dumps({"id": q["id"], "answer": answer(q["question"], contexts), "contexts": contexts}) + "\n")
    print(f"answered {len(questions)} questions")


if __name__ == "__main__":
    main()
