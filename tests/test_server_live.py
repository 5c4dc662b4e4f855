"""The server on a real socket: 50 concurrent uploads on loopback (half of them repeats) are
stored exactly once each and graded exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")

from tests.test_server_support import auth, database, fake_grade, live_server, make_zip, postgres, seeded_db  # noqa: F401


def test_fifty_concurrent_uploads_are_stored_and_graded_exactly_once(database, tmp_path):
    import httpx
    from sqlalchemy import text

    db_url, people = database
    calls: list[str] = []
    lock = threading.Lock()

    def counting_grade(archive, assignment, out_dir):
        with lock:
            calls.append(archive.name)
        return fake_grade(archive, assignment, out_dir)

    payloads = [make_zip(f"model {i}") for i in range(25)] * 2  # every payload twice, concurrently
    with live_server(db_url, tmp_path / "data", grade_fn=counting_grade, workers=2) as (base, app):
        with httpx.Client(base_url=base, headers=auth(people.admin_token), timeout=120) as client:
            rid = client.post("/api/rounds", json={"assignment": "applied_ml", "name": "load"}).json()["id"]

        def send(data: bytes):
            with httpx.Client(base_url=base, headers=auth(people.admin_token), timeout=120) as c:
                r = c.post(f"/api/rounds/{rid}/submissions", files={"file": ("s.zip", data, "application/zip")})
                return r.status_code, r.json()

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(send, payloads))
        assert {code for code, _ in answers} == {202}
        ids_by_digest: dict[str, set[int]] = {}
        for _, body in answers:
            ids_by_digest.setdefault(body["sha256"], set()).add(body["id"])
        assert len(ids_by_digest) == 25 and all(len(ids) == 1 for ids in ids_by_digest.values())
        with httpx.Client(base_url=base, headers=auth(people.admin_token), timeout=120) as client:
            for _ in range(600):
                if client.get("/healthz").json()["queued"] == 0 and all(
                    client.get(f"/api/submissions/{next(iter(i))}").json()["status"] == "graded"
                    for i in ids_by_digest.values()
                ):
                    break
                threading.Event().wait(0.2)
        with app.state.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM submissions")).scalar_one() == 25
            assert (
                conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'done' AND attempts = 1")).scalar_one()
                == 25
            )
        assert len(list((tmp_path / "data" / "uploads").iterdir())) == 25
        assert not list((tmp_path / "data" / "tmp").iterdir())
        assert sorted(calls) == sorted(set(calls)) and len(calls) == 25  # each graded once
