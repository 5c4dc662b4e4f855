"""The interview question bank for RAG assignments (the classifier's is in :mod:`harness.reports.interview`).

Each rule reads one kind of evidence from the ``rag`` grader's per-question table
(:mod:`harness.reports.rag_stats`): retrieval misses by question type, the right article found
but not ranked first, how many distinct articles the contexts come from (chunking), answers that
are wrong although the right article was retrieved, right answers without the right article
(not supported by the contexts), judged faithfulness, yes/no against open questions, and the
run time. Classifier wording ("messages", a decision threshold) never appears here. Questions
quote the candidate's text as plain text: renderers escape them.
"""

from __future__ import annotations

from harness.models import GradeReport, Verdict
from harness.reports.question import Question
from harness.reports.rag_stats import RagStats, rag_details, rag_stats

QUOTE_CHARS = 90


def is_rag(report: GradeReport) -> bool:
    """Whether the report is a RAG assignment's (its ``rag`` grader published a per-question table)."""
    return rag_details(report) is not None


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def rag_questions(report: GradeReport) -> list[Question]:
    """Candidate questions from the RAG evidence (the caller keeps the most pressing, one per topic)."""
    stats = rag_stats(report)
    if stats is None or not stats.has_output:
        return []  # no metric questions about an output that does not exist
    return _retrieval(stats) + _answers(stats) + _runtime(report)


def _retrieval(stats: RagStats) -> list[Question]:
    out: list[Question] = []
    n = len(stats.rows)
    misses = sum(not r.hit for r in stats.rows)
    overall = misses / n
    worst = max(
        (t for t in stats.by_type if t[1] >= 5 and t[2] > 0), key=lambda t: (t[2] - overall, t[1]), default=None
    )
    if misses and worst is not None and worst[2] >= overall + 0.05:
        name, count, miss, _ = worst
        example = next((r for r in stats.rows if r.qtype == name and not r.hit), None)
        eg = f' (e.g. "{_quote(example.question)}")' if example else ""
        out.append(
            Question(
                f"Your retriever missed the right article for {miss:.0%} of the {count} '{name}' questions{eg}, "
                f"against {overall:.0%} of all {n}. What is different about those questions, and how would you "
                "find out on the dev set?",
                78,
                "retrieval_by_type",
            )
        )
    elif misses / n >= 0.1:
        example = next(r for r in stats.rows if not r.hit)
        out.append(
            Question(
                f'Your retriever missed the right article for {misses} of {n} questions (e.g. "{_quote(example.question)}"). '
                "Which kinds of question does it miss, and what would you change first?",
                76,
                "retrieval_by_type",
            )
        )
    metrics = {line.name: line.value for line in stats.metrics}
    recall, hit1, mrr = metrics.get("context_recall"), metrics.get("hit_at_1"), metrics.get("mrr")
    if recall is not None and hit1 is not None and mrr is not None and recall - hit1 >= 0.1:
        out.append(
            Question(
                f"The right article is among your {stats.max_contexts} contexts for {recall:.0%} of the questions but "
                f"first for only {hit1:.0%} (MRR {mrr:.3f}). How do you rank the contexts, and would a reranker "
                "or a different similarity help the answerer?",
                60,
                "ranking",
            )
        )
    retrieved = [r for r in stats.rows if r.retrieved]
    if retrieved:
        distinct = sum(len(set(r.retrieved)) for r in retrieved) / len(retrieved)
        per = sum(len(r.retrieved) for r in retrieved) / len(retrieved)
        precision = metrics.get("context_precision")
        chunks = "chunks" if distinct < per - 0.5 else "documents"
        tail = f"; context precision is {precision:.3f}" if isinstance(precision, float) else ""
        out.append(
            Question(
                f"Your answers list {per:.1f} contexts on average, from {distinct:.1f} distinct articles{tail}. "
                f"How did you choose the chunk size, overlap and number of {chunks} to return, and did you compare "
                "alternatives on the dev set?",
                52 if isinstance(precision, float) and precision < 0.5 else 40,
                "chunking",
            )
        )
    return out


