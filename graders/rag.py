"""The ``rag`` grader: score a RAG pipeline's ``answers.jsonl`` against a hidden question set.

The candidate's code read ``/data/questions.jsonl`` (``{"id", "question"}``) and wrote one line
per question to ``/output/answers.jsonl``::

    {"id": "q0123456789", "answer": "...", "contexts": [{"doc_id": "set4/a10", "text": "..."}, ...]}

with the contexts in retrieval order. Three steps, each a plain function:

1. :func:`parse_answers` reads the bytes strictly (UTF-8, one JSON object per line, types
   checked) and says what was wrong, with stable message codes.
2. :func:`align_answers` lines the answers up with the questions: missing ids score 0, unknown
   ids are ignored, only the first ``max_contexts`` contexts count.
3. :meth:`RagGrader.grade` computes the metrics through :mod:`graders.ragas_adapter` (the only
   module that imports ragas), per slice (yes/no and open questions), with a per-question table.

Metrics (means over every question of the hidden set, a missing or unusable answer counting 0):

- ``context_recall`` / ``context_precision``: ragas' id-based metrics at the document level
  (was the question's article among the retrieved documents; what share of the distinct
  retrieved documents is it). Comparing ids, not strings, is fair to any chunking.
- ``answer_f1`` (the primary answer metric), ``exact_match`` and ``answer_containment`` (length-
  penalised, secondary) from :mod:`graders.rag_answers`: SQuAD-style normalisation, the best
  over a question's references, the first ``max_answer_words`` words of the answer. Yes/no
  questions are scored by the answer's polarity: an answer that says both "yes" and "no", or
  neither, scores 0 on all three, so hedging cannot pay.
- ``rouge_l`` and ``chrf``: information only (they reward a wrong answer that reuses the
  reference's words).
- ``semantic_similarity`` when a local sentence-transformers model is configured.
- ``hit_at_1`` (the first context is from the right article), ``answered``, ``coverage``.
- Per slice (``_yes_no`` and ``_open`` suffixes): the retrieval and answer metrics above.

A NaN from ragas (an empty retrieval has no precision) counts as 0, never as missing.

Message codes: ``missing_output``, ``not_regular_file``, ``output_too_large``,
``unreadable_output``, ``not_text``, ``bom``, ``empty_file``, ``malformed_jsonl``,
``invalid_fields``, ``duplicate_ids``, ``unknown_ids``, ``missing_ids``, ``empty_answer``,
``empty_contexts``, ``too_many_contexts``, ``unknown_doc_ids``, ``long_answer``,
``no_valid_rows``, ``no_polarity``, ``semantic_similarity_skipped``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import Field, model_validator

from graders.base import GradeContext, Grader, GraderConfig
from graders.feedback import FIRST_FEW as _FIRST_FEW
from graders.feedback import OUTPUT_CODES, decode_text
from graders.feedback import msg as _msg
from graders.feedback import quote as _quote
from graders.outputs import OutputError, check_output_name, open_output
from graders.rag_answers import ANSWER_METRICS, AnswerScore, score_answer
from harness.errors import GraderError
from harness.models import GraderResult, Level, Message, Visibility

_HIDDEN_HINT = (
    "The assignment's hidden data is broken or does not match the grader config; this is not the candidate's fault."
)
ANSWER_TEXT_CHARS = 300
"""How much of each answer the per-question table keeps."""
SLICE_METRICS = ("context_recall", "context_precision", *ANSWER_METRICS)


def _lines(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, numbers[:_FIRST_FEW])) + (", ..." if len(numbers) > _FIRST_FEW else "")


def normalise_doc_id(doc_id: str) -> str:
    """Accept ``set4/a10``, ``set4/a10.txt``, ``corpus/set4/a10.txt`` and ``/data/corpus/set4/a10.txt``."""
    doc_id = doc_id.strip()
    for prefix in ("/data/corpus/", "corpus/"):
        doc_id = doc_id.removeprefix(prefix)
    return doc_id.removesuffix(".txt")


# --- the hidden question set -----------------------------------------------------------------


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


# --- 1. parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    doc_id: str
    text: str


@dataclass(frozen=True)
class AnswerRow:
    """One usable line of ``answers.jsonl`` (``answer`` is '' when it was not a string)."""

    line: int
    id: str
    answer: str
    contexts: tuple[Context, ...]


@dataclass
class _Problems:
    """Line numbers per defect, turned into one message per kind at the end."""

    malformed: list[int] = field(default_factory=list)
    fields: list[tuple[int, str]] = field(default_factory=list)


def _parse_contexts(value: Any, number: int, problems: _Problems) -> tuple[Context, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.fields.append((number, "'contexts' is not a list"))
        return ()
    contexts = []
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("doc_id"), str) and entry["doc_id"].strip():
            text = entry.get("text")
            if not isinstance(text, str):
                problems.fields.append((number, "a context has no string 'text'"))
                text = ""
            contexts.append(Context(normalise_doc_id(entry["doc_id"]), text))
        else:
            problems.fields.append((number, "a context is not an object with a string 'doc_id'"))
    return tuple(contexts)


def _parse_line(line: str, number: int, problems: _Problems) -> AnswerRow | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        problems.malformed.append(number)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"].strip():
        problems.malformed.append(number)
        return None
    answer = record.get("answer")
    if not isinstance(answer, str):
        problems.fields.append((number, "'answer' is not a string"))
        answer = ""
    if "contexts" not in record:
        problems.fields.append((number, "no 'contexts'"))
    return AnswerRow(number, record["id"].strip(), answer, _parse_contexts(record.get("contexts"), number, problems))


def parse_answers(
    data: bytes, *, file: str = "answers.jsonl", source: str = "rag", max_lines: int = 100_000
) -> tuple[list[AnswerRow], list[Message]]:
    """Parse the candidate's JSON Lines into rows (first row per id) and feedback messages.

    Codes: ``bom``, ``not_text``, ``empty_file``, ``malformed_jsonl``, ``invalid_fields``,
    ``duplicate_ids``, ``too_many_rows`` (parsing stops after ``max_lines`` non-blank lines, so
    millions of tiny lines cannot stall the host). Blank lines are skipped.
    """
    text, messages = decode_text(data, file, source, "UTF-8 JSON Lines text")
    if text is None:
        return [], messages
    if not text.strip():
        messages.append(_msg("empty_file", f"{file} is empty; expected one JSON object per question.", source))
        return [], messages
    problems = _Problems()
    rows: dict[str, AnswerRow] = {}
    duplicates: list[str] = []
    seen_lines = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        seen_lines += 1
        if seen_lines > max_lines:
            messages.append(
                _msg("too_many_rows", f"{file} has more than {max_lines:,} lines; the rest was not read.", source)
            )
            break
        row = _parse_line(line, number, problems)
        if row is None:
            continue
        if row.id in rows:
            duplicates.append(row.id)
        else:
            rows[row.id] = row
    if problems.malformed:
        n = len(problems.malformed)
        text = (
            f'{n} line{"s" if n != 1 else ""} of {file} {"are" if n != 1 else "is"} not a JSON object with a string "id" '
            f"and {'were' if n != 1 else 'was'} ignored (line {_lines(problems.malformed)}); write one JSON object per line."
        )
        messages.append(_msg("malformed_jsonl", text, source))
    if problems.fields:
        kinds = list(dict.fromkeys(kind for _, kind in problems.fields))
        numbers = list(dict.fromkeys(n for n, _ in problems.fields))
        text = (
            f"{len(numbers)} line(s) of {file} have fields of the wrong type ({'; '.join(kinds[:3])}; line {_lines(numbers)}); "
            'expected {"id": str, "answer": str, "contexts": [{"doc_id": str, "text": str}, ...]}.'
        )
        messages.append(_msg("invalid_fields", text, source))
    if duplicates:
        unique = list(dict.fromkeys(duplicates))
        text = f"{len(unique)} id(s) appear more than once in {file}; only the first line of each was used ({_quote(unique)})."
        messages.append(_msg("duplicate_ids", text, source, Level.WARNING))
    return list(rows.values()), messages


# --- 2. alignment -----------------------------------------------------------------------------


@dataclass
class Aligned:
    """One entry per expected question: the candidate's row or None."""

    rows: list[AnswerRow | None]
    messages: list[Message]


