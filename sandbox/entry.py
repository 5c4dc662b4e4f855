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

It is copied into the image at build time (``/opt/holdout``) with its modules, and never
imported on the host: ``entry_uids.py`` (the two uids: held processes, the drop, the record),
``entry_notebook.py`` (notebook mode) and ``entry_probe.py`` (the doctor's probe).

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
import subprocess
import sys
import time

from entry_uids import CANDIDATE_UID, PYTHON, Held, held_exec, peak_rss_mb, start_as_runner, write_json


def run_script(path: str) -> int:
    """Run ``python path`` as the candidate uid; wait for it as the runner uid; record how it ended."""
    held = Held()
    proc = held.spawn([PYTHON, path], stdin=subprocess.DEVNULL) if os.path.isfile(path) else None
    started = time.monotonic()
    start_as_runner(held)
    if proc is None:
        print(f"holdout: entry point {path!r} not found in the submission", file=sys.stderr)
        write_json("runner.json", {"mode": "script", "error": "entry_point_missing"})
        return 127
    proc.wait()
    write_json(
        "runner.json",
        {
            "mode": "script",
            "exit_code": proc.returncode,
            "duration_s": round(time.monotonic() - started, 3),
            "peak_rss_mb": peak_rss_mb(),
        },
    )
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


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
        from entry_probe import probe

        return probe(args.runner_pid)
    if args.mode == "script":
        return run_script(args.path)
    if args.mode == "pair":
        return run_pair(args.candidate, args.runner)
    from entry_notebook import run_notebook

    return run_notebook(args.path, args.cell_timeout)


if __name__ == "__main__":
    sys.exit(main())