def _answers(stats: RagStats) -> list[Question]:
    out: list[Question] = []
    n = len(stats.rows)
    hits = sum(r.hit for r in stats.rows)
    if stats.hit_wrong and hits:
        example = next((r for r in stats.hit_wrong if not r.yes_no), stats.hit_wrong[0])  # open questions show more
        answer = f' and answered "{_quote(example.answer or "")}"' if (example.answer or "").strip() else ""
        out.append(
            Question(
                f"On {len(stats.hit_wrong)} of the {hits} questions where the right article was retrieved, the answer "
                f'still scored F1 ≤ 0.2 (e.g. "{_quote(example.question)}": your pipeline found '
                f"{example.reference_docs[0] if example.reference_docs else 'the article'}{answer}). Was the answer in "
                "the retrieved passages, and how does your answerer pick it?",
                74 if len(stats.hit_wrong) / max(hits, 1) >= 0.2 else 50,
                "answer_given_context",
            )
        )
    faithfulness = stats.judge.get("faithfulness")
    if isinstance(faithfulness, float) and faithfulness < 0.8:
        out.append(
            Question(
                f"An LLM judge rated your answers' faithfulness to the retrieved contexts at {faithfulness:.2f}. "
                "Where do unsupported statements come from, and how would you keep the answers grounded?",
                72,
                "grounding",
            )
        )
    elif stats.miss_right:
        example = stats.miss_right[0]
        out.append(
            Question(
                f"{len(stats.miss_right)} answer(s) match the reference although none of their contexts is from the "
                f'right article (e.g. "{_quote(example.question)}"). The answer is not supported by the contexts '
                "you returned: where did it come from, and how would you make the answers cite what was retrieved?",
                68,
                "grounding",
            )
        )
    slices = stats.slices
    yes_no, open_ = slices.get("yes_no") or {}, slices.get("open") or {}
    f1_yes_no, f1_open = yes_no.get("answer_f1"), open_.get("answer_f1")
    if isinstance(f1_yes_no, (int, float)) and isinstance(f1_open, (int, float)) and yes_no.get("questions"):
        gap = f1_yes_no - f1_open
        weaker = "open" if gap > 0 else "yes/no"
        out.append(
            Question(
                f"Your answer F1 is {f1_yes_no:.2f} on the {int(yes_no['questions'])} yes/no questions and "
                f"{f1_open:.2f} on the {int(open_.get('questions') or 0)} open ones. How does your pipeline tell "
                f"them apart, and what would improve the {weaker} answers?",
                56 if abs(gap) >= 0.2 else 35,
                "question_kinds",
            )
        )
    answer_f1 = next((line for line in stats.metrics if line.name == "answer_f1"), None)
    if answer_f1 is not None and answer_f1.ci and answer_f1.ci[1] - answer_f1.ci[0] >= 0.05:
        out.append(
            Question(
                f"The 95% bootstrap interval of your answer F1 is {answer_f1.ci[0]:.3f}–{answer_f1.ci[1]:.3f} over "
                f"{n} questions. How would you tell whether a change to the pipeline is a real improvement?",
                30,
                "uncertainty",
            )
        )
    return out


def _runtime(report: GradeReport) -> list[Question]:
    run = report.sandbox
    if run is None or run.verdict != Verdict.OK or not run.timeout_s:
        return []
    share = run.duration_s / run.timeout_s
    memory = f" and peaked at {run.peak_memory_mb:.0f} MB" if run.peak_memory_mb else ""
    return [
        Question(
            f"The run took {run.duration_s:.1f} s of the {run.timeout_s:.0f} s limit{memory}. How is that split "
            "between indexing and answering, and what would change with 100× more documents?",
            55 if share > 0.3 else 15,
            "runtime",
        )
    ]


FALLBACKS = (
    Question(
        "Pick a question your pipeline answers wrongly: walk me through what it retrieved and why the answer came out that way.",
        10,
        "errors",
    ),
    Question(
        "If this pipeline went to production, how would you evaluate it week to week without reference answers?",
        9,
        "production",
    ),
    Question("What would you do with one more day on this assignment?", 8, "next"),
)
