from __future__ import annotations

import pytest

from harness.rubric import level_for, score_rubric
from harness.spec import RubricSpec


def rubric() -> RubricSpec:
    return RubricSpec.model_validate(
        {
            "criteria": [
                {
                    "id": "perf",
                    "title": "Perf",
                    "weight": 80,
                    "measurement": "predictions.f1",
                    "thresholds": [0.4, 0.65, 0.8, 0.9],
                },
                {
                    "id": "clean",
                    "title": "Clean",
                    "weight": 20,
                    "measurement": "run.clean",
                    "thresholds": [0.25, 0.5, 0.75, 1.0],
                },
                {"id": "approach", "title": "Approach", "kind": "human", "guide": {"5": "excellent"}},
            ]
        }
    )


@pytest.mark.parametrize("value,level", [(0.0, 1), (0.39, 1), (0.4, 2), (0.7, 3), (0.85, 4), (0.9, 5), (1.0, 5)])
def test_level_for_greater_is_better(value, level):
    assert level_for(value, [0.4, 0.65, 0.8, 0.9]) == level


def test_level_for_lower_is_better():
    assert level_for(10.0, [50, 30, 20, 10], greater_is_better=False) == 5
    assert level_for(60.0, [50, 30, 20, 10], greater_is_better=False) == 1


def test_full_marks_and_human_rows_left_blank():
    rows, score = score_rubric(rubric(), {"predictions.f1": 0.95, "run.clean": 1.0})
    assert score == 100.0
    human = rows[2]
    assert human.level is None and human.score is None and human.max_score == 0
    assert rows[0].passed and "predictions.f1 = 0.95" in rows[0].evidence[0]


def test_points_scale_with_level_and_weights_normalise_to_100():
    rows, score = score_rubric(rubric(), {"predictions.f1": 0.7, "run.clean": 0.0})
    assert rows[0].level == 3 and rows[0].score == pytest.approx(40.0)
    assert rows[1].level == 1 and rows[1].score == 0.0
    assert score == pytest.approx(40.0)


def test_missing_measurement_is_level_one_but_grader_failure_needs_review():
    rows, score = score_rubric(rubric(), {"run.clean": 1.0})
    assert rows[0].level == 1 and score == pytest.approx(20.0)
    rows, score = score_rubric(rubric(), {"run.clean": 1.0}, failed_graders={"predictions"})
    assert rows[0].level is None and rows[0].score is None
    assert score is None
