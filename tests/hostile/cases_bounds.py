"""The host is bounded against what a container left behind: deep folder chains in every
writable mount (and a later ``grade`` and ``grade sandbox prune`` still work), a nesting bomb in
the runner's record, a flood of key-like lines for the secret scan, and a forged executed
notebook from a script run. Each once crashed ``grade`` (exit 1, no report, the job dir left in
the temp dir, every later ``grade`` failing) or held the host for minutes."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
from pathlib import Path

from harness.models import Verdict

from .builders import MANIFEST, script, write_tree
from .catalogue import Case, Env, Expect, Outcome, drive_api

DEEP = 3000
"""Folder levels: far past Python's recursion limit and PATH_MAX, far under the entry quota."""

CHAIN = f'''
def chain(root, depth={DEEP}):
    """root/d/d/.../d, built relative to descriptors (the path is longer than PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("deep", dir_fd=fd)
    child = os.open("deep", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = child
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    os.close(fd)
    locked = os.path.join(root, "locked", "inner")
    os.makedirs(locked)
    open(os.path.join(locked, "f"), "w").close()
    os.chmod(locked, 0)
    os.chmod(os.path.dirname(locked), 0)
    os.symlink("/", os.path.join(root, "escape"))
'''


def _sub(env: Env, body: str, *, files: dict | None = None, name: str = "submission") -> Path:
    return write_tree(
        env.tmp / name, {"predict.py": script(body, header=CHAIN), "submission.toml": MANIFEST, **(files or {})}
    )


def _cli(env: Env, *args: str) -> subprocess.CompletedProcess:
    from .cases_harness import _cli_env

    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=_cli_env(env),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=env.tmp,
        check=False,
    )


def _plant_leftover(env: Env) -> Path:
    """What a harness killed mid-run leaves: a job dir of a dead process with the container's
    deep chain, a locked folder and a link in its output folder."""
    job = env.tmp_root / "holdout-job-killed"
    output = job / "run" / "output"
    output.mkdir(parents=True)
    (job / "owner.pid").write_text("999999999")
    fd = os.open(output, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEEP):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    (output / "locked").mkdir()
    (output / "locked").chmod(0)
    (output / "escape").symlink_to("/")
    return job


def _deep_then_again(case: Case, env: Env, submission: Path) -> Outcome:
    outcome = drive_api(case, env, submission)
    env.extra["left_after_first"] = sorted(p.name for p in env.tmp_root.iterdir())
    _plant_leftover(env)
    env.extra["prune"] = _cli(env, "sandbox", "prune")
    _plant_leftover(env)  # and once more for a plain `grade`, which prunes first
    honest = write_tree(env.tmp / "honest", {"predict.py": script("write_all_ham()"), "submission.toml": MANIFEST})
    env.extra["second"] = _cli(
        env, str(honest), "--assignment", str(env.assignments["lean"]), "--out", str(env.tmp / "out-second"), "--json"
    )
    return outcome


def _survived(outcome: Outcome, env: Env) -> None:
    assert env.extra["left_after_first"] == [], f"the first grade left {env.extra['left_after_first']}"
    prune = env.extra["prune"]
    assert prune.returncode == 0, prune.stderr[-2000:]
    assert "1 job dir(s)" in prune.stdout, prune.stdout
    second = env.extra["second"]
    assert second.returncode == 0 and "Traceback" not in second.stderr, second.stderr[-2000:]


TMP_ONLY = """
write_all_ham()
chain("/tmp")
"""

EVERY_MOUNT = """
write_all_ham()
for root in (str(OUT), os.environ["HOLDOUT_LOGS_DIR"], "/tmp"):
    chain(root)
"""

NESTING_BOMB = """
import signal
write_all_ham()
with open(os.path.join(os.environ["HOLDOUT_LOGS_DIR"], "runner.json"), "w") as fh:
    fh.write("[" * 100_000)
os.kill(os.getppid(), signal.SIGKILL)  # the in-container runner never writes its own record
"""


def _bomb_ignored(outcome: Outcome, env: Env) -> None:
    runner = outcome.report.sandbox.runner
    if "error" in runner:  # the runner could be killed (one uid): the record was the bomb
        assert "nested deeper than" in runner["error"], runner


