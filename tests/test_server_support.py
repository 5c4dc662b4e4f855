"""Shared helpers for the server tests (no tests here): an app with a fake grader, people and
tokens, zips to upload."""

from __future__ import annotations

import io
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from harness.server.engine import Outcome


def fake_grade(archive: Path, assignment: str, out_dir: Path) -> Outcome:
    """Writes a realistic report (tests/sample_reports.py) with this upload's digest."""
    from harness.reports.write import write_reports
    from harness.safeio import sha256_file
    from tests.sample_reports import realistic_report

    report = realistic_report()
    report.submission.sha256 = sha256_file(archive)
    if b"REJECT" in archive.read_bytes():
        report.status, report.score = "rejected", None
    from harness.panel.scorecard import grading_status, refresh_panel

    report = refresh_panel(out_dir, report, write=False)  # what grade_submission does: the panel opens
    write_reports(report, out_dir)
    return Outcome(grading_status(report), report.score)


def make_zip(text: str = "print(1)\n", name: str = "predict.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # fixed timestamps: the same text gives the same bytes
        zf.writestr(zipfile.ZipInfo("submission.toml", (2026, 1, 1, 0, 0, 0)), 'assignment = "applied_ml"\n')
        zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


@dataclass
class People:
    admin_token: str
    alice_token: str
    bob_token: str
    passwords: dict[str, str]


def seed_people(db_url: str, data_dir: Path) -> People:
    from harness.server import service
    from harness.server.db import make_engine, migrate, sessions

    engine = make_engine(db_url)
    migrate(engine)
    passwords = {}
    with sessions(engine)() as db:
        for name, role in (("admin", "admin"), ("alice", "reviewer"), ("bob", "reviewer"), ("carol", "reviewer")):
            _, passwords[name] = service.create_user(db, name, role, f"pw-{name}-correct-horse")
        tokens = [service.create_token(db, n) for n in ("admin", "alice", "bob")]
        db.commit()
    engine.dispose()
    return People(*tokens, passwords)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory) -> tuple[Path, People]:
    """One SQLite database with the people in it (argon2 is slow on purpose): copied per test."""
    path = tmp_path_factory.mktemp("server-seed") / "seed.db"
    return path, seed_people(f"sqlite:///{path}", path.parent)


def _postgres_bin(name: str) -> str | None:
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL cluster (Debian's postgresql: initdb + pg_ctl) on a loopback port,
    with a template database ``seed`` holding the people. Yields (admin URL, People)."""
    import os
    import shutil
    import socket
    import subprocess

    from tests.conftest import _unavailable

    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("PostgreSQL is missing: apt-get install -y postgresql (.ci/run does this)")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="holdout-pg-"))  # not under pytest's 0700 tmp: postgres must reach it
    data = root / "cluster"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as the postgres user
        if shutil.which("runuser") is None:
            _unavailable("running as root without runuser: cannot start PostgreSQL")
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "holdout", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
    )
    admin_url = f"postgresql://holdout@127.0.0.1:{port}/postgres"
    try:
        _create_database(admin_url, "seed")
        people = seed_people(admin_url.rsplit("/", 1)[0] + "/seed", root)
        yield admin_url, people
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _create_database(admin_url: str, name: str, template: str | None = None) -> str:
    from sqlalchemy import create_engine, text

    from harness.server.db import normalize_url

    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


_DB_COUNTER = iter(range(1, 10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> tuple[str, People]:
    """A fresh database with the people in it: SQLite (a copied file) or PostgreSQL (a copy of
    the template database)."""
    import shutil

    if request.param == "sqlite":
        path, people = request.getfixturevalue("seeded_db")
        shutil.copy(path, tmp_path / "server.db")
        return f"sqlite:///{tmp_path / 'server.db'}", people
    admin_url, people = request.getfixturevalue("postgres")
    return _create_database(admin_url, f"t{next(_DB_COUNTER)}", template="seed"), people


@pytest.fixture
def server(tmp_path, database):
    """(TestClient, app, People) with the fake grader and no grading threads: tests grade with
    ``app.state.queue.run_one()``. Runs once on SQLite and once on PostgreSQL."""
    from fastapi.testclient import TestClient

    from harness.server.app import ServerConfig, create_app

    db_url, people = database
    app = create_app(
        ServerConfig(db_url=db_url, data_dir=tmp_path / "data", workers=0, max_upload_mb=1), grade_fn=fake_grade
    )
    with TestClient(app, base_url="http://testserver") as client:
        yield client, app, people


@contextmanager
def live_server(db_url: str, data_dir: Path, *, grade_fn=fake_grade, workers: int = 1, max_upload_mb: int = 5):
    """uvicorn in a thread on a free loopback port, serving an app with ``grade_fn``."""
    import socket
    import threading
    import time

    import uvicorn

    from harness.server.app import ServerConfig, create_app

    app = create_app(
        ServerConfig(db_url=db_url, data_dir=data_dir, workers=workers, max_upload_mb=max_upload_mb, poll_s=0.2),
        grade_fn=grade_fn,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="on", limit_concurrency=200, backlog=256, timeout_graceful_shutdown=5
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
