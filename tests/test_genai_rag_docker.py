"""genai_rag end to end in real Docker: every canary gets the outcome its spec declares.

The reference (TF-IDF + extractive answer) must score clearly above the weak canary (a random
document); the broken ones score low with a message that names the problem.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("ragas")

from harness.api import grade
from harness.assignments import find_assignment
from harness.authoring.check import canary_problems
from harness.pipeline import GradeOptions
from harness.reports.write import render_markdown
from harness.settings import Settings

pytestmark = pytest.mark.docker
ASSIGNMENT = Path(__file__).resolve().parent.parent / "assignments" / "genai_rag"
RAW = Path("rag_eval") / "cmu_qa_s10" / "question_answer_pairs.txt"
CANARIES = ["reference", "weak", "empty_answers", "empty_contexts", "hedged_answers", "crashes", "malformed_jsonl"]
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def settings(data_dir, session_cache, sandbox_image, monkeypatch_module) -> Settings:
    if not (data_dir / RAW).is_file():
        reason = f"the raw CMU QA data ({RAW.parent}) is not under {data_dir}"
        if os.environ.get("REQUIRE_DATA", "") in ("1", "true", "yes"):
            pytest.fail(f"{reason} (REQUIRE_DATA=1, so this is a failure, not a skip)")
        pytest.skip(reason)
    return Settings(data_dir=data_dir, cache_dir=session_cache, image=sandbox_image, allow_download=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    """No judge for the canaries, whatever the host's environment says."""
    mp = pytest.MonkeyPatch()
    mp.delenv("GRADE_JUDGE_BASE_URL", raising=False)
    mp.delenv("GRADE_EMBEDDING_MODEL", raising=False)
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def assignment(settings):
    return find_assignment(ASSIGNMENT, settings)


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())
    return dest


@pytest.mark.parametrize("name", CANARIES)
def test_canary_gets_its_declared_outcome(name, assignment, settings, tmp_path, no_containers_left):
    spec = next(c for c in assignment.spec.canaries if c.name == name)
    report = grade(
        zip_dir(ASSIGNMENT / spec.path, tmp_path / f"{name}.zip"),
        settings=settings,
        options=GradeOptions(timeout_s=spec.timeout_s),
    )
    problems = canary_problems(report, spec)
    summary = {
        "score": report.score,
        "verdict": report.sandbox and report.sandbox.verdict,
        "messages": [m.code for m in report.messages],
        "stderr": report.sandbox and report.sandbox.stderr.text[-800:],
    }
    assert not problems, (problems, summary)
    RESULTS[name] = {
        "score": report.score,
        **{
            k: report.metrics.get(k)
            for k in ("context_recall", "context_precision", "answer_f1", "exact_match", "answer_containment")
        },
    }
    judge = {g.grader: g for g in report.graders}["rag_judge"]
    assert judge.status.value == "skipped" and report.status == "graded"
    if name == "reference":
        rag = {g.grader: g for g in report.graders}["rag"]
        assert len(rag.details["questions"]) == 300 and rag.details["slices"]["yes_no"]["questions"] == 140
        assert "## Per question (rag)" in render_markdown(report)
        json.dumps(report.model_dump(mode="json"), allow_nan=False)  # no NaN anywhere in the report
    if name not in ("reference", "weak"):
        assert spec.message in {m.code for m in report.messages}, (
            "a broken submission gets a message that names the problem"
        )


def test_reference_is_clearly_above_weak():
    if not {"reference", "weak"} <= set(RESULTS):
        pytest.skip("needs the reference and weak canary runs")
    ref, weak = RESULTS["reference"], RESULTS["weak"]
    assert ref["score"] - weak["score"] >= 50
    assert ref["context_recall"] > 0.9 > 0.1 > weak["context_recall"]
    assert ref["answer_f1"] > 10 * max(weak["answer_f1"], 0.01)
