"""What the RAG report shows, computed from the ``rag`` grader's per-question table.

The ``rag`` grader publishes one row per hidden question in ``details["questions"]`` (the
question, the candidate's answer, the retrieved document ids, hit, answer scores and, for the
reviewer, the reference answers and documents). From those rows alone this module derives the
rank of the first right document (hit@1, MRR), 95% percentile-bootstrap intervals of every
per-question mean (seeded, so a report renders the same twice), breakdowns by question type and
difficulty, and the cases the interview asks about (right article but wrong answer; right answer
without the article). Rows come from report.json and are treated as loosely typed: a missing or
odd field reads as absent, never as an exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.models import GradeReport

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
WRONG_F1 = 0.2
"""An answer at or below this token F1 counts as wrong (for the "right article, wrong answer" cases)."""
RIGHT_F1 = 0.8
QUESTION_TYPES = ("yes/no", "who", "what", "when", "where", "which", "why", "how many", "how", "other")


def rag_details(report: GradeReport) -> tuple[dict[str, Any], dict[str, float | None]] | None:
    """The ``rag`` grader's details and measurements (found by what it publishes), or None."""
    for grader in report.graders:
        details = grader.details
        if isinstance(details.get("questions"), list) and isinstance(details.get("slices"), dict):
            return details, grader.measurements
    return None


def judge_details(report: GradeReport) -> tuple[dict[str, Any], dict[str, float | None]] | None:
    """The ``rag_judge`` grader's details and measurements when it judged anything."""
    for grader in report.graders:
        if isinstance(grader.details.get("per_question"), list) and "judge_model" in grader.details:
            return grader.details, grader.measurements
    return None


