"""Rubric guides checked against the thresholds and the canaries (issue 15, item 7): a guide
states its level's range, `grade check` fails when the range is not the thresholds' band, and
when a canary lands at a level other than the one whose guide describes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.authoring.check import canary_problems, static_problems
from harness.authoring.guides import band, guide_problems, level_problems, stated_bounds
from harness.models import AssignmentRef, GradeReport, GraderResult, SubmissionRef
from harness.rubric import score_rubric
from harness.spec import CanarySpec, load_assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("applied_ml", "genai_rag")


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("F1 below 0.40: no better than a trivial rule", {0.4}),
        ("F1 0.40-0.65: a keyword rule", {0.4, 0.65}),
        ("F1 0.90 or more: a correctly built text classifier (about 0.93 here)", {0.9}),
        ("More than 60 findings per 1000 lines: unused code", {60}),
        ("5–15 findings per 1000 lines: clean", {5, 15}),
        ("At most 5 findings per 1000 lines: clean (code under 200 lines counts as 200)", {5}),
        ("Recall 0.90 or more among the first 5 contexts: as good as BM25 (0.96)", {0.9}),
        ("Crashed, timed out, ran out of memory, or wrote no predictions.", None),
        ("All that apply: README (0.5 of them)", None),
    ],
)
def test_the_range_a_guide_states(text, bounds):
    assert stated_bounds(text) == bounds


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_built_in_guides_state_their_thresholds(name):
    assignment = load_assignment(REPO / "assignments" / name)
    assert guide_problems(assignment.spec) == []
    assert static_problems(assignment) == []


def _spec(guide_5: str | None = None, thresholds=None):
    spec = load_assignment(REPO / "assignments" / "applied_ml").spec
    criteria = []
    for c in spec.rubric.criteria:
        if c.id == "holdout_performance":
            guide = dict(c.guide) if guide_5 is None else {**c.guide, "5": guide_5}
            c = c.model_copy(update={"guide": guide, "thresholds": thresholds or c.thresholds})
        criteria.append(c)
    return spec.model_copy(update={"rubric": spec.rubric.model_copy(update={"criteria": criteria})})


def test_a_guide_that_states_another_range_is_a_static_problem():
    assert guide_problems(_spec("F1 0.95 or more: a correctly built text classifier")) == [
        "rubric.criteria[0] (holdout_performance) guide 5: states 0.95, but level 5 is measured between 0.9 "
        "(thresholds [0.4, 0.65, 0.8, 0.9]); make the guide state its level's range"
    ]
    # moving a threshold without the words is caught the same way
    problems = guide_problems(_spec(thresholds=[0.4, 0.7, 0.8, 0.9]))
    assert [p.split(":")[0] for p in problems] == [
        "rubric.criteria[0] (holdout_performance) guide 2",
        "rubric.criteria[0] (holdout_performance) guide 3",
    ]


def test_bands_follow_the_direction_of_the_measurement():
    spec = load_assignment(REPO / "assignments" / "applied_ml").spec
    lint = next(c for c in spec.rubric.criteria if c.id == "lint")
    assert band(lint, 1) == (60, float("inf")) and band(lint, 3) == (15, 30) and band(lint, 5) == (float("-inf"), 5)


def _report(spec, f1: float) -> GradeReport:
    measurements = {"predictions.f1": f1, "run.clean": 1.0}
    rows, score = score_rubric(spec.rubric, measurements)
    return GradeReport(
        status="graded",
        score=score,
        assignment=AssignmentRef(id=spec.id),
        submission=SubmissionRef(name="x", sha256="0" * 64),
        criteria=rows,
        graders=[GraderResult(grader="predictions", measurements={"f1": f1})],
    )


def test_a_keyword_rule_at_f1_0_723_lands_at_the_level_whose_guide_names_it():
    spec = load_assignment(REPO / "assignments" / "applied_ml").spec
    report = _report(spec, 0.723)
    row = next(r for r in report.criteria if r.id == "holdout_performance")
    assert row.level == 3 and "keyword rule" in row.guide["3"]
    canary = next(c for c in spec.canaries if c.name == "keyword_rule")
    assert canary.levels == {"holdout_performance": 3}
    assert level_problems(report, spec, canary.levels) == []
    # the crude four-word rule of the weak canary (F1 0.60) is level 2, which names it too
    weak = next(c for c in spec.canaries if c.name == "weak")
    assert weak.levels == {"holdout_performance": 2} and "keyword rule" in row.guide["2"]
    assert level_problems(_report(spec, 0.603), spec, weak.levels) == []


def test_a_canary_at_another_level_than_declared_fails_the_check():
    spec = load_assignment(REPO / "assignments" / "applied_ml").spec
    canary = CanarySpec(name="keyword", path="canaries/weak", levels={"holdout_performance": 2})
    problems = canary_problems(_report(spec, 0.723), canary, spec)
    assert len(problems) == 1
    assert problems[0].startswith("holdout_performance: predictions.f1 = 0.723 puts it at level 3 ('F1 0.65-0.80")
    assert "declared as level 2 ('F1 0.40-0.65" in problems[0]
    # without the assignment (older callers) only the declared outcome is compared
    assert canary_problems(_report(spec, 0.723), canary) == []


def test_levels_must_name_criteria_and_levels():
    with pytest.raises(ValueError, match="levels must be 1..5"):
        CanarySpec(name="x", path="x", levels={"holdout_performance": 6})
    spec = load_assignment(REPO / "assignments" / "applied_ml").spec
    assert level_problems(_report(spec, 0.5), spec, {"no_such": 2}) == ["levels: no criterion 'no_such'"]
