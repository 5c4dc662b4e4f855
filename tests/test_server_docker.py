"""The server end to end with real Docker grading, as a new user runs it: ``grade admin``,
``grade serve`` in a process of its own, uploads by ``grade submit`` and plain HTTP, a hostile
zip rejected with the server still healthy, and a server killed mid-grading that re-queues on
restart, removes the orphaned container and grades the submission exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from tests.hostile.builders import zip_bytes

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parent.parent


def _grade(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=900,
    )


class Server:
    """``grade serve`` as a child process (so it can be killed like a real one)."""

    def __init__(self, data: Path, env: dict) -> None:
        self.data, self.env = data, env
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        import httpx

        log = open(self.data.parent / f"server-{time.time():.0f}.log", "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "grade serve exited"
            time.sleep(0.3)
        raise AssertionError("grade serve did not come up")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)


def _zip_folder(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return out


@pytest.fixture
def new_user(tmp_path, sandbox_image):
    """What a new user does first: create an admin, a token; the environment the server runs in."""
    env = dict(os.environ, GRADE_IMAGE=sandbox_image, PYTHONPATH=str(REPO))
    data = tmp_path / "server"
    created = _grade("admin", "create-user", "boss", "--role", "admin", "--data", str(data), env=env)
    assert "password: " in created.stdout
    token = _grade("admin", "create-token", "--user", "boss", "--data", str(data), env=env).stdout.strip()
    return data, env, token


def _status(server: Server, token: str, sid: int) -> dict:
    import httpx

    return httpx.get(
        f"{server.url}/api/submissions/{sid}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()


def test_upload_graded_through_the_queue_and_a_hostile_zip_rejected(new_user, tmp_path):
    import httpx

    data, env, token = new_user
    server = Server(data, env).start()
    try:
        headers = {"Authorization": f"Bearer {token}"}
        rid = httpx.post(
            f"{server.url}/api/rounds", json={"assignment": "applied_ml", "name": "ci"}, headers=headers
        ).json()["id"]
        archive = _zip_folder(REPO / "assignments/applied_ml/canaries/reference", tmp_path / "reference.zip")
        done = _grade(
            "submit",
            server.url,
            str(archive),
            "--round",
            str(rid),
            "--token",
            token,
            "--wait",
            "--json",
            "--timeout",
            "600",
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["status"] in ("graded", "awaiting_panel") and report["score"] > 50
        assert (data / "rounds" / str(rid) / "1" / "report.html").is_file()  # the same files as `grade`
        # the same bytes again, by plain HTTP (what curl -F does): the same submission
        again = httpx.post(
            f"{server.url}/api/rounds/{rid}/submissions",
            headers=headers,
            files={"file": ("copy.zip", archive.read_bytes(), "application/zip")},
        ).json()
        assert again["id"] == 1 and again["duplicate"] is True
        # a hostile archive: rejected as the candidate's, the server carries on
        evil = zip_bytes([("../../escape.py", b"print('out')"), ("submission.toml", b'assignment = "applied_ml"\n')])
        sid = httpx.post(
            f"{server.url}/api/rounds/{rid}/submissions",
            headers=headers,
            files={"file": ("evil.zip", evil, "application/zip")},
        ).json()["id"]
        for _ in range(600):
            state = _status(server, token, sid)
            if state["status"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        assert state["status"] == "rejected", state
        assert httpx.get(f"{server.url}/healthz").json() == {"ok": True, "queued": 0}
        assert not (tmp_path / "escape.py").exists() and not (data / "escape.py").exists()
    finally:
        server.stop()


def test_a_server_killed_mid_grading_regrades_exactly_once_after_restart(new_user, tmp_path, docker_client):
    import httpx
    from sqlalchemy import create_engine, text

    data, env, token = new_user
    server = Server(data, env).start()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        rid = httpx.post(
            f"{server.url}/api/rounds", json={"assignment": "applied_ml", "name": "restart"}, headers=headers
        ).json()["id"]
        archive = _zip_folder(REPO / "assignments/applied_ml/canaries/reference", tmp_path / "reference.zip")
        sid = httpx.post(
            f"{server.url}/api/rounds/{rid}/submissions",
            headers=headers,
            files={"file": ("r.zip", archive.read_bytes(), "application/zip")},
        ).json()["id"]
        dead_pid = server.proc.pid
        label = f"io.holdout.pid={dead_pid}"
        deadline = time.monotonic() + 300
        while not docker_client.containers.list(all=True, sparse=True, filters={"label": label}):  # its container runs
            assert time.monotonic() < deadline, "grading never started a container"
            time.sleep(0.2)
        assert _status(server, token, sid)["status"] == "running"
    finally:
        server.stop(signal.SIGKILL)  # no cleanup at all: what a power cut leaves
    assert docker_client.containers.list(all=True, sparse=True, filters={"label": label}), "orphan expected"
    assert not list((data / "rounds" / str(rid)).glob("*/report.json"))

    server = Server(data, env).start()
    try:
        for _ in range(1200):
            state = _status(server, token, sid)
            if state["status"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        # graded (on a loaded machine the reference may hit its time limit: still one grade, the candidate's)
        assert state["status"] == "graded" and state["score"] is not None, state
        assert not docker_client.containers.list(all=True, sparse=True, filters={"label": label})  # orphan removed
    finally:
        server.stop()
    engine = create_engine(f"sqlite:///{data / 'grade.db'}")
    with engine.connect() as conn:
        jobs = conn.execute(text("SELECT status, attempts FROM jobs")).all()
        subs = conn.execute(text("SELECT count(*) FROM submissions")).scalar_one()
    engine.dispose()
    assert subs == 1 and [tuple(j) for j in jobs] == [("done", 2)]  # claimed twice, recorded once
    assert len(list((data / "rounds" / str(rid)).glob("*/report.json"))) == 1
