"""Hand-built, realistic reports for renderer tests (no Docker): what the pipeline would produce
for a decent applied_ml submission, with hostile text wherever the candidate controls it."""

from __future__ import annotations

from harness.models import (
    AssignmentRef,
    CriterionScore,
    GradeReport,
    GraderResult,
    GraderStatus,
    Level,
    Message,
    ReportStatus,
    SandboxRun,
    StreamCapture,
    SubmissionRef,
    Verdict,
    Visibility,
)

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def criteria() -> list[CriterionScore]:
    return [
        CriterionScore(
            id="holdout_performance",
            title="Holdout performance (F1 on spam)",
            level=4,
            score=48.6,
            max_score=64.8,
            weight=70,
            passed=True,
            pass_level=3,
            evidence=["predictions.f1 = 0.83 (L2 ≥ 0.4, L3 ≥ 0.65, L4 ≥ 0.8, L5 ≥ 0.9)"],
            guide={str(i): f"guide for level {i}" for i in range(1, 6)},
        ),
        CriterionScore(
            id="runs_cleanly",
            title="Runs cleanly in the sandbox",
            level=5,
            score=13.0,
            max_score=13.0,
            weight=14,
            passed=True,
            pass_level=3,
            evidence=["run.clean = 1"],
        ),
        CriterionScore(
            id="lint",
            title="Code quality: ruff findings per kLOC",
            level=2,
            score=1.85,
            max_score=7.4,
            weight=8,
            passed=False,
            pass_level=3,
            evidence=["quality.findings_per_kloc = 41.7", f"worst in {HOSTILE}.py"],
        ),
        CriterionScore(
            id="habits",
            title="Engineering habits",
            level=3,
            score=3.7,
            max_score=7.4,
            weight=8,
            passed=True,
            pass_level=3,
            evidence=["✓ README says how to run it", "✗ tests present"],
        ),
        CriterionScore(
            id="approach",
            title="Approach and validation (reviewer)",
            kind="human",
            evidence=["for the reviewer: see the guide for each level"],
            guide={"1": "No method.", "3": "A reasonable model.", "5": "Careful, justified choices."},
        ),
    ]


def predictions_result() -> GraderResult:
    return GraderResult(
        grader="predictions",
        measurements={
            "f1": 0.83,
            "precision": 0.9,
            "recall": 0.77,
            "accuracy": 0.96,
            "roc_auc": 0.97,
            "average_precision": 0.9,
            "f1_ci_low": 0.78,
            "f1_ci_high": 0.87,
            "coverage": 1.0,
            "n_expected": 1142.0,
            "n_scored": 1142.0,
            "valid": 1.0,
        },
        details={
            "primary_metric": "f1",
            "baselines": {
                "all_ham": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "accuracy": 0.87},
                "naive_bayes": {"f1": 0.93, "precision": 0.96, "recall": 0.9, "accuracy": 0.98},
            },
            "confusion_matrix": {"labels": ["ham", "spam"], "positive_label": "spam", "matrix": [[980, 13], [34, 115]]},
            "pr_curve": {"precision": [0.13, 0.5, 0.8, 0.9, 0.95, 1.0], "recall": [1.0, 0.95, 0.9, 0.77, 0.5, 0.0]},
        },
    )


def quality_result() -> GraderResult:
    return GraderResult(
        grader="quality",
        measurements={
            "loc": 240.0,
            "findings": 10.0,
            "findings_per_kloc": 41.67,
            "complexity_max": 13.0,
            "complex_functions": 1.0,
            "habits": 0.6667,
            "has_tests": 0.0,
        },
        details={
            "lint": {
                "ruff_version": "0.17.5",
                "select": ["E", "F"],
                "files": 2,
                "loc": 240,
                "findings": 10,
                "max_complexity": 10,
                "by_category": {"security": 1, "correctness": 4, "complexity": 1, "style": 4},
                "by_rule": {"F401 unused-import": 3},
                "complexity_top": [{"function": "train.py:run_everything@12", "complexity": 13}],
                "worst": [
                    {
                        "file": f"{HOSTILE}.py",
                        "cell": None,
                        "line": 3,
                        "column": 1,
                        "code": "S307",
                        "name": "suspicious-eval-usage",
                        "category": "security",
                        "message": "Use of possibly insecure function",
                        "context": [
                            {"line": 2, "text": "def f(x):", "hit": False},
                            {"line": 3, "text": f"    return eval(x)  # {HOSTILE}", "hit": True},
                            {"line": 4, "text": "", "hit": False},
                        ],
                    }
                ],
                "notes": [],
            },
            "habits": {
                "has_tests": {"value": 0.0, "title": "tests present", "evidence": ["no tests"]},
                "has_readme_run_instructions": {
                    "value": 1.0,
                    "title": "README says how to run it",
                    "evidence": [f"README.md says how ({HOSTILE})"],
                },
            },
            "notebooks": [],
        },
    )