def align_answers(
    rows: Sequence[AnswerRow],
    items: Sequence[EvalItem],
    *,
    known_doc_ids: set[str] | None,
    max_contexts: int,
    max_answer_words: int,
    file: str,
    source: str,
) -> Aligned:
    """Line rows up with the questions; report unknown/missing ids and per-answer defects."""
    by_id = {row.id: row for row in rows}
    expected = {item.id for item in items}
    messages: list[Message] = []
    if unknown := [row.id for row in rows if row.id not in expected]:
        messages.append(
            _msg(
                "unknown_ids",
                f"{len(unknown)} id(s) in {file} are not in questions.jsonl and were ignored ({_quote(unknown)}).",
                source,
            )
        )
    if missing := [item.id for item in items if item.id not in by_id]:
        messages.append(
            _msg(
                "missing_ids",
                f"{len(missing)} of the {len(items)} questions have no line in {file} ({_quote(missing)}); each scores 0.",
                source,
            )
        )
    aligned = [by_id.get(item.id) for item in items]
    present = [r for r in aligned if r is not None]
    if empty := [r.id for r in present if not r.answer.strip()]:
        messages.append(
            _msg(
                "empty_answer",
                f"{len(empty)} answer(s) in {file} are empty ({_quote(empty)}); their answer metrics are 0.",
                source,
            )
        )
    if no_ctx := [r.id for r in present if not r.contexts]:
        text = f"{len(no_ctx)} answer(s) in {file} list no retrieved contexts ({_quote(no_ctx)}); their retrieval metrics are 0."
        messages.append(_msg("empty_contexts", text, source))
    if many := [r.id for r in present if len(r.contexts) > max_contexts]:
        text = f"{len(many)} answer(s) list more than {max_contexts} contexts ({_quote(many)}); only the first {max_contexts} were scored."
        messages.append(_msg("too_many_contexts", text, source, Level.WARNING))
    if known_doc_ids is not None:
        strangers = list(
            dict.fromkeys(c.doc_id for r in present for c in r.contexts[:max_contexts] if c.doc_id not in known_doc_ids)
        )
        if strangers:
            text = (
                f"{len(strangers)} doc_id value(s) in {file} name no corpus document ({_quote(strangers)}); "
                "use the path under corpus/ without .txt, e.g. 'set4/a10'. They count as misses."
            )
            messages.append(_msg("unknown_doc_ids", text, source, Level.WARNING))
    if long := [r.id for r in present if len(r.answer.split()) > max_answer_words]:
        text = (
            f"{len(long)} answer(s) are longer than {max_answer_words} words ({_quote(long)}); "
            f"only their first {max_answer_words} words were matched against the references."
        )
        messages.append(_msg("long_answer", text, source, Level.WARNING))
    return Aligned(aligned, messages)


