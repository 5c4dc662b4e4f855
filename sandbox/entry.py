"""The in-container runner: executes the candidate's entry point inside the sandbox.

Two uids in one container (the host starts it as uid 0 with only the SETUID and SETGID
capabilities, no-new-privileges kept, when it mounts a trusted folder at ``/holdout/trusted``):

1. this process, still root, starts the candidate's process (its script, its notebook's
   kernel, the server of its code for the hidden tests) as the **candidate uid**, held on a
   pipe so that none of its code has run yet;
2. it drops itself to the **runner uid** (``setgroups([])``, ``setresgid``, ``setresuid``:
   every capability goes) and only then lets the candidate's process go on;
3. as the runner uid it waits for the candidate, or drives the kernel with nbclient, or runs
   pytest, and writes its record (``runner.json``, the executed notebook, the hidden tests'
   results) into the trusted folder, which belongs to the runner uid: the candidate's uid
   cannot write it, signal this process or ptrace it.

The host takes the facts that decide points only from the trusted folder; what the candidate's
uid can write (``/output``, ``/holdout/logs``) is evidence. Started as a non-root uid (no
trusted folder), it runs the candidate's code directly and its record is evidence only.

It is copied into the image at build time and never imported on the host.

    python entry.py script predict.py
    python entry.py notebook solution.ipynb --cell-timeout 120
    python entry.py pair '<candidate argv as JSON>' '<runner argv as JSON>'
    python entry.py probe                      # used by `grade doctor`

The candidate's stdout/stderr go to files in the logs directory, not to the container's own
log: a chatty candidate would otherwise run 100x slower through the log driver.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

LOGS_DIR = os.environ.get("HOLDOUT_LOGS_DIR", "/holdout/logs")
TRUSTED_DIR = os.environ.get("HOLDOUT_TRUSTED_DIR", "/holdout/trusted")
CANDIDATE_UID = int(os.environ.get("HOLDOUT_CANDIDATE_UID", "10001"))
RUNNER_UID = int(os.environ.get("HOLDOUT_RUNNER_UID", "10002"))
PYTHON = sys.executable
ENTRY = os.path.abspath(__file__)


# --- two uids -------------------------------------------------------------------------------


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
    status = _proc_status("self")
    if (
        os.getresuid() != (RUNNER_UID,) * 3
        or status.get("CapEff") != "0000000000000000"
        or status.get("CapPrm") != "0000000000000000"
    ):
        raise SystemExit("holdout: could not drop to the runner uid; refusing to run candidate code")


def _proc_status(pid: str) -> dict[str, str]:
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
    _redirect_streams(LOGS_DIR)
    os.execv(argv[0], argv)
    return 127


def _runner_streams() -> None:
    """The runner's own messages (and a notebook's mirrored output) go to its record folder."""
    _redirect_streams(record_dir())


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


def _write_text(name: str, text: str) -> None:
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


def _write_json(name: str, data: dict) -> None:
    _write_text(name, json.dumps(data, indent=1, default=str))


def _redirect_streams(folder: str) -> None:
    """Point fds 1 and 2 at files in ``folder`` so that children inherit them."""
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        # O_APPEND: without a trusted folder, the runner and the candidate share these files
        target = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the largest single descendant, not the sum.
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def run_script(path: str) -> int:
    """Run ``python path`` as the candidate uid; wait for it as the runner uid; record how it ended."""
    held = Held()
    proc = held.spawn([PYTHON, path], stdin=subprocess.DEVNULL) if os.path.isfile(path) else None
    started = time.monotonic()
    start_as_runner(held)
    if proc is None:
        print(f"holdout: entry point {path!r} not found in the submission", file=sys.stderr)
        _write_json("runner.json", {"mode": "script", "error": "entry_point_missing"})
        return 127
    proc.wait()
    _write_json(
        "runner.json",
        {
            "mode": "script",
            "exit_code": proc.returncode,
            "duration_s": round(time.monotonic() - started, 3),
            "peak_rss_mb": _peak_rss_mb(),
        },
    )
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


def _cell_errors(nb) -> list[dict]:
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                errors.append(
                    {
                        "cell": index,
                        "ename": str(output.get("ename", ""))[:200],
                        "evalue": str(output.get("evalue", ""))[:500],
                        "source_head": "".join(cell.get("source", ""))[:200],
                    }
                )
    return errors


KERNEL_DIR = "/tmp/holdout-kernel"
"""The connection file's folder: made by the root process (no capability to write elsewhere
in /tmp's candidate-owned folders), readable by the kernel's uid."""


def _kernel_manager_class(held: Held | None):
    """nbclient's default kernel manager, with three changes: it polls for the kernel's exit
    every 10 ms (not 100 ms); the kernel starts as the candidate uid behind a gate of ``held``;
    and, the runner having another uid than the kernel, it never signals it (interrupts go as
    messages, a kill that is refused is ignored: the container's wall-clock limit and its end
    stop the kernel)."""
    from jupyter_client import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        gate_fd: int | None = None

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return Held.argv(self.gate_fd, cmd) if self.gate_fd is not None else cmd

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            os.chmod(self.connection_file, 0o644)  # the kernel's uid must read it

        async def _async_finish_shutdown(self, waittime=None, pollinterval=0.01, restart=False):
            try:
                return await super()._async_finish_shutdown(waittime, pollinterval, restart)
            except PermissionError:
                return None

        async def _async_kill_kernel(self, restart=False):
            try:
                return await super()._async_kill_kernel(restart)
            except PermissionError:
                return None

        async def _async_send_kernel_sigterm(self, restart=False):
            try:
                return await super()._async_send_kernel_sigterm(restart)
            except PermissionError:
                return None

        async def _async_signal_kernel(self, signum):
            try:
                return await super()._async_signal_kernel(signum)
            except PermissionError:
                return None

    return KernelManager


def _start_kernel(held: Held):
    """Start the python3 kernel the way nbclient would (its default manager class, the same
    cwd and arguments), as the candidate uid, held until the runner has dropped to its uid,
    and before this process imports nbclient and reads the notebook: the kernel boots
    meanwhile, which takes about 0.7 s off every notebook run. Returns the manager, or None
    when it cannot start (with two uids nothing else may start one: it would be the runner's)."""
    try:
        from jupyter_core.utils import run_sync

        kernel_env = dict(os.environ)
        if two_uids():
            # this process's own Jupyter/IPython folders, away from the kernel's (which a
            # root-owned folder in /tmp would make unwritable for it)
            os.makedirs(KERNEL_DIR, mode=0o755, exist_ok=True)
            os.environ.update(
                JUPYTER_RUNTIME_DIR=f"{KERNEL_DIR}/runtime",
                IPYTHONDIR=f"{KERNEL_DIR}/ipython",
                JUPYTER_DATA_DIR=f"{KERNEL_DIR}/data",
                JUPYTER_CONFIG_DIR=f"{KERNEL_DIR}/config",
            )
        km = _kernel_manager_class(held)(kernel_name="python3")
        if two_uids():
            km.connection_file = os.path.join(KERNEL_DIR, "kernel.json")
        km.kernel_spec.interrupt_mode = "message"
        km.gate_fd = held.gate()
        try:
            # nbclient's default ipython_hist_file: no SQLite history file in the sandbox
            run_sync(km.start_kernel)(
                extra_arguments=["--HistoryManager.hist_file=:memory:"],
                cwd=os.getcwd(),
                env=kernel_env,
                pass_fds=(km.gate_fd,),
                **candidate_user(),
            )
        finally:
            os.close(km.gate_fd)
        return km
    except Exception as exc:
        print(f"holdout: the kernel did not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def _stop_kernel(km) -> None:
    """Shut down a kernel started by :func:`_start_kernel` that nbclient never took over."""
    if km is None:
        return
    from jupyter_core.utils import run_sync

    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:
        pass  # the container ends with this process anyway


COLLECT_AND_FREEZE = "import gc as _holdout_gc; _holdout_gc.collect(); _holdout_gc.freeze(); del _holdout_gc"


def _shut_down(client, *, ran_to_end: bool) -> None:
    """End the kernel as ``jupyter nbconvert --execute`` does: a shutdown request, then wait
    until it has exited, so what the candidate left open is flushed by the kernel's own exit.

    Minus one slow part: when the notebook ran to its end, the kernel first collects its
    garbage (every pending finalizer runs, as it would at exit) and freezes what is left, so
    its exit skips the interpreter's final full collections over everything pandas and
    scikit-learn hold (about 0.2 s). Objects that only become cyclic garbage during the exit
    itself then keep their finalizers unrun, which Python never promised to run at exit.
    """
    from jupyter_core.utils import run_sync

    km, kc = client.km, client.kc
    if km is None:
        return
    if ran_to_end and kc is not None:
        try:
            run_sync(kc.execute_interactive)(
                COLLECT_AND_FREEZE, silent=True, store_history=False, timeout=10, output_hook=lambda msg: None
            )
        except Exception:
            pass  # a wedged kernel: the shutdown below escalates to a kill
    try:
        run_sync(km.shutdown_kernel)(now=False)
    except Exception:
        _stop_kernel(km)
    finally:
        if kc is not None:
            kc.stop_channels()


def run_notebook(path: str, cell_timeout_s: float) -> int:
    """Execute top to bottom with nbclient; keep going past errors so every cell is recorded.

    Exit 0 when the notebook ran to its end (cell errors are recorded, not fatal), 1 when
    execution was aborted (a cell timed out, the kernel died), 2 when the notebook is unreadable.
    """
    started = time.monotonic()
    held = Held()
    km = _start_kernel(held) if os.path.isfile(path) else None
    start_as_runner(held)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    info: dict = {"mode": "notebook", "cell_timeout_s": cell_timeout_s}
    try:
        original = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        info["nbformat"] = original.get("nbformat")
        nb = nbformat.convert(original, 4)  # an nbformat 3 notebook runs, with a note in the report
        if info["nbformat"] != 4:
            info["converted_from"] = info["nbformat"]
    except FileNotFoundError:
        _stop_kernel(km)
        print(f"holdout: notebook {path!r} not found in the submission", file=sys.stderr)
        _write_json("runner.json", {**info, "error": "entry_point_missing"})
        return 127
    except Exception as exc:  # invalid JSON, wrong nbformat: the candidate's problem
        _stop_kernel(km)
        print(f"holdout: cannot read notebook {path!r}: {exc}", file=sys.stderr)
        _write_json("runner.json", {**info, "error": "invalid_notebook", "detail": str(exc)[:500]})
        return 2
    if km is None and two_uids():
        _write_json("runner.json", {**info, "error": "execution_failed", "detail": "the kernel did not start"})
        return 1
    # The kernelspec in the file is ignored: there is one kernel, the image's python3.
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(
        nb,
        km=km,
        timeout=cell_timeout_s,
        kernel_name="python3",
        allow_errors=True,
        record_timing=True,
        resources={"metadata": {"path": os.getcwd()}},
    )
    code = 0
    try:
        client.execute(cleanup_kc=False)  # the kernel is ended by _shut_down, below
    except CellTimeoutError as exc:
        info["error"] = "cell_timeout"
        info["detail"] = str(exc)[:500]
        code = 1
    except DeadKernelError as exc:
        info["error"] = "kernel_died"
        info["detail"] = str(exc)[:500]
        code = 1
    except Exception as exc:  # nbclient/jupyter failures
        info["error"] = "execution_failed"
        info["detail"] = f"{type(exc).__name__}: {exc}"[:500]
        code = 1
    finally:
        _shut_down(client, ran_to_end=code == 0)
    info["cell_errors"] = _cell_errors(nb)
    info["cells"] = sum(1 for c in nb.cells if c.get("cell_type") == "code")
    info["duration_s"] = round(time.monotonic() - started, 3)
    info["peak_rss_mb"] = _peak_rss_mb()
    info["exit_code"] = code
    _mirror_outputs(nb)
    info["outputs_truncated"] = _cap_outputs(nb)
    try:
        _write_text("executed.ipynb", nbformat.writes(nb))
    except Exception as exc:  # too large for the fsize limit, for instance
        info["executed_notebook_error"] = str(exc)[:300]
    _write_json("runner.json", info)
    return code


MIRROR_BYTES = 8 * 2**20
"""Most cell output copied into stdout.txt / stderr.txt (per stream)."""
OUTPUT_TEXT_BYTES = 2**20
OUTPUT_DATA_BYTES = 2 * 2**20
NOTEBOOK_OUTPUT_BYTES = 8 * 2**20
"""Caps for the executed notebook kept for the reviewer: one text output, one rich output, all outputs."""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def _mirror_outputs(nb) -> None:
    """Append what the cells printed (streams, tracebacks) to stdout.txt / stderr.txt.

    In a notebook the kernel captures output, also of ``!pip install`` and other shell
    commands, so without this the logs would hold only the runner's own lines and the host
    could not explain failures (no network, missing packages) as it does for scripts.
    """
    budget = {"stdout": MIRROR_BYTES, "stderr": MIRROR_BYTES}
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                name = "stderr" if output.get("name") == "stderr" else "stdout"
                text = output.get("text", "")
            elif kind == "error":
                name = "stderr"
                text = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]) + "\n"
            else:
                continue
            text = _plain(text if isinstance(text, str) else "".join(text))
            if budget[name] <= 0 or not text:
                continue
            chunk = f"[cell {index}] " + text[: budget[name]]
            budget[name] -= len(chunk)
            streams[name].write(chunk if chunk.endswith("\n") else chunk + "\n")
    for stream in streams.values():
        stream.flush()


