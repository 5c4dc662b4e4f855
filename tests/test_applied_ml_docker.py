"""applied_ml end to end in real Docker: every canary gets the outcome its spec declares."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.api import grade
from harness.assignments import find_assignment
from harness.authoring.check import canary_problems
from harness.pipeline import GradeOptions
from harness.reports.write import stable_view
from harness.settings import Settings

pytestmark = pytest.mark.docker
ASSIGNMENT = Path(__file__).resolve().parent.parent / "assignments" / "applied_ml"


@pytest.fixture(scope="module")
def settings(data_dir, session_cache, sandbox_image) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=session_cache, image=sandbox_image, allow_download=False)


@pytest.fixture(scope="module")
def assignment(settings):
    return find_assignment(ASSIGNMENT, settings)


def canary(assignment, name):
    return next(c for c in assignment.spec.canaries if c.name == name)


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())
    return dest


CANARIES = [
    "reference",
    "notebook",
    "weak",
    "crashes",
    "timeout",
    "wrong_ids",
    "no_output",
    "tries_network",
    "breaks_contract",
    "hangs_under_test",
]


@pytest.mark.parametrize("name", CANARIES)
def test_canary_gets_its_declared_outcome(name, assignment, settings, tmp_path, no_containers_left):
    spec = canary(assignment, name)
    options = GradeOptions(timeout_s=spec.timeout_s, artifacts_dir=tmp_path / "artifacts")
    report = grade(zip_dir(ASSIGNMENT / spec.path, tmp_path / f"{name}.zip"), settings=settings, options=options)
    problems = canary_problems(report, spec)
    summary = {
        "score": report.score,
        "verdict": report.sandbox and report.sandbox.verdict,
        "messages": [m.code for m in report.messages],
        "stderr": report.sandbox and report.sandbox.stderr.text[-800:],
    }
    assert not problems, (problems, summary)
    if name == "notebook":
        executed = json.loads((tmp_path / "artifacts" / "executed.ipynb").read_text())
        outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outputs, "the executed notebook is kept for the reviewer, with outputs"
    if name == "tries_network":
        assert "network_blocked" in {m.code for m in report.messages}
        assert "unreachable" in report.sandbox.stdout.text
    if name in ("crashes", "timeout", "no_output", "wrong_ids"):
        assert report.messages, "a broken submission gets a message that names the problem"
    if name == "breaks_contract":  # the hidden "model" tests fail; exactly their points are lost
        hidden = next(g for g in report.graders if g.grader == "pytest").details["hidden_tests"]["tests"]
        assert {t["nodeid"].split("::")[-1] for t in hidden if t["outcome"] != "passed"} == {
            "test_build_model_returns_an_unfitted_estimator",
            "test_model_learns_spam_from_raw_texts",
            "test_model_handles_awkward_texts",
        }
        assert next(c for c in report.criteria if c.id == "holdout_performance").level == 5
        assert "test_failed" not in {m.code for m in report.messages}, "failure details are for reviewers only"


def test_grading_twice_gives_identical_reports(assignment, settings, tmp_path):
    archive = zip_dir(ASSIGNMENT / "canaries" / "reference", tmp_path / "ref.zip")
    first = stable_view(grade(archive, settings=settings))
    second = stable_view(grade(archive, settings=settings))
    assert first == second
    assert first["metrics"]["f1"] >= 0.9


def test_cli_grades_a_zip_and_writes_reports(settings, tmp_path, monkeypatch):
    archive = zip_dir(ASSIGNMENT / "canaries" / "weak", tmp_path / "weak.zip")
    env = {
        "GRADE_DATA_DIR": str(settings.data_dir),
        "GRADE_CACHE_DIR": str(settings.cache_dir),
        "GRADE_IMAGE": settings.image or "",
        "PATH": "/usr/bin:/bin",
    }
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", str(archive), "--out", str(out), "--json", "--fail-under", "90"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr  # graded, below --fail-under
    report = json.loads(proc.stdout)
    assert report["status"] == "graded" and report["assignment"]["id"] == "applied_ml"
    assert json.loads((out / "report.json").read_text())["score"] == report["score"]
    assert (out / "report.md").read_text().startswith("# holdout report")
    assert "precision" in report["metrics"] and "roc_auc" in report["metrics"]
    assert shutil.which("true")
    # junit.xml is valid and has one case per criterion; report.html is self-contained
    import xml.etree.ElementTree as ET

    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert [c.get("name").split(":")[0] for c in suite.findall("testcase")] == [c["id"] for c in report["criteria"]]
    failed = {c.get("name").split(":")[0] for c in suite.findall("testcase") if c.find("failure") is not None}
    assert failed == {c["id"] for c in report["criteria"] if c["passed"] is False} and "holdout_performance" in failed
    page = (out / "report.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page and f"{report['score']:.1f}" in page
