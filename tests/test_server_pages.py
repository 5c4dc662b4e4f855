"""Pages and their rules (fake grader, SQLite, TestClient): sign-in and throttling, sessions,
CSRF on every form, reviewers kept to their rounds, blind review, candidate links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

pytest.importorskip("fastapi")

from tests.test_server_support import auth, database, make_zip, postgres, seeded_db, server  # noqa: F401


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client, name: str, password: str | None = None):
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "name": name,
            "password": password or f"pw-{name}-correct-horse",
            "csrf": csrf_of(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/").text)


def logout_all(client):
    client.cookies.clear()


@pytest.fixture
def round_with_graded(server):
    """Round 1 (alice, bob) with a graded submission from a candidate link; round 2 (carol)."""
    client, app, people = server
    csrf = login(client, "admin")
    client.post("/rounds", data={"name": "Spring hires", "assignment": "applied_ml", "csrf": csrf})
    client.post("/rounds", data={"name": "Secret round", "assignment": "applied_ml", "csrf": csrf})
    for rid, name in ((1, "alice"), (1, "bob"), (2, "carol")):
        assert (
            client.post(f"/rounds/{rid}/members", data={"name": name, "csrf": csrf}, follow_redirects=False).status_code
            == 303
        )
    r = client.post(
        "/rounds/1/links", data={"label": "Dana Candidate", "uses": 1, "days": 7, "csrf": csrf}, follow_redirects=False
    )
    link = re.search(r"new_link=([^#]+)", r.headers["location"]).group(1)
    from urllib.parse import unquote

    link_path = "/" + unquote(link).split("/", 3)[3]
    logout_all(client)
    page = client.get(link_path)
    up = client.post(
        link_path,
        data={"csrf": csrf_of(page.text)},
        files={"file": ("dana.zip", make_zip("dana"), "application/zip")},
        follow_redirects=False,
    )
    assert up.status_code == 303
    app.state.queue.run_one()
    # a submission in round 2, by API
    client.post(
        "/api/rounds/2/submissions",
        files={"file": ("x.zip", make_zip("other"), "application/zip")},
        headers=auth(people.admin_token),
    )
    app.state.queue.run_one()
    return client, app, people, link_path


def test_pages_need_a_session_and_the_right_password(server):
    client, _, _ = server
    r = client.get("/rounds/1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    page = client.get("/login")
    bad = client.post("/login", data={"name": "alice", "password": "nope", "csrf": csrf_of(page.text)})
    assert bad.status_code == 401 and "Wrong name or password" in bad.text
    unknown = client.post("/login", data={"name": "mallory", "password": "x", "csrf": csrf_of(page.text)})
    assert unknown.status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303
    login(client, "alice")
    assert client.get("/").status_code == 200
    cookie = client.cookies.get("holdout_session")
    r = client.get("/login")
    set_cookie = (
        client.post(
            "/login",
            data={"name": "alice", "password": "pw-alice-correct-horse", "csrf": csrf_of(r.text)},
            follow_redirects=False,
        )
        .headers["set-cookie"]
        .lower()
    )
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    client.cookies.clear()
    client.cookies.set("holdout_session", cookie[:-3] + "AAA")  # tampered signature
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_is_throttled_even_with_the_right_password(server):
    client, _, _ = server
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        assert client.post("/login", data={"name": "bob", "password": "wrong", "csrf": token}).status_code == 401
    r = client.post("/login", data={"name": "bob", "password": "pw-bob-correct-horse", "csrf": token})
    assert r.status_code == 429 and "Too many" in r.text


def test_logout_kills_every_copy_of_the_cookie(server):
    client, _, _ = server
    csrf = login(client, "alice")
    stolen = client.cookies.get("holdout_session")
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("holdout_session", stolen)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_every_form_refuses_a_missing_or_wrong_csrf_token(round_with_graded):
    client, app, people, link_path = round_with_graded
    login(client, "admin")
    forms = [
        ("/logout", {}),
        ("/rounds", {"name": "x", "assignment": "applied_ml"}),
        ("/rounds/1/members", {"name": "carol"}),
        ("/rounds/1/links", {"label": "x"}),
        ("/submissions/1/review", {"level_approach": "3"}),
        ("/submissions/1/regrade", {}),
    ]
    for path, data in forms:
        for token in (None, "forged", csrf_of(client.get("/login").text)):  # the login form's token is not a session's
            body = dict(data, **({"csrf": token} if token else {}))
            assert client.post(path, data=body, follow_redirects=False).status_code == 403, (path, token)
    assert client.post("/login", data={"name": "admin", "password": "pw-admin-correct-horse"}).status_code == 403
    # nothing happened: no third round, carol not on round 1, no review
    assert "Secret round" in client.get("/").text and client.get("/rounds/3").status_code == 404
    assert "carol" not in client.get("/rounds/1").text.split("Panel:")[1].split("·")[0]
    # the candidate's upload form too (a fresh link: the fixture's is used up)
    r = client.post(
        "/rounds/1/links", data={"label": "y", "uses": 2, "csrf": csrf_of(client.get("/").text)}, follow_redirects=False
    )
    from urllib.parse import unquote

    link_path = "/" + unquote(re.search(r"new_link=([^#]+)", r.headers["location"]).group(1)).split("/", 3)[3]
    logout_all(client)
    r = client.post(
        link_path, data={"csrf": "forged"}, files={"file": ("a.zip", make_zip("forged"), "application/zip")}
    )
    assert r.status_code == 403
    assert not list((app.state.data.root / "tmp").iterdir())


def test_a_reviewer_is_kept_out_of_another_round(round_with_graded):
    client, _, people, _ = round_with_graded
    csrf = login(client, "alice")
    assert "Secret round" not in client.get("/").text
    for path in (
        "/rounds/2",
        "/submissions/2",
        "/submissions/2/report.html",
        "/rounds/2/calibration",
        "/rounds/2/export.csv",
        "/rounds/2/similarity",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post("/submissions/2/review", data={"csrf": csrf, "level_approach": "5"}).status_code == 404
    # and admin-only actions are refused in her own round
    assert client.post("/rounds", data={"csrf": csrf, "name": "mine", "assignment": "applied_ml"}).status_code == 403
    assert client.post("/rounds/1/members", data={"csrf": csrf, "name": "carol"}).status_code == 403
    assert client.post("/rounds/1/links", data={"csrf": csrf, "label": "x"}).status_code == 403
    assert client.post("/submissions/1/regrade", data={"csrf": csrf}).status_code == 403
    assert client.get("/rounds/1").status_code == 200


def test_review_is_blind_and_two_reviewers_who_disagree_show_in_calibration(round_with_graded):
    client, app, _, _ = round_with_graded
    csrf = login(client, "alice")
    page = client.get("/submissions/1").text
    assert "Dana" not in page and "dana.zip" not in page and "blind review" in page
    assert "guide for level" not in page and "A reasonable model." in page  # the criterion's level guide
    r = client.post(
        "/submissions/1/review",
        data={"csrf": csrf, "level_approach": "1", "comment_approach": "<b>weak</b>", "recommendation": "no"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    logout_all(client)
    csrf = login(client, "bob")
    page = client.get("/submissions/1").text
    assert "1 review(s) in" in page and "&lt;b&gt;weak" not in page  # alice's levels hidden until bob scores
    assert "alice" not in client.get("/submissions/1/report.html").text  # the report too
    client.post("/submissions/1/review", data={"csrf": csrf, "level_approach": "5", "recommendation": "strong-yes"})
    page = client.get("/submissions/1").text
    assert "alice" in page and "strong-yes" in page
    cal = client.get("/rounds/1/calibration").text
    assert "Disagreements" in cal and "alice: 1, bob: 5" in cal and "alice – bob" in cal
    csv_text = client.get("/rounds/1/export.csv").text
    assert csv_text.splitlines()[0].startswith("submission,status,score") and "Dana" not in csv_text
    assert ",2,2," in csv_text.splitlines()[1]  # two reviews of two needed
    import json

    report = json.loads((app.state.data.report_dir(1, 1) / "report.json").read_text())
    assert report["panel"]["criteria"][0]["disagreement"] is True  # the panel library's own files


def test_the_report_is_served_with_its_own_csp_and_pages_with_theirs(round_with_graded):
    client, _, _, _ = round_with_graded
    login(client, "admin")
    report = client.get("/submissions/1/report.html")
    assert (
        "sandbox" in report.headers["content-security-policy"]
        and "script-src" not in report.headers["content-security-policy"]
    )
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    page = client.get("/submissions/1")
    assert (
        "frame-ancestors 'none'" in page.headers["content-security-policy"]
        and page.headers["x-frame-options"] == "DENY"
    )
    assert "<script" not in page.text
    assert "Dana Candidate" in client.get("/submissions/1?unblind=1").text  # an admin may unblind


def test_a_candidate_link_shows_a_receipt_never_a_score_and_is_single_use(round_with_graded):
    client, app, people, link_path = round_with_graded
    page = client.get(link_path)
    assert page.status_code == 200 and "received and processed" in page.text and "This link has been used" in page.text
    assert "score" not in page.text.lower() and "80" not in re.sub(r"[0-9a-f]{64}", "", page.text)
    assert "Submission 2" not in page.text and "x.zip" not in page.text  # nobody else's
    for path in ("/submissions/1", "/submissions/1/report.html", "/rounds/1"):
        assert client.get(path, follow_redirects=False).status_code == 303  # the link is no session
    assert client.get("/api/submissions/1").status_code == 401
    r = client.post(
        link_path,
        data={"csrf": csrf_of(client.get("/login").text)},
        files={"file": ("again.zip", make_zip("again"), "application/zip")},
    )
    assert r.status_code in (403, 409)
    with app.state.db() as db:
        from harness.server.models import Submission, UploadLink

        assert db.query(Submission).count() == 2
        link = db.query(UploadLink).one()
        assert link.token_hash not in link_path and link.uses_left == 0
        link.expires_at = link.expires_at - timedelta(days=30)
        db.commit()
    assert client.get(link_path).status_code == 404  # expired
    assert client.get("/u/not-a-token").status_code == 404


def test_a_rejected_upload_tells_the_candidate_to_fix_it(server):
    client, app, people = server
    csrf = login(client, "admin")
    client.post("/rounds", data={"name": "r", "assignment": "applied_ml", "csrf": csrf})
    r = client.post("/rounds/1/links", data={"label": "e", "uses": 3, "days": 1, "csrf": csrf}, follow_redirects=False)
    from urllib.parse import unquote

    link_path = "/" + unquote(re.search(r"new_link=([^#]+)", r.headers["location"]).group(1)).split("/", 3)[3]
    logout_all(client)
    token = csrf_of(client.get(link_path).text)
    client.post(link_path, data={"csrf": token}, files={"file": ("bad.zip", make_zip("REJECT"), "application/zip")})
    app.state.queue.run_one()
    page = client.get(link_path).text
    assert "could not be read" in page and "2 upload(s) left" in page


COPIED = """
import csv
import sys


