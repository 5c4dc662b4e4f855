"""genai_rag in real Docker: a submission that games the answer metrics never scores above its
honest twin (issue 13, item 4).

Each submission runs the reference canary's pipeline unchanged and then rewrites only the
answers it wrote, so a pair differs by the trick alone:

- "Yes no " before every answer, against the reference's own answers (on main's containment
  metric this trick took another extractive pipeline from 75 to 100, and the reference's
  containment from 0.50 to 0.61);
- "yes no" as every answer (87.5 on main: 45% of the questions are yes/no and containment was a
  whole-word test), against "Yes" as every answer, the constant that commits to one polarity.

The same retrieval in each pair, so only the answer criterion may differ.
"""

from __future__ import annotations

import shutil
import textwrap

import pytest

pytest.importorskip("ragas")

from harness.api import grade
from harness.models import GradeReport
from harness.pipeline import GradeOptions
from tests import test_genai_rag_docker as canaries

pytestmark = pytest.mark.docker
ASSIGNMENT, zip_dir = canaries.ASSIGNMENT, canaries.zip_dir
# The canary test's fixtures: the prepared data, the image and no judge, as for the canaries.
settings, assignment, monkeypatch_module = canaries.settings, canaries.assignment, canaries.monkeypatch_module

WRAPPER = '''
"""Runs the reference pipeline, then rewrites every answer it wrote."""
import json
import os
import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("reference_rag.py")), run_name="__main__")
out = Path(os.environ.get("OUTPUT_DIR", "/output")) / "answers.jsonl"
rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
rewrite = {rewrite}
out.write_text("".join(json.dumps({{**r, "answer": rewrite(r["answer"])}}) + "\\n" for r in rows), encoding="utf-8")
'''
REWRITES = {
    "honest": "lambda answer: answer",
    "yes_no_prefix": "lambda answer: 'Yes no ' + answer",
    "constant_yes": "lambda answer: 'Yes'",
    "constant_yes_no": "lambda answer: 'yes no'",
}
REPORTS: dict[str, GradeReport] = {}


def graded(name: str, settings, tmp_path_factory) -> GradeReport:
    if name not in REPORTS:
        folder = tmp_path_factory.mktemp(name)
        shutil.copy(ASSIGNMENT / "canaries" / "reference" / "rag.py", folder / "reference_rag.py")
        shutil.copy(ASSIGNMENT / "canaries" / "reference" / "submission.toml", folder / "submission.toml")
        (folder / "rag.py").write_text(textwrap.dedent(WRAPPER).format(rewrite=REWRITES[name]))
        report = grade(zip_dir(folder, folder.parent / f"{name}.zip"), settings=settings, options=GradeOptions())
        assert report.sandbox is not None and report.sandbox.verdict.value == "ok", (
            name,
            report.sandbox and report.sandbox.stderr.text[-800:],
        )
        REPORTS[name] = report
    return REPORTS[name]


def answer_level(report: GradeReport) -> int | None:
    return next(c.level for c in report.criteria if c.id == "answer_quality")


@pytest.mark.parametrize("gaming, twin", [("yes_no_prefix", "honest"), ("constant_yes_no", "constant_yes")])
def test_gaming_never_beats_its_honest_twin(gaming, twin, settings, assignment, tmp_path_factory, no_containers_left):
    cheat, honest = graded(gaming, settings, tmp_path_factory), graded(twin, settings, tmp_path_factory)
    summary = {
        n: (r.score, r.metrics.get("answer_f1"), r.metrics.get("answer_containment"))
        for n, r in ((gaming, cheat), (twin, honest))
    }
    assert cheat.status == honest.status == "graded", summary
    assert cheat.score is not None and honest.score is not None
    assert cheat.score < honest.score, summary
    for metric in ("answer_f1", "exact_match", "answer_containment"):
        assert cheat.metrics[metric] < honest.metrics[metric], (metric, summary)
    assert cheat.metrics["context_recall"] == honest.metrics["context_recall"]  # the same retrieval
    assert cheat.metrics["answer_f1_yes_no"] == 0.0  # every yes/no answer says both
    assert "no_polarity" in {m.code for g in cheat.graders for m in g.messages}
    assert answer_level(cheat) == 1 and answer_level(cheat) < (answer_level(honest) or 0)


def test_the_honest_pipeline_passes_and_a_constant_yes_does_not(
    settings, assignment, tmp_path_factory, no_containers_left
):
    honest, constant = graded("honest", settings, tmp_path_factory), graded("constant_yes", settings, tmp_path_factory)
    rubric = {c.id: c for c in honest.criteria}
    assert rubric["answer_quality"].passed and answer_level(honest) == 5
    assert not {c.id: c for c in constant.criteria}["answer_quality"].passed