def _num(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return 0.0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def question_type(question: str, yes_no: bool) -> str:
    """``yes/no`` for yes/no questions, else the question word (``who``, ``how many`` ...)."""
    if yes_no:
        return "yes/no"
    words = re.findall(r"[a-z]+", question.lower())[:12]
    if "how" in words:
        i = words.index("how")
        return "how many" if words[i + 1 : i + 2] in (["many"], ["much"]) else "how"
    for word in words:
        if word in ("who", "whom", "whose"):
            return "who"
        if word in QUESTION_TYPES:
            return word
    return "other"


@dataclass(frozen=True)
class QuestionRow:
    """One question of the report, typed."""

    index: int
    id: str
    question: str
    answer: str | None
    references: list[str]
    retrieved: list[str]
    reference_docs: list[str]
    hit: bool
    rank: int | None
    """1-based position of the first right document among the scored contexts; None for a miss
    (or when the report predates reference documents in the table)."""
    context_recall: float
    context_precision: float | None
    answer_f1: float
    exact_match: bool
    containment: float
    yes_no: bool
    qtype: str
    difficulty: str
    scored_as: str

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.rank if self.rank else 0.0


def question_rows(details: dict[str, Any]) -> list[QuestionRow]:
    rows = []
    for i, q in enumerate(details.get("questions") or []):
        if not isinstance(q, dict):
            continue
        retrieved, refs = _strings(q.get("retrieved_doc_ids")), _strings(q.get("reference_doc_ids"))
        rank = next((k + 1 for k, d in enumerate(retrieved) if d in refs), None) if refs else None
        yes_no = bool(q.get("yes_no"))
        question = _text(q.get("question"))
        recall = _num(q.get("context_recall")) if "context_recall" in q else float(bool(q.get("hit")))
        polarity = _text(q.get("polarity"))
        scored_as = f"yes/no: said {polarity}" if q.get("scored_by") == "polarity" else ("yes/no" if yes_no else "open")
        rows.append(
            QuestionRow(
                index=i,
                id=_text(q.get("id")),
                question=question,
                answer=q.get("answer") if isinstance(q.get("answer"), str) else None,
                references=_strings(q.get("references")),
                retrieved=retrieved,
                reference_docs=refs,
                hit=bool(q.get("hit")),
                rank=rank,
                context_recall=recall,
                context_precision=_num(q.get("context_precision")) if "context_precision" in q else None,
                answer_f1=_num(q.get("answer_f1")),
                exact_match=bool(q.get("exact_match")),
                containment=_num(q.get("answer_containment")),
                yes_no=yes_no,
                qtype=question_type(question, yes_no),
                difficulty=_text(q.get("difficulty")),
                scored_as=scored_as,
            )
        )
    return rows


def worst_first(rows: Sequence[QuestionRow]) -> list[QuestionRow]:
    """Lowest answer score first; among equal answers, retrieval misses before hits."""
    return sorted(rows, key=lambda r: (r.answer_f1, r.context_recall, r.reciprocal_rank, r.index))


def bootstrap_mean_ci(values: Sequence[float], *, n: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float] | None:
    """95% percentile bootstrap interval of the mean (fixed seed); None for fewer than two values."""
    if len(values) < 2:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chunk = max(1, 2_000_000 // len(data))
    means = np.concatenate(
        [data[rng.integers(0, len(data), size=(min(chunk, n - s), len(data)))].mean(axis=1) for s in range(0, n, chunk)]
    )
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


@dataclass
class MetricLine:
    name: str
    label: str
    value: float | None
    ci: tuple[float, float] | None = None
    group: str = "retrieval"
    note: str = ""


@dataclass
class RagStats:
    rows: list[QuestionRow]
    metrics: list[MetricLine]
    slices: dict[str, dict[str, Any]]
    by_type: list[tuple[str, int, float, float]]
    """(question type, questions, retrieval miss rate, mean answer F1), most questions first."""
    by_difficulty: list[tuple[str, int, float, float]]
    ranks: dict[str, int]
    """How many questions had the right document at rank 1..k, or not at all."""
    hit_wrong: list[QuestionRow] = field(default_factory=list)
    """The right article was retrieved, the answer is wrong."""
    miss_right: list[QuestionRow] = field(default_factory=list)
    """No right article retrieved, yet the answer is right: not supported by the contexts."""
    judge: dict[str, float | None] = field(default_factory=dict)
    max_contexts: int = 5

    @property
    def has_output(self) -> bool:
        """Whether any question has a line in the candidate's file (else every metric is a 0 of nothing)."""
        return any(r.answer is not None or r.retrieved for r in self.rows)


_RETRIEVAL = (
    ("context_recall", "context recall"),
    ("context_precision", "context precision"),
    ("hit_at_1", "hit@1"),
    ("mrr", "MRR"),
)
_ANSWERS = (
    ("answer_f1", "answer F1"),
    ("exact_match", "exact match"),
    ("answer_containment", "answer containment"),
)
_INFO = (("rouge_l", "ROUGE-L"), ("chrf", "chrF"), ("semantic_similarity", "semantic similarity"))


def _per_question(rows: Sequence[QuestionRow], name: str) -> list[float] | None:
    if name == "context_recall":
        return [r.context_recall for r in rows]
    if name == "context_precision":
        values = [r.context_precision for r in rows]
        return None if any(v is None for v in values) else [float(v or 0.0) for v in values]
    if name == "hit_at_1":
        return None if any(r.reference_docs == [] for r in rows) else [float(r.rank == 1) for r in rows]
    if name == "mrr":
        return None if any(r.reference_docs == [] for r in rows) else [r.reciprocal_rank for r in rows]
    if name == "answer_f1":
        return [r.answer_f1 for r in rows]
    if name == "exact_match":
        return [float(r.exact_match) for r in rows]
    if name == "answer_containment":
        return [r.containment for r in rows]
    return None


def _breakdown(rows: Sequence[QuestionRow], key) -> list[tuple[str, int, float, float]]:
    groups: dict[str, list[QuestionRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = [
        (name, len(g), sum(not r.hit for r in g) / len(g), sum(r.answer_f1 for r in g) / len(g))
        for name, g in groups.items()
        if name
    ]
    order = {"easy": 0, "medium": 1, "hard": 2}
    return sorted(out, key=lambda t: (order.get(t[0], 3), -t[1], t[0]))


def rag_stats(report: GradeReport) -> RagStats | None:
    found = rag_details(report)
    if found is None:
        return None
    details, measured = found
    rows = question_rows(details)
    if not rows:
        return None
    metrics = []
    for group, names in (("retrieval", _RETRIEVAL), ("answers", _ANSWERS), ("information", _INFO)):
        for name, label in names:
            values = _per_question(rows, name)
            value = measured.get(name)
            if value is None and values is not None:
                value = sum(values) / len(values)
            if value is None:
                continue
            metrics.append(MetricLine(name, label, value, bootstrap_mean_ci(values) if values else None, group))
    judge: dict[str, float | None] = {}
    judged = judge_details(report)
    if judged is not None:
        jdetails, jmeasured = judged
        per = [q for q in jdetails.get("per_question") or [] if isinstance(q, dict)]
        for name in ("faithfulness", "factual_correctness"):
            if jmeasured.get(name) is None:
                continue
            judge[name] = jmeasured[name]
            values = [_num(q.get(name)) for q in per]
            note = f"LLM judge {jdetails.get('judge_model', '')}, {len(values)} question(s)"
            metrics.append(
                MetricLine(name, name.replace("_", " "), jmeasured[name], bootstrap_mean_ci(values), "judge", note)
            )
    k = int(_num(details.get("max_contexts")) or 5)
    ranks = {str(i): sum(r.rank == i for r in rows) for i in range(1, k + 1)}
    ranks["not retrieved"] = sum(not r.hit for r in rows)
    slices = {k: v for k, v in (details.get("slices") or {}).items() if isinstance(v, dict)}
    return RagStats(
        rows=rows,
        metrics=metrics,
        slices=slices,
        by_type=_breakdown(rows, lambda r: r.qtype),
        by_difficulty=_breakdown(rows, lambda r: r.difficulty),
        ranks=ranks if any(r.reference_docs for r in rows) else {},
        hit_wrong=[r for r in worst_first(rows) if r.hit and r.answer is not None and r.answer_f1 <= WRONG_F1],
        miss_right=[r for r in rows if not r.hit and r.answer_f1 >= RIGHT_F1 and not r.yes_no],
        judge=judge,
        max_contexts=k,
    )
