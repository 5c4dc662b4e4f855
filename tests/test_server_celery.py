"""``grade serve --engine celery`` end to end: a real RabbitMQ on loopback, a real ``grade worker``
process grading in real Docker, and ``grade serve`` in a process of its own that is killed
while the worker grades. Every outcome is read from the store and the server's API."""

from __future__ import annotations

import io
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

from harness.workers.store import Store
from tests.test_workers_broker import Worker, events, rabbit, wait_for  # noqa: F401
from tests.toy_assignments import run_only

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parent.parent


def _grade(*args: str, env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class CeleryServer:
    """``grade serve --engine celery`` as a child process."""

    def __init__(self, data: Path, env: dict, broker: str, store: Path) -> None:
        self.data, self.env, self.broker, self.store = data, env, broker, store
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> CeleryServer:
        import httpx

        with open(self.log, "a") as log:
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
                    "--engine",
                    "celery",
                    "--broker",
                    self.broker,
                    "--store",
                    str(self.store),
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"grade serve exited: {self.log.read_text()[-3000:]}"
            time.sleep(0.3)
        raise AssertionError("grade serve did not come up")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)


def _zip(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in (("predict.py", code), ("submission.toml", 'assignment = "toysrv"\n')):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def test_serve_with_celery_grades_on_a_worker_and_survives_its_own_death(
    rabbit, sandbox_image, data_dir, tmp_path, docker_client
):
    import httpx

    (tmp_path / "assignments" / "toysrv").mkdir(parents=True)
    (tmp_path / "assignments" / "toysrv" / "assignment.toml").write_text(run_only("toysrv", in_docker=True))
    (tmp_path / "assignments" / "toysrv" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    env = {
        **os.environ,
        "GRADE_ASSIGNMENTS_PATH": str(tmp_path / "assignments"),
        "GRADE_IMAGE": sandbox_image,
        "PYTHONPATH": str(REPO),
    }
    data = tmp_path / "server"
    _grade("admin", "create-user", "boss", "--role", "admin", "--data", str(data), env=env)
    token = _grade("admin", "create-token", "--user", "boss", "--data", str(data), env=env).strip()
    headers = {"Authorization": f"Bearer {token}"}
    worker = Worker("srvw", rabbit, store_dir, "toysrv", env, tmp_path)
    server = CeleryServer(data, env, rabbit.url, store_dir)
    try:
        wait_for(worker.ready, "the worker")
        server.start()
        rounds = [
            httpx.post(f"{server.url}/api/rounds", json={"assignment": "toysrv", "name": n}, headers=headers).json()[
                "id"
            ]
            for n in ("first", "second")
        ]
        body = _zip("import time\ntime.sleep(8)\nprint('graded on a worker')\n")
        sub = httpx.post(
            f"{server.url}/api/rounds/{rounds[0]}/submissions", files={"file": ("a.zip", body)}, headers=headers
        ).json()
        store = Store(store_dir)
        key = wait_for(lambda: next(iter(store.keys()), None), "the upload in the store")
        entry = store.entry(key)
        assert entry.meta()["sha256"] == sub["sha256"] and entry.meta()["assignment"] == "toysrv"
        wait_for(
            lambda: any(
                c.status == "running" for c in docker_client.containers.list(filters={"label": f"io.holdout.key={key}"})
            ),
            "the worker's container to run",
        )
        server.stop(signal.SIGKILL)  # the server dies while the worker grades
        assert not entry.has_report()
        server.start()
        state = wait_for(
            lambda: (
                (s := httpx.get(f"{server.url}/api/submissions/{sub['id']}", headers=headers).json())["status"]
                not in ("queued", "running")
                and s
            ),
            "the submission to be recorded after the restart",
        )
        report = entry.read_report()
        assert state["status"] == "graded" and state["score"] == report.score and report.sandbox.verdict == "ok"
        served = httpx.get(f"{server.url}/api/submissions/{sub['id']}/report.json", headers=headers).json()
        assert served["score"] == report.score and served["submission"]["sha256"] == sub["sha256"]
        assert len(events(entry, "report_written")) == 1 and entry.attempts() == [1]

        # the same bytes in another round: the store's report, graded once
        other = httpx.post(
            f"{server.url}/api/rounds/{rounds[1]}/submissions", files={"file": ("b.zip", body)}, headers=headers
        ).json()
        again = wait_for(
            lambda: (
                (s := httpx.get(f"{server.url}/api/submissions/{other['id']}", headers=headers).json())["status"]
                == "graded"
                and s
            ),
            "the second round's copy",
        )
        assert again["score"] == report.score
        assert len(events(entry, "report_written")) == 1 and entry.attempts() == [1] and store.keys() == [key]
        log = server.log.read_text(errors="replace")
        assert "Celery workers via amqp://guest:***@" in log and ":guest@" not in log  # no credentials logged
        assert json.loads((data / "rounds" / str(rounds[1]) / str(other["id"]) / "report.json").read_text())[
            "score"
        ] == (report.score)
    finally:
        server.stop()
        worker.stop()
