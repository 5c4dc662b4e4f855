"""The pytest grader in real Docker: the author's hidden tests run inside the sandbox as the
runner's uid and reach the candidate's code (its own process, its own uid, read-only, no network)
through the bridge; points per group, per-test and whole-run time limits, and the candidate's
own tests as evidence. A tiny assignment keeps each run to a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import grade
from harness.models import Visibility
from harness.settings import Settings

pytestmark = pytest.mark.docker

SPEC = """
id = "tiny_tests"
title = "Tiny helpers"

[entry]
script = "solution.py"

[sandbox]
timeout_s = 30
memory_mb = 512

[[graders]]
use = "run"

[[graders]]
use = "pytest"

[graders.config]
tests = "hidden_tests"
timeout_s = {timeout_s}
per_test_timeout_s = {per_test_timeout_s}
candidate_timeout_s = 20

[[graders.config.groups]]
name = "add"
tests = ["test_add_*"]
points = 2
description = "add() adds numbers"

[[graders.config.groups]]
name = "slug"
tests = ["test_slug_*"]
points = 3
description = "slugify() makes URL slugs"

[[rubric.criteria]]
id = "tests"
title = "Hidden tests"
weight = 100
measurement = "pytest.score"
thresholds = [0.2, 0.4, 0.6, 1.0]
"""

PREPARE = """
def prepare(sources, out, seed):
    (out.inputs / "words.txt").write_text("Hello World\\n")
    (out.hidden / "secret.txt").write_text("the hidden answer\\n")
"""

HIDDEN_TESTS = """
import os
import socket
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def solution(candidate):
    return candidate.module("solution")  # imported in the candidate's process, not here


def test_add_integers(solution):
    assert solution.add(2, 3) == 5


def test_add_floats(solution):
    assert solution.add(0.5, 0.25) == 0.75


def test_slug_simple(solution):
    assert solution.slugify("Hello World") == "hello-world"


def test_slug_reads_public_data(solution):
    assert solution.slugify(Path("/data/words.txt").read_text().strip()) == "hello-world"


def test_slug_punctuation(solution):
    assert solution.slugify("  A, B & C!  ") == "a-b-c"


def test_sandbox_is_locked_down():
    for folder in ("/submission", "/tests"):
        with pytest.raises(OSError):
            (Path(folder) / "written-by-a-test").write_text("x")
    with pytest.raises(OSError):
        socket.create_connection(("1.1.1.1", 53), timeout=2)
    assert not Path("/hidden").exists() and "secret" not in os.listdir("/data")


def test_runs_apart_from_the_candidates_code(candidate, solution):
    assert os.getuid() not in (0, 10001) and "/submission" not in sys.path and "solution" not in sys.modules
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    assert status["CapEff"].strip() == "0" * 16 and status["NoNewPrivs"].strip() == "1"
    assert candidate.module("os").getuid() == 10001  # the server of the candidate's code
    with pytest.raises(OSError):
        (Path("/submission") / "x").write_text("x")
"""

GOOD = """
import re


def add(a, b):
    return a + b


def slugify(text):
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


if __name__ == "__main__":
    print(slugify("Hello World"))
"""

OWN_TESTS = """
from pathlib import Path

from solution import add


def test_add():
    assert add(1, 1) == 2


def test_add_again():
    assert add(2, 2) == 4


def test_writes_into_the_submission():
    Path(__file__).with_name("scratch.txt").write_text("read-only: this fails")