def _cap_outputs(nb) -> int:
    """Shorten huge outputs in the executed notebook (the reviewer's copy); return how many."""
    truncated = 0
    left = NOTEBOOK_OUTPUT_BYTES
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            size = len(json.dumps(output, default=str))
            if size > left:
                truncated += 1
                if left > 0:
                    kept.append(
                        _note(
                            f"[holdout: output of {size:,} bytes dropped: the notebook's outputs exceed "
                            f"{NOTEBOOK_OUTPUT_BYTES // 2**20} MB]"
                        )
                    )
                    left = 0
                continue
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                text = text if isinstance(text, str) else "".join(text)
                if len(text) > OUTPUT_TEXT_BYTES:
                    half = OUTPUT_TEXT_BYTES // 2
                    output["text"] = (
                        text[:half] + f"\n[holdout: {len(text) - 2 * half:,} characters not shown]\n" + text[-half:]
                    )
                    truncated += 1
            elif output.get("output_type") in ("display_data", "execute_result"):
                data = output.get("data", {})
                for mime in list(data):
                    if len(json.dumps(data[mime], default=str)) > OUTPUT_DATA_BYTES:
                        del data[mime]
                        data.setdefault(
                            "text/plain", f"[holdout: {mime} output over {OUTPUT_DATA_BYTES // 2**20} MB dropped]"
                        )
                        truncated += 1
            left -= len(json.dumps(output, default=str))
            kept.append(output)
        cell["outputs"] = kept
    return truncated


