"""The JSON API with a fake grader on SQLite: rounds, uploads (idempotent, capped), status,
reports, tokens, and the rules a token cannot break."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("fastapi")

from tests.test_server_support import auth, database, make_zip, postgres, seeded_db, server  # noqa: F401


def _round(client, token, name="Spring", reviewers=("alice",)):
    r = client.post(
        "/api/rounds",
        json={"assignment": "applied_ml", "name": name, "reviewers": list(reviewers)},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _upload(client, token, round_id, data: bytes, name="s.zip"):
    return client.post(
        f"/api/rounds/{round_id}/submissions", files={"file": (name, data, "application/zip")}, headers=auth(token)
    )


def test_upload_is_queued_graded_and_reported(server):
    client, app, people = server
    rid = _round(client, people.admin_token)
    data = make_zip()
    r = _upload(client, people.admin_token, rid, data)
    assert r.status_code == 202
    body = r.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["duplicate"] is False
    assert client.get(body["status_url"], headers=auth(people.admin_token)).json()["status"] == "queued"
    assert client.get(f"/api/submissions/{body['id']}/report.json", headers=auth(people.admin_token)).status_code == 404
    assert client.get("/healthz").json() == {"ok": True, "queued": 1}
    assert app.state.queue.run_one()
    state = client.get(body["status_url"], headers=auth(people.admin_token)).json()
    assert state["status"] == "graded" and state["score"] == pytest.approx(80.4, abs=50)
    report = client.get(state["report_url"], headers=auth(people.admin_token)).json()
    assert report["submission"]["sha256"] == body["sha256"]
    assert not app.state.queue.run_one()  # nothing else queued


def test_same_bytes_twice_are_one_submission(server):
    client, app, people = server
    rid = _round(client, people.admin_token)
    first = _upload(client, people.admin_token, rid, make_zip()).json()
    again = _upload(client, people.alice_token, rid, make_zip(), name="renamed.zip").json()
    assert again["id"] == first["id"] and again["duplicate"] is True
    other = _round(client, people.admin_token, "Autumn")  # another round: its own submission
    assert _upload(client, people.admin_token, other, make_zip()).json()["id"] != first["id"]
    uploads = list((app.state.data.root / "uploads").iterdir())  # content-addressed: one file
    assert len(uploads) == 1 and not list((app.state.data.root / "tmp").iterdir())


def test_rejected_status_comes_from_the_report(server):
    client, app, people = server
    rid = _round(client, people.admin_token)
    sid = _upload(client, people.admin_token, rid, make_zip("REJECT")).json()["id"]
    app.state.queue.run_one()
    assert client.get(f"/api/submissions/{sid}", headers=auth(people.admin_token)).json()["status"] == "rejected"


def test_uploads_over_the_cap_or_malformed_are_refused_and_leave_nothing(server):
    client, app, people = server
    rid = _round(client, people.admin_token)
    big = _upload(client, people.admin_token, rid, b"x" * (1024 * 1024 + 10))
    assert big.status_code == 413
    assert _upload(client, people.admin_token, rid, b"").status_code == 400
    assert (
        client.post(
            f"/api/rounds/{rid}/submissions",
            content=b"PK\x03\x04",
            headers={**auth(people.admin_token), "Content-Type": "application/zip"},
        ).status_code
        == 415
    )
    bad = client.post(
        f"/api/rounds/{rid}/submissions",
        content=b"--xx\r\nnonsense",
        headers={**auth(people.admin_token), "Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert bad.status_code == 400
    assert (
        client.post(
            f"/api/rounds/{rid}/submissions",
            data={"other": "1"},
            files={"nofile": ("a", b"a")},
            headers=auth(people.admin_token),
        ).status_code
        == 400
    )
    assert not list((app.state.data.root / "tmp").iterdir()) and not list((app.state.data.root / "uploads").iterdir())
    assert client.get("/healthz").status_code == 200


def test_an_unknown_assignment_is_a_400_with_a_hint(server):
    client, _, people = server
    r = client.post("/api/rounds", json={"assignment": "../../etc", "name": "x"}, headers=auth(people.admin_token))
    assert r.status_code == 400 and "not an assignment id" in r.json()["detail"]


# --- authorization rules, each attacked -------------------------------------------------


def test_no_token_a_wrong_token_or_another_scheme_gets_401(server):
    client, _, people = server
    for headers in ({}, auth("hd_not-a-token"), {"Authorization": f"Basic {people.admin_token}"}, auth("")):
        assert (
            client.post("/api/rounds", json={"assignment": "applied_ml", "name": "x"}, headers=headers).status_code
            == 401
        )
        assert client.get("/api/submissions/1", headers=headers).status_code == 401


def test_a_reviewer_token_cannot_create_rounds(server):
    client, _, people = server
    r = client.post("/api/rounds", json={"assignment": "applied_ml", "name": "x"}, headers=auth(people.alice_token))
    assert r.status_code == 403


def test_a_reviewer_token_sees_nothing_of_another_round(server):
    client, app, people = server
    mine = _round(client, people.admin_token, "alice's", reviewers=("alice",))
    theirs = _round(client, people.admin_token, "bob's", reviewers=("bob",))
    sid = _upload(client, people.bob_token, theirs, make_zip("bob")).json()["id"]
    app.state.queue.run_one()
    assert _upload(client, people.alice_token, mine, make_zip("alice")).status_code == 202
    # alice: no upload into bob's round, no status, no report; the answer is the same as for a missing id
    assert _upload(client, people.alice_token, theirs, make_zip("sneak")).status_code == 404
    assert client.get(f"/api/submissions/{sid}", headers=auth(people.alice_token)).status_code == 404
    assert client.get(f"/api/submissions/{sid}/report.json", headers=auth(people.alice_token)).status_code == 404
    assert client.get("/api/submissions/99999", headers=auth(people.alice_token)).status_code == 404
    assert client.get(f"/api/submissions/{sid}", headers=auth(people.bob_token)).status_code == 200


def test_tokens_are_stored_hashed(server):
    client, app, people = server
    from sqlalchemy import text

    with app.state.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT token_hash FROM api_tokens"))]
        passwords = [r[0] for r in conn.execute(text("SELECT password_hash FROM users"))]
    assert people.admin_token not in stored and hashlib.sha256(people.admin_token.encode()).hexdigest() in stored
    assert all(p.startswith("$argon2") for p in passwords)


def test_webhook_is_signed(server, monkeypatch):
    client, app, people = server
    from harness.server import webhook

    sent = {}

    class FakeResponse:
        status_code = 200

    def fake_post(url, content, headers, timeout):
        sent.update(url=url, body=content, headers=headers)
        return FakeResponse()

    import httpx

    monkeypatch.setattr(httpx, "post", fake_post)
    rid = _round(client, people.admin_token)
    sid = _upload(client, people.admin_token, rid, make_zip()).json()["id"]
    app.state.queue.run_one()
    assert webhook.send_graded("http://hook.invalid/x", "s3cret", app.state.engine, sid) == 200
    assert json.loads(sent["body"])["status"] == "graded"
    assert sent["headers"]["X-Holdout-Signature"] == webhook.signature("s3cret", sent["body"])
    assert webhook.signature("other", sent["body"]) != sent["headers"]["X-Holdout-Signature"]


def test_hostile_file_names_and_form_fields_change_nothing_outside_the_data_dir(server, tmp_path):
    client, app, people = server
    rid = _round(client, people.admin_token)
    r = _upload(client, people.admin_token, rid, make_zip("x"), name="../../../../tmp/evil<script>.zip")
    assert r.status_code == 202
    state = client.get(r.json()["status_url"], headers=auth(people.admin_token)).json()
    stored = list((app.state.data.root / "uploads").iterdir())
    assert [p.name for p in stored] == [f"{state['sha256']}.zip"]
    with app.state.db() as db:
        from harness.server.models import Submission

        assert db.get(Submission, state["id"]).filename == "evil_script_.zip"
    many = {f"f{i}": "x" for i in range(40)}
    r = client.post(
        f"/api/rounds/{rid}/submissions",
        data=many,
        files={"file": ("a.zip", make_zip("y"), "application/zip")},
        headers=auth(people.admin_token),
    )
    assert r.status_code == 400 and "too many form fields" in r.json()["detail"]
    long_field = client.post(
        f"/api/rounds/{rid}/submissions",
        data={"note": "x" * 10_000},
        files={"file": ("a.zip", make_zip("z"), "application/zip")},
        headers=auth(people.admin_token),
    )
    assert long_field.status_code == 400
    assert not list((app.state.data.root / "tmp").iterdir())
