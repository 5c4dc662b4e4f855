"""Fast unit tests for the host-side parsers the catalogue found weak: everything the host reads
from a submission or its outputs must turn hostile input into a message, quickly and in bounded
memory, never into an exception that crashes or stalls the harness."""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import pytest

from graders.habits import _pyproject_requirements
from graders.lint import run_ruff
from graders.predictions import parse_predictions
from harness.deps import read_requirements
from harness.errors import ConfigError, SubmissionRejected
from harness.intake import IntakeLimits, unpack_submission
from harness.pipeline import read_manifest

TOML_BOMB = "x = " + "[" * 20000 + "]" * 20000 + "\n"


def test_manifest_nesting_bomb_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "submission.toml").write_text('assignment = "applied_ml"\n' + TOML_BOMB)
    with pytest.raises(ConfigError, match="nested too deeply"):
        read_manifest(tmp_path)


def test_pyproject_nesting_bomb_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\ndependencies = []\n" + TOML_BOMB)
    reqs, messages, source = read_requirements(tmp_path)
    assert (reqs, source) == ([], "pyproject.toml")
    assert [m.code for m in messages] == ["dep_invalid"]
    assert _pyproject_requirements("[project]\n" + TOML_BOMB) is None


def test_ruff_crash_on_a_pathological_file_is_a_finding_not_a_grader_error(tmp_path: Path) -> None:
    # Two deeply nested files in one ruff call overflow a worker thread's stack (SIGABRT).
    (tmp_path / "a.py").write_text("x = " + "(" * 100000 + "1" + ")" * 100000 + "\n")
    (tmp_path / "b.py").write_text("y = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "ok.py").write_text("import os\n")
    run = run_ruff(tmp_path, ["a.py", "b.py", "ok.py"])
    assert {f.file for f in run.findings} >= {"ok.py"}
    assert any(f.code == "F401" for f in run.findings)


def test_millions_of_prediction_rows_are_cut_at_the_line_cap() -> None:
    data = b"id,label\n" + b"z,h\n" * 3_000_000
    started = time.monotonic()
    rows, messages = parse_predictions(data, max_lines=20_000)
    assert time.monotonic() - started < 10
    assert len(rows) <= 20_000
    assert "too_many_rows" in [m.code for m in messages]


def test_zip_end_record_that_lies_is_caught_before_zipfile_parses_everything(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(300):
            zf.writestr(f"f{i}.txt", b"")
    data = bytearray(archive.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)
    archive.write_bytes(bytes(data))
    calls = []
    original = zipfile.ZipFile._RealGetContents

    def spy(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", spy)
    with pytest.raises(SubmissionRejected) as caught:
        unpack_submission(archive, tmp_path / "out", IntakeLimits(entries=100))
    assert (caught.value.reason, caught.value.member) == ("too_many_entries", "f100.txt")
    assert not calls, "zipfile parsed the central directory before the entry count was checked"
