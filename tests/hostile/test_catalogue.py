"""Every hostile case, end to end in real Docker: its expected outcome, then the invariants
that hold for all of them (``catalogue.check_invariants``)."""

from __future__ import annotations

import pytest

from .cases import all_cases
from .catalogue import Case, Watch, check_expected, check_invariants, drive_api

pytestmark = pytest.mark.docker
CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, env, docker_client, record_timing, request) -> None:
    submission = case.build(env)
    watch = Watch.take(env, submission)
    outcome = (case.drive or drive_api)(case, env, submission)
    record_timing(case.id, case.group, outcome.duration_s, outcome.docker)
    check_expected(case, outcome, env)
    check_invariants(case, outcome, env, watch, docker_client)
    if case.browser:
        from .browser import assert_no_script_runs

        assert_no_script_runs(request.getfixturevalue("chromium"), outcome.out_dir)
