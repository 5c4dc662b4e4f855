"""The job queue in the database.

- ``claim``: one statement takes the oldest queued job for a worker — a conditional
  ``UPDATE … RETURNING`` on SQLite (writers are serialised, and the ``status = 'queued'`` guard
  makes a lost race claim nothing), ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent
  workers skip each other's rows instead of waiting).
- ``finish`` records the outcome only while the worker still holds the claim, so a job that
  was re-queued meanwhile cannot be recorded twice.
- ``recover`` (at start): jobs left ``running`` by a process on this host that is gone go
  back to ``queued``; nothing a dead server held is lost, and its containers are swept by
  label (``sandbox.cleanup.prune``, which the grading path runs first anyway).
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from harness.server.db import utcnow

_CLAIM = """
UPDATE jobs SET status = 'running', claimed_by = :worker, claimed_at = :now, attempts = attempts + 1
WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1{lock}) AND status = 'queued'
RETURNING id, submission_id
"""


@dataclass(frozen=True)
class Claim:
    job_id: int
    submission_id: int
    worker: str


def worker_id() -> str:
    """``host:pid:thread``: enough to tell, on restart, whether the holder is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def enqueue(conn, submission_id: int) -> None:
    """Queue a submission's job in the caller's transaction (one job per submission)."""
    conn.execute(
        text("INSERT INTO jobs (submission_id, status, attempts, claimed_by) VALUES (:s, 'queued', 0, '')"),
        {"s": submission_id},
    )


def claim(engine: Engine, worker: str | None = None) -> Claim | None:
    worker = worker or worker_id()
    lock = " FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as conn:
        row = conn.execute(text(_CLAIM.format(lock=lock)), {"worker": worker, "now": utcnow()}).first()
        if row is None:
            return None
        conn.execute(text("UPDATE submissions SET status = 'running' WHERE id = :s"), {"s": row.submission_id})
    return Claim(row.id, row.submission_id, worker)


def finish(engine: Engine, claim_: Claim, status: str, score: float | None, error: str = "") -> bool:
    """Record the outcome; False (and nothing written) when the claim was lost meanwhile."""
    with engine.begin() as conn:
        done = conn.execute(
            text(
                "UPDATE jobs SET status = 'done', finished_at = :now WHERE id = :j AND status = 'running' AND claimed_by = :w"
            ),
            {"now": utcnow(), "j": claim_.job_id, "w": claim_.worker},
        ).rowcount
        if done != 1:
            return False
        conn.execute(
            text("UPDATE submissions SET status = :st, score = :sc, error = :err, graded_at = :now WHERE id = :s"),
            {"st": status, "sc": score, "err": error[:4000], "now": utcnow(), "s": claim_.submission_id},
        )
    return True


def requeue(engine: Engine, submission_id: int) -> bool:
    """Grade a submission again (an admin's regrade after a failure): only when not running."""
    with engine.begin() as conn:
        n = conn.execute(
            text("UPDATE jobs SET status = 'queued', claimed_by = '' WHERE submission_id = :s AND status = 'done'"),
            {"s": submission_id},
        ).rowcount
        if n:
            conn.execute(
                text("UPDATE submissions SET status = 'queued', score = NULL, error = '' WHERE id = :s"),
                {"s": submission_id},
            )
    return bool(n)


def _holder_alive(claimed_by: str, host: str) -> bool:
    parts = claimed_by.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return parts[0] != host  # another host's worker: not ours to judge
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # this process is starting: nothing of its own can be running yet
    from sandbox.cleanup import pid_alive

    return pid_alive(pid)


def recover(engine: Engine) -> list[int]:
    """Re-queue jobs a dead process on this host left ``running``; return their submission ids."""
    host = socket.gethostname()
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, submission_id, claimed_by FROM jobs WHERE status = 'running'")).all()
        dead = [r for r in rows if not _holder_alive(r.claimed_by, host)]
        for r in dead:
            conn.execute(
                text("UPDATE jobs SET status = 'queued', claimed_by = '' WHERE id = :j AND status = 'running'"),
                {"j": r.id},
            )
            conn.execute(text("UPDATE submissions SET status = 'queued' WHERE id = :s"), {"s": r.submission_id})
    return [r.submission_id for r in dead]