def known_documents(inputs_dir: Path, corpus_dir: str) -> set[str] | None:
    """Document ids of the public corpus (``<id>.txt`` under ``corpus_dir``); None if absent."""
    root = inputs_dir / corpus_dir
    if not root.is_dir():
        return None
    return {p.relative_to(root).as_posix().removesuffix(".txt") for p in root.rglob("*.txt") if p.is_file()}


# --- 3. the grader ----------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class RagConfig(GraderConfig):
    file: str = "answers.jsonl"
    """The candidate's file, in the output folder."""
    questions_file: str = "questions.jsonl"
    """In ``ctx.inputs_dir``: the questions the candidate answered (their order is kept)."""
    hidden_file: str = "eval.jsonl"
    """In ``ctx.hidden_dir``: ``{"id", "question", "answers", "reference_doc_ids", "yes_no"}`` per line."""
    corpus_dir: str = "corpus"
    """In ``ctx.inputs_dir``: the documents, to flag doc ids that name none."""
    max_contexts: int = Field(default=5, ge=1)
    """Only the first N contexts of an answer are scored (retrieving everything does not pay)."""
    max_answer_words: int = Field(default=50, ge=1)
    """The answer metrics (F1, exact match, polarity, containment) read the first N words of an answer."""
    max_file_mb: float = Field(default=32, gt=0)
    embedding_model_env: str = "GRADE_EMBEDDING_MODEL"
    """Environment variable naming a local sentence-transformers model folder (optional)."""

    @model_validator(mode="after")
    def _check(self) -> RagConfig:
        check_output_name(self.file)
        return self