def _note(text: str) -> dict:
    import nbformat

    return nbformat.v4.new_output("stream", name="stderr", text=text + "\n")


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
    status = _proc_status("self")
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
    result["env_keys"] = sorted(os.environ)
    result["pids_max"] = _read_first(["/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"])
    result["memory_max"] = _read_first(["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    result["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    result["core"] = resource.getrlimit(resource.RLIMIT_CORE)[1]
    _write_json("probe.json", result)
    return 0


def _probe_runner(pid: int) -> dict:
    """From the candidate's uid: can it write the trusted folder, signal or read the runner?"""
    found: dict = {"runner_pid": pid}
    try:
        found["runner_uid"] = int(_proc_status(str(pid)).get("Uid", "-1").split()[0])
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


def run_pair(candidate_argv: list[str], runner_argv: list[str]) -> int:
    """Start ``candidate_argv`` as the candidate uid (the server of its code), then become
    ``runner_argv`` as the runner uid (the hidden tests), with a private TMPDIR and an
    environment without ``PYTHONPATH`` (where the candidate's installed requirements are)."""
    import tempfile

    held = Held()
    held.spawn(candidate_argv, stdin=subprocess.DEVNULL)
    start_as_runner(held)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") or k == "PYTHONDONTWRITEBYTECODE"}
    env["TMPDIR"] = tempfile.mkdtemp(prefix="holdout-runner-")
    env["HOLDOUT_CANDIDATE_UID"] = str(CANDIDATE_UID)
    for folder in ("/tests", "/"):
        if os.path.isdir(folder):
            os.chdir(folder)
            break
    os.execve(runner_argv[0], runner_argv, env)
    return 127


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdout-runner")
    sub = parser.add_subparsers(dest="mode", required=True)
    script = sub.add_parser("script")
    script.add_argument("path")
    notebook = sub.add_parser("notebook")
    notebook.add_argument("path")
    notebook.add_argument("--cell-timeout", type=float, default=120.0)
    pair = sub.add_parser("pair")
    pair.add_argument("candidate", type=json.loads, help="the candidate side's argv, as a JSON list")
    pair.add_argument("runner", type=json.loads, help="the runner side's argv, as a JSON list")
    probe_cmd = sub.add_parser("probe")
    probe_cmd.add_argument("--runner-pid", type=int)
    held = sub.add_parser("_held")
    held.add_argument("gate_fd", type=int)
    held.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.mode == "_held":
        return held_exec(args.gate_fd, args.argv[1:] if args.argv[:1] == ["--"] else args.argv)
    if args.mode == "probe":
        return probe(args.runner_pid)
    if args.mode == "script":
        return run_script(args.path)
    if args.mode == "pair":
        return run_pair(args.candidate, args.runner)
    return run_notebook(args.path, args.cell_timeout)


if __name__ == "__main__":
    sys.exit(main())
