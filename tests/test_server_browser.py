"""The server in a real browser (Playwright for Python driving Debian's chromium; no browser
download), on SQLite and PostgreSQL: an admin sets up a round, a candidate uploads through the
link, the report appears, two reviewers score and disagree, calibration shows it; a forged
CSRF token is refused; a reviewer is kept out of another round; no console errors anywhere."""

from __future__ import annotations

import hashlib
import shutil

import pytest

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")

from tests.test_server_support import database, live_server, make_zip, postgres, seeded_db  # noqa: E402,F401


@pytest.fixture(scope="module")
def browser():
    from tests.conftest import _unavailable

    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    if binary is None:
        _unavailable("chromium is missing: apt-get install -y chromium (.ci/run does this; never `playwright install`)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield browser
        browser.close()


class Tab:
    """A browser context (its own cookies) that fails the test on any console error."""

    def __init__(self, browser, base: str) -> None:
        self.context = browser.new_context(base_url=base)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, name: str) -> Tab:
        self.page.goto("/login")
        self.page.fill("#name", name)
        self.page.fill("#password", f"pw-{name}-correct-horse")
        self.page.click("button[type=submit]")
        assert self.page.url.endswith("/"), self.page.url
        return self

    def no_console_errors(self, allow: tuple[str, ...] = ()) -> None:
        real = [e for e in self.errors if not any(a in e for a in allow)]
        assert real == [], real


def test_a_round_from_upload_to_calibration(browser, database, tmp_path):
    db_url, _ = database
    with live_server(db_url, tmp_path / "data", workers=1) as (base, app):
        admin = Tab(browser, base).login("admin")
        page = admin.page
        page.fill("#round-name", "Spring hires")
        page.select_option("#round-assignment", "applied_ml")
        page.click("text=Create round")
        assert page.locator("h1").inner_text().startswith("Spring hires")
        for name in ("alice", "bob"):
            page.select_option("#member", name)
            page.click("text=Add to panel")
        page.fill("#link-label", "Dana Candidate")
        page.click("text=Create link")
        link = page.locator("#new-link").inner_text()
        assert "/u/" in link

        candidate = Tab(browser, base)
        data = make_zip("dana's model")
        archive = tmp_path / "dana.zip"
        archive.write_bytes(data)
        candidate.page.goto(link)
        candidate.page.set_input_files("#file", str(archive))
        candidate.page.click("button:has-text('Upload')")
        receipt = candidate.page.locator("#receipts")
        assert hashlib.sha256(data).hexdigest() in receipt.inner_text()
        for _ in range(100):  # the grading thread picks it up
            if "received and processed" in candidate.page.locator(".cand-status").inner_text():
                break
            candidate.page.wait_for_timeout(200)
            candidate.page.reload()
        text = candidate.page.content()
        assert "received and processed" in text and "score" not in text.lower() and "Upload your submission" in text

        alice = Tab(browser, base).login("alice")
        alice.page.click("text=Spring hires")
        alice.page.click("text=Submission 1")
        frame = alice.page.frame_locator("iframe")
        assert "Holdout performance" in frame.locator("body").inner_text()
        assert "Dana" not in alice.page.content()  # blind
        alice.page.check("input[name=level_approach][value='1']")
        alice.page.select_option("#recommendation", "no")
        alice.page.click("text=Save scorecard")
        alice.page.wait_for_url("**/submissions/*?saved=1")  # the click navigates: wait for the new page
        assert "Saved." in alice.page.content()

        bob = Tab(browser, base).login("bob")
        bob.page.goto("/submissions/1")
        assert "1 review(s) in" in bob.page.content()  # alice's levels hidden until bob scores
        bob.page.locator("input[name=level_approach][value='5']").focus()  # by keyboard
        bob.page.keyboard.press("Space")
        bob.page.locator("text=Save scorecard").focus()
        bob.page.keyboard.press("Enter")
        bob.page.wait_for_url("**/submissions/1?saved=1")
        assert "alice" in bob.page.locator(".panel table").inner_text()

        bob.page.goto("/rounds/1/calibration")
        assert "alice: 1, bob: 5" in bob.page.locator("#disagreements").inner_text()
        assert "alice – bob" in bob.page.locator("#pairs").inner_text()
        bob.page.goto("/rounds/1")
        assert "2 / 2" in bob.page.locator("table.board").inner_text()

        # the first Tab on a page lands on the skip link
        bob.page.keyboard.press("Tab")
        assert bob.page.evaluate("document.activeElement.textContent") == "Skip to content"

        for tab in (admin, candidate, alice, bob):
            tab.no_console_errors()


def test_csrf_refusal_and_a_reviewer_kept_out(browser, database, tmp_path):
    db_url, _ = database
    with live_server(db_url, tmp_path / "data", workers=0) as (base, app):
        admin = Tab(browser, base).login("admin")
        for name in ("Alice's round", "Carol's round"):
            admin.page.goto("/")
            admin.page.fill("#round-name", name)
            admin.page.click("text=Create round")
        admin.page.goto("/rounds/1")
        admin.page.select_option("#member", "alice")
        admin.page.click("text=Add to panel")
        # a forged token in a real form submission is refused, and nothing changes
        admin.page.goto("/rounds/1")
        admin.page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.value = 'forged')")
        admin.page.select_option("#member", "carol")
        response = None
        with admin.page.expect_response(lambda r: r.url.endswith("/rounds/1/members")) as info:
            admin.page.click("text=Add to panel")
        response = info.value
        assert response.status == 403
        admin.page.goto("/rounds/1")
        assert "carol" not in admin.page.locator("p.muted").first.inner_text()

        carol = Tab(browser, base).login("carol")
        assert "Alice's round" not in carol.page.content()
        answer = carol.page.goto("/rounds/1")
        assert answer.status == 404
        assert carol.page.goto("/rounds/1/calibration").status == 404
        admin.no_console_errors(allow=("403",))
        carol.no_console_errors(allow=("404",))
