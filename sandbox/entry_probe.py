"""The in-container entry's probe (for ``grade doctor``): from the candidate's process, try each
protection and write what happened to ``probe.json`` (see ``entry.py``). Copied into the image
beside it; never imported on the host.
"""

from __future__ import annotations

import os
import resource
import subprocess

from entry_uids import ENTRY, PYTHON, TRUSTED_DIR, Held, proc_status, start_as_runner, two_uids, write_json


def probe(runner_pid: int | None = None) -> int:
    """Try to break each protection and report what happened (for `grade doctor`).

    Started as root with a trusted folder, it probes from where candidate code runs: a held
    process of the candidate uid, which also tries the runner (this process, dropped to the
    runner uid) and the trusted folder.
    """
    if runner_pid is None and two_uids():
        held = Held()
        proc = held.spawn([PYTHON, ENTRY, "probe", "--runner-pid", str(os.getpid())], stdin=subprocess.DEVNULL)
        start_as_runner(held)
        return proc.wait()
    import socket

    result: dict = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
    status = proc_status("self")
    result["cap_eff"] = status.get("CapEff")
    result["cap_prm"] = status.get("CapPrm")
    result["cap_bnd"] = status.get("CapBnd")
    if runner_pid is not None:
        result.update(_probe_runner(runner_pid))
    result["cap_eff"] = status.get("CapEff")
    result["no_new_privs"] = status.get("NoNewPrivs")
    result["seccomp"] = status.get("Seccomp")
    try:
        with socket.create_connection(("1.1.1.1", 53), timeout=2):
            result["network"] = "reachable"
    except OSError as exc:
        result["network"] = f"unreachable ({exc.strerror or exc})"
    try:
        socket.getaddrinfo("example.com", 80)
        result["dns"] = "resolved"
    except OSError as exc:
        result["dns"] = f"failed ({exc.strerror or exc})"
    try:
        with open("/usr/holdout-probe", "w") as fh:
            fh.write("x")
        result["root_fs"] = "writable"
    except OSError as exc:
        result["root_fs"] = f"read-only ({exc.strerror})"
    try:
        with open("/submission/holdout-probe", "w") as fh:
            fh.write("x")
        result["submission_mount"] = "writable"
    except OSError as exc:
        result["submission_mount"] = f"read-only ({exc.strerror})"
    try:
        import sysconfig

        with open(os.path.join(sysconfig.get_paths()["purelib"], "holdout-probe"), "w") as fh:
            fh.write("x")
        result["python_env"] = "writable"
    except OSError as exc:
        result["python_env"] = f"read-only ({exc.strerror})"
    result["root_mode"] = oct(os.stat("/").st_mode & 0o7777)  # 0o705 where the host narrowed it
    result["env_keys"] = sorted(os.environ)
    result["pids_max"] = _read_first(["/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"])
    result["memory_max"] = _read_first(["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    result["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    result["core"] = resource.getrlimit(resource.RLIMIT_CORE)[1]
    write_json("probe.json", result)
    return 0


def _probe_runner(pid: int) -> dict:
    """From the candidate's uid: can it write the trusted folder, signal or read the runner?"""
    found: dict = {"runner_pid": pid}
    try:
        found["runner_uid"] = int(proc_status(str(pid)).get("Uid", "-1").split()[0])
    except (OSError, ValueError):
        found["runner_uid"] = None
    try:
        with open(os.path.join(TRUSTED_DIR, "holdout-probe"), "w") as fh:
            fh.write("x")
        found["trusted_dir"] = "writable"
    except OSError as exc:
        found["trusted_dir"] = f"not writable ({exc.strerror})"
    try:
        os.kill(pid, 0)  # the permission check of every signal, without sending one
        found["signal_runner"] = "allowed"
    except OSError as exc:
        found["signal_runner"] = f"refused ({exc.strerror})"
    for name in ("environ", "mem"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as fh:
                fh.read(1)
            found[f"runner_{name}"] = "readable"
        except OSError as exc:
            found[f"runner_{name}"] = f"unreadable ({exc.strerror})"
    return found


def _read_first(paths: list[str]) -> str | None:
    for path in paths:
        try:
            with open(path, encoding="ascii") as fh:
                return fh.read().strip()
        except OSError:
            continue
    return None
