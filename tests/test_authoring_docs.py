"""docs/authoring.md's example grader is real: loaded from an assignment's graders.py by the
registry, it grades full, partial, missing and linked outputs the way the contract says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from graders.base import GradeContext
from graders.registry import default_registry
from harness.errors import GraderError
from harness.spec import AssignmentSpec, GraderSpec

DOC = Path(__file__).resolve().parent.parent / "docs" / "authoring.md"


@pytest.fixture
def grader(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"<!-- example-grader:start -->\n```python\n(.*?)```\n<!-- example-grader:end -->", text, re.S)
    assert code, "the example grader block is missing from docs/authoring.md"
    root = tmp_path / "assignment"
    root.mkdir()
    (root / "graders.py").write_text(code[1])
    registry = default_registry(root)
    assert "coverage" in registry.names()
    return registry.instantiate(GraderSpec(use="coverage", config={"file": "predictions.csv"}), 0)


def ctx(tmp_path: Path, predictions: str | None, hidden: bool = True) -> GradeContext:
    dirs = {name: tmp_path / name for name in ("submission", "inputs", "hidden", "output", "logs")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    if hidden:
        (dirs["hidden"] / "test_labels.csv").write_text("id,label\na,spam\nb,ham\nc,ham\nd,spam\n")
    if predictions is not None:
        (dirs["output"] / "predictions.csv").write_text(predictions)
    return GradeContext(
        spec=AssignmentSpec(id="toy", title="Toy"),
        assignment_dir=tmp_path / "assignment",
        submission_dir=dirs["submission"],
        inputs_dir=dirs["inputs"],
        hidden_dir=dirs["hidden"],
        output_dir=dirs["output"],
        logs_dir=dirs["logs"],
    )


def test_the_example_grader_measures_coverage(grader, tmp_path):
    assert grader.outputs() == ["predictions.csv"]
    full = grader.grade(ctx(tmp_path, "id,label\na,spam\nb,ham\nc,ham\nd,ham\n"))
    assert full.measurements == {"coverage": 1.0} and full.messages == []
    half = grader.grade(ctx(tmp_path, "id,label\na,spam\nzz,ham\nb,ham\n"))
    assert half.measurements == {"coverage": 0.5}
    assert half.messages[0].code == "coverage_partial" and "2 of the 4 holdout ids" in half.messages[0].text


def test_the_example_grader_blames_the_right_party(grader, tmp_path):
    missing = grader.grade(ctx(tmp_path, None))
    assert missing.measurements == {"coverage": 0.0} and missing.messages[0].code == "coverage_unreadable"
    link = tmp_path / "output" / "predictions.csv"
    os.symlink(tmp_path / "hidden" / "test_labels.csv", link)  # a candidate's link to anywhere is not followed
    linked = grader.grade(ctx(tmp_path, None))
    assert linked.measurements == {"coverage": 0.0} and "spam" not in linked.messages[0].text
    link.unlink()
    with pytest.raises(GraderError, match="hidden file test_labels.csv is missing"):
        grader.grade(ctx(tmp_path / "fresh", "id,label\na,spam\n", hidden=False))