def _flood_files() -> dict[str, str]:
    rng = random.Random(13)
    alphabet = string.ascii_uppercase + string.digits
    files = {}
    for n in range(3):
        lines, size = [], 0
        while size < 2 * 2**20 - 64:
            line = f"aws_key_{len(lines)} = AKIA{''.join(rng.choices(alphabet, k=16))}\n"
            lines.append(line)
            size += len(line)
        files[f"notes/keys{n}.txt"] = "".join(lines)
    return files


def _scan_bounded(outcome: Outcome, env: Env) -> None:
    quality = next(g for g in outcome.report.graders if g.grader == "quality")
    # generous: an honest grading's quality check takes well under a second; the quadratic scan took minutes
    assert quality.duration_s < 10, f"the quality grader took {quality.duration_s:.1f} s"
    assert quality.measurements["no_secrets"] == 0.0
    evidence = quality.details["habits"]["no_secrets"]["evidence"][0]
    assert evidence.startswith("60 or more possible secret(s)"), evidence  # 20 per file
    assert "AKIA" not in evidence  # named by file and line, never echoed


def _forged_notebook() -> str:
    return """
import json
write_all_ham()
cell = {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "print('x')\\n" * 8,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "\\x1b[31mred\\x1b[0m line\\n" * 8}]}
notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [dict(cell, id=f"c{i}") for i in range(9000)]}
with open(os.path.join(os.environ["HOLDOUT_LOGS_DIR"], "executed.ipynb"), "w") as fh:
    json.dump(notebook, fh)
"""


def _not_rendered(outcome: Outcome, env: Env) -> None:
    artifacts = outcome.out_dir / "artifacts"
    assert not (artifacts / "notebook.html").exists(), "a script run's forged notebook was rendered"
    assert not (artifacts / "executed.ipynb").exists(), "a script run's forged notebook was kept as evidence"
    assert "artifacts/notebook.html" not in (outcome.out_dir / "report.html").read_text()


CASES = [
    Case(
        "deep_tree_in_tmp",
        "runtime",
        f"predict.py makes a {DEEP}-deep chain of folders (and a locked folder and a link to /) in its /tmp tmpfs",
        lambda env: _sub(env, TMP_ONLY),
        Expect(verdict=Verdict.OK, note="graded; the tmpfs goes with the container"),
    ),
    Case(
        "deep_trees_in_every_mount",
        "runtime",
        f"predict.py makes a {DEEP}-deep chain of folders, a folder with mode 000 and a link to / in /output, the "
        "logs folder and /tmp; then a killed run's job dir with the same is left in the temp dir",
        lambda env: _sub(env, EVERY_MOUNT),
        Expect(
            verdict=Verdict.OK,
            check=_survived,
            note="graded, job dir removed; a later `grade sandbox prune` and "
            "`grade` both succeed and remove the killed run's leftover",
        ),
        drive=_deep_then_again,
    ),
    Case(
        "runner_record_nesting_bomb",
        "runtime",
        "predict.py writes 100,000 nested `[` into the runner's record (logs folder runner.json) and kills the "
        "in-container runner",
        lambda env: _sub(env, NESTING_BOMB),
        Expect(check=_bomb_ignored, note="graded; the record is ignored with a plain message"),
    ),
    Case(
        "secret_scan_flood",
        "runtime",
        "three 2 MiB text files of AWS-key-like lines (they compress only ~1.7x, so intake accepts them)",
        lambda env: _sub(env, "write_all_ham()", files=_flood_files()),
        Expect(
            verdict=Verdict.OK,
            messages=("possible_secret",),
            check=_scan_bounded,
            note="the quality grader finishes in seconds; at most 20 findings per file (100 in all) are listed",
        ),
    ),
    Case(
        "forged_large_executed_notebook",
        "runtime",
        "a script submission writes a 3 MB executed.ipynb (9,000 cells) into its logs folder",
        lambda env: _sub(env, _forged_notebook()),
        Expect(
            verdict=Verdict.OK,
            check=_not_rendered,
            note="neither kept nor rendered: only a notebook run's notebook is (and then within caps)",
        ),
    ),
]
