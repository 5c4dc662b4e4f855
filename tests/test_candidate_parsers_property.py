"""Property tests: every parser of a candidate's file is total. Whatever a submission holds
(pyproject.toml, requirements.txt, submission.toml, notebooks) or its run leaves (the hidden-test
results file), the parser returns the candidate's result with a plain message, or for the
manifest the one documented :class:`ConfigError`, and never raises anything else (which the
pipeline would turn into ``needs_review``, "not the candidate's fault"). Issue 13, attack 8."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graders.files import list_files
from graders.habits import check_notebook, deps_signals, read_pyproject
from graders.pytest_grader import (
    PytestConfig,
    parse_results,
    score_tests,
)
from harness.deps import parse_lines, read_requirements
from harness.errors import ConfigError
from harness.models import Verdict
from harness.pipeline import read_manifest

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- TOML documents of any shape, biased towards the keys the parsers look at --------------------

_KEYS = st.sampled_from(
    [
        "project",
        "dependencies",
        "tool",
        "poetry",
        "version",
        "python",
        "numpy",
        "assignment",
        "optional-dependencies",
        "name",
        "",
    ]
) | st.text(max_size=8)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_SCALARS = (
    st.integers(-(2**70), 2**70)
    | st.floats()
    | st.booleans()
    | _TEXT
    | st.sampled_from(["numpy==1.0", "pandas>=2", "x; python_version ~= 'abc'", "-r other.txt", "^1.2", "*"])
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12
)


def toml_value(value: object) -> str:
    """A TOML literal for ``value`` (inline tables and arrays; enough for the generator)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(data: dict) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in data.items())


_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=4).map(toml_document)
_TEXTS = _DOCUMENTS | st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace"))


@SETTINGS
@given(_TEXTS)
def test_pyproject_parsing_never_raises(text: str) -> None:
    reqs, problem = read_pyproject(text)
    assert reqs is None or all(isinstance(r, str) for r in reqs)
    assert isinstance(problem, str)


@SETTINGS
@given(
    requirements=st.none() | st.binary(max_size=400) | _TEXTS.map(str.encode),
    pyproject=st.none() | st.binary(max_size=400) | _DOCUMENTS.map(str.encode),
)
def test_reading_requirements_never_raises(requirements: bytes | None, pyproject: bytes | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if requirements is not None:
            (root / "requirements.txt").write_bytes(requirements)
        if pyproject is not None:
            (root / "pyproject.toml").write_bytes(pyproject)
        _reqs, messages, source = read_requirements(root)
        assert source in (None, "requirements.txt", "pyproject.toml")
        assert all(m.code.startswith("dep_") for m in messages)
        declared, pinned = deps_signals(root, list_files(root))
        assert declared.value in (None, 0.0, 1.0) and pinned.value in (None, 0.0, 1.0)  # None: nothing to pin
        assert declared.evidence and pinned.evidence


_REQ_LINES = st.lists(
    st.text(max_size=60)
    | st.sampled_from(
        [
            'foo; python_full_version ~= "3"',
            'foo; python_version ~= "abc"',
            "foo===x",
            "foo[",
            "foo @ file:///x",
            'foo; extra == "a"',
            "foo (>=1)",
            "-e .",
            "foo==1.0; os_name < 1",
        ]
    ),
    max_size=8,
)


@SETTINGS
@given(_REQ_LINES)
def test_requirement_lines_never_raise(lines: list[str]) -> None:
    reqs, messages = parse_lines(lines, "requirements.txt")
    assert len(reqs) + len(messages) <= len(lines) + 1


@SETTINGS
@given(st.binary(max_size=300) | _DOCUMENTS.map(str.encode) | st.just(b"x = " + b"[" * 5000))
def test_the_manifest_is_a_dict_or_a_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "submission.toml").write_bytes(raw)
        try:
            assert isinstance(read_manifest(Path(tmp)), dict)
        except ConfigError as exc:
            assert "submission.toml" in str(exc)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            _KEYS
            | st.sampled_from(
                ["cells", "cell_type", "code", "outputs", "execution_count", "output_type", "error", "source"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(["cells", "nbformat", "metadata"]), _JSON, max_size=3).map(json.dumps)
    | st.text(max_size=200)
    | st.just('{"cells": [{"cell_type": "code", "source": [' + "[" * 990 + "]" * 990 + "]}]}")
)
def test_notebook_checks_never_raise(text: str) -> None:
    check = check_notebook("n.ipynb", text)
    assert check.readable in (True, False)


_RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["collected", "test", "collect_error", "finished", "other"]) | _TEXT,
        "nodeid": _TEXT | st.integers(),
        "nodeids": st.lists(_TEXT | st.integers(), max_size=4) | _TEXT,
        "outcome": st.sampled_from(["passed", "failed", "error", "skipped", "timeout", "bogus"]),
        "duration_s": st.integers(-10, 10**400) | st.floats() | _TEXT,
        "exit_code": st.integers(-(2**80), 2**80) | _TEXT,
        "message": _JSON,
        "longrepr": _JSON,
    },
)
_RESULT_LINES = st.lists(
    _RECORDS.map(lambda r: json.dumps(r).encode()) | st.binary(max_size=80) | st.just(b"[" * 20000), max_size=8
).map(b"\n".join)


@SETTINGS
@given(_RESULT_LINES, st.sampled_from(list(Verdict)))
def test_any_results_file_is_scored(data: bytes, verdict: Verdict) -> None:
    run = parse_results(data[: len(data) // 2] if data.endswith(b"}") else data)  # truncated too
    cfg = PytestConfig(groups=[{"name": "g", "tests": ["*a*"], "points": 2}])
    scoring = score_tests(run, cfg)
    assert 0 <= scoring.earned <= scoring.possible


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "mode",
                "error",
                "detail",
                "cell_errors",
                "converted_from",
                "outputs_truncated",
                "cell_timeout_s",
                "killed",
            ]
        ),
        _JSON
        | st.integers(-(2**2000), 2**2000)
        | st.just("notebook")
        | st.just("cell_timeout")
        | st.lists(st.dictionaries(st.sampled_from(["cell", "ename"]), _JSON, max_size=2) | _JSON, max_size=3),
        max_size=6,
    ),
    st.sampled_from(list(Verdict)),
)
def test_the_run_grader_reads_any_runner_record(runner: dict, verdict: Verdict) -> None:
    # runner.json is written inside the sandbox: its shape is the candidate's to choose
    from graders.base import GradeContext
    from graders.run import RunGrader
    from harness.models import SandboxRun
    from harness.spec import AssignmentSpec

    nowhere = Path("/nonexistent")
    ctx = GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=nowhere,
        submission_dir=nowhere,
        inputs_dir=nowhere,
        hidden_dir=nowhere,
        output_dir=nowhere,
        logs_dir=nowhere,
        sandbox=SandboxRun(verdict=verdict, exit_code=1, timeout_s=10, runner=runner),
    )
    result = RunGrader().grade(ctx)
    assert result.measurements["clean"] in (0.0, 0.5, 0.75, 1.0)
