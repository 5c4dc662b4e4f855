"""The in-container runner: executes the candidate's entry point inside the sandbox.

Runs *inside* the container as the unprivileged candidate user, so nothing it writes is
trusted by the host: ``runner.json`` is a hint for the report, never evidence the score
depends on alone. It is copied into the image at build time and never imported on the host.

    python entry.py script predict.py
    python entry.py notebook solution.ipynb --cell-timeout 120
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


def _write_text(name: str, text: str) -> None:
    """Write a file into the logs folder by rename, so a symlink the candidate's code left
    under that name is replaced, never followed."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=LOGS_DIR)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, os.path.join(LOGS_DIR, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_json(name: str, data: dict) -> None:
    _write_text(name, json.dumps(data, indent=1, default=str))


def _redirect_streams() -> None:
    """Point fds 1 and 2 at files so that children (script or kernel) inherit them."""
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(os.path.join(LOGS_DIR, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the largest single descendant, not the sum.
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def run_script(path: str) -> int:
    if not os.path.isfile(path):
        print(f"holdout: entry point {path!r} not found in the submission", file=sys.stderr)
        _write_json("runner.json", {"mode": "script", "error": "entry_point_missing"})
        return 127
    started = time.monotonic()
    proc = subprocess.run([sys.executable, path], stdin=subprocess.DEVNULL)
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


def _kernel_manager_class():
    """nbclient's default kernel manager, polling for the kernel's exit every 10 ms, not 100 ms."""
    from jupyter_client import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def _async_finish_shutdown(self, waittime=None, pollinterval=0.01, restart=False):
            return await super()._async_finish_shutdown(waittime, pollinterval, restart)

    return KernelManager


def _start_kernel():
    """Start the python3 kernel the way nbclient would (its default manager class, the same
    cwd and arguments), before this process imports nbclient and reads the notebook: the
    kernel boots meanwhile, which takes about 0.7 s off every notebook run. Returns the
    manager, or None when it cannot start here (nbclient then tries and reports the failure)."""
    try:
        from jupyter_core.utils import run_sync

        km = _kernel_manager_class()(kernel_name="python3")
        # nbclient's default ipython_hist_file: no SQLite history file in the sandbox
        run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"], cwd=os.getcwd())
        return km
    except Exception:
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
            run_sync(kc.execute_interactive)(COLLECT_AND_FREEZE, silent=True, store_history=False,
                                             timeout=10, output_hook=lambda msg: None)
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
    km = _start_kernel() if os.path.isfile(path) else None
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
                    kept.append(_note(f"[holdout: output of {size:,} bytes dropped: the notebook's outputs exceed "
                                      f"{NOTEBOOK_OUTPUT_BYTES // 2**20} MB]"))
                    left = 0
                continue
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                text = text if isinstance(text, str) else "".join(text)
                if len(text) > OUTPUT_TEXT_BYTES:
                    half = OUTPUT_TEXT_BYTES // 2
                    output["text"] = (text[:half] + f"\n[holdout: {len(text) - 2 * half:,} characters not shown]\n"
                                      + text[-half:])
                    truncated += 1
            elif output.get("output_type") in ("display_data", "execute_result"):
                data = output.get("data", {})
                for mime in list(data):
                    if len(json.dumps(data[mime], default=str)) > OUTPUT_DATA_BYTES:
                        del data[mime]
                        data.setdefault("text/plain", f"[holdout: {mime} output over {OUTPUT_DATA_BYTES // 2**20} MB dropped]")
                        truncated += 1
            left -= len(json.dumps(output, default=str))
            kept.append(output)
        cell["outputs"] = kept
    return truncated


def _note(text: str) -> dict:
    import nbformat

    return nbformat.v4.new_output("stream", name="stderr", text=text + "\n")


def probe() -> int:
    """Try to break each protection and report what happened (for `grade doctor`)."""
    import socket

    result: dict = {"uid": os.getuid(), "gid": os.getgid()}
    status = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            status[key] = value.strip()
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
    result["memory_max"] = _read_first(
        ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    )
    result["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    result["core"] = resource.getrlimit(resource.RLIMIT_CORE)[1]
    _write_json("probe.json", result)
    return 0


def _read_first(paths: list[str]) -> str | None:
    for path in paths:
        try:
            with open(path, encoding="ascii") as fh:
                return fh.read().strip()
        except OSError:
            continue
    return None


def _start_gateway_forwarder(socket_path: str, port: int) -> None:  # model gateway (issue 14)
    """Load the forwarder mounted beside the socket (never baked into the image) and start it."""
    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location("holdout_forwarder", os.path.join(os.path.dirname(socket_path), "forwarder.py"))
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
    sub.add_parser("probe")
    args = parser.parse_args(argv)
    if args.mode == "probe":
        return probe()
    _redirect_streams()
    if os.environ.get("HOLDOUT_GATEWAY_SOCKET"):  # model gateway (issue 14): relay 127.0.0.1 to the host's socket
        _start_gateway_forwarder(os.environ["HOLDOUT_GATEWAY_SOCKET"], int(os.environ.get("HOLDOUT_GATEWAY_PORT", "8765")))
    if args.mode == "script":
        return run_script(args.path)
    return run_notebook(args.path, args.cell_timeout)


if __name__ == "__main__":
    sys.exit(main())
