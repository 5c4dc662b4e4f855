"""Questions to ask in the interview, generated from a report's evidence (3–5 of them).

Each rule looks at one kind of evidence (how the run ended, the score the candidate printed
against the holdout score, the gap to the baselines, the precision/recall trade-off, the
confidence interval, lint hotspots, runtime, notebook errors, missing habits) and proposes a
question with a priority; the highest-priority ones are kept. Questions quote numbers and names
from the report as plain text: renderers escape them.
"""

from __future__ import annotations

import re
from typing import Any

from harness.models import GradeReport, Verdict
from harness.reports import interview_rag
from harness.reports.question import Question

MIN_QUESTIONS, MAX_QUESTIONS = 3, 5


def find_details(report: GradeReport, key: str) -> dict[str, Any]:
    """The details of the first grader that published ``key`` (graders may be renamed in the spec)."""
    for grader in report.graders:
        if key in grader.details:
            return grader.details
    return {}


def nothing_measured(report: GradeReport) -> bool:
    """Whether the graders that score the output (those publishing ``valid``: predictions, RAG)
    had nothing to measure (``valid`` 0): their values are the floor the rubric scores, with no
    interval to show and nothing to ask about."""
    graders = [g for g in report.graders if "valid" in g.measurements]
    return bool(graders) and all(g.measurements["valid"] == 0.0 for g in graders)


def _measurement(report: GradeReport, grader_key: str, name: str) -> float | None:
    for grader in report.graders:
        if grader_key in grader.details:
            value = grader.measurements.get(name)
            return value if isinstance(value, (int, float)) else None
    return None


_SELF_REPORTED = re.compile(
    r"(?i)^(?=.*\b(cv|cross[- ]?val\w*|validation|valid|val|holdout|dev|public|oof)\b)(?=.*\b{metric}\b).*?"
    r"(?<![\d.])(0?\.\d+|1\.0+)(?![\d.])"
)


def self_reported(stdout: str, metric: str) -> float | None:
    """The first validation score for ``metric`` the candidate printed (e.g. ``CV F1: 0.95``)."""
    pattern = re.compile(_SELF_REPORTED.pattern.replace("{metric}", re.escape(metric)))
    for line in stdout.splitlines()[:2000]:
        match = pattern.search(line[:400])
        if match:
            try:
                value = float(match.group(2))
            except ValueError:
                continue
            if 0.0 <= value <= 1.0:
                return value
    return None


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _run_questions(report: GradeReport) -> list[Question]:
    run = report.sandbox
    if run is None:
        return []
    out: list[Question] = []
    last_error = next(
        (
            line.strip()
            for line in reversed(run.stderr.text.splitlines())
            if re.match(r"^\s*\w+(\.\w+)*(Error|Exception|Interrupt)\b", line)
        ),
        "",
    )
    if run.verdict == Verdict.CRASHED:
        what = f" with `{last_error[:120]}`" if last_error else f" with exit code {run.exit_code}"
        out.append(
            Question(
                f"Your code crashed in the grading environment{what}. What happened, and how would you "
                "make sure it runs on a clean machine before handing it over?",
                100,
                "run",
            )
        )
    elif run.verdict == Verdict.TIMEOUT:
        out.append(
            Question(
                f"Your run was stopped at the {run.timeout_s or 0:.0f} s time limit. Where does the time "
                "go, and what would you change to make it fit?",
                100,
                "run",
            )
        )
    elif run.verdict == Verdict.OUT_OF_MEMORY:
        out.append(
            Question(
                "Your run was killed for using too much memory. Which step holds the most data, and how "
                "would you reduce its footprint?",
                100,
                "run",
            )
        )
    elif run.verdict in (Verdict.NO_OUTPUT, Verdict.INVALID_OUTPUT):
        out.append(
            Question(
                "Your code finished without writing the expected predictions file. How did you check the "
                "output format before submitting?",
                95,
                "run",
            )
        )
    cell_errors = find_details(report, "cell_errors").get("cell_errors") or []  # numbered from 1 (run grader)
    if cell_errors and isinstance(cell_errors, list) and isinstance(cell_errors[0], dict):
        first = cell_errors[0]
        out.append(
            Question(
                f"In the grading run, notebook cell {first.get('cell') or '?'} raised {first.get('ename') or 'an error'}. "
                "Did the notebook run top to bottom on your machine from a fresh kernel?",
                80,
                "notebook",
            )
        )
    if run.verdict == Verdict.OK and run.timeout_s:
        share = run.duration_s / run.timeout_s
        memory = f" and peaked at {run.peak_memory_mb:.0f} MB" if run.peak_memory_mb else ""
        priority = 55 if share > 0.3 else 15
        out.append(
            Question(
                f"The run took {run.duration_s:.1f} s of the {run.timeout_s:.0f} s limit{memory}. "
                "Where does the time go, and what would change with 100× more messages?",
                priority,
                "runtime",
            )
        )
    return out