class RagGrader(Grader):
    """Scores ``answers.jsonl`` (answer + retrieved contexts per question) with ragas."""

    PLUGIN_NAME = "rag"
    Config = RagConfig
    DESCRIPTION = (
        "Score a RAG pipeline's answers.jsonl: id-based context recall/precision (ragas), "
        "token F1 and exact match with yes/no questions scored by polarity, length-penalised containment."
    )

    @property
    def cfg(self) -> RagConfig:
        return cast(RagConfig, self.config)

    def outputs(self) -> list[str]:
        return [self.cfg.file]

    def read_answers(self, ctx: GradeContext, items: Sequence[EvalItem]) -> tuple[Aligned | None, list[Message]]:
        """Read, parse and align the candidate's file; None when nothing in it is usable."""
        cfg = self.cfg
        cap = min(ctx.output_read_bytes, int(cfg.max_file_mb * 2**20))
        try:
            data = open_output(ctx.output_dir, cfg.file, cap)
        except OutputError as err:
            return None, [_msg(OUTPUT_CODES[err.code], err.text, self.name)]
        rows, messages = parse_answers(data, file=cfg.file, source=self.name, max_lines=max(10_000, 10 * len(items)))
        if not rows:
            if not any(m.code in ("not_text", "empty_file") for m in messages):
                messages.append(_msg("no_valid_rows", f"{cfg.file} has no usable line; every metric is 0.", self.name))
            return None, messages
        aligned = align_answers(
            rows,
            items,
            known_doc_ids=known_documents(ctx.inputs_dir, cfg.corpus_dir),
            max_contexts=cfg.max_contexts,
            max_answer_words=cfg.max_answer_words,
            file=cfg.file,
            source=self.name,
        )
        messages += aligned.messages
        if all(r is None for r in aligned.rows):
            messages.append(
                _msg(
                    "no_valid_rows",
                    f"No line of {cfg.file} answers a question of questions.jsonl; every metric is 0.",
                    self.name,
                )
            )
            return None, messages
        return aligned, messages

    def load_items(self, ctx: GradeContext) -> list[EvalItem]:
        return load_eval_set(ctx.hidden_dir / self.cfg.hidden_file, ctx.inputs_dir / self.cfg.questions_file)

    def grade(self, ctx: GradeContext) -> GraderResult:
        from graders import ragas_adapter

        started = time.perf_counter()
        cfg = self.cfg
        ragas_adapter.load_ragas()  # fail early, with the install hint, if the extra is missing
        items = self.load_items(ctx)
        aligned, messages = self.read_answers(ctx, items)
        rows: list[AnswerRow | None] = aligned.rows if aligned else [None] * len(items)
        samples = [self._sample(item, row) for item, row in zip(items, rows)]
        scores = ragas_adapter.offline_scores(samples)
        answers = [
            score_answer(row.answer if row else "", item.answers, yes_no=item.yes_no, max_words=cfg.max_answer_words)
            for item, row in zip(items, rows)
        ]
        per_question = [{**answer.as_dict(), **score} for answer, score in zip(answers, scores.rows)]
        for row, score in zip(rows, per_question):  # nothing to score is a 0, whatever ragas says
            if row is None or not row.answer.strip():
                score.update(rouge_l=0.0, chrf=0.0)
        messages += self._polarity_messages(rows, answers)
        details: dict[str, Any] = {
            "ragas_version": ragas_adapter.ragas_version(),
            "nan_counted_as_zero": scores.nan_counts,
            "max_contexts": cfg.max_contexts,
            "max_answer_words": cfg.max_answer_words,
        }
        semantic = self._semantic(items, rows, messages)
        if semantic is not None:
            for score, value in zip(per_question, semantic):
                score["semantic_similarity"] = value
        hit1 = [
            float(bool(r and r.contexts and r.contexts[0].doc_id in item.reference_doc_ids))
            for item, r in zip(items, rows)
        ]
        for score, value in zip(per_question, hit1):
            score["hit_at_1"] = value
        measurements = self._aggregate(items, rows, per_question, details)
        details["questions"] = self._table(items, rows, per_question, answers)
        details["table"] = {
            "title": "Per question",
            "columns": ["question", "answer", "retrieved", "hit", "F1", "exact", "scored as"],
            "rows": [
                [
                    q["question"],
                    q["answer"],
                    " ".join(q["retrieved_doc_ids"]),
                    "hit" if q["hit"] else "miss",
                    f"{q['answer_f1']:.2f}",
                    "yes" if q["exact_match"] else "no",
                    _scored_as(q),
                ]
                for q in details["questions"]
            ],
        }
        return GraderResult(
            grader=self.name,
            measurements=measurements,
            messages=messages,
            details=details,
            duration_s=time.perf_counter() - started,
        )

    def _sample(self, item: EvalItem, row: AnswerRow | None) -> Any:
        from graders.ragas_adapter import RagSample

        cfg = self.cfg
        answer = row.answer if row else ""
        retrieved = tuple(c.doc_id for c in row.contexts[: cfg.max_contexts]) if row else ()
        return RagSample(
            retrieved_doc_ids=retrieved,
            reference_doc_ids=item.reference_doc_ids,
            answer=answer,
            references=item.answers,
        )

    def _semantic(
        self, items: Sequence[EvalItem], rows: Sequence[AnswerRow | None], messages: list[Message]
    ) -> list[float] | None:
        from graders import ragas_adapter

        model = os.environ.get(self.cfg.embedding_model_env, "").strip()
        if not model:
            return None
        try:
            embeddings = ragas_adapter.local_embeddings(Path(model))
        except ragas_adapter.RagasUnavailable as exc:
            messages.append(
                _msg(
                    "semantic_similarity_skipped",
                    f"semantic similarity was not computed: {exc}",
                    self.name,
                    Level.INFO,
                    Visibility.REVIEWER,
                )
            )
            return None
        return self.semantic_with(embeddings, items, rows)

    @staticmethod
    def semantic_with(embeddings: Any, items: Sequence[EvalItem], rows: Sequence[AnswerRow | None]) -> list[float]:
        """Semantic similarity of each answer to its best reference (0 for a missing answer)."""
        from graders import ragas_adapter

        pairs = [(r.answer if r else "", item.answers) for item, r in zip(items, rows)]
        values = ragas_adapter.semantic_scores(pairs, embeddings)
        return [v if r is not None and r.answer.strip() else 0.0 for v, r in zip(values, rows)]

    def _aggregate(
        self,
        items: Sequence[EvalItem],
        rows: Sequence[AnswerRow | None],
        per_question: Sequence[Mapping[str, float]],
        details: dict[str, Any],
    ) -> dict[str, float | None]:
        names = list(per_question[0]) if per_question else []
        measurements: dict[str, float | None] = {n: _mean([q[n] for q in per_question]) for n in names}
        slices = {
            "yes_no": [i for i, it in enumerate(items) if it.yes_no],
            "open": [i for i, it in enumerate(items) if not it.yes_no],
        }
        details["slices"] = {}
        for slice_name, indices in slices.items():
            values = {n: _mean([per_question[i][n] for i in indices]) for n in names}
            details["slices"][slice_name] = {"questions": len(indices), **values}
            for n in SLICE_METRICS:
                measurements[f"{n}_{slice_name}"] = values.get(n, 0.0) if indices else None
        present = [r for r in rows if r is not None]
        measurements.update(
            coverage=len(present) / len(items),
            answered=sum(bool(r.answer.strip()) for r in present) / len(items),
            n_expected=float(len(items)),
            n_yes_no=float(len(slices["yes_no"])),
            valid=1.0 if present else 0.0,
        )
        return measurements

    def _polarity_messages(self, rows: Sequence[AnswerRow | None], answers: Sequence[AnswerScore]) -> list[Message]:
        """One warning when answers to yes/no questions state both polarities or none (counts only)."""
        answered = [a for a, row in zip(answers, rows) if a.by_polarity and row is not None and row.answer.strip()]
        both = sum(len(a.stated) == 2 for a in answered)
        neither = sum(not a.stated for a in answered)
        if not both and not neither:
            return []
        text = (
            f"{both + neither} answer(s) to yes/no questions state no single polarity ({both} say both 'yes' and 'no', "
            f"{neither} say neither) and score 0; answer a yes/no question with Yes or No, without the other word."
        )
        return [_msg("no_polarity", text, self.name, Level.WARNING)]

    def _table(
        self,
        items: Sequence[EvalItem],
        rows: Sequence[AnswerRow | None],
        per_question: Sequence[Mapping[str, float]],
        answers: Sequence[AnswerScore],
    ) -> list[dict[str, Any]]:
        """One row per question for the reviewer: the candidate's answer is untrusted text."""
        table = []
        for item, row, score, scored in zip(items, rows, per_question, answers):
            answer = row.answer if row else None
            table.append(
                {
                    "id": item.id,
                    "question": item.question,
                    "answer": None if answer is None else answer[:ANSWER_TEXT_CHARS],
                    "retrieved_doc_ids": [c.doc_id for c in row.contexts[: self.cfg.max_contexts]] if row else [],
                    "hit": score["context_recall"] > 0,
                    "answer_f1": round(score["answer_f1"], 4),
                    "exact_match": score["exact_match"] > 0,
                    "answer_containment": round(score["answer_containment"], 4),
                    "yes_no": item.yes_no,
                    "scored_by": "polarity" if scored.by_polarity else "tokens",
                    "polarity": (" and ".join(scored.stated) or "neither") if scored.by_polarity else None,
                    # for the reviewer's report (host only; never in a container or kit)
                    "references": [a[:ANSWER_TEXT_CHARS] for a in item.answers[:3]],
                    "reference_doc_ids": list(item.reference_doc_ids),
                    "context_recall": round(score["context_recall"], 4),
                    "context_precision": round(score["context_precision"], 4),
                    "difficulty": item.difficulty,
                }
            )
        return table


def _scored_as(question: Mapping[str, Any]) -> str:
    """The table's last column: how the question was scored, and the answer's polarity if read."""
    if question["scored_by"] == "polarity":
        return f"yes/no: said {question['polarity']}"
    return "yes/no, by words" if question["yes_no"] else "open"
