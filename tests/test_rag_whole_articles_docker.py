"""genai_rag in real Docker: a pure-Python TF-IDF pipeline that returns whole articles as its
contexts writes an answers file larger than the 32 MiB the grader once read in one piece, and
is scored on its recall, with the per-context limit applied and said (issue 15, item 4)."""

from __future__ import annotations

import pytest

pytest.importorskip("ragas")

from harness.api import grade
from harness.pipeline import GradeOptions
from tests import test_genai_rag_docker as canaries

pytestmark = pytest.mark.docker
ASSIGNMENT, zip_dir = canaries.ASSIGNMENT, canaries.zip_dir
settings, assignment, monkeypatch_module = canaries.settings, canaries.assignment, canaries.monkeypatch_module

RAG = '''"""Whole-article retrieval: TF-IDF over the articles, the top 5 returned whole."""
import json
import math
import os
import re
from collections import Counter
from pathlib import Path

DATA = Path(os.environ.get("DATA_DIR", "/data"))
OUT = Path(os.environ.get("OUTPUT_DIR", "/output"))


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def main():
    corpus = DATA / "corpus"
    docs = {p.relative_to(corpus).as_posix()[:-4]: p.read_text(encoding="utf-8") for p in sorted(corpus.rglob("*.txt"))}
    tf = {d: Counter(words(t)) for d, t in docs.items()}
    df = Counter(w for counts in tf.values() for w in counts)
    idf = {w: math.log(len(docs) / n) for w, n in df.items()}
    with open(OUT / "answers.jsonl", "w", encoding="utf-8") as out:
        for line in (DATA / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            terms = set(words(q["question"]))
            score = {d: sum(idf.get(w, 0) * c[w] / (1 + sum(c.values())) for w in terms) for d, c in tf.items()}
            best = sorted(score, key=lambda d: (-score[d], d))[:5]
            contexts = [{"doc_id": d, "text": docs[d]} for d in best]
            out.write(json.dumps({"id": q["id"], "answer": docs[best[0]].split(". ")[0], "contexts": contexts}) + "\\n")


if __name__ == "__main__":
    main()
'''


def test_a_whole_article_rag_is_scored_on_its_recall(settings, assignment, tmp_path, no_containers_left):
    folder = tmp_path / "whole_articles"
    folder.mkdir()
    (folder / "rag.py").write_text(RAG)
    (folder / "submission.toml").write_text('assignment = "genai_rag"\n')
    report = grade(zip_dir(folder, tmp_path / "whole.zip"), settings=settings, options=GradeOptions())
    assert report.sandbox is not None and report.sandbox.verdict.value == "ok", report.sandbox.stderr.text[-800:]
    rag = next(g for g in report.graders if g.grader == "rag")
    codes = {m.code: m.text for m in rag.messages}
    assert "output_too_large" not in codes and "output_truncated" not in codes, codes
    assert "the limit per context" in codes["long_contexts"]
    assert report.metrics["coverage"] == 1.0
    assert report.metrics["context_recall"] > 0.8, report.metrics
    retrieval = next(c for c in report.criteria if c.id == "retrieval_quality")
    assert retrieval.level is not None and retrieval.level >= 4