def _metric_questions(report: GradeReport) -> list[Question]:
    details = find_details(report, "primary_metric")
    metric = str(details.get("primary_metric") or "")
    value = report.metrics.get(metric)
    if not metric or value is None or nothing_measured(report):
        return []
    out: list[Question] = []
    label = metric.upper() if len(metric) <= 3 else metric.replace("_", " ")
    stdout = report.sandbox.stdout.text if report.sandbox else ""
    claimed = self_reported(stdout, metric)
    if claimed is not None:
        gap = claimed - value
        if gap >= 0.05:
            out.append(
                Question(
                    f"Your holdout {label} is {gap:.2f} below the validation score you printed "
                    f"({_fmt(value)} against {_fmt(claimed)}). Why might that be — leakage, duplicates across "
                    "folds, tuning on the validation data?",
                    90,
                    "generalisation",
                )
            )
        else:
            out.append(
                Question(
                    f"You printed a validation {label} of {_fmt(claimed)} and the holdout gave {_fmt(value)}. "
                    "How did you set up validation so that it predicts the holdout this well?",
                    40,
                    "generalisation",
                )
            )
    baselines = {name: vals.get(metric) for name, vals in (details.get("baselines") or report.baselines).items()}
    baselines = {k: v for k, v in baselines.items() if isinstance(v, (int, float))}
    if baselines:
        best_name, best = max(baselines.items(), key=lambda kv: kv[1])
        pretty = best_name.replace("_", " ")
        if value < best:
            out.append(
                Question(
                    f"Your holdout {label} ({_fmt(value)}) is below the {pretty} baseline ({_fmt(best)}). "
                    "What would you change first, and how would you know it helped?",
                    85,
                    "baseline",
                )
            )
        elif value - best < 0.02:
            out.append(
                Question(
                    f"Your holdout {label} ({_fmt(value)}) is only {value - best:.3f} above a plain {pretty} "
                    f"baseline ({_fmt(best)}). What did the extra complexity buy you?",
                    70,
                    "baseline",
                )
            )
        else:
            out.append(
                Question(
                    f"Your holdout {label} ({_fmt(value)}) is {value - best:.3f} above the {pretty} baseline "
                    f"({_fmt(best)}). Which single change made the biggest difference, and how did you check it?",
                    50,
                    "baseline",
                )
            )
    out += _tradeoff_questions(report, details)
    low, high = report.metrics.get(f"{metric}_ci_low"), report.metrics.get(f"{metric}_ci_high")
    if low is not None and high is not None and high - low >= 0.05:
        out.append(
            Question(
                f"The 95% bootstrap interval for your holdout {label} is {_fmt(low)}–{_fmt(high)}. How would "
                "you tell whether a change to your model is a real improvement on a test set this size?",
                45,
                "uncertainty",
            )
        )
    return out


def _tradeoff_questions(report: GradeReport, details: dict[str, Any]) -> list[Question]:
    cm = details.get("confusion_matrix") or {}
    labels, matrix = cm.get("labels") or [], cm.get("matrix") or []
    if len(labels) != 2 or len(matrix) != 2:
        return []
    positive = cm.get("positive_label")
    pos = labels.index(positive) if positive in labels else 1
    fn, fp = matrix[pos][1 - pos], matrix[1 - pos][pos]
    precision, recall = report.metrics.get("precision"), report.metrics.get("recall")
    numbers = (
        f" (precision {_fmt(precision)}, recall {_fmt(recall)})" if precision is not None and recall is not None else ""
    )
    has_scores = "pr_curve" in details
    tail = (
        "How did you choose the decision threshold, and which mistake costs more here?"
        if has_scores
        else "You submitted no probabilities: how would you rank messages by confidence or move the threshold?"
    )
    priority = 65 if (fn + fp) else 30
    return [
        Question(
            f"Your model labels {fp} {labels[1 - pos]} message(s) as {labels[pos]} and misses {fn} "
            f"{labels[pos]}{numbers}. {tail}",
            priority,
            "tradeoff",
        )
    ]


