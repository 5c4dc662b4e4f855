"""``grade submit``: upload to a server, optionally wait for the grade (httpx)."""

from __future__ import annotations

import time
from pathlib import Path

from harness.errors import ConfigError, InfrastructureError

DONE = ("graded", "rejected", "needs_review", "failed")


class Client:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 60) -> None:
        import httpx

        if not token:
            raise ConfigError(
                "no API token", hint="Pass --token or set GRADE_TOKEN (grade admin create-token --user NAME)."
            )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def _call(self, method: str, path: str, **kw) -> dict:
        import httpx

        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise InfrastructureError(
                f"cannot reach the server: {exc}", hint="Check the URL and that `grade serve` runs."
            ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            error = ConfigError if response.status_code < 500 else InfrastructureError
            raise error(f"server answered {response.status_code}: {str(detail)[:500]}")
        return response.json()

    def submit(self, round_id: int, archive: Path) -> dict:
        if not archive.is_file():
            raise ConfigError(f"{archive} is not a file", hint="Pass the submission's .zip or .tar.gz.")
        with archive.open("rb") as fh:
            return self._call(
                "POST",
                f"/api/rounds/{int(round_id)}/submissions",
                files={"file": (archive.name, fh, "application/octet-stream")},
            )

    def status(self, submission_id: int) -> dict:
        return self._call("GET", f"/api/submissions/{int(submission_id)}")

    def wait(self, submission_id: int, *, timeout_s: float = 3600, poll_s: float = 2) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.status(submission_id)
            if state["status"] in DONE:
                return state
            if time.monotonic() > deadline:
                raise InfrastructureError(f"submission {submission_id} still {state['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    def report(self, submission_id: int) -> dict:
        return self._call("GET", f"/api/submissions/{int(submission_id)}/report.json")
