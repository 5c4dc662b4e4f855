"""Assignment authors: ``grade new`` scaffolds, ``grade check``'s logic, and a custom grader in an
assignment's ``graders.py`` (fast: a fake sandbox). The same flow runs in real Docker in
``test_new_assignment_docker.py``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.api import grade
from harness.authoring.check import check_assignment, static_problems
from harness.authoring.new import KINDS, new_assignment
from harness.errors import ConfigError, DataError, SpecError
from harness.models import SandboxRun, Verdict
from harness.reports.write import report_json
from harness.settings import Settings
from harness.spec import load_assignment

SYNTHETIC_TABLE = """
def load_table(sources):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "target": 3 * x[:, 0] - x[:, 1] + rng.normal(0.1, size=200)})


"""


def with_data(root: Path) -> None:
    """What an author does first: rewrite load_table (here: a synthetic table)."""
    prepare = root / "prepare.py"
    text = prepare.read_text()
    start, end = text.index("def load_table"), text.index("def prepare(")
    prepare.write_text(text[:start] + SYNTHETIC_TABLE.lstrip() + text[end:])


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("kind", KINDS)
def test_every_scaffold_is_a_valid_assignment(kind, tmp_path):
    root = tmp_path / f"my_{kind}"
    written = new_assignment(root, kind, title="My take-home")
    assert (root / "assignment.toml") in written and (root / "README.md") in written
    assignment = load_assignment(root)
    assert assignment.id == f"my_{kind}" and assignment.spec.kind == kind and assignment.spec.title == "My take-home"
    assert static_problems(assignment) == []  # every grader, metric and rubric reference resolves
    assert {c.name for c in assignment.spec.canaries} >= {"reference", "crashes"}
    for path in written:
        assert "__ASSIGNMENT_ID__" not in path.read_text() and "__TITLE__" not in path.read_text()


def test_scaffold_without_data_says_what_to_do(tmp_path):
    root = tmp_path / "no_data_yet"
    new_assignment(root, "regression")
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    with pytest.raises(DataError, match="no data yet: declare 'no_data_yet/data.csv'"):
        check_assignment(load_assignment(root), settings, runner=lambda request: None)


def test_new_refuses_bad_names_kinds_and_existing_folders(tmp_path):
    with pytest.raises(ConfigError, match="cannot be an assignment id"):
        new_assignment(tmp_path / "My-Assignment")
    with pytest.raises(ConfigError, match="unknown kind"):
        new_assignment(tmp_path / "ok_name", kind="vision")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    proc = run("new", str(tmp_path / "taken"), "--kind", "regression")
    assert proc.returncode == 2 and "already exists" in proc.stderr and "hint:" in proc.stderr
    proc = run("new", str(tmp_path / "fresh"), "--kind", "regression")
    assert proc.returncode == 0 and (tmp_path / "fresh" / "hidden_tests" / "test_contract.py").is_file()


# --- grade check's logic, with a fake sandbox ---------------------------------------------------


def mount(request, target: str) -> Path:
    return next(Path(m.source) for m in request.mounts if m.target == target)


def fake_sandbox(request) -> SandboxRun:
    """Plays the canaries: 'reference' predicts the truth, 'baseline' the mean, 'crashes' crashes.
    (A fake may peek at the hidden labels beside the inputs; real candidates cannot.)"""
    submission = mount(request, "/submission")
    kind = (submission / "predict.py").read_text()
    if any(m.target == "/holdout-pytest" for m in request.mounts):  # the hidden tests: all pass, but for the crash
        tests = [
            "test_contract.py::test_import_has_no_side_effects",
            "test_contract.py::test_main_is_defined",
            "test_contract.py::test_build_model_fits_the_training_table",
        ]
        outcome = "failed" if "no_such_column" in kind else "passed"
        records = [
            {"event": "collected", "nodeids": tests},
            *({"event": "test", "nodeid": n, "outcome": outcome} for n in tests),
        ]
        (mount(request, "/holdout/trusted") / "holdout-hidden-tests.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records)
        )
        return SandboxRun(verdict=Verdict.OK, exit_code=0)
    if "no_such_column" in kind:
        return SandboxRun(verdict=Verdict.CRASHED, exit_code=1)
    with open(mount(request, "/data").parent / "hidden" / "test_labels.csv", newline="") as fh:
        truth = {r["id"]: float(r["target"]) for r in csv.DictReader(fh)}
    mean = sum(truth.values()) / len(truth)
    rows = "".join(f"{i},{v if 'RidgeCV' in kind else mean}\n" for i, v in truth.items())
    (mount(request, "/output") / "predictions.csv").write_text("id,target\n" + rows)
    return SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=1.0, timeout_s=request.limits.timeout_s)


@pytest.fixture
def scaffold(tmp_path) -> tuple[Path, Settings]:
    root = tmp_path / "assignments" / "synthetic_reg"
    new_assignment(root, "regression")
    with_data(root)
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    return root, settings


def test_check_reports_one_row_per_check_and_flags_a_canary_mismatch(scaffold):
    root, settings = scaffold
    spec_file = root / "assignment.toml"
    text = spec_file.read_text()
    report = check_assignment(load_assignment(root), settings, runner=fake_sandbox)
    rows = {r.name: r for r in report.rows}
    assert list(rows) == [
        "spec, graders, rubric",
        "data",
        "starter kit",
        "canary reference",
        "canary baseline",
        "canary crashes",
        "rubric measurements",
    ]
    assert report.ok, [(r.name, r.problems) for r in report.rows]
    assert "score 100.0" in rows["canary reference"].got and "verdict crashed" in rows["canary crashes"].got
    spec_file.write_text(text.replace("max_score = 40", "max_score = 10"))
    report = check_assignment(load_assignment(root), settings, runner=fake_sandbox, only=["baseline"])
    (row,) = [r for r in report.rows if r.name.startswith("canary")]
    assert not report.ok and not row.ok and row.problems == ["score 30.0, expected <= 10.0"]


def test_check_fails_on_a_misspelt_measurement_with_a_suggestion(scaffold):
    root, settings = scaffold
    spec_file = root / "assignment.toml"
    spec_file.write_text(spec_file.read_text().replace('measurement = "pytest.score"', 'measurement = "pytest.scor"'))
    report = check_assignment(load_assignment(root), settings, runner=fake_sandbox, only=["reference"])
    row = report.rows[-1]
    assert row.name == "rubric measurements" and not row.ok and not report.ok
    assert row.problems == [
        "rubric.criteria[2] (hidden_tests): no grader produced 'pytest.scor'; did you mean 'pytest.score'?"
    ]


def test_check_shows_why_a_grader_failed_on_a_canary(scaffold, monkeypatch):
    from graders.predictions import PredictionsGrader

    root, settings = scaffold

    def broken(self, ctx):
        raise KeyError("column 'target' vanished")

    monkeypatch.setattr(PredictionsGrader, "grade", broken)
    report = check_assignment(load_assignment(root), settings, runner=fake_sandbox, only=["reference"])
    (row,) = [r for r in report.rows if r.name == "canary reference"]
    assert not row.ok
    assert any("grader predictions failed: " in p and "column 'target' vanished" in p for p in row.problems)
    assert "grader predictions failed" in row.got


def test_check_stops_on_static_problems_before_any_container(scaffold):
    root, settings = scaffold
    spec_file = root / "assignment.toml"
    spec_file.write_text(
        spec_file.read_text()
        .replace('measurement = "pytest.score"', 'measurement = "tests.score"')
        .replace('tests = "hidden_tests"', 'tests = "hiden_tests"')
    )
    calls = []
    with pytest.raises(SpecError) as err:
        check_assignment(load_assignment(root), settings, runner=calls.append)
    text = str(err.value)
    assert "rubric.criteria[2].measurement: 'tests.score' names no grader" in text
    assert "hidden tests folder 'hiden_tests' does not exist" in text
    assert not calls and err.value.exit_code == 2


def test_cli_check_spec_error_exits_2(scaffold):
    root, settings = scaffold
    (root / "assignment.toml").write_text((root / "assignment.toml").read_text().replace('use = "run"', 'use = "runn"'))
    env = {**os.environ, "GRADE_CACHE_DIR": str(settings.cache_dir), "GRADE_DATA_DIR": str(settings.data_dir)}
    proc = run("check", str(root), env=env)
    assert proc.returncode == 2, proc.stderr
    assert "graders[1].use: unknown grader 'runn'; did you mean 'run'?" in proc.stderr


# --- a custom grader in the assignment's graders.py ---------------------------------------------

CUSTOM_GRADER = '''
"""The author's own grader: does the submission's README say how to run it?"""

from graders.base import GradeContext, Grader, GraderConfig
from harness.models import GraderResult, Message


class ReadmeConfig(GraderConfig):
    must_mention: str = "predict.py"


class ReadmeGrader(Grader):
    PLUGIN_NAME = "readme_mentions"
    Config = ReadmeConfig

    def grade(self, ctx: GradeContext) -> GraderResult:
        readme = ctx.submission_dir / "README.md"
        text = readme.read_text(errors="replace")[:100_000] if readme.is_file() and not readme.is_symlink() else ""
        found = self.config.must_mention in text
        result = GraderResult(grader=self.name, measurements={"mentions": 1.0 if found else 0.0})
        if not found:
            result.messages.append(Message(code="readme_incomplete", text="The README does not say how to run predict.py.", source=self.name))
        return result
'''


def test_a_custom_grader_in_graders_py_shows_up_in_the_report(scaffold, tmp_path):
    root, settings = scaffold
    (root / "graders.py").write_text(CUSTOM_GRADER)
    spec_file = root / "assignment.toml"
    spec_file.write_text(
        spec_file.read_text().replace(
            "# --- rubric ---",
            '[[graders]]\nuse = "readme_mentions"\n\n[graders.config]\nmust_mention = "python predict.py"\n\n'
            '[[rubric.criteria]]\nid = "readme"\ntitle = "README says how to run it"\nweight = 10\n'
            'measurement = "readme_mentions.mentions"\nthresholds = [0.25, 0.5, 0.75, 1.0]\n\n# --- rubric ---',
            1,
        )
    )
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "predict.py").write_text("from sklearn.linear_model import RidgeCV\n")
    (submission / "submission.toml").write_text('assignment = "synthetic_reg"\n')
    (submission / "README.md").write_text("Run `python predict.py`.\n")
    report = grade(submission, settings=settings, runner=fake_sandbox)
    custom = next(g for g in report.graders if g.grader == "readme_mentions")
    assert custom.status == "ok" and custom.measurements == {"mentions": 1.0}
    assert report.metrics["readme_mentions.mentions"] == 1.0
    row = next(c for c in report.criteria if c.id == "readme")
    assert row.level == 5 and "readme_mentions.mentions = 1" in row.evidence[0]
    assert '"grader": "readme_mentions"' in report_json(report)
    (submission / "README.md").write_text("Good luck.\n")
    report = grade(submission, settings=settings, runner=fake_sandbox)
    assert "readme_incomplete" in {m.code for m in report.messages}
    assert next(c for c in report.criteria if c.id == "readme").level == 1


def test_cli_check_exit_code_is_1_on_a_mismatch_and_0_when_all_pass(scaffold, monkeypatch):
    from click.testing import CliRunner

    import harness.authoring.check
    from harness.authoring.check import CheckReport, CheckRow
    from harness.cli import cli

    root, settings = scaffold
    for env, value in (("GRADE_CACHE_DIR", settings.cache_dir), ("GRADE_DATA_DIR", settings.data_dir)):
        monkeypatch.setenv(env, str(value))
    rows = [CheckRow("canary reference", True, "score ≥ 60", "score 82.5")]
    monkeypatch.setattr(
        harness.authoring.check, "check_assignment", lambda *a, **kw: CheckReport("synthetic_reg", list(rows), 1.0)
    )
    result = CliRunner().invoke(cli, ["check", str(root)])
    assert result.exit_code == 0 and "all checks pass" in result.output
    rows.append(CheckRow("canary baseline", False, "score ≤ 40", "score 55.0", ["score 55.0, expected <= 40"]))
    result = CliRunner().invoke(cli, ["check", str(root), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["checks"][1]["problems"] == ["score 55.0, expected <= 40"]