def _quality_questions(report: GradeReport) -> list[Question]:
    lint = find_details(report, "lint").get("lint") or {}
    habits = find_details(report, "habits").get("habits") or {}
    notebooks = find_details(report, "notebooks").get("notebooks") or []
    out: list[Question] = []
    worst = lint.get("worst") or []
    per_kloc = _measurement(report, "lint", "findings_per_kloc")
    complex_fns = [
        c for c in lint.get("complexity_top") or [] if c.get("complexity", 0) > lint.get("max_complexity", 10)
    ]
    if complex_fns:
        top = complex_fns[0]
        name = str(top.get("function", "?")).split("@")[0]
        out.append(
            Question(
                f"`{name}` has a cyclomatic complexity of {top.get('complexity')}. How would you split it so "
                "each part can be tested on its own?",
                60,
                "complexity",
            )
        )
    if worst and per_kloc is not None and per_kloc > 15:
        first = worst[0]
        where = (
            f"{first.get('file')}"
            + (f" cell {first.get('cell')}" if first.get("cell") else "")
            + f" line {first.get('line')}"
        )
        cats = ", ".join(f"{k} {v}" for k, v in list((lint.get("by_category") or {}).items())[:3])
        out.append(
            Question(
                f"The linter found {lint.get('findings')} issues ({cats}); the most serious is "
                f'{first.get("code")} at {where}: "{first.get("message")}". Talk me through that code — '
                "is it a real problem, and what is your usual clean-up routine?",
                58,
                "lint",
            )
        )
    for nb in notebooks:
        if nb.get("error_cells"):
            out.append(
                Question(
                    f"The notebook you submitted ({nb.get('file')}) still shows error output in cell(s) "
                    f"{', '.join(map(str, nb['error_cells'][:3]))}. Was it run top to bottom before you "
                    "submitted it?",
                    62,
                    "notebook",
                )
            )
            break
        if nb.get("in_order") is False:
            out.append(
                Question(
                    f"The cells of {nb.get('file')} were executed out of order. Does it give the same "
                    "results when run top to bottom from a fresh kernel?",
                    52,
                    "notebook",
                )
            )
            break
    if habits.get("no_secrets", {}).get("value") == 0:
        out.append(
            Question(
                "The submission appears to contain a credential ("
                f"{(habits['no_secrets'].get('evidence') or ['see report'])[0]}). How do you handle "
                "secrets in your projects?",
                88,
                "secrets",
            )
        )
    if habits.get("has_tests", {}).get("value") == 0:
        out.append(
            Question(
                "There are no tests. Which part of this pipeline would you test first, and what would the test check?",
                35,
                "tests",
            )
        )
    if habits.get("deps_pinned", {}).get("value") == 0:
        out.append(
            Question(
                "The dependencies are not pinned. How would a colleague reproduce your exact results "
                "six months from now?",
                30,
                "reproducibility",
            )
        )
    return out


FALLBACKS = (
    Question(
        "Show me two messages your model gets wrong. Why does it get them wrong, and would you fix them?", 10, "errors"
    ),
    Question("If this model went to production tomorrow, what would you monitor in the first week?", 9, "production"),
    Question("What would you do with one more day on this assignment?", 8, "next"),
)


def interview_questions(report: GradeReport, *, limit: int = MAX_QUESTIONS) -> list[str]:
    """3–5 questions, most pressing first (one per topic); generic ones only to reach three."""
    if report.status == "rejected":
        candidates = [
            Question(
                "The submission archive was rejected before grading. What did you send, and how did you package it?",
                100,
                "intake",
            )
        ]
    else:
        candidates = _run_questions(report) + _metric_questions(report) + _quality_questions(report)
    candidates, fallbacks = _kind_bank(report, candidates)
    chosen: list[Question] = []
    topics: set[str] = set()
    for question in sorted(candidates, key=lambda q: -q.priority) + list(fallbacks):
        enough = len(chosen) >= (MIN_QUESTIONS if question in fallbacks else max(MIN_QUESTIONS, limit))
        if enough or question.topic in topics:
            continue
        chosen.append(question)
        topics.add(question.topic)
    return [q.text for q in chosen]


def _kind_bank(report: GradeReport, candidates: list[Question]) -> tuple[list[Question], tuple[Question, ...]]:
    """The question bank of the assignment's kind (issue 15): a RAG report gets the RAG questions
    (:mod:`harness.reports.interview_rag`) instead of the classifier's runtime question and fallbacks."""
    if report.status == "rejected" or not interview_rag.is_rag(report):
        return candidates, FALLBACKS
    kept = [q for q in candidates if q.topic != "runtime"]
    return kept + interview_rag.rag_questions(report), interview_rag.FALLBACKS
