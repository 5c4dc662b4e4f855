"""The in-container notebook runner (sandbox/entry.py) on the real engine: what the candidate
left open is flushed when the kernel ends, as under ``jupyter nbconvert --execute``, and the
kernel is gone before the runner reports (real Docker, real nbclient)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from harness.models import Verdict
from harness.spec import SandboxSpec
from sandbox.runner import Mount, RunRequest, make_job_dirs, run_container
from tests.test_sandbox_docker import grading_mounts

pytestmark = pytest.mark.docker

LINES = 20_000  # 40 kB per file: well past the 8 kB write buffer, so an unflushed tail shows

CELLS = [
    # a handle still open and referenced at the end
    f"out = open('/output/open_handle.txt', 'w')\nout.write('a\\n' * {LINES})",
    # a handle inside a reference cycle that is already garbage: only a collection flushes it
    "class Holder:\n    def __init__(self, name):\n        self.me = self\n"
    f"        self.f = open('/output/' + name, 'w')\n        self.f.write('b\\n' * {LINES})\n"
    "Holder('cyclic_garbage.txt')",
    # a handle inside a reference cycle still referenced at the end
    "kept = Holder('cyclic_kept.txt')",
    # an exit handler
    f"import atexit\natexit.register(lambda: open('/output/atexit.txt', 'w').write('c\\n' * {LINES}))",
    "import pandas, sklearn.linear_model\nprint('imported')",
]


def run_notebook(client, image: str, tmp_path: Path, cells: list[str]) -> tuple:
    submission = tmp_path / "submission"
    submission.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), submission / "solution.ipynb")
    dirs = make_job_dirs(tmp_path / "job")
    request = RunRequest(
        image=image,
        command=["/opt/venv/bin/python", "/opt/holdout/entry.py", "notebook", "solution.ipynb"],
        limits=SandboxSpec(timeout_s=120),
        mounts=(Mount(submission, "/submission"), *dirs.mounts(trusted=True), *grading_mounts(client, image)),
        env={"OUTPUT_DIR": "/output"},
    )
    run = run_container(client, request)
    return run, dirs


def test_open_files_are_flushed_when_the_kernel_ends(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, dirs = run_notebook(docker_client, sandbox_image, tmp_path, CELLS)
    assert run.verdict == Verdict.OK, run.stderr.text
    runner = json.loads((dirs.trusted / "runner.json").read_text())
    assert runner["exit_code"] == 0 and runner["cell_errors"] == [] and runner["cells"] == len(CELLS)
    assert runner["kernel_ended_by"] == "own_exit"  # asked from its main thread: no shutdown-request race
    for name in ("open_handle.txt", "cyclic_garbage.txt", "cyclic_kept.txt", "atexit.txt"):
        text = (dirs.output / name).read_text()
        assert text.count("\n") == LINES, f"{name}: {len(text)} bytes, the kernel's exit did not flush it"
    # the kernel was reaped before the runner measured (peak memory covers the kernel's imports)
    assert runner["peak_rss_mb"] > 80
    executed = nbformat.reads((dirs.trusted / "executed.ipynb").read_text(), as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "imported\n"
    assert "_holdout_gc" not in (dirs.trusted / "executed.ipynb").read_text()


def test_a_kernel_that_will_not_leave_on_its_own_gets_the_shutdown_request(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    cells = ["import IPython\nIPython.get_ipython = None  # the runner's own exit step now fails", "print('done')"]
    run, dirs = run_notebook(docker_client, sandbox_image, tmp_path, cells)
    assert run.verdict == Verdict.OK, run.stderr.text
    runner = json.loads((dirs.trusted / "runner.json").read_text())
    assert runner["exit_code"] == 0 and runner["kernel_ended_by"] == "shutdown_request"
    assert "_holdout" not in (dirs.trusted / "executed.ipynb").read_text()


def test_an_aborted_notebook_still_ends_its_kernel(docker_client, sandbox_image, tmp_path, no_containers_left):
    cells = ["import os, signal", "os.kill(os.getpid(), signal.SIGKILL)", "print('never')"]
    run, dirs = run_notebook(docker_client, sandbox_image, tmp_path, cells)
    runner = json.loads((dirs.trusted / "runner.json").read_text())
    assert runner["error"] == "kernel_died" and runner["exit_code"] == 1
    assert run.verdict == Verdict.CRASHED and run.duration_s < 60  # aborted: exit 1, reported, not hung


def test_the_kernel_runs_as_the_candidate_and_cannot_forge_the_record(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    forge = """
import json, os, time
forged = {"mode": "notebook", "exit_code": 0, "cell_errors": [], "cells": 9}
for folder in ("/holdout/trusted", "/holdout/logs"):
    try:
        json.dump(forged, open(f"{folder}/runner.json", "w"))
    except OSError as exc:
        print(folder, exc.errno)
if os.fork() == 0:  # a detached process that rewrites the records after the runner wrote them
    os.setsid()
    until = time.monotonic() + 60
    while time.monotonic() < until:
        for folder in ("/holdout/trusted", "/holdout/logs"):
            for name in ("runner.json", "executed.ipynb"):
                try:
                    json.dump(forged, open(f"{folder}/{name}", "w"))
                except OSError:
                    pass
        time.sleep(0.005)
print(os.getuid())
"""
    run, dirs = run_notebook(docker_client, sandbox_image, tmp_path, ["1 / 0", forge])
    runner = json.loads((dirs.trusted / "runner.json").read_text())
    assert [e["ename"] for e in runner["cell_errors"]] == ["ZeroDivisionError"] and runner["cells"] == 2
    assert run.runner == runner, "the host read the runner's record"
    executed = nbformat.reads((dirs.trusted / "executed.ipynb").read_text(), as_version=4)
    printed = executed.cells[1].outputs[-1]["text"].split()
    assert printed[-1] == "10001" and printed[:2] == ["/holdout/trusted", "13"]  # EACCES
