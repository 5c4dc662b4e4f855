"""Shared helpers for the server tests (no tests here): an app with a fake grader, people and
tokens, zips to upload."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from harness.server.engine import Outcome  # noqa: E402


def fake_grade(archive: Path, assignment: str, out_dir: Path) -> Outcome:
    """Writes a realistic report (tests/sample_reports.py) with this upload's digest."""
    from harness.report import write_reports
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
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("submission.toml", 'assignment = "applied_ml"\n')
        zf.writestr(name, text)
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
    """One database with the people in it (argon2 hashing is slow on purpose): copied per test."""
    path = tmp_path_factory.mktemp("server-seed") / "seed.db"
    return path, seed_people(f"sqlite:///{path}", path.parent)


@pytest.fixture
def server(tmp_path, seeded_db):
    """(TestClient, app, People) on SQLite with the fake grader and no grading threads:
    tests grade with ``app.state.queue.run_one()``."""
    import shutil

    from fastapi.testclient import TestClient

    from harness.server.app import ServerConfig, create_app

    shutil.copy(seeded_db[0], tmp_path / "server.db")
    db_url, people = f"sqlite:///{tmp_path / 'server.db'}", seeded_db[1]
    app = create_app(ServerConfig(db_url=db_url, data_dir=tmp_path / "data", workers=0, max_upload_mb=1), grade_fn=fake_grade)
    with TestClient(app, base_url="http://testserver") as client:
        yield client, app, people