def load_rows(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\\t")
        return [(label, text) for label, text in reader]


def score_message(text, weights):
    total = 0.0
    for word in text.lower().split():
        total += weights.get(word, 0.0)
    return total


def train(rows):
    weights = {}
    for label, text in rows:
        for word in text.lower().split():
            delta = 1.0 if label == "spam" else -1.0
            weights[word] = weights.get(word, 0.0) + delta
    return weights


def main():
    rows = load_rows(sys.argv[1])
    weights = train(rows)
    for label, text in rows[:10]:
        print(label, score_message(text, weights) > 0)


main()
"""


def test_similarity_flags_a_copied_submission(server):
    client, app, people = server
    csrf = login(client, "admin")
    client.post("/rounds", data={"name": "r", "assignment": "applied_ml", "csrf": csrf})
    renamed = COPIED.replace("weights", "w8").replace("rows", "records") + "\n# my own work\n"
    different = "import math\n\nprint(sum(math.sqrt(i) for i in range(10)))\n" * 3
    for code in (COPIED, renamed, different):
        client.post(
            "/api/rounds/1/submissions",
            headers=auth(people.admin_token),
            files={"file": ("s.zip", make_zip(code), "application/zip")},
        )
        app.state.queue.run_one()
    page = client.get("/rounds/1/similarity").text
    assert 'Submission 1</a> – <a href="/submissions/2">Submission 2' in page and "flagged" in page
    assert "Submission 3" not in page
    board = client.get("/rounds/1").text
    assert "similar to #2" in board and "similar to #1" in board


def test_the_leaderboard_pages_by_rank(server, monkeypatch):
    from harness.server import pages

    client, app, people = server
    monkeypatch.setattr(pages, "PAGE_ROWS", 2)
    csrf = login(client, "admin")
    client.post("/rounds", data={"name": "r", "assignment": "applied_ml", "csrf": csrf})
    for i in range(3):
        client.post(
            "/api/rounds/1/submissions",
            headers=auth(people.admin_token),
            files={"file": ("s.zip", make_zip(f"m{i}"), "application/zip")},
        )
    first, second, every = (client.get(f"/rounds/1?page={p}").text for p in ("1", "2", "all"))
    assert first.count('href="/submissions/') == 2 and second.count('href="/submissions/') == 1
    assert every.count('href="/submissions/') == 3 and "all 3" in first and "3–3" in first
