"""The in-container entry's notebook mode: the kernel started as the candidate uid behind a
gate, driven by nbclient as the runner uid, and the executed notebook kept for the reviewer
(see ``entry.py``). Copied into the image beside it; never imported on the host.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

from entry_uids import Held, candidate_user, peak_rss_mb, start_as_runner, two_uids, write_json, write_text


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


BEFORE_SHUTDOWN = (
    "import gc as _holdout_gc; _holdout_gc.collect(); _holdout_gc.freeze(); del _holdout_gc\n"
    "import ipykernel.iostream as _holdout_io; _holdout_io.OutStream.flush_timeout = 0.2; del _holdout_io\n"
    "import IPython as _holdout_ip; _holdout_sh = _holdout_ip.get_ipython(); _holdout_sh.ask_exit()\n"
    "_holdout_sh.kernel.io_loop.add_callback(_holdout_sh.kernel.io_loop.stop); del _holdout_ip, _holdout_sh"
)
"""Run in the kernel when the notebook has run to its end (see :func:`_shut_down`)."""
EXIT_GRACE_S = 5.0
"""How long the kernel may take to exit on its own (jupyter_client's shutdown grace)."""


def _shut_down(client, *, ran_to_end: bool) -> str | None:
    """End the kernel so that what the candidate left open is flushed by the kernel's own exit
    (its atexit handlers, its unclosed files), as after ``jupyter nbconvert --execute``.

    When the notebook ran to its end, the kernel is asked to end itself from its main thread
    (``BEFORE_SHUTDOWN``, executed silently): it collects its garbage (every pending finalizer
    runs, as it would at exit) and freezes what is left, so its exit skips the interpreter's
    final full collections over everything pandas and scikit-learn hold (about 0.2 s); then it
    leaves its loop the way IPython's ``exit`` does, and the runner waits for the process to
    end. Objects that only become cyclic garbage during the exit itself keep their finalizers
    unrun, which Python never promised to run at exit.

    Not by a shutdown request, as jupyter_client does: ipykernel 7 races there. The control
    thread flushes stdout after answering the request while the main thread is already
    stopping the IOPub thread, and then waits ``OutStream.flush_timeout`` (10 s) for a flush
    that will never be done, or blocks for good sending it. That hit about one shutdown in six
    on this machine; this runner cannot signal the kernel (another uid), so each one held the
    run for seconds and ended with the container killing the kernel before its own exit. The
    request remains the fallback (a notebook that did not run to its end, or a kernel that did
    not leave), with that wait cut to 0.2 s: every cell's output was sent before its reply.
    """
    from jupyter_core.utils import run_sync

    km, kc = client.km, client.kc
    if km is None:
        return None
    how = "shutdown_request"
    if ran_to_end and kc is not None:
        try:
            reply = run_sync(kc.execute_interactive)(
                BEFORE_SHUTDOWN, silent=True, store_history=False, timeout=10, output_hook=lambda msg: None
            )
            if reply.get("content", {}).get("status") == "ok" and _wait_for_exit(km, EXIT_GRACE_S):
                how = "own_exit"
        except Exception:
            pass  # a wedged kernel: the shutdown below escalates to a kill
    try:
        run_sync(km.shutdown_kernel)(now=False)  # at once when the kernel has already exited
    except Exception:
        _stop_kernel(km)
    finally:
        if kc is not None:
            kc.stop_channels()
    return how


def _wait_for_exit(km, limit_s: float) -> bool:
    from jupyter_core.utils import run_sync

    deadline = time.monotonic() + limit_s
    while run_sync(km.is_alive)():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


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
        write_json("runner.json", {**info, "error": "entry_point_missing"})
        return 127
    except Exception as exc:  # invalid JSON, wrong nbformat: the candidate's problem
        _stop_kernel(km)
        print(f"holdout: cannot read notebook {path!r}: {exc}", file=sys.stderr)
        write_json("runner.json", {**info, "error": "invalid_notebook", "detail": str(exc)[:500]})
        return 2
    if km is None and two_uids():
        write_json("runner.json", {**info, "error": "execution_failed", "detail": "the kernel did not start"})
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
        info["kernel_ended_by"] = _shut_down(client, ran_to_end=code == 0)
    info["cell_errors"] = _cell_errors(nb)
    info["cells"] = sum(1 for c in nb.cells if c.get("cell_type") == "code")
    info["duration_s"] = round(time.monotonic() - started, 3)
    info["peak_rss_mb"] = peak_rss_mb()
    info["exit_code"] = code
    _mirror_outputs(nb)
    info["outputs_truncated"] = _cap_outputs(nb)
    try:
        write_text("executed.ipynb", nbformat.writes(nb))
    except Exception as exc:  # too large for the fsize limit, for instance
        info["executed_notebook_error"] = str(exc)[:300]
    write_json("runner.json", info)
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
