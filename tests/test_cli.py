from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli, exit_code_for, main
from harness.models import AssignmentRef, GradeReport, SubmissionRef


def all_commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        yield f"{prefix}{name}", cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, f"{prefix}{name} ")


def test_every_command_has_help_text():
    missing = [name for name, cmd in all_commands(cli) if not (cmd.help or "").strip()]
    assert not missing, f"commands without help: {missing}"


def test_every_option_has_help_text():
    missing = [
        f"{name} {p.name}"
        for name, cmd in all_commands(cli)
        for p in cmd.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert not missing, missing


def run(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env)


def test_python_dash_m_and_version():
    proc = run("--version")
    assert proc.returncode == 0 and "holdout" in proc.stdout


def test_missing_submission_exits_2_with_a_message(tmp_path):
    proc = run(str(tmp_path / "nope.zip"))
    assert proc.returncode == 2  # the operator's mistake (a usage error), as in `grade batch`
    assert "does not exist" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_option_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--no-such-flag"])
    assert exc.value.code == 2


def test_schema_prints_json_schema():
    proc = run("schema")
    schema = json.loads(proc.stdout)
    assert "score" in schema["properties"] and "criteria" in schema["properties"]
    assert "rubric" in json.loads(run("schema", "--assignment").stdout)["properties"]


def test_list_graders_and_metrics_and_assignments():
    graders = run("list", "graders").stdout
    assert "predictions" in graders and "run" in graders
    metrics = run("list", "metrics").stdout
    assert "f1" in metrics and "roc_auc" in metrics and "rmse" in metrics
    assert "applied_ml" in run("list", "assignments").stdout


def test_unknown_assignment_is_exit_2_with_suggestion(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predict.py").write_text("print(1)\n")
    proc = run(str(sub), "--assignment", "applied_mll", "--image", "none:none")
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'applied_ml'" in proc.stderr


def _report(status="graded", score=70.0) -> GradeReport:
    return GradeReport(
        status=status, score=score, assignment=AssignmentRef(id="a"), submission=SubmissionRef(name="s", sha256="0")
    )


def test_exit_codes_for_reports():
    assert exit_code_for(_report(), None) == 0
    assert exit_code_for(_report(), 60) == 0
    assert exit_code_for(_report(score=50.0), 60) == 1
    assert exit_code_for(_report(status="rejected", score=0.0), None) == 3
    assert exit_code_for(_report(status="needs_review", score=None), 60) == 4


def test_a_misspelt_command_is_a_usage_error_with_a_suggestion(tmp_path):
    proc = run("lsit")
    assert proc.returncode == 2
    assert "no such command 'lsit'; did you mean 'list'?" in proc.stderr
    proc = run("doctr")
    assert proc.returncode == 2 and "did you mean 'doctor'?" in proc.stderr
    # a path-looking argument is still a submission (missing: a usage error too, but about the path)
    proc = run(str(tmp_path / "lsit"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert "does not exist" in run("lsit.zip").stderr


@pytest.mark.parametrize("value", ["-5", "150", "abc"])
def test_fail_under_outside_0_to_100_is_a_usage_error(value, tmp_path):
    for command in (["submission", str(tmp_path)], ["batch", str(tmp_path)]):
        result = CliRunner().invoke(cli, [*command, "--fail-under", value])
        assert result.exit_code == 2, result.output
        assert "--fail-under" in result.output


@pytest.mark.parametrize(("score", "code", "said"), [(54.6, 1, "score 54.6 is below --fail-under 60"), (61.0, 0, "")])
def test_a_fail_under_miss_says_so_on_stderr(score, code, said, monkeypatch, tmp_path):
    import harness.api

    monkeypatch.setattr(harness.api, "grade", lambda *a, **kw: _report("graded", score))
    result = CliRunner().invoke(
        cli, ["submission", str(tmp_path), "--out", str(tmp_path / "out"), "--fail-under", "60", "--json"]
    )
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert json.loads(result.stdout)["score"] == score
    assert result.stderr.strip() == said


def test_a_second_grade_does_not_replace_a_report_without_force(monkeypatch, tmp_path, capsys):
    import harness.api

    monkeypatch.setattr(harness.api, "grade", lambda *a, **kw: _report("graded", 70.0))
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"the": "first report"}')
    (out / "artifacts").mkdir()
    (out / "artifacts" / "notebook.html").write_text("the first candidate's notebook")
    with pytest.raises(SystemExit) as exc:
        main(["submission", str(tmp_path), "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "already holds a report" in err and "--force" in err
    assert (out / "report.json").read_text() == '{"the": "first report"}'
    with pytest.raises(SystemExit) as exc:
        main(["submission", str(tmp_path), "--out", str(out), "--force", "--json"])
    assert exc.value.code == 0
    assert json.loads((out / "report.json").read_text())["score"] == 70.0


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["{missing}", "--json"], 2, "ConfigError"),
        (["{missing}", "--json", "--fail-under", "500"], 2, "usage"),
        (["check", "{missing}", "--json"], 2, "ConfigError"),
    ],
)
def test_json_mode_prints_an_error_object_on_failure(args, code, kind, tmp_path):
    missing = str(tmp_path / "nope.zip")
    proc = run(*(a.format(missing=missing) for a in args))
    assert proc.returncode == code, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["exit_code"] == code and error["type"] == kind and error["message"]
    assert proc.stderr.strip()  # the plain message too, for a person reading the CI log
