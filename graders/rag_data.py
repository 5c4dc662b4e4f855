"""The hidden question set of the ``rag`` grader, and the document ids of the public corpus.

Host-only, trusted data: a broken file is the assignment's fault (:class:`GraderError`), never
the candidate's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import GraderError

_HIDDEN_HINT = (
    "The assignment's hidden data is broken or does not match the grader config; this is not the candidate's fault."
)


def normalise_doc_id(doc_id: str) -> str:
    """Accept ``set4/a10``, ``set4/a10.txt``, ``corpus/set4/a10.txt`` and ``/data/corpus/set4/a10.txt``."""
    doc_id = doc_id.strip()
    for prefix in ("/data/corpus/", "corpus/"):
        doc_id = doc_id.removeprefix(prefix)
    return doc_id.removesuffix(".txt")


@dataclass(frozen=True)
class EvalItem:
    """One hidden question with its references (host only)."""

    id: str
    question: str
    answers: tuple[str, ...]
    reference_doc_ids: tuple[str, ...]
    yes_no: bool = False
    reference_contexts: tuple[str, ...] = ()
    difficulty: str = ""


def _read_trusted_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraderError(f"{path} does not exist", hint=_HIDDEN_HINT) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read {path}: {exc}", hint=_HIDDEN_HINT) from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GraderError(f"{path} line {number} is not JSON: {exc}", hint=_HIDDEN_HINT) from None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise GraderError(f"{path} line {number} is not an object with a string id", hint=_HIDDEN_HINT)
        records.append(record)
    return records


def load_eval_set(hidden_file: Path, questions_file: Path | None) -> list[EvalItem]:
    """The hidden items, in the order of the public questions file (which must match them)."""
    items: dict[str, EvalItem] = {}
    for record in _read_trusted_jsonl(hidden_file):
        try:
            item = EvalItem(
                id=record["id"],
                question=str(record["question"]),
                answers=tuple(str(a) for a in record["answers"]),
                reference_doc_ids=tuple(str(d) for d in record["reference_doc_ids"]),
                yes_no=bool(record.get("yes_no", False)),
                reference_contexts=tuple(str(c) for c in record.get("reference_contexts", ())),
                difficulty=str(record.get("difficulty") or ""),
            )
        except (KeyError, TypeError) as exc:
            raise GraderError(f"{hidden_file}: record {record.get('id')!r} lacks {exc}", hint=_HIDDEN_HINT) from None
        if item.id in items:
            raise GraderError(f"{hidden_file} lists id {item.id!r} twice", hint=_HIDDEN_HINT)
        if not item.answers or not item.reference_doc_ids:
            raise GraderError(f"{hidden_file}: {item.id!r} has no reference answer or document", hint=_HIDDEN_HINT)
        items[item.id] = item
    if not items:
        raise GraderError(f"{hidden_file} holds no questions", hint=_HIDDEN_HINT)
    if questions_file is None:
        return list(items.values())
    order = [r["id"] for r in _read_trusted_jsonl(questions_file)]
    if sorted(order) != sorted(items) or len(set(order)) != len(order):
        raise GraderError(f"{questions_file} and {hidden_file} do not list the same question ids", hint=_HIDDEN_HINT)
    return [items[i] for i in order]


def known_documents(inputs_dir: Path, corpus_dir: str) -> set[str] | None:
    """Document ids of the public corpus (``<id>.txt`` under ``corpus_dir``); None if absent."""
    root = inputs_dir / corpus_dir
    if not root.is_dir():
        return None
    return {p.relative_to(root).as_posix().removesuffix(".txt") for p in root.rglob("*.txt") if p.is_file()}
