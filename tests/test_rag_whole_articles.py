"""A RAG pipeline that returns whole articles as contexts, on the real genai_rag data (issue 15,
item 4): its answers file is larger than the 32 MiB the grader once read in one piece, and it
is scored on its recall. Contexts are cut to the stated per-context limit with a message; a
file over the stated size limit still scores its complete lines, and the message names the
limit. Host-side grader, real ragas."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from graders.base import GradeContext
from graders.rag import RagGrader
from harness.data import PreparedPaths, prepare_assignment
from harness.settings import Settings
from harness.spec import load_assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = REPO / "assignments" / "genai_rag"
OLD_CAP = 32 * 2**20


@pytest.fixture(scope="module")
def prepared(data_dir: Path, tmp_path_factory) -> PreparedPaths:
    settings = Settings(data_dir=data_dir, cache_dir=tmp_path_factory.mktemp("rag-cache"), allow_download=False)
    return prepare_assignment(load_assignment(ASSIGNMENT), settings)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def whole_article_answers(prepared: PreparedPaths, top_k: int = 5) -> tuple[bytes, float]:
    """A pure-Python TF-IDF retriever over whole articles, as the candidate of the issue wrote
    it: each question gets its top ``top_k`` articles, whole, as contexts (``ensure_ascii``
    escaping as json.dumps does by default). Returns the file and its own document recall."""
    corpus = prepared.inputs / "corpus"
    docs = {p.relative_to(corpus).as_posix()[:-4]: p.read_text(encoding="utf-8") for p in sorted(corpus.rglob("*.txt"))}
    tf = {d: Counter(_words(t)) for d, t in docs.items()}
    df = Counter(w for counts in tf.values() for w in counts)
    idf = {w: math.log(len(docs) / n) for w, n in df.items()}
    questions = [json.loads(line) for line in (prepared.inputs / "questions.jsonl").read_text().splitlines()]
    hidden = {
        r["id"]: set(r["reference_doc_ids"])
        for r in map(json.loads, (prepared.hidden / "eval.jsonl").read_text().splitlines())
    }
    lines, hits = [], 0
    for q in questions:
        terms = set(_words(q["question"]))
        scores = {
            d: sum(idf.get(w, 0.0) * counts[w] / (1 + sum(counts.values())) for w in terms) for d, counts in tf.items()
        }
        best = sorted(scores, key=lambda d: (-scores[d], d))[:top_k]
        hits += bool(hidden[q["id"]] & set(best))
        first = docs[best[0]].split(". ")[0][:200]
        lines.append(
            json.dumps({"id": q["id"], "answer": first, "contexts": [{"doc_id": d, "text": docs[d]} for d in best]})
        )
    return ("\n".join(lines) + "\n").encode(), hits / len(questions)


@pytest.fixture(scope="module")
def answers(prepared) -> tuple[bytes, float]:
    return whole_article_answers(prepared)


def _ctx(prepared: PreparedPaths, output: Path, tmp_path: Path) -> GradeContext:
    spec = load_assignment(ASSIGNMENT).spec
    return GradeContext(
        spec=spec,
        assignment_dir=ASSIGNMENT,
        submission_dir=tmp_path,
        inputs_dir=prepared.inputs,
        hidden_dir=prepared.hidden,
        output_dir=output,
        logs_dir=tmp_path,
        output_read_bytes=spec.sandbox.output_read_mb * 2**20,
    )


def _grader(**config) -> RagGrader:
    spec = load_assignment(ASSIGNMENT).spec
    base = next(g for g in spec.graders if g.use == "rag").config
    return RagGrader(RagGrader.Config(**{**base, **config}))


def test_whole_articles_are_scored_on_their_recall(prepared, answers, tmp_path):
    data, recall = answers
    assert len(data) > OLD_CAP  # the file the old all-or-nothing cap rejected
    assert recall > 0.8
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "answers.jsonl").write_bytes(data)
    result = _grader().grade(_ctx(prepared, tmp_path / "out", tmp_path))
    codes = {m.code: m for m in result.messages}
    assert "output_too_large" not in codes and "output_truncated" not in codes
    assert result.measurements["coverage"] == 1.0
    assert result.measurements["context_recall"] == pytest.approx(recall)
    cut = codes["long_contexts"]
    assert "longer than 10,000 characters, the limit per context" in cut.text and "were cut" in cut.text
    assert cut.level.value == "warning"


def test_a_file_over_the_size_limit_scores_its_complete_lines(prepared, answers, tmp_path):
    data, recall = answers
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "answers.jsonl").write_bytes(data)
    result = _grader(max_file_mb=16).grade(_ctx(prepared, tmp_path / "out", tmp_path))
    codes = {m.code: m for m in result.messages}
    read = data[: 16 * 2**20].count(b"\n")  # complete lines in the first 16 MiB
    assert 0 < read < 300
    assert result.measurements["coverage"] == pytest.approx(read / 300)
    assert 0 < result.measurements["context_recall"] <= recall * read / 300 + 1e-9
    text = codes["output_truncated"].text
    assert "over the 16 MiB limit for answers.jsonl" in text and f"the {read:,} answers on complete lines" in text
    assert "missing_ids" in codes  # the rest count as unanswered, and say so