def realistic_report() -> GradeReport:
    """A graded report with every section filled, and candidate-controlled text that tries HTML/XML injection."""
    run = SandboxRun(
        verdict=Verdict.OK,
        exit_code=0,
        duration_s=41.5,
        timeout_s=120,
        peak_memory_mb=512.0,
        peak_memory_source="ru_maxrss",
        image="holdout-sandbox:abc",
        image_id="sha256:" + "1" * 64,
        command=["python", "predict.py"],
        stdout=StreamCapture(
            text=f"5-fold CV F1 on train: 0.950 +/- 0.01\n{HOSTILE}\nwrote 1142 predictions\n", total_bytes=120
        ),
        stderr=StreamCapture(text="UserWarning: \x1b[31mcolour\x1b[0m \x00 nul \x07 bell ]]> end\n", total_bytes=60),
    )
    return GradeReport(
        status="graded",
        score=80.55,
        assignment=AssignmentRef(id="applied_ml", title="Build a spam classifier (SMS Spam Collection)", version="1"),
        submission=SubmissionRef(
            name=f"cand{HOSTILE}.zip", sha256="ab" * 32, kind="zip", files=5, bytes=9000, entry_point="predict.py"
        ),
        sandbox=run,
        metrics={"f1": 0.83, "precision": 0.9, "recall": 0.77, "f1_ci_low": 0.78, "f1_ci_high": 0.87},
        baselines=predictions_result().details["baselines"],
        criteria=criteria(),
        messages=[Message(code="no_tests", text=f"no tests {HOSTILE}", level=Level.WARNING, source="quality")],
        graders=[
            predictions_result(),
            GraderResult(grader="run", measurements={"clean": 1.0}),
            quality_result(),
            GraderResult(
                grader="pytest",
                messages=[
                    Message(
                        code="test_failed",
                        text=f"Traceback\n  line {HOSTILE}",
                        visibility=Visibility.REVIEWER,
                        level=Level.INFO,
                    )
                ],
            ),
        ],
        provenance={"harness_version": "0.1.0", "image_id": "sha256:" + "1" * 64, "data_sha256": "cd" * 32, "seed": 0},
        timings={"started_at": 1795310609.5, "run_sandbox": 41.9, "run_graders": 1.2},
    )


def needs_review_report() -> GradeReport:
    report = realistic_report()
    rows = criteria()
    rows[2] = rows[2].model_copy(
        update={
            "level": None,
            "score": None,
            "passed": None,
            "evidence": ["grader 'quality' failed; this criterion needs a reviewer"],
        }
    )
    graders = [g for g in report.graders if g.grader != "quality"]
    graders.append(GraderResult(grader="quality", status=GraderStatus.ERROR, error="GraderError: ruff exited with 2"))
    return report.model_copy(
        update={"status": ReportStatus.NEEDS_REVIEW, "score": None, "criteria": rows, "graders": graders}
    )


def rejected_report() -> GradeReport:
    return GradeReport(
        status="rejected",
        score=0.0,
        assignment=AssignmentRef(id="applied_ml"),
        submission=SubmissionRef(name="evil.zip", sha256="ef" * 32),
        messages=[
            Message(code="rejected_traversal", text="member '../../etc/passwd' escapes the archive", source="intake")
        ],
    )
