"""Exit codes when something unexpected happens: a holdout bug anywhere in ``grade`` is exit 4
with the path of a crash file holding the traceback (never a traceback and exit 1: 1 means
"below --fail-under", nothing else); a reader that goes away (``grade ... | head``) is 141."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import EXIT_INFRA, batch_exit_code, main
from harness.settings import Settings

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a process killed by a broken pipe


def _crash_file(stderr: str) -> Path:
    found = re.search(r"the traceback is in (\S+\.txt)", stderr)
    assert found, stderr
    return Path(found[1])


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GRADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _bug(*args, **kwargs):
    raise ZeroDivisionError("a bug deep in holdout")


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["SUBMISSION"], "harness.api.grade"),
        (["list", "graders"], "graders.registry.default_registry"),
        (["sandbox", "prune"], "sandbox.engine.connect"),
        (["data", "prepare", "applied_ml"], "harness.data.prepare_assignment"),
    ],
    ids=["grade", "list", "sandbox_prune", "data_prepare"],
)
def test_an_unexpected_exception_is_exit_4_with_a_crash_file(argv, target, cache, tmp_path, monkeypatch, capsys):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predict.py").write_text("print(1)\n")
    argv = [str(sub) if a == "SUBMISSION" else a for a in argv]
    monkeypatch.setattr(target, _bug)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_INFRA
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error: ZeroDivisionError: a bug deep in holdout" in err
    path = _crash_file(err)
    assert path.parent == cache / "crashes"
    text = path.read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: a bug deep in holdout" in text


def test_crash_file_falls_back_to_the_temp_dir(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("GRADE_CACHE_DIR", str(blocked))  # cache/crashes cannot be made
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr("graders.registry.default_registry", _bug)
    with pytest.raises(SystemExit) as exc:
        main(["list", "graders"])
    assert exc.value.code == EXIT_INFRA
    assert _crash_file(capsys.readouterr().err).parent == tmp_path / "holdout-crashes"


def test_a_bug_in_one_batch_submission_is_infra_with_a_crash_file(tmp_path, monkeypatch):
    from harness.batch import grade_batch

    subs = tmp_path / "subs"
    for name in ("alice", "bob"):
        (subs / name).mkdir(parents=True)
        (subs / name / "predict.py").write_text("print(1)\n")
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)
    monkeypatch.setattr("harness.api.grade", _bug)
    result = grade_batch([subs], tmp_path / "out", settings, jobs=1, runner=lambda request: None)
    assert [item.state for item in result.items] == ["infra_error", "infra_error"]
    assert batch_exit_code(result, None) == EXIT_INFRA
    assert _crash_file(result.items[0].error).read_text().count("ZeroDivisionError") >= 1


def test_a_closed_pipe_is_not_exit_1():
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "list", "metrics"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before anything is written (`grade list | head -0`)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_BROKEN_PIPE, err.decode()[-2000:]
    assert b"Traceback" not in err and b"Exception ignored" not in err
