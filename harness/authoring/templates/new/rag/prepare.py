"""Prepare hook for __TITLE__: documents + question/answer pairs -> public corpus and questions,
hidden references, starter-kit data.

Called as ``prepare(sources, out, seed)`` by ``grade data prepare`` and ``grade check``:
``sources`` maps each ``[[data.sources]]`` name of assignment.toml to its verified file.

Add your data in one of two ways:
- declare two JSON-lines files in assignment.toml (``[[data.sources]]`` name + sha256, the files
  under GRADE_DATA_DIR): DOCUMENTS with ``{"doc_id", "text"}`` per line and QUESTIONS with
  ``{"question", "answers": [...], "doc_id"}`` per line; or
- rewrite :func:`load_documents` and :func:`load_questions`.

Writes:
- ``inputs/corpus/<doc_id>.txt``, ``inputs/questions.jsonl`` (``{"id", "question"}``, the eval
  questions without answers): the sandbox's /data
- ``hidden/eval.jsonl``: ``{"id", "question", "answers", "reference_doc_ids", "yes_no"}`` (host only)
- ``kit/corpus/``, ``kit/dev.jsonl``: the corpus and a public dev set *with* answers, for the kit
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

DOCUMENTS = "__ASSIGNMENT_ID__/documents.jsonl"
QUESTIONS = "__ASSIGNMENT_ID__/qa.jsonl"
DEV_FRACTION = 0.25
ID_SALT = "__ASSIGNMENT_ID__"
_SAFE_DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_documents(sources: dict[str, Path]) -> dict[str, str]:
    """doc_id -> text."""
    if DOCUMENTS not in sources:
        raise ValueError(
            f"no data yet: declare {DOCUMENTS!r} and {QUESTIONS!r} under [[data.sources]] in assignment.toml "
            "(name + sha256) and put the files under GRADE_DATA_DIR, or rewrite load_documents() and "
            "load_questions() in prepare.py"
        )
    return {str(r["doc_id"]): str(r["text"]) for r in _jsonl(sources[DOCUMENTS])}


def load_questions(sources: dict[str, Path]) -> list[dict]:
    """``{"question", "answers": [...], "doc_id"}`` per question."""
    return _jsonl(sources[QUESTIONS])


def prepare(sources: dict[str, Path], out, seed: int) -> None:
    documents = load_documents(sources)
    questions = load_questions(sources)
    for doc_id, text in documents.items():
        if not _SAFE_DOC_ID.match(doc_id):
            raise ValueError(f"doc_id {doc_id!r} cannot be a file name (letters, digits, '_', '-', '.', '/')")
        for folder in (out.inputs, out.kit):
            path = folder / "corpus" / f"{doc_id}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    items = []
    for number, q in enumerate(questions):
        answers = [str(a) for a in q["answers"] if str(a).strip()]
        if not answers or q["doc_id"] not in documents:
            continue
        items.append({
            "id": "q" + hashlib.sha256(f"{ID_SALT}:{number}".encode()).hexdigest()[:10],
            "question": str(q["question"]),
            "answers": answers,
            "reference_doc_ids": [str(q["doc_id"])],
            "yes_no": all(a.strip().lower().rstrip(".") in ("yes", "no") for a in answers),
        })
    order = np.random.default_rng(seed).permutation(len(items))
    n_dev = round(len(items) * DEV_FRACTION)
    dev = sorted((items[i] for i in order[:n_dev]), key=lambda r: r["id"])
    evaluation = sorted((items[i] for i in order[n_dev:]), key=lambda r: r["id"])
    if not evaluation:
        raise ValueError("no usable question (each needs a non-empty answer and a known doc_id)")
    _write_jsonl(out.inputs / "questions.jsonl", [{"id": r["id"], "question": r["question"]} for r in evaluation])
    _write_jsonl(out.hidden / "eval.jsonl", evaluation)
    _write_jsonl(out.kit / "dev.jsonl", dev)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
