"""The RAG report (issue 15): report.html's metrics section with intervals and plots, the
per-question table (collapsed, worst first, bounded, escaped), the RAG interview question bank,
and report.md under its cap. Hand-built reports, no Docker; the real canary report in a real
browser is in test_report_html_browser.py."""

from __future__ import annotations

import re

from sample_reports import HOSTILE, rag_report, realistic_report
from test_report_html import assert_inert

from harness.models import GradeReport, Verdict
from harness.reports import rag_html
from harness.reports.html import render_html
from harness.reports.interview import interview_questions
from harness.reports.rag_stats import bootstrap_mean_ci, question_type, rag_stats
from harness.reports.write import MAX_MARKDOWN_CHARS, cap_markdown, render_markdown

CLASSIFIER_WORDING = ("Show me two messages", "100× more messages", "message(s) as", "decision threshold")


def _section(page: str, ident: str) -> str:
    start = page.index(f'id="{ident}"')
    return page[start : page.index("</section>", start)]


def test_rag_page_has_metrics_with_intervals_and_plots():
    page = render_html(rag_report())
    assert_inert(page)
    metrics = _section(page, "metrics")
    assert "Holdout metrics (RAG)" in metrics
    for label in ("context recall", "context precision", "hit@1", "MRR", "answer F1", "exact match", "ROUGE-L"):
        assert f"<td>{label}</td>" in metrics, label
    stats = rag_stats(rag_report())
    recall = next(m for m in stats.metrics if m.name == "context_recall")
    assert recall.ci is not None and recall.ci[0] < recall.value < recall.ci[1]
    assert f"{recall.ci[0]:.3f} – {recall.ci[1]:.3f}" in metrics
    assert metrics.count("<svg") == 5  # metrics with whiskers, slices, ranks, F1 spread, misses by type
    assert "By question type" in metrics and "<td>when</td>" in metrics
    assert "holdout context recall <b>0.600</b> [" in page  # in the score band, with its interval


def test_mrr_and_ranks_come_from_the_retrieved_order():
    stats = rag_stats(rag_report())
    rows = stats.rows
    assert any(r.rank == 3 for r in rows) and all(r.rank is None for r in rows if not r.hit)
    mrr = next(m for m in stats.metrics if m.name == "mrr")
    assert abs(mrr.value - sum(r.reciprocal_rank for r in rows) / len(rows)) < 1e-9
    assert stats.ranks["3"] == sum(r.rank == 3 for r in rows) > 0
    assert stats.ranks["not retrieved"] == sum(not r.hit for r in rows)


def test_question_table_is_collapsed_worst_first_escaped_and_bounded():
    page = render_html(rag_report())
    table = page[page.index('<details class="rag-table"') : page.index("</details>", page.index('id="rag-questions"'))]
    assert re.match(r'<details class="rag-table" id="rag-questions"><summary>', table)  # no `open`: collapsed
    f1s = [float(x) for x in re.findall(r'<td class="num">(\d\.\d\d)</td>', table)]
    assert len(f1s) == 40 and f1s == sorted(f1s)
    assert "<script>" not in table and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in table
    assert "reference 0 &lt;b&gt;bold&lt;/b&gt;" in table  # the hidden reference, for the reviewer, escaped
    assert "Reference answer (hidden)" in table and "reviewer only" in table
    assert "wanted set" in table  # a miss names the article it should have found
    big = render_html(rag_report(rag_html.MAX_ROWS + 50))
    assert big.count('<td class="cand">') == rag_html.MAX_ROWS
    assert "50 more question(s), the best answered, are in report.json." in big


def test_long_strings_are_cut():
    report = rag_report(3)
    rows = report.graders[0].details["questions"]
    rows[0]["question"] = "why " + "x" * 5000
    rows[0]["answer"] = "y" * 5000
    page = render_html(report)
    assert "x" * rag_html.CELL_CHARS not in page and "x" * (rag_html.CELL_CHARS - 10) in page
    assert "y" * (rag_html.CELL_CHARS + 1) not in page


def test_odd_rows_from_report_json_do_not_crash():
    report = rag_report(4)
    rows = report.graders[0].details["questions"]
    rows[0] = "not a dict"
    rows[1].update(answer_f1="x", retrieved_doc_ids=[1, None], references=None, hit=None, answer=7)
    for key in ("reference_doc_ids", "context_recall", "context_precision", "difficulty"):
        rows[2].pop(key)  # a report from before these fields were published
    page = render_html(report)
    assert 'id="rag-questions"' in page and "Holdout metrics (RAG)" in page
    assert interview_questions(report)


