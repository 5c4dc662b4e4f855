"""A forging submission never scores above its honest twin (the same code without the trick).

Each case of ``cases_trust`` and its twin are graded end to end in real Docker with the same
assignment; the forging one's score, hidden-test points and "runs cleanly" level are at most
the twin's (here they are equal: the trick changes nothing).
"""

from __future__ import annotations

import shutil

import pytest

from .cases_trust import CASES, TWINS
from .catalogue import drive_api

pytestmark = pytest.mark.docker


def _facts(outcome) -> dict:
    report = outcome.report
    assert report is not None, outcome.error
    pytest_result = next((g for g in report.graders if g.grader == "pytest"), None)
    return {
        "score": report.score,
        "clean": report.metrics.get("run.clean"),
        "hidden_points": pytest_result.measurements.get("points") if pytest_result else None,
        "cell_errors": len(report.sandbox.runner.get("cell_errors") or []),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_forging_submission_never_scores_above_its_honest_twin(case, env, docker_client):
    forged = _facts(drive_api(case, env, case.build(env)))
    shutil.move(env.tmp / "submission", env.tmp / "forging-submission")
    shutil.move(env.tmp / "out", env.tmp / "forging-out")
    honest = _facts(drive_api(case, env, TWINS[case.id](env)))
    assert forged["score"] <= honest["score"], (forged, honest)
    assert (forged["clean"] or 0) <= (honest["clean"] or 0), (forged, honest)
    assert (forged["hidden_points"] or 0) <= (honest["hidden_points"] or 0), (forged, honest)
    assert forged["cell_errors"] >= honest["cell_errors"], (forged, honest)
