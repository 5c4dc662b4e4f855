"""The host against what a container left behind: deep folder chains, folders without
permissions, links and fifos in the writable mounts, and a hostile ``runner.json``. Nothing of
it may crash ``grade`` or a later ``grade sandbox prune``, and nothing may stay in the temp dir.
Fast: a fake runner plays the container (the real one is in tests/hostile/cases_bounds.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from harness import safeio
from harness.api import grade
from sandbox.cleanup import JOB_PREFIX, new_job_dir, prune
from sandbox.runner import _read_runner_json
from tests.test_pipeline import fake_runner, mount, perfect, submission, toy  # noqa: F401 (fixture)
from tests.test_safeio import _deep_chain


class _NoContainers:
    """The engine part of prune, with nothing to remove (only the job dirs are under test)."""

    class containers:
        @staticmethod
        def list(**kwargs):
            return []


def _litter(root: Path) -> None:
    """Everything a container's uid can leave in a writable mount."""
    _deep_chain(root / "deep", 3000)
    locked = root / "locked" / "inner"
    locked.mkdir(parents=True)
    (locked / "f").write_text("x")
    locked.chmod(0)
    (root / "locked").chmod(0)
    (root / "escape").symlink_to("/")
    os.mkfifo(root / "fifo")


@pytest.fixture(autouse=True)
def _remove_litter(tmp_path):
    """Deep chains must not outlive the test even when it fails: pytest's own clean-up of old
    temp dirs recurses (and other sessions share its base temp dir)."""
    yield
    safeio.rmtree(tmp_path)


@pytest.fixture
def tmp_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_prune_removes_any_leftover_of_a_dead_run(tmp_root):
    job = new_job_dir()
    _litter(job / "run" / "output")
    (job / "owner.pid").write_text("999999999")  # no such process
    live = new_job_dir()  # ours: a live run's dir is kept
    report = prune(_NoContainers())
    assert report.job_dirs == [str(job)]
    assert sorted(p.name for p in tmp_root.iterdir()) == [live.name]


def test_prune_survives_a_hostile_owner_file(tmp_root):
    job = tmp_root / f"{JOB_PREFIX}forged"
    job.mkdir()
    (job / "owner.pid").symlink_to("/dev/zero")  # never read through a link, never blocks
    fifo_job = tmp_root / f"{JOB_PREFIX}fifo"
    fifo_job.mkdir()
    os.mkfifo(fifo_job / "owner.pid")
    huge_job = tmp_root / f"{JOB_PREFIX}huge"
    huge_job.mkdir()
    (huge_job / "owner.pid").write_text("9" * 40)  # would overflow os.kill
    report = prune(_NoContainers())
    assert sorted(report.job_dirs) == sorted([str(job), str(fifo_job), str(huge_job)])
    assert not any(tmp_root.iterdir())


def test_grade_removes_deep_trees_the_run_left_in_every_writable_mount(toy, tmp_path, tmp_root):
    _, settings = toy

    def littering(request, out: Path) -> None:
        perfect(request, out)
        for target in ("/output", "/holdout/logs"):
            _litter(mount(request, target) / "junk")

    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(littering))
    assert report.status == "graded" and report.score == 100.0
    assert not any(tmp_root.iterdir()), "the job dir was left behind"
    again = grade(submission(tmp_path), settings=settings, runner=fake_runner(perfect))  # prunes nothing, works
    assert again.score == 100.0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[" * 100_000, "nested deeper than"),
        (b'{"a": ' * 50 + b"1" + b"}" * 50, "nested deeper than"),
        (b'{"mode": "script", "pad": "' + b"x" * 300_000 + b'"}', "larger than"),
        (b"\xff\xfe not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
    ],
    ids=["bracket_bomb", "object_nesting", "too_large", "garbage", "not_an_object"],
)
def test_runner_record_that_cannot_be_read_is_a_plain_message(tmp_path, content, reason):
    (tmp_path / "runner.json").write_bytes(content)
    record = _read_runner_json(tmp_path)
    assert set(record) == {"error"} and reason in record["error"] and record["error"].startswith("runner.json")


def test_runner_record_absent_linked_or_honest(tmp_path):
    assert _read_runner_json(tmp_path) == {}
    assert _read_runner_json(None) == {}
    (tmp_path / "runner.json").symlink_to("/etc/hostname")
    assert "error" in _read_runner_json(tmp_path)
    (tmp_path / "runner.json").unlink()
    honest = b'{"mode": "notebook", "cell_errors": [{"cell": 3, "ename": "ValueError"}], "peak_rss_mb": 80.5}'
    (tmp_path / "runner.json").write_bytes(honest)
    assert _read_runner_json(tmp_path)["cell_errors"] == [{"cell": 3, "ename": "ValueError"}]
