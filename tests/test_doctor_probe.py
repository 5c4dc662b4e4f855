"""`grade doctor`'s reading of the probe (fast): each protection, including the runner's
separation from the candidate's uid, holds only when the probe saw it hold."""

from __future__ import annotations

from harness.doctor import interpret_probe
from harness.spec import SandboxSpec

LIMITS = SandboxSpec(timeout_s=60)
HOLDING = {
    "uid": 10001,
    "cap_eff": "0" * 16,
    "cap_prm": "0" * 16,
    "cap_bnd": "00000000000000c0",
    "no_new_privs": "1",
    "seccomp": "2",
    "network": "unreachable (x)",
    "root_fs": "read-only (x)",
    "submission_mount": "read-only (x)",
    "python_env": "read-only (x)",
    "root_mode": "0o705",
    "pids_max": str(LIMITS.pids),
    "memory_max": str(LIMITS.memory_mb * 2**20),
    "fsize": LIMITS.file_size_mb * 2**20,
    "core": 0,
    "env_keys": ["PATH"],
    "runner_uid": 10002,
    "trusted_dir": "not writable (Permission denied)",
    "signal_runner": "refused (Operation not permitted)",
    "runner_environ": "unreadable (Permission denied)",
    "runner_mem": "unreadable (Permission denied)",
}


def checks(**changes) -> dict[str, bool]:
    return {c["name"]: c["ok"] for c in interpret_probe({**HOLDING, **changes}, LIMITS)}


def test_every_protection_holds_when_the_probe_saw_it_hold():
    assert all(checks().values()), checks()


def test_a_runner_within_reach_of_the_candidate_fails_the_doctor():
    for changes in (
        {"runner_uid": 10001},
        {"runner_uid": 0},
        {"runner_uid": None},
        {"trusted_dir": "writable"},
        {"signal_runner": "allowed"},
        {"runner_environ": "readable"},
        {"runner_mem": "readable"},
    ):
        assert checks(**changes)["runner apart"] is False, changes


def test_capabilities_beyond_setuid_setgid_fail_the_doctor():
    assert checks(cap_bnd="00000000a80425fb")["capabilities"] is False
    assert checks(cap_prm="00000000000000c0")["capabilities"] is False
    assert checks(cap_bnd="0000000000000000")["capabilities"] is True


def test_the_container_root_is_reported_narrowed_or_not_and_fails_only_when_writable():
    by_name = {c["name"]: c for c in interpret_probe({**HOLDING, "root_mode": "0o755"}, LIMITS)}
    assert by_name["container root"]["ok"] and "engine's own" in by_name["container root"]["detail"]
    by_name = {c["name"]: c for c in interpret_probe(HOLDING, LIMITS)}
    assert by_name["container root"]["ok"] and "0705: group bits cleared" in by_name["container root"]["detail"]
    assert checks(root_mode="0o777")["container root"] is False
    assert checks(root_mode="0o775")["container root"] is False
    assert checks(root_mode=None)["container root"] is False
