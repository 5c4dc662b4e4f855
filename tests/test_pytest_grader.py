"""The pytest grader with a fake sandbox (fast): result parsing, points, discovery, messages.

The same behaviour runs for real, inside Docker, in ``test_pytest_grader_docker.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from graders.base import GradeContext
from graders.pytest_grader import (
    PytestConfig,
    PytestGrader,
    candidate_test_files,
    parse_results,
    score_tests,
    stage_tree,
)
from graders.registry import default_registry
from harness.errors import GraderError, SpecError
from harness.models import SandboxRun, Verdict, Visibility
from harness.spec import AssignmentSpec, GraderSpec


def lines(*records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def test_parse_results_validates_every_line():
    run = parse_results(
        lines(
            {"event": "collected", "nodeids": ["t.py::a", "t.py::b", "t.py::c", 7]},
            {"event": "test", "nodeid": "t.py::a", "outcome": "passed", "duration_s": 0.1},
            {
                "event": "test",
                "nodeid": "t.py::b",
                "outcome": "failed",
                "message": "assert 1 == 2",
                "longrepr": "x" * 9000,
            },
            {"event": "test", "nodeid": "t.py::a", "outcome": "failed"},  # a repeat never overrides the first
            {"event": "test", "nodeid": "t.py::z", "outcome": "exploded"},
            "not json",
            [1, 2],
            {"event": "collect_error", "nodeid": "test_broken.py", "message": "ImportError"},
            {"event": "finished", "exit_code": 1},
        )
    )
    assert run.collected == ["t.py::a", "t.py::b", "t.py::c"]
    assert [(t.nodeid, t.outcome) for t in run.outcomes()] == [
        ("t.py::a", "passed"),
        ("t.py::b", "failed"),
        ("t.py::c", "not_run"),
    ]
    assert len(run.tests["t.py::b"].longrepr) == 4000
    assert run.malformed_lines == 3 and run.exit_code == 1
    assert [e.nodeid for e in run.collect_errors] == ["test_broken.py"]


def cfg(**kw) -> PytestConfig:
    return PytestConfig.model_validate(kw)


def run_of(outcomes: dict[str, str], collect_errors: int = 0):
    records = [{"event": "collected", "nodeids": list(outcomes)}]
    records += [{"event": "test", "nodeid": n, "outcome": o} for n, o in outcomes.items() if o != "not_run"]
    records += [{"event": "collect_error", "nodeid": f"bad{i}.py"} for i in range(collect_errors)]
    return parse_results(lines(*records))


def test_points_per_group_pro_rata_all_or_nothing_and_ungrouped():
    config = cfg(
        groups=[
            {"name": "api", "tests": ["t.py::test_api_*"], "points": 4},
            {"name": "strict", "tests": ["test_strict*"], "points": 2, "all_or_nothing": True},
        ],
        points_per_test=0.5,
    )
    run = run_of(
        {
            "t.py::test_api_a": "passed",
            "t.py::test_api_b": "failed",
            "t.py::test_strict_a": "passed",
            "t.py::test_strict_b": "timeout",
            "t.py::test_other": "passed",
            "t.py::test_other2": "not_run",
        }
    )
    scoring = score_tests(run, config)
    groups = {g.name: (g.earned, g.passed, g.total) for g in scoring.groups}
    assert groups == {"api": (2.0, 1, 2), "strict": (0.0, 1, 2)}
    assert (scoring.earned, scoring.possible) == (2.5, 7.0)


def test_a_group_no_test_matched_keeps_its_points_in_the_total_and_load_errors_cost():
    config = cfg(groups=[{"name": "model", "tests": ["*model*"], "points": 3}], points_per_test=1)
    scoring = score_tests(run_of({"t.py::test_import": "passed"}, collect_errors=1), config)
    assert (scoring.earned, scoring.possible) == (1.0, 5.0)


def test_config_rejects_paths_outside_the_assignment_and_duplicate_groups():
    with pytest.raises(ValueError, match="inside the assignment"):
        cfg(tests="../elsewhere")
    with pytest.raises(ValueError, match="unique"):
        cfg(groups=[{"name": "a", "tests": ["x"], "points": 1}, {"name": "a", "tests": ["y"], "points": 1}])


def test_config_errors_name_the_toml_path():
    registry = default_registry()
    with pytest.raises(SpecError, match=r"graders\[2\]\.config\.groups\.0\.points"):
        registry.instantiate(
            GraderSpec(use="pytest", config={"groups": [{"name": "a", "tests": ["x"], "points": 0}]}), 2
        )


def test_candidate_tests_are_found_by_name_without_following_links(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_model.py").write_text("def test_a(): pass\n")
    (tmp_path / "io_test.py").write_text("")
    (tmp_path / "testing_notes.py").write_text("")
    for skipped in (".venv", "venv", "node_modules", "__pycache__"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "test_x.py").write_text("")
    os.symlink("/etc", tmp_path / "linked")
    os.symlink(tmp_path / "io_test.py", tmp_path / "test_link.py")
    assert candidate_test_files(tmp_path) == ["io_test.py", "tests/test_model.py"]


def test_stage_tree_copies_regular_files_readable_by_the_sandbox(tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "__pycache__").mkdir(parents=True)
    (src / "test_a.py").write_text("x")
    (src / "sub" / "data.json").write_text("{}")
    (src / "sub" / "__pycache__" / "test_a.cpython-311.pyc").write_bytes(b"\0")
    (src / "sub" / "stale.pyc").write_bytes(b"\0")
    os.symlink("/etc/passwd", src / "passwd")
    dest = tmp_path / "dest"
    assert stage_tree(src, dest) == 2
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["sub", "sub/data.json", "test_a.py"]
    assert (dest / "sub").stat().st_mode & 0o777 == 0o755 and (dest / "test_a.py").stat().st_mode & 0o777 == 0o644


# --- the grader against a fake sandbox -------------------------------------------------------


def make_ctx(tmp_path: Path, writes: dict[str, bytes], verdict=Verdict.CRASHED, calls=None) -> GradeContext:
    assignment = tmp_path / "assignment"
    (assignment / "hidden_tests").mkdir(parents=True, exist_ok=True)
    (assignment / "hidden_tests" / "test_contract.py").write_text("def test_x(): pass\n")
    submission = tmp_path / "submission"
    submission.mkdir(exist_ok=True)

    def run_in_sandbox(command, *, extra_mounts=(), timeout_s=None, name="extra", trusted=False):
        if "pair" in command:  # the hidden tests: entry.py pair SERVER RUNNER, a two-uid run
            assert trusted
            command = json.loads(command[-1])  # the runner side: what decides the results
        if calls is not None:
            mounts = {target: source for source, target in extra_mounts}
            staged = sorted(p.name for p in mounts["/tests"].iterdir()) if "/tests" in mounts else []
            calls.append(
                {
                    "command": command,
                    "mounts": mounts,
                    "staged": staged,
                    "timeout_s": timeout_s,
                    "name": name,
                    "trusted": trusted,
                    "driver": sorted(
                        p.relative_to(mounts["/holdout-pytest"]).as_posix()
                        for p in mounts["/holdout-pytest"].rglob("*.py")
                    ),
                }
            )
        out = tmp_path / f"out-{name}"
        out.mkdir()
        results = command[command.index("--results") + 1].removeprefix("/output/").removeprefix("/holdout/trusted/")
        if results in writes:
            (out / results).write_bytes(writes[results])
        return SandboxRun(verdict=verdict, exit_code=1, timeout_s=timeout_s), out

    p = Path("/nonexistent")
    return GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=assignment,
        submission_dir=submission,
        inputs_dir=p,
        hidden_dir=p,
        output_dir=p,
        logs_dir=p,
        run_in_sandbox=run_in_sandbox,
    )


HIDDEN = "holdout-hidden-tests.jsonl"
CANDIDATE = "holdout-candidate-tests.jsonl"
GROUPS = [
    {"name": "model", "tests": ["*model*"], "points": 3, "description": "build_model() works"},
    {"name": "io", "tests": ["*io*"], "points": 1},
]


def test_failures_are_reviewer_only_and_the_candidate_gets_a_group_summary(tmp_path):
    calls: list = []
    ctx = make_ctx(
        tmp_path,
        {
            HIDDEN: lines(
                {
                    "event": "collected",
                    "nodeids": ["t.py::test_model_fit", "t.py::test_model_predict", "t.py::test_io"],
                },
                {"event": "test", "nodeid": "t.py::test_model_fit", "outcome": "passed"},
                {
                    "event": "test",
                    "nodeid": "t.py::test_model_predict",
                    "outcome": "failed",
                    "message": "AssertionError: secret expected value 42",
                    "longrepr": "Traceback ... secret expected value 42",
                },
                {"event": "test", "nodeid": "t.py::test_io", "outcome": "passed"},
                {"event": "finished", "exit_code": 1},
            )
        },
        calls=calls,
    )
    grader = PytestGrader(cfg(groups=GROUPS, timeout_s=30, per_test_timeout_s=5))
    result = grader.grade(ctx)
    m = result.measurements
    assert (m["points"], m["max_points"], m["score"], m["passed"], m["failed"]) == (2.5, 4.0, 0.625, 2.0, 1.0)
    candidate = [x for x in result.messages if x.visibility == Visibility.CANDIDATE]
    reviewer = [x for x in result.messages if x.visibility == Visibility.REVIEWER]
    assert [x.code for x in candidate] == ["hidden_tests_failed", "candidate_tests"]
    assert "build_model() works: 1 of 2 test(s) failed (1.5 of 3 points lost)" in candidate[0].text
    assert not any("secret" in x.text or "test_model_predict" in x.text for x in candidate)
    assert any("secret expected value 42" in x.text and "test_model_predict" in x.text for x in reviewer)
    (hidden_call,) = calls  # no tests of the candidate's own: one container only
    assert hidden_call["timeout_s"] == 30 and hidden_call["name"] == "pytest-hidden" and hidden_call["trusted"]
    assert set(hidden_call["mounts"]) == {"/tests", "/holdout-pytest"}
    assert hidden_call["staged"] == ["test_contract.py"]
    assert {"pytest_driver.py", "pytest_bridge/client.py", "pytest_bridge/server.py"} <= set(hidden_call["driver"])
    command = hidden_call["command"]
    assert command[command.index("--per-test-timeout") + 1] == "5"
    # the hidden tests' pytest: isolated (-I: no PYTHONPATH), no submission on sys.path, results
    # into the runner's trusted folder, the candidate's code only through the bridge
    assert command[1] == "-I" and "--path" not in command and "/submission" not in command
    assert command[command.index("--results") + 1] == "/holdout/trusted/" + HIDDEN
    assert command[command.index("--bridge-peer-uid") + 1] == "10001"
    assert not hidden_call["mounts"]["/tests"].exists(), "the staged copy is removed after the run"


def test_a_run_stopped_at_the_limit_counts_unfinished_tests_as_failed(tmp_path):
    ctx = make_ctx(
        tmp_path,
        {
            HIDDEN: lines(
                {"event": "collected", "nodeids": ["t.py::test_io", "t.py::test_model_fit"]},
                {"event": "test", "nodeid": "t.py::test_io", "outcome": "passed"},
            )
        },
        verdict=Verdict.TIMEOUT,
    )
    result = PytestGrader(cfg(groups=GROUPS)).grade(ctx)
    assert result.measurements["points"] == 1.0 and result.measurements["max_points"] == 4.0
    assert "tests_timeout" in {x.code for x in result.messages}


def test_no_results_after_a_kill_scores_zero(tmp_path):
    result = PytestGrader(cfg(groups=GROUPS)).grade(make_ctx(tmp_path / "a", {}, verdict=Verdict.OUT_OF_MEMORY))
    assert result.measurements["score"] == 0.0
    crashed = [x for x in result.messages if x.code == "tests_crashed"]
    assert crashed and "ran out of memory" in crashed[0].text


@pytest.mark.parametrize(
    "content",
    [
        b"",  # truncated to nothing
        b'{"event": "collec',  # cut mid-line
        b"\x00\xff garbage \n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n" + b"[" * 100_000 + b"\n",
        b'{"event": "finished", "exit_code": 4}\n',  # a forged pytest internal error before any test
    ],
)
def test_an_empty_truncated_or_garbage_results_file_is_the_harness_failure(tmp_path, content):
    # The results file is written by the runner uid into its trusted folder, which the
    # candidate's code cannot write (attack 8 of issue 13 forged it from the candidate's process):
    # one that says nothing usable means pytest itself could not run, the harness's failure.
    with pytest.raises(GraderError, match="pytest could not run the hidden tests"):
        PytestGrader(cfg(groups=GROUPS)).grade(make_ctx(tmp_path, {HIDDEN: content}, verdict=Verdict.OK))


def test_results_lines_with_huge_numbers_or_deep_nesting_are_skipped_not_raised():
    run = parse_results(
        b'{"event": "test", "nodeid": "t.py::test_io", "outcome": "passed", "duration_s": 1'
        + b"0" * 400
        + b"}\n"
        + b'{"event": "test", "nodeid": "t.py::test_x", "outcome": "passed", "duration_s": NaN}\n'
        + b'{"event": "collected", "nodeids": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}\n"
    )
    assert [t.duration_s for t in run.tests.values()] == [0.0, 0.0]
    assert run.malformed_lines == 1 and run.collected == []


def test_the_candidates_own_tests_become_counts(tmp_path):
    calls: list = []
    ctx = make_ctx(
        tmp_path,
        {
            HIDDEN: lines({"event": "finished", "exit_code": 5}),
            CANDIDATE: lines(
                {
                    "event": "collected",
                    "nodeids": ["tests/test_a.py::test_1", "tests/test_a.py::test_2", "tests/test_a.py::test_3"],
                },
                {"event": "test", "nodeid": "tests/test_a.py::test_1", "outcome": "passed"},
                {"event": "test", "nodeid": "tests/test_a.py::test_2", "outcome": "failed"},
                {"event": "test", "nodeid": "tests/test_a.py::test_3", "outcome": "skipped"},
            ),
        },
        calls=calls,
    )
    (ctx.submission_dir / "tests").mkdir()
    (ctx.submission_dir / "tests" / "test_a.py").write_text("")
    result = PytestGrader(cfg(tests=None, candidate_timeout_s=12)).grade(ctx)
    m = result.measurements
    assert (
        m["candidate_tests_found"],
        m["candidate_tests_passed"],
        m["candidate_tests_failed"],
        m["candidate_tests_total"],
    ) == (1, 1, 1, 3)
    assert "score" not in m  # no hidden tests configured
    (call,) = calls
    assert call["name"] == "pytest-candidate" and call["timeout_s"] == 12 and "/tests" not in call["mounts"]
    assert call["command"][-1] == "tests/test_a.py" and "/submission" in call["command"]


def test_the_candidates_failing_tests_show_why_bounded_for_the_reviewer(tmp_path):
    """Each failing test of the candidate's own with its reason (test id + pytest's short
    message, control characters gone, cut short), the first ten; the rest counted."""
    failing = [
        {"event": "test", "nodeid": f"test_a.py::test_{i}", "outcome": "failed", "message": f"assert {i} == 0"}
        for i in range(12)
    ]
    failing[0]["message"] = "AssertionError: \x1b[31m<b>drops digits</b>\u202e" + "x" * 5000
    failing[1] = {"event": "test", "nodeid": "test_a.py::test_1", "outcome": "error", "longrepr": "E   boom\nE   last"}
    ctx = make_ctx(
        tmp_path,
        {CANDIDATE: lines({"event": "collected", "nodeids": [f["nodeid"] for f in failing]}, *failing)},
    )
    (ctx.submission_dir / "test_a.py").write_text("")
    result = PytestGrader(cfg(tests=None)).grade(ctx)
    reasons = [m for m in result.messages if m.code == "candidate_test_failed"]
    assert all(m.visibility == Visibility.REVIEWER for m in reasons) and len(reasons) == 11
    assert (
        reasons[0].text.startswith("test_a.py::test_0: failed — AssertionError: ")
        and "<b>drops digits</b>" in reasons[0].text
    )
    assert len(reasons[0].text) < 400 and "\x1b" not in reasons[0].text and "\u202e" not in reasons[0].text
    assert reasons[1].text == "test_a.py::test_1: error — E last"
    assert reasons[-1].text.startswith("… and 2 more")
    table = result.details["table"]
    assert table["columns"] == ["test", "outcome", "reason"] and len(table["rows"]) == 10
    assert table["rows"][2] == ["test_a.py::test_2", "failed", "assert 2 == 0"]


def test_grader_needs_the_sandbox_and_its_tests_folder(tmp_path):
    p = Path("/nonexistent")
    bare = GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=tmp_path,
        submission_dir=p,
        inputs_dir=p,
        hidden_dir=p,
        output_dir=p,
        logs_dir=p,
    )
    with pytest.raises(GraderError, match="run_in_sandbox"):
        PytestGrader(cfg()).grade(bare)
    grader = PytestGrader(cfg(tests="nope"))
    assert grader.problems(tmp_path) == [f"hidden tests folder 'nope' does not exist in {tmp_path}"]
    (tmp_path / "nope").mkdir()
    assert "holds no test_*.py" in grader.problems(tmp_path)[0]
    assert grader.hidden_paths(tmp_path) == [tmp_path / "nope"]
