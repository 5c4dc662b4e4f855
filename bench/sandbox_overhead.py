"""Sandbox overhead: a no-op run in the hardened container vs a bare `python -c pass`.

    python bench/sandbox_overhead.py [--rounds 9]

Interleaves the two in every round (so machine load hits both alike) and prints the medians,
min-max and the surcharge. Target: <= 0.5 s median surcharge on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.spec import SandboxSpec
from sandbox.engine import connect
from sandbox.image import require_image, runtime_tag
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs, run_container


def sandboxed_noop(client, image: str, root: Path, i: int) -> float:
    dirs = make_job_dirs(root / f"job{i}")
    submission = root / f"sub{i}"
    submission.mkdir()
    request = RunRequest(
        image=image,
        command=["/opt/venv/bin/python", "-c", "pass"],
        limits=SandboxSpec(timeout_s=60),
        mounts=(
            Mount(submission, "/submission"),
            Mount(dirs.output, "/output", read_only=False),
            Mount(dirs.logs, LOGS_MOUNT, read_only=False),
        ),
    )
    started = time.perf_counter()
    run = run_container(client, request)
    elapsed = time.perf_counter() - started
    assert run.verdict == "ok", run
    return elapsed


def bare_noop() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    client = connect()
    image = runtime_tag()
    require_image(client, image)
    sandboxed, bare = [], []
    with tempfile.TemporaryDirectory(prefix="holdout-bench-") as tmp:
        sandboxed_noop(client, image, Path(tmp), -1)  # warm-up, not counted
        for i in range(args.rounds):
            sandboxed.append(sandboxed_noop(client, image, Path(tmp), i))
            bare.append(bare_noop())
    ms, mb = statistics.median(sandboxed), statistics.median(bare)
    print(f"rounds: {args.rounds} (interleaved), image {image}")
    print(f"sandboxed no-op : median {ms:.3f} s  (min {min(sandboxed):.3f}, max {max(sandboxed):.3f})")
    print(f"bare python     : median {mb:.3f} s  (min {min(bare):.3f}, max {max(bare):.3f})")
    print(f"surcharge       : {ms - mb:.3f} s median (target <= 0.5 s); ratio {ms / mb:.1f}x")


if __name__ == "__main__":
    main()
