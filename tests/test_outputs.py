"""Reading candidate outputs: regular files only, no links followed, nothing blocks, size capped."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from graders.outputs import OutputError, check_output_name, open_output
from harness.errors import SubmissionError

SECRET = b"hidden-label-secret-42"


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    path = tmp_path / "output"
    path.mkdir()
    return path


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host_secret.txt"
    path.write_bytes(SECRET)
    return path


def _refused(out: Path, name: str, max_bytes: int = 1000) -> OutputError:
    with pytest.raises(OutputError) as info:
        open_output(out, name, max_bytes)
    assert SECRET.decode() not in info.value.text
    return info.value


def test_reads_a_regular_file(out: Path) -> None:
    (out / "predictions.csv").write_bytes(b"id,label\n1,spam\n")
    assert open_output(out, "predictions.csv", 1000) == b"id,label\n1,spam\n"


def test_reads_a_nested_file(out: Path) -> None:
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "sub" / "deeper" / "x.csv").write_bytes(b"x")
    assert open_output(out, "sub/deeper/x.csv", 10) == b"x"


def test_missing_file(out: Path) -> None:
    err = _refused(out, "predictions.csv")
    assert err.code == "missing" and "predictions.csv" in err.text


def test_missing_output_folder(tmp_path: Path) -> None:
    assert _refused(tmp_path / "nope", "predictions.csv").code == "missing"


def test_symlink_to_a_host_file_is_refused(out: Path, secret: Path) -> None:
    (out / "predictions.csv").symlink_to(secret)
    err = _refused(out, "predictions.csv")
    assert err.code == "symlink"


def test_dangling_symlink_is_refused(out: Path, tmp_path: Path) -> None:
    (out / "predictions.csv").symlink_to(tmp_path / "does-not-exist")
    assert _refused(out, "predictions.csv").code == "symlink"


def test_symlinked_parent_folder_is_refused(out: Path, secret: Path) -> None:
    (out / "sub").symlink_to(secret.parent, target_is_directory=True)
    err = _refused(out, f"sub/{secret.name}")
    assert err.code == "symlink" and "sub" in err.text


def test_parent_that_is_a_file_is_missing(out: Path) -> None:
    (out / "sub").write_bytes(b"not a folder")
    assert _refused(out, "sub/x.csv").code == "missing"


def test_fifo_is_refused_without_blocking(out: Path) -> None:
    os.mkfifo(out / "predictions.csv")
    outcome: list[object] = []

    def read() -> None:
        try:
            open_output(out, "predictions.csv", 1000)
        except OutputError as err:
            outcome.append(err)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "open_output blocked on a fifo"
    assert len(outcome) == 1 and isinstance(outcome[0], OutputError)
    assert outcome[0].code == "not_regular_file" and "pipe" in outcome[0].text


def test_directory_is_refused(out: Path) -> None:
    (out / "predictions.csv").mkdir()
    err = _refused(out, "predictions.csv")
    assert err.code == "not_regular_file" and "folder" in err.text


def test_socket_is_refused(out: Path) -> None:
    path = out / "p.csv"
    if len(str(path)) > 100:  # AF_UNIX paths are short
        pytest.skip("tmp path too long for a unix socket")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        err = _refused(out, "p.csv")
    assert err.code == "not_regular_file"


def test_too_large_is_refused_and_exact_size_is_read(out: Path) -> None:
    (out / "big.csv").write_bytes(b"x" * 101)
    err = _refused(out, "big.csv", max_bytes=100)
    assert err.code == "too_large" and "100" in err.text
    (out / "ok.csv").write_bytes(b"x" * 100)
    assert open_output(out, "ok.csv", 100) == b"x" * 100


def test_output_error_is_a_submission_error(out: Path) -> None:
    err = _refused(out, "predictions.csv")
    assert isinstance(err, SubmissionError) and err.hint


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x.csv", "a/../b.csv", "./x.csv", "a\\b.csv", "a//b.csv", "dir/", "x\x00y"]
)
def test_bad_names_are_programming_errors(out: Path, name: str) -> None:
    with pytest.raises(ValueError):
        check_output_name(name)
    with pytest.raises(ValueError):
        open_output(out, name, 10)


def test_good_names() -> None:
    assert check_output_name("predictions.csv") == ("predictions.csv",)
    assert check_output_name("a/b.csv") == ("a", "b.csv")
