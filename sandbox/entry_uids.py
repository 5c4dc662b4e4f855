"""The in-container entry's two uids: the candidate's processes held on a pipe, the drop to the
runner uid, and where the runner's record and streams go (see ``entry.py``).

Copied into the image beside ``entry.py``; never imported on the host.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

LOGS_DIR = os.environ.get("HOLDOUT_LOGS_DIR", "/holdout/logs")
TRUSTED_DIR = os.environ.get("HOLDOUT_TRUSTED_DIR", "/holdout/trusted")
CANDIDATE_UID = int(os.environ.get("HOLDOUT_CANDIDATE_UID", "10001"))
RUNNER_UID = int(os.environ.get("HOLDOUT_RUNNER_UID", "10002"))
CANDIDATE_PYTHONPATH = "HOLDOUT_CANDIDATE_PYTHONPATH"
"""Where the candidate's installed requirements are (``/deps/...``). The host sets this instead of
``PYTHONPATH`` (sandbox/layout.py), so no process running this entry's code -- the trusted runner,
whose records decide points, nor the held helper -- has them on ``sys.path``: a requirement
shipping a module named like one the entry imports (``json``, ``nbclient``) is never imported by
it. The candidate's own program gets them as ``PYTHONPATH`` when the held helper becomes it."""
PYTHON = sys.executable
ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "entry.py")
"""The entry script (a held process starts through it); its modules lie beside it."""


_STARTED_AS_ROOT = os.getuid() == 0


def two_uids() -> bool:
    """Started as root (with only SETUID/SETGID) and a trusted folder: the candidate gets its own uid."""
    return _STARTED_AS_ROOT and os.path.isdir(TRUSTED_DIR)


def record_dir() -> str:
    """Where this runner's record goes: the trusted folder, or the logs (evidence only) without one."""
    return TRUSTED_DIR if two_uids() else LOGS_DIR


def candidate_user() -> dict:
    """``Popen`` keyword arguments that start a process as the candidate uid (when we can)."""
    if not two_uids():
        return {}
    return {"user": CANDIDATE_UID, "group": CANDIDATE_UID, "extra_groups": []}


class Held:
    """Candidate processes started as the candidate uid, each blocked on a pipe until
    :meth:`release` (called after :func:`drop_to_runner`): none of their code runs before."""

    def __init__(self) -> None:
        self._gates: list[int] = []

    def gate(self) -> int:
        """A new gate: the read end (inheritable, for the held process; close it after the
        start); the write end stays here, not inheritable, so no held process can open it."""
        read_fd, write_fd = os.pipe()
        os.set_inheritable(read_fd, True)
        self._gates.append(write_fd)
        return read_fd

    @staticmethod
    def argv(gate_fd: int, argv: list[str]) -> list[str]:
        """``argv`` behind the gate, its stdout/stderr sent to the logs folder when it goes."""
        return [PYTHON, ENTRY, "_held", str(gate_fd), "--", *argv]

    def spawn(self, argv: list[str], **popen) -> subprocess.Popen:
        gate_fd = self.gate()
        try:
            return subprocess.Popen(self.argv(gate_fd, argv), pass_fds=(gate_fd,), **candidate_user(), **popen)
        finally:
            os.close(gate_fd)

    def release(self) -> None:
        for fd in self._gates:
            try:
                os.write(fd, b"1")
            except OSError:
                pass  # it died before we let it go
            os.close(fd)
        self._gates = []


def drop_to_runner() -> None:
    """Become the runner uid for good: no groups, no capabilities (checked, not assumed)."""
    if not two_uids():
        return
    os.setgroups([])
    os.setresgid(RUNNER_UID, RUNNER_UID, RUNNER_UID)
    os.setresuid(RUNNER_UID, RUNNER_UID, RUNNER_UID)
    status = proc_status("self")
    if (
        os.getresuid() != (RUNNER_UID,) * 3
        or status.get("CapEff") != "0000000000000000"
        or status.get("CapPrm") != "0000000000000000"
    ):
        raise SystemExit("holdout: could not drop to the runner uid; refusing to run candidate code")


def proc_status(pid: str) -> dict[str, str]:
    status = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return status


def held_exec(gate_fd: int, argv: list[str]) -> int:
    """In the candidate's process (candidate uid): wait for the gate, then become ``argv``
    with its stdout/stderr in the logs folder."""
    if os.read(gate_fd, 1) != b"1":
        return 111  # the runner never let us go (it failed to drop): run nothing
    os.close(gate_fd)
    redirect_streams(LOGS_DIR)
    deps = os.environ.pop(CANDIDATE_PYTHONPATH, "")
    if deps:
        os.environ["PYTHONPATH"] = deps  # the candidate's program, and what it starts, find them
    os.execv(argv[0], argv)
    return 127


def _runner_streams() -> None:
    """The runner's own messages (and a notebook's mirrored output) go to its record folder."""
    redirect_streams(record_dir())


def start_as_runner(held: Held) -> None:
    """Drop to the runner uid, point this process's streams at its record, then let the
    candidate's held processes go."""
    drop_to_runner()
    _runner_streams()
    if os.environ.get("HOLDOUT_GATEWAY_SOCKET"):  # model gateway (issue 14): relay 127.0.0.1 to the host's socket
        _start_gateway_forwarder(
            os.environ["HOLDOUT_GATEWAY_SOCKET"], int(os.environ.get("HOLDOUT_GATEWAY_PORT", "8765"))
        )
    held.release()


def write_text(name: str, text: str) -> None:
    """Write a file into the record folder (trusted, or the logs) by rename, so a symlink
    left under that name is replaced, never followed."""
    import tempfile

    folder = record_dir()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, os.path.join(folder, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(name: str, data: dict) -> None:
    write_text(name, json.dumps(data, indent=1, default=str))


def redirect_streams(folder: str) -> None:
    """Point fds 1 and 2 at files in ``folder`` so that children inherit them."""
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        # O_APPEND: without a trusted folder, the runner and the candidate share these files
        target = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the largest single descendant, not the sum.
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def _start_gateway_forwarder(socket_path: str, port: int) -> None:  # model gateway (issue 14)
    """Load the forwarder mounted beside the socket (never baked into the image) and start it."""
    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location(
            "holdout_forwarder", os.path.join(os.path.dirname(socket_path), "forwarder.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.start(socket_path, port)
    except Exception as exc:  # the run goes on; its model calls then fail with a connection error
        print(f"holdout: the model gateway forwarder could not start: {exc}", file=sys.stderr)
