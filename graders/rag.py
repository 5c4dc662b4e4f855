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

Limits (stated in the candidate README; :meth:`RagGrader.output_limits`, checked by ``grade
check``): at most ``max_file_mb`` of the file is read (an over-limit file scores its complete
lines, ``output_truncated``), a line over ``max_line_mb`` is skipped (``long_lines``), each
context's text is cut to ``max_context_chars`` (``long_contexts``), the first ``max_contexts``
contexts and ``max_answer_words`` words are scored.

Message codes: ``missing_output``, ``not_regular_file``, ``output_truncated``, ``long_lines``,
``long_contexts``, ``unreadable_output``, ``not_text``, ``bom``, ``empty_file``, ``malformed_jsonl``,
``invalid_fields``, ``duplicate_ids``, ``unknown_ids``, ``missing_ids``, ``empty_answer``,
``empty_contexts``, ``too_many_contexts``, ``unknown_doc_ids``, ``long_answer``,
``no_valid_rows``, ``no_polarity``, ``semantic_similarity_skipped``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from pydantic import Field, model_validator

from graders.base import GradeContext, Grader, GraderConfig
from graders.feedback import OUTPUT_CODES
from graders.feedback import msg as _msg
from graders.outputs import OutputError, check_output_name
from graders.rag_answers import ANSWER_METRICS, AnswerScore, score_answer
from graders.rag_data import EvalItem, known_documents, load_eval_set, normalise_doc_id
from graders.rag_parse import (
    Aligned,
    AnswerRow,
    Context,
    align_answers,
    parse_answer_lines,
    parse_answers,
    read_answer_file,
)
from harness.models import GraderResult, Level, Message, Visibility

__all__ = [  # the public import paths of the rag grader's parts (they live in rag_data, rag_parse)
    "Aligned",
    "AnswerRow",
    "Context",
    "EvalItem",
    "RagConfig",
    "RagGrader",
    "align_answers",
    "known_documents",
    "load_eval_set",
    "normalise_doc_id",
    "parse_answer_lines",
    "parse_answers",
]
ANSWER_TEXT_CHARS = 300
"""How much of each answer the per-question table keeps."""
SLICE_METRICS = ("context_recall", "context_precision", *ANSWER_METRICS)


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
    max_file_mb: float = Field(default=256, gt=0)
    """At most this much of the file is read (and no more than the assignment's
    ``sandbox.output_read_mb``): a larger file scores the complete lines within it."""
    max_line_mb: float = Field(default=16, gt=0)
    """A longer line is skipped (its question unanswered), with a message."""
    max_context_chars: int = Field(default=10_000, ge=100)
    """Each context's text is cut to this many characters, with a message (retrieval is scored
    by doc_id, so the cut costs nothing there; the text feeds the judge and the report)."""
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

    def max_bytes(self, output_read_bytes: int) -> int:
        return min(output_read_bytes, int(self.cfg.max_file_mb * 2**20))

    @staticmethod
    def max_lines(questions: int) -> int:
        return max(10_000, 10 * questions)

    def output_limits(self, output_read_bytes: int) -> list[tuple[str, str]]:
        """(what, how the README must state it) for every limit on ``answers.jsonl``."""
        cfg = self.cfg
        return [
            (f"largest {cfg.file} read", f"{self.max_bytes(output_read_bytes) / 2**20:g} MiB"),
            (f"longest line of {cfg.file}", f"{cfg.max_line_mb:g} MiB"),
            ("longest context text", f"{cfg.max_context_chars:,} characters"),
            ("contexts scored per answer", f"first {cfg.max_contexts} contexts"),
            ("answer words matched", f"first {cfg.max_answer_words} words"),
        ]

    def read_answers(self, ctx: GradeContext, items: Sequence[EvalItem]) -> tuple[Aligned | None, list[Message]]:
        """Read, parse and align the candidate's file; None when nothing in it is usable."""
        cfg = self.cfg
        try:
            rows, messages = read_answer_file(
                ctx.output_dir,
                cfg.file,
                max_bytes=self.max_bytes(ctx.output_read_bytes),
                max_line_bytes=int(cfg.max_line_mb * 2**20),
                max_lines=self.max_lines(len(items)),
                max_context_chars=cfg.max_context_chars,
                source=self.name,
            )
        except OutputError as err:
            return None, [_msg(OUTPUT_CODES[err.code], err.text, self.name)]
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