"""


def make_assignment(root: Path, *, timeout_s: float = 30, per_test_timeout_s: float = 5) -> Path:
    (root / "hidden_tests").mkdir(parents=True)
    (root / "assignment.toml").write_text(SPEC.format(timeout_s=timeout_s, per_test_timeout_s=per_test_timeout_s))
    (root / "prepare.py").write_text(PREPARE)
    (root / "hidden_tests" / "test_helpers.py").write_text(HIDDEN_TESTS)
    return root


def make_submission(root: Path, solution: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "solution.py").write_text(solution)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def settings(tmp_path, sandbox_image) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", image=sandbox_image, allow_download=False)


def pytest_result(report):
    return next(g for g in report.graders if g.grader == "pytest")


def outcomes(result) -> dict[str, str]:
    return {t["nodeid"].split("::")[-1]: t["outcome"] for t in result.details["hidden_tests"]["tests"]}


def test_hidden_tests_pass_locked_down_and_own_tests_are_counted(tmp_path, settings, no_containers_left):
    assignment = make_assignment(tmp_path / "tiny_tests")
    sub = make_submission(tmp_path / "sub", GOOD, {"tests/test_own.py": OWN_TESTS})
    report = grade(sub, assignment, settings=settings)
    result = pytest_result(report)
    assert set(outcomes(result).values()) == {"passed"}, result.messages
    m = result.measurements
    assert (m["score"], m["points"], m["max_points"], m["passed"], m["total"]) == (1.0, 7.0, 7.0, 7.0, 7.0)
    assert (m["candidate_tests_passed"], m["candidate_tests_failed"], m["candidate_tests_total"]) == (2.0, 1.0, 3.0)
    assert report.score == 100.0
    assert not (sub / "tests" / "scratch.txt").exists() and not (sub / "written-by-a-test").exists()


def test_a_broken_helper_loses_exactly_its_groups_points(tmp_path, settings):
    assignment = make_assignment(tmp_path / "tiny_tests")
    sub = make_submission(tmp_path / "sub", GOOD.replace('"-".join', '"_".join'))
    result = pytest_result(grade(sub, assignment, settings=settings))
    assert {k for k, v in outcomes(result).items() if v != "passed"} == {
        "test_slug_simple",
        "test_slug_reads_public_data",
        "test_slug_punctuation",
    }
    assert (result.measurements["points"], result.measurements["max_points"]) == (4.0, 7.0)
    summary = [m for m in result.messages if m.code == "hidden_tests_failed"]
    assert summary and all(m.visibility == Visibility.CANDIDATE for m in summary)
    assert "slugify() makes URL slugs: 3 of 3 test(s) failed (3 of 3 points lost)" in summary[0].text
    assert "hello_world" not in " ".join(m.text for m in result.messages if m.visibility == Visibility.CANDIDATE)
    details = [m for m in result.messages if m.code == "test_failed"]
    assert details and all(m.visibility == Visibility.REVIEWER for m in details)
    assert any("hello_world" in m.text for m in details), "reviewers see the assertion"


def test_a_hanging_helper_is_stopped_by_the_per_test_limit_and_the_rest_still_run(tmp_path, settings):
    assignment = make_assignment(tmp_path / "tiny_tests", per_test_timeout_s=2)
    hangs = GOOD.replace("    return a + b", "    while True:\n        pass")
    result = pytest_result(grade(make_submission(tmp_path / "sub", hangs), assignment, settings=settings))
    # the hidden tests' run was not stopped by its 30 s limit: the 2 s per-test limit stopped the hangs
    assert result.details["hidden_tests"]["run"]["verdict"] != "timeout"
    got = outcomes(result)
    assert got["test_add_integers"] == got["test_add_floats"] == "timeout"
    assert got["test_slug_simple"] == "passed" and got["test_sandbox_is_locked_down"] == "passed"
    assert result.measurements["points"] == 5.0 and result.measurements["timed_out"] == 2.0
    assert "test_timeout" in {m.code for m in result.messages}


def test_code_that_hangs_on_import_is_stopped_by_the_run_limit(tmp_path, settings, no_containers_left):
    assignment = make_assignment(tmp_path / "tiny_tests", timeout_s=6, per_test_timeout_s=60)
    hangs = "import time\nif __name__ != '__main__':\n    while True:\n        time.sleep(1)\n" + GOOD
    report = grade(make_submission(tmp_path / "sub", hangs), assignment, settings=settings)
    result = pytest_result(report)
    assert result.details["hidden_tests"]["run"]["verdict"] == "timeout"  # the 6 s run limit, not 60 s per test
    # the groups' points stay in the total even if the run was stopped before collection ended
    assert result.measurements["score"] == 0.0 and result.measurements["max_points"] >= 5.0
    assert "tests_timeout" in {m.code for m in result.messages}
    assert report.sandbox.verdict == "ok", "the candidate's own run was fine; only the tests hung"