def test_rag_interview_questions_are_about_rag_not_the_classifier():
    questions = interview_questions(rag_report())
    joined = "\n".join(questions)
    assert 3 <= len(questions) <= 5
    for phrase in CLASSIFIER_WORDING:
        assert phrase not in joined, phrase
    assert "missed the right article for 100% of the 8 'when' questions" in joined
    assert "right article was retrieved, the answer still scored F1" in joined
    assert "not supported by the contexts" in joined
    assert "100× more documents" in joined


def test_rag_fallbacks_are_rag_questions():
    report = rag_report()
    report.graders[0].details["questions"] = [
        {**q, "hit": True, "answer_f1": 1.0, "exact_match": True, "retrieved_doc_ids": q["reference_doc_ids"]}
        for q in report.graders[0].details["questions"]
    ]
    report = report.model_copy(update={"sandbox": None})
    questions = interview_questions(report)
    assert len(questions) >= 3
    assert not any(p in q for q in questions for p in CLASSIFIER_WORDING)
    assert any("walk me through what it retrieved" in q for q in questions)


def test_classifier_keeps_its_question_bank():
    bare = realistic_report().model_copy(update={"graders": [], "criteria": []})
    assert any("Show me two messages" in q for q in interview_questions(bare))
    assert "Holdout metrics (RAG)" not in render_html(realistic_report())


def test_markdown_stays_under_the_cap_with_a_pointer():
    report = rag_report(300)
    for q, row in zip(report.graders[0].details["questions"], report.graders[0].details["table"]["rows"]):
        row[1] = q["answer"] = "a long answer " * 30
    text = render_markdown(report)
    assert len(text) < MAX_MARKDOWN_CHARS
    assert "more rows in report.html and report.json" in text
    assert "## Per question (rag)" in text


def test_cap_markdown_cuts_at_a_line_with_a_pointer():
    text = "\n".join(f"line {i} " + "z" * 80 for i in range(2000))
    capped = cap_markdown(text)
    assert len(capped) <= MAX_MARKDOWN_CHARS and capped.endswith("report.html and report.json.*\n")
    assert capped.split("\n\n*report.md is cut")[0].split("\n")[-1].endswith("z" * 80)  # whole lines only
    assert cap_markdown("short") == "short"


def test_markdown_cap_holds_for_expanding_invisible_characters():
    report = rag_report(300)
    for row in report.graders[0].details["table"]["rows"]:
        row[0] = "\u202e" * 290  # each becomes a ten-character visible escape
    assert len(render_markdown(report)) <= MAX_MARKDOWN_CHARS


def test_question_types_and_bootstrap():
    assert question_type("Is Ottawa a city?", True) == "yes/no"
    assert question_type("How many people live there?", False) == "how many"
    assert question_type("In which year did it end?", False) == "which"
    assert question_type("Name the capital.", False) == "other"
    assert bootstrap_mean_ci([1.0]) is None
    low, high = bootstrap_mean_ci([0.0, 1.0] * 50)
    assert low < 0.5 < high and bootstrap_mean_ci([0.0, 1.0] * 50) == (low, high)


def test_hostile_text_everywhere_in_the_rag_section():
    report: GradeReport = rag_report(6)
    for q in report.graders[0].details["questions"]:
        q.update(
            question=HOSTILE, id=HOSTILE, retrieved_doc_ids=[HOSTILE], reference_doc_ids=[HOSTILE], difficulty=HOSTILE
        )
    page = render_html(report)
    assert_inert(page)
    assert "<script>" not in page and "<img" not in page


def test_no_output_means_no_intervals_plots_or_metric_questions():
    report = rag_report(10)
    for q in report.graders[0].details["questions"]:
        q.update(answer=None, retrieved_doc_ids=[], hit=False, answer_f1=0.0, context_recall=0.0)
    crashed = report.sandbox.model_copy(update={"verdict": Verdict.CRASHED, "exit_code": 1})
    report = report.model_copy(update={"sandbox": crashed})
    page = render_html(report)
    metrics = _section(page, "metrics")
    assert "no intervals" in metrics and "<svg" not in metrics and "rag-questions" not in page
    assert "holdout context recall" not in page
    questions = interview_questions(report)
    assert questions[0].startswith("Your code crashed")
    assert not any("article" in q and "%" in q for q in questions)
    assert not any(p in q for q in questions for p in CLASSIFIER_WORDING)
