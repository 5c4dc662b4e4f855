"""Throughput of `grade worker` processes on this machine: one worker, then two.

A throwaway RabbitMQ on loopback, a fresh store per run, and a batch of copies of the
applied_ml canaries (``reference``, ``crashes``, ``no_output``, ``wrong_ids``; each copy made
distinct so nothing is taken from the store). Prints submissions per minute and the mean
grading time the reports record.

    python bench/workers_throughput.py [--copies 3] [--workers 1 2] [--concurrency 1]

Needs the sandbox image (`grade sandbox build`), rabbitmq-server and GRADE_DATA_DIR.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CANARIES = ("reference", "crashes", "no_output", "wrong_ids")


def make_batch(folder: Path, copies: int, tag: str) -> None:
    for canary in CANARIES:
        for i in range(copies):
            dest = folder / f"{canary}-{i}"
            shutil.copytree(REPO / "assignments" / "applied_ml" / "canaries" / canary, dest)
            entry = dest / ("predict.py" if (dest / "predict.py").exists() else "solution.ipynb")
            with open(entry, "a") as fh:
                fh.write(f"\n# bench copy {tag}-{i}\n" if entry.suffix == ".py" else "")


def run(n_workers: int, concurrency: int, copies: int, broker_url: str, tmp: Path) -> dict:
    from harness.batch import grade_batch
    from harness.settings import Settings
    from harness.workers.engine import CeleryEngine

    store, subs = tmp / f"store-{n_workers}", tmp / f"subs-{n_workers}"
    make_batch(subs, copies, f"w{n_workers}-{time.time_ns()}")
    store.mkdir()
    workers, logs = [], []
    for i in range(n_workers):
        log = open(tmp / f"worker-{n_workers}-{i}.log", "wb")
        logs.append(tmp / f"worker-{n_workers}-{i}.log")
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "harness",
                    "worker",
                    "--broker",
                    broker_url,
                    "--store",
                    str(store),
                    "-Q",
                    "applied_ml",
                    "-c",
                    str(concurrency),
                    "--broker-timeout",
                    "3600",
                    "-n",
                    f"bench{i}@localhost",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while (
            not all(
                " ready." in p.read_text(errors="replace") or "ready" in p.read_text(errors="replace") for p in logs
            )
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        started = time.monotonic()
        result = grade_batch(
            [subs], tmp / f"out-{n_workers}", Settings.from_env(), engine=CeleryEngine(broker_url, store)
        )
        wall = time.monotonic() - started
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers:
            proc.wait(timeout=60)
    totals = [i.report.timings.get("total_s", 0.0) for i in result.items if i.report]
    return {
        "workers": n_workers,
        "submissions": len(result.items),
        "wall_s": round(wall, 1),
        "per_minute": round(60 * len(result.items) / wall, 1),
        "mean_grading_s": round(sum(totals) / len(totals), 1),
        "counts": result.counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=3, help="Copies of each canary (4 canaries).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    from harness.workers.localbroker import new_broker

    broker = new_broker("rabbitmq").start()
    tmp = Path(tempfile.mkdtemp(prefix="holdout-bench-workers-"))
    try:
        print(
            f"nproc {os.cpu_count()}, {len(CANARIES) * args.copies} submissions per run, concurrency {args.concurrency}"
        )
        for n in args.workers:
            print(run(n, args.concurrency, args.copies, broker.url, tmp), flush=True)
    finally:
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
