"""``grade serve --engine celery``'s job engine without a broker (fast): a recording stand-in for
Celery's ``send_task``, the store's real grading logic with a fake sandbox runner. The same
paths run for real (RabbitMQ, a `grade worker` process, Docker) in tests/test_server_celery.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("sqlalchemy")

from sqlalchemy import text

from harness.models import SandboxRun, Verdict
from harness.server import jobqueue
from harness.server.celery_jobs import FOLLOWED, CeleryJobs
from harness.server.db import make_engine, migrate
from harness.server.storage import DataDir
from harness.settings import Settings
from harness.workers.grading import grade_key
from harness.workers.store import Store
from tests.toy_assignments import run_only


class SentTasks:
    """Celery's ``send_task``, recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_task(self, name, args, queue, **_):
        self.sent.append((args[0], queue))


def ok_runner(request):
    return SandboxRun(verdict=Verdict.OK, exit_code=0, timeout_s=10, duration_s=1)


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "assignments" / "toysrv"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(run_only("toysrv", title="Toy server"))
    (root / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    monkeypatch.setenv("GRADE_ASSIGNMENTS_PATH", str(tmp_path / "assignments"))
    monkeypatch.setenv("GRADE_CACHE_DIR", str(tmp_path / "cache"))
    engine = make_engine(f"sqlite:///{tmp_path / 'grade.db'}")
    migrate(engine)
    data = DataDir(tmp_path / "server").prepare()
    yield engine, data, tmp_path / "store"
    engine.dispose()


def upload(engine, data: DataDir, round_id: int, body: bytes) -> int:
    import hashlib
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in (("predict.py", body), ("submission.toml", b'assignment = "toysrv"\n')):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), content)
    raw = buf.getvalue()
    sha = hashlib.sha256(raw).hexdigest()
    data.upload_path(sha, "s.zip").write_bytes(raw)
    with engine.begin() as conn:
        if not conn.execute(text("SELECT id FROM rounds WHERE id = :r"), {"r": round_id}).first():
            conn.execute(
                text(
                    "INSERT INTO rounds (id, name, assignment, required_reviewers, target_hours) "
                    "VALUES (:r, 'r', 'toysrv', 2, 48)"
                ),
                {"r": round_id},
            )
        sid = conn.execute(
            text(
                "INSERT INTO submissions (round_id, sha256, size_bytes, filename, label, status, error) "
                "VALUES (:r, :h, 1, 's.zip', '', 'queued', '') RETURNING id"
            ),
            {"r": round_id, "h": sha},
        ).scalar_one()
        jobqueue.enqueue(conn, sid)
    return sid


def row(engine, sid: int):
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT s.status, s.score, s.error, j.status AS job, j.claimed_by FROM submissions s "
                "JOIN jobs j ON j.submission_id = s.id WHERE s.id = :s"
            ),
            {"s": sid},
        ).one()


def test_a_job_follows_the_store_and_is_recorded_once(site):
    engine, data, store_dir = site
    sent, done = SentTasks(), []
    jobs = CeleryJobs(
        engine, data, "amqp://127.0.0.1//", store_dir, celery_app=sent, on_done=lambda s, o: done.append(s)
    )
    jobs.store.ensure()
    sid = upload(engine, data, 1, b"print('hi')\n")
    assert jobs.run_once() == 1
    (key, queue) = sent.sent[0]
    assert queue == "holdout.toysrv" and row(engine, sid).claimed_by == FOLLOWED + key
    assert row(engine, sid).status == "running" and jobs.run_once() == 0  # nothing in the store yet
    entry = Store(store_dir).entry(key)
    assert entry.meta()["assignment"] == "toysrv" and entry.submission_path().is_file()
    graded = grade_key(entry, Settings.from_env(), runner=ok_runner)  # what the worker does
    assert jobs.run_once() == 1 and done == [sid]
    state = row(engine, sid)
    assert (state.status, state.score, state.job) == ("graded", graded["score"], "done")
    report = json.loads((data.report_dir(1, sid) / "report.json").read_text())
    assert report["score"] == graded["score"] and (data.report_dir(1, sid) / "report.html").is_file()
    assert jobs.run_once() == 0 and done == [sid]  # recorded once

    # the same bytes in another round: the store's report, nothing sent, nothing graded again
    again = upload(engine, data, 2, b"print('hi')\n")
    assert jobs.run_once() == 2 and len(sent.sent) == 1
    assert row(engine, again).status == "graded" and row(engine, again).score == graded["score"]
    assert [e["event"] for e in entry.events()].count("report_written") == 1


def test_a_restarted_server_sends_unanswered_keys_again_and_a_failure_can_be_regraded(site):
    engine, data, store_dir = site
    first = SentTasks()
    jobs = CeleryJobs(engine, data, "amqp://127.0.0.1//", store_dir, celery_app=first)
    jobs.store.ensure()
    sid = upload(engine, data, 1, b"print('lost message')\n")
    jobs.dispatch_one()
    (key, _) = first.sent[0]
    # the server stops before the worker answers; the broker lost the message (Redis without persistence)
    second = SentTasks()
    restarted = CeleryJobs(engine, data, "amqp://127.0.0.1//", store_dir, celery_app=second)
    restarted.resend_followed()
    assert second.sent == [(key, "holdout.toysrv")]
    # the worker records a harness error: the row says failed, an admin's regrade sends it again
    entry = Store(store_dir).entry(key)
    entry.record_error("infra_error", "no Docker engine on worker w1")
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET claimed_by = :k WHERE submission_id = :s"), {"k": FOLLOWED + key, "s": sid})
    assert restarted.follow() == 1
    state = row(engine, sid)
    assert state.status == "failed" and "no Docker engine" in state.error
    assert jobqueue.requeue(engine, sid)
    assert restarted.dispatch_one() and second.sent[-1] == (key, "holdout.toysrv")
    assert entry.read_error() is None and row(engine, sid).status == "running"

    # a server that died after claiming a job, before sending it: re-queued at start, then sent
    lost = upload(engine, data, 1, b"print('claimed, never sent')\n")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert jobqueue.claim(engine, worker=f"{socket.gethostname()}:{int(gone.stdout)}:1").submission_id == lost
    third = SentTasks()
    again = CeleryJobs(engine, data, "amqp://127.0.0.1//", store_dir, celery_app=third, poll_s=0.1)
    again.start()
    try:
        deadline = time.monotonic() + 30
        while not row(engine, lost).claimed_by.startswith(FOLLOWED) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        again.stop()
    assert (row(engine, lost).claimed_by.removeprefix(FOLLOWED), "holdout.toysrv") in third.sent


def test_an_unreachable_broker_fails_the_job_with_a_plain_message(site):
    engine, data, store_dir = site

    class Down:
        def send_task(self, *a, **k):
            raise ConnectionRefusedError(111, "Connection refused")

    jobs = CeleryJobs(engine, data, "amqp://holdout:s3cret@127.0.0.1:1//", store_dir, celery_app=Down())
    jobs.store.ensure()
    sid = upload(engine, data, 1, b"print('x')\n")
    assert jobs.run_once() == 1
    state = row(engine, sid)
    assert state.status == "failed" and "cannot send the job to the broker" in state.error
    assert "s3cret" not in state.error and "holdout:***@" in state.error
