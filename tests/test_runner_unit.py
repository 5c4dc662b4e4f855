"""The container options carry every protection (fast; the real-Docker tests prove they hold)."""

from __future__ import annotations

import os

import pytest

from harness.models import Verdict
from harness.spec import SandboxSpec
from sandbox.runner import (
    CANDIDATE_UID,
    ENTRY,
    RUNNER_UID,
    TRUSTED_MOUNT,
    Mount,
    RunRequest,
    _read_stream,
    _verdict,
    container_options,
    make_job_dirs,
    sandbox_environment,
    usage,
)


def options(**limits):
    return container_options(
        RunRequest(
            image="img",
            command=["true"],
            limits=SandboxSpec(**limits),
            mounts=(Mount("/a", "/submission"), Mount("/b", "/output", read_only=False)),
        )
    )


def test_every_protection_is_in_the_options():
    opts = options(memory_mb=300, pids=50, cpus=0.5, tmpfs_mb=32, file_size_mb=2, nofile=100)
    assert opts["network_mode"] == "none"
    assert opts["read_only"] is True
    assert opts["cap_drop"] == ["ALL"]
    assert opts["security_opt"] == ["no-new-privileges"]
    assert opts["user"] == f"{CANDIDATE_UID}:{CANDIDATE_UID}"
    assert opts["pids_limit"] == 50
    assert opts["mem_limit"] == opts["memswap_limit"] == "300m"
    assert opts["nano_cpus"] == 500_000_000
    assert "size=32m" in opts["tmpfs"]["/tmp"] and "nosuid" in opts["tmpfs"]["/tmp"]
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in opts["ulimits"]}
    assert ulimits == {"nofile": (100, 100), "fsize": (2 * 2**20, 2 * 2**20), "core": (0, 0)}
    assert opts["init"] is True
    assert opts["use_config_proxy"] is False
    assert opts["log_config"]["Config"]["max-size"] == "256k"
    assert opts["volumes"]["/a"]["mode"] == "ro" and opts["volumes"]["/b"]["mode"] == "rw"
    assert opts["labels"]["io.holdout.managed"] == "1"


def test_environment_is_explicit_and_never_the_hosts(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    env = sandbox_environment(SandboxSpec(cpus=2))
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["PIP_NO_INDEX"] == "1" and env["HOME"] == "/tmp" and env["OMP_NUM_THREADS"] == "2"


def test_verdict_comes_from_who_killed_it_not_the_exit_code():
    assert _verdict("timeout", False, 137) == Verdict.TIMEOUT
    assert _verdict(None, True, 137) == Verdict.OUT_OF_MEMORY
    assert _verdict(None, False, 137) == Verdict.CRASHED
    assert _verdict("output_quota", False, 137) == Verdict.CRASHED
    assert _verdict(None, False, 0) == Verdict.OK


def test_job_dirs_are_private(tmp_path):
    dirs = make_job_dirs(tmp_path / "job")
    assert oct(os.stat(dirs.root).st_mode & 0o777) == "0o700"
    assert dirs.output.is_dir() and dirs.logs.is_dir()


def test_stream_capture_keeps_head_and_tail(tmp_path):
    (tmp_path / "stdout.txt").write_bytes(b"HEAD" + b"x" * 100_000 + b"TAIL")
    capture = _read_stream(tmp_path, "stdout.txt")
    assert capture.truncated and capture.total_bytes == 100_008
    assert capture.text.startswith("HEAD") and capture.text.endswith("TAIL")
    assert "bytes not shown" in capture.text


def test_stream_capture_refuses_symlinks(tmp_path):
    (tmp_path / "secret").write_text("secret")
    os.symlink(tmp_path / "secret", tmp_path / "stdout.txt")
    assert _read_stream(tmp_path, "stdout.txt").text == ""


def test_usage_counts_without_following_links(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10_000)
    os.symlink("/", tmp_path / "root-link")
    used, entries = usage(tmp_path, limit_entries=100)
    assert entries == 2 and 8_000 <= used <= 20_000


def test_a_run_with_a_trusted_folder_starts_as_root_with_only_setuid_and_setgid(tmp_path):
    dirs = make_job_dirs(tmp_path / "job")
    if os.getuid() == 0:
        assert os.stat(dirs.trusted).st_uid == RUNNER_UID and os.stat(dirs.output).st_uid == CANDIDATE_UID
    assert os.stat(dirs.trusted).st_mode & 0o777 == 0o755
    request = RunRequest(image="img", command=[*ENTRY, "script", "predict.py"], mounts=dirs.mounts(trusted=True))
    opts = container_options(request)
    assert opts["user"] == "0:0" and opts["cap_drop"] == ["ALL"] and sorted(opts["cap_add"]) == ["SETGID", "SETUID"]
    assert opts["security_opt"] == ["no-new-privileges"] and opts["read_only"] is True
    assert opts["network_mode"] == "none"
    env = opts["environment"]
    assert (
        env["HOLDOUT_RUNNER_UID"] == str(os.stat(dirs.trusted).st_uid) and env["HOLDOUT_TRUSTED_DIR"] == TRUSTED_MOUNT
    )
    assert opts["volumes"][str(dirs.trusted)] == {"bind": TRUSTED_MOUNT, "mode": "rw"}
    # only the entry (which drops root before any candidate code) may start as root
    with pytest.raises(ValueError, match="in-container entry"):
        container_options(RunRequest(image="img", command=["python", "predict.py"], mounts=dirs.mounts(trusted=True)))
    plain = container_options(RunRequest(image="img", command=["true"], mounts=dirs.mounts(trusted=False)))
    assert plain["user"] == f"{CANDIDATE_UID}:{CANDIDATE_UID}" and "cap_add" not in plain
