"""The database job queue: atomic claims, no double recording, restart recovery, migrations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from sqlalchemy import text

from harness.server import jobqueue
from harness.server.db import make_engine, migrate, normalize_url
from harness.server.engine import DatabaseQueue, Outcome
from harness.server.storage import DataDir
from tests.test_server_support import database, postgres, seeded_db  # noqa: F401


@pytest.fixture
def engine(database):
    """SQLite and PostgreSQL (SKIP LOCKED) in turn."""
    eng = make_engine(database[0])
    migrate(eng)
    yield eng
    eng.dispose()


def _seed(engine, n: int) -> list[int]:
    ids = []
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rounds (name, assignment, required_reviewers, target_hours) VALUES ('r', 'applied_ml', 2, 48)"
            )
        )
        for i in range(n):
            sid = conn.execute(
                text(
                    "INSERT INTO submissions (round_id, sha256, size_bytes, filename, label, status, error) "
                    "VALUES (1, :h, 1, 'a.zip', '', 'queued', '') RETURNING id"
                ),
                {"h": f"{i:064d}"},
            ).scalar_one()
            jobqueue.enqueue(conn, sid)
            ids.append(sid)
    return ids


def test_migrations_match_the_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from harness.server.models import Base

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    migrate(engine)  # idempotent


def test_database_urls():
    assert normalize_url("postgresql://u@localhost/db").startswith("postgresql+pg8000://")
    assert normalize_url("grade.db").startswith("sqlite:////")
    with pytest.raises(Exception, match="unsupported database"):
        normalize_url("mysql://u@h/db")


def test_concurrent_workers_claim_each_job_exactly_once(engine):
    ids = _seed(engine, 40)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(n):
        while (c := jobqueue.claim(engine, f"w{n}")) is not None:
            with lock:
                claimed.append(c.submission_id)
            assert jobqueue.finish(engine, c, "graded", 50.0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'done' AND attempts = 1")).scalar_one() == 40
        assert conn.execute(text("SELECT count(*) FROM submissions WHERE status = 'graded'")).scalar_one() == 40


def test_a_lost_claim_records_nothing(engine):
    _seed(engine, 1)
    first = jobqueue.claim(engine, "old")
    with engine.begin() as conn:  # what recovery does to a dead worker's job
        conn.execute(text("UPDATE jobs SET status = 'queued', claimed_by = ''"))
    second = jobqueue.claim(engine, "new")
    assert not jobqueue.finish(engine, first, "graded", 10.0)
    assert jobqueue.finish(engine, second, "graded", 90.0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT score FROM submissions")).scalar_one() == 90.0


def test_recover_requeues_only_dead_holders(engine):
    _seed(engine, 3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    a = jobqueue.claim(engine, f"{host}:{dead.pid}:1")  # its process is gone
    b = jobqueue.claim(engine, f"{host}:{os.getppid()}:1")  # alive (pytest's parent)
    c = jobqueue.claim(engine, "elsewhere:1:1")  # another host's: not ours to judge
    assert jobqueue.recover(engine) == [a.submission_id]
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT submission_id, status FROM jobs")).all())
    assert rows == {a.submission_id: "queued", b.submission_id: "running", c.submission_id: "running"}


def test_database_queue_grades_and_survives_a_crashing_grader(engine, tmp_path):
    ids = _seed(engine, 3)
    seen = []

    def fake_grade(archive, assignment, out_dir):
        seen.append(archive.name)
        if len(seen) == 2:
            raise RuntimeError("boom")
        return Outcome("graded", 70.0)

    q = DatabaseQueue(engine, DataDir(tmp_path / "data").prepare(), fake_grade, workers=0)
    q.start()
    while q.run_one():
        pass
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, error FROM submissions ORDER BY id")).all()
    assert [r.status for r in rows] == ["graded", "failed", "graded"]
    assert "RuntimeError: boom" in rows[1].error
    assert len(seen) == len(ids)
    assert jobqueue.requeue(engine, ids[1]) and jobqueue.claim(engine).submission_id == ids[1]
