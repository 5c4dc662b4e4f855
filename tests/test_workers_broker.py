"""Celery workers on a real RabbitMQ (loopback, throwaway) grading in real Docker.

Every outcome is read from the store (events, attempts, report files) and the engine, never
from timings: waits below are bounded polls for a state, not assertions about speed. The
submissions are tiny scripts of toy assignments (one per queue) so the file stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.batch import grade_batch
from harness.cli import batch_exit_code
from harness.settings import Settings
from harness.workers.store import Store
from tests.toy_assignments import run_only

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parent.parent
CRASH_AFTER_REPORT = """
import hashlib, os, sys
from pathlib import Path
import harness.workers.store as store
_log = store.Entry.log
def log(self, event, **fields):
    _log(self, event, **fields)
    marker = Path(os.environ["HOLDOUT_TEST_MARKER"])
    if event == "report_written" and not marker.exists():
        marker.write_text(hashlib.sha256(self.report_path.read_bytes()).hexdigest())
        os._exit(1)  # the pool process dies after the report is in the store, before the ack
store.Entry.log = log
from harness.cli import main
main(sys.argv[1:])
"""


def wait_for(condition, what: str, timeout_s: float = 180):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


class Worker:
    """One `grade worker` process (its own session, so stopping it takes its pool too)."""

    def __init__(self, name: str, broker, store: Path, queue: str, env: dict, tmp: Path, code: str | None = None):
        args = [
            "worker",
            "--broker",
            broker.url,
            "--store",
            str(store),
            "-Q",
            queue,
            "-c",
            "1",
            "--broker-timeout",
            "3600",
            "-n",
            f"{name}@localhost",
        ]
        cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "harness", *args]
        self.name, self.log = name, tmp / f"{name}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"worker {self.name} exited: {self.log.read_text()[-3000:]}")
        return " ready." in self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def rabbit():
    from harness.workers.localbroker import new_broker

    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        reason = "rabbitmq-server is not installed (apt-get install rabbitmq-server; .ci/run does)"
        if os.environ.get("REQUIRE_DOCKER") in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    broker = new_broker("rabbitmq").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, sandbox_image, data_dir, rabbit):
    root = tmp_path_factory.mktemp("workers")
    for aid in ("toyw", "toyslow", "toycrash"):
        (root / "assignments" / aid).mkdir(parents=True)
        (root / "assignments" / aid / "assignment.toml").write_text(run_only(aid, in_docker=True))
        (root / "assignments" / aid / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    (root / "store").mkdir()
    env = {**os.environ, "GRADE_ASSIGNMENTS_PATH": str(root / "assignments"), "GRADE_IMAGE": sandbox_image}
    settings = Settings.from_env(env)
    return root, env, settings


@pytest.fixture(scope="module")
def pair(site, rabbit):
    """Two workers on the toyw queue, shared by the tests that kill nothing."""
    root, env, _ = site
    workers = [Worker(f"w{i}", rabbit, root / "store", "toyw", env, root) for i in (1, 2)]
    try:
        for w in workers:
            wait_for(w.ready, f"worker {w.name} to be ready")
        yield workers
    finally:
        for w in workers:
            w.stop()


def submissions(folder: Path, aid: str, n: int, sleep_s: float = 0, tag: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        sub = folder / f"{tag}{aid}-{i:02d}"
        sub.mkdir()
        (sub / "predict.py").write_text(f"import time\ntime.sleep({sleep_s})\nprint('submission {tag}{i}')\n")
        (sub / "submission.toml").write_text(f'assignment = "{aid}"\n')
        out.append(sub)
    return out


def engine(rabbit, store: Path):
    from harness.workers.engine import CeleryEngine

    return CeleryEngine(rabbit.url, store)


def events(entry, name: str) -> list[dict]:
    return [e for e in entry.events() if e["event"] == name]


def key_containers(docker_client, key: str):
    return docker_client.containers.list(all=True, sparse=True, filters={"label": f"io.holdout.key={key}"})


def test_two_workers_twenty_submissions_all_graded_none_twice(site, rabbit, pair, tmp_path, docker_client):
    root, _, settings = site
    subs = submissions(tmp_path / "subs", "toyw", 20, tag="twenty-")
    result = grade_batch([tmp_path / "subs"], tmp_path / "out", settings, engine=engine(rabbit, root / "store"))
    assert [i.state for i in result.items] == ["graded"] * 20, [(i.source.name, i.state, i.error) for i in result.items]
    assert batch_exit_code(result, None) == 0
    store = Store(root / "store")
    for item in result.items:
        entry = store.entry(_key_of(store, item.source.name))
        assert len(events(entry, "report_written")) == 1 and entry.attempts() == [1]
        assert (tmp_path / "out" / item.slug / "report.html").is_file()
        assert key_containers(docker_client, entry.key) == []
    assert len((tmp_path / "out" / "summary.csv").read_text().splitlines()) == 21
    assert len(subs) == 20


def _key_of(store: Store, name: str) -> str:
    (key,) = [k for k in store.keys() if store.entry(k).meta().get("name") == name]
    return key


def test_same_submission_sent_twice_is_graded_once(site, rabbit, pair, tmp_path):
    root, _, settings = site
    (sub,) = submissions(tmp_path / "a", "toyw", 1, sleep_s=2, tag="twice-")
    copy = tmp_path / "b" / "twice-copy"
    shutil.copytree(sub, copy)
    eng = engine(rabbit, root / "store")
    entry, queue = eng.place(sub, settings, None)
    eng.send(entry, queue)  # a second message for the same key, racing the batch's own
    result = grade_batch([sub, copy], tmp_path / "out", settings, engine=eng)
    assert [i.state for i in result.items] == ["graded", "graded"]
    wait_for(
        lambda: len(events(entry, "report_written")) + len(events(entry, "report_reused")) >= 2,
        "the second message to be handled",
    )
    assert len(events(entry, "report_written")) == 1 and len(events(entry, "attempt_started")) == 1
    assert entry.attempts() == [1]
    again = grade_batch([copy], tmp_path / "out2", settings, engine=eng)  # a rerun: taken from the store
    assert again.items[0].state == "skipped" and len(events(entry, "report_written")) == 1


def test_broker_restarted_mid_batch_the_batch_completes(site, rabbit, pair, tmp_path):
    root, _, settings = site
    submissions(tmp_path / "subs", "toyw", 5, tag="restart-")
    store = Store(root / "store")
    before = set(store.keys())
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(
            result=grade_batch([tmp_path / "subs"], tmp_path / "out", settings, engine=engine(rabbit, root / "store"))
        )
    )
    thread.start()
    wait_for(lambda: any(store.entry(k).has_report() for k in set(store.keys()) - before), "a first report")
    rabbit.stop(remove=False)
    rabbit.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the batch did not complete after the broker came back"
    result = box["result"]
    assert [i.state for i in result.items] == ["graded"] * 5
    for key in set(store.keys()) - before:
        assert len(events(store.entry(key), "report_written")) == 1


def test_worker_killed_mid_grading_one_report_no_container_left(site, rabbit, tmp_path, docker_client):
    root, env, settings = site
    store = Store(root / "store")
    workers = [Worker(f"k{i}", rabbit, root / "store", "toyslow", env, tmp_path) for i in (1, 2)]
    try:
        for w in workers:
            wait_for(w.ready, f"worker {w.name}")
        (sub,) = submissions(tmp_path / "subs", "toyslow", 1, sleep_s=10, tag="kill-")
        box = {}
        thread = threading.Thread(
            target=lambda: box.update(
                result=grade_batch([sub], tmp_path / "out", settings, engine=engine(rabbit, root / "store"))
            )
        )
        thread.start()
        key = wait_for(
            lambda: next((k for k in store.keys() if store.entry(k).meta().get("name") == sub.name), None),
            "the submission in the store",
        )
        entry = store.entry(key)
        wait_for(
            lambda: (
                entry.attempts() == [1]
                and any(
                    c.status == "running"
                    for c in docker_client.containers.list(filters={"label": f"io.holdout.key={key}"})
                )
            ),
            "grading to start",
        )
        pool_pid = json.loads((entry.root / "attempts" / "1").read_text())["pid"]
        parent = int(Path(f"/proc/{pool_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        (victim,) = [w for w in workers if w.proc.pid == parent]
        os.kill(victim.proc.pid, signal.SIGKILL)  # the whole worker, mid-grading
        victim.proc.wait()
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert box["result"].items[0].state == "graded"
        assert len(events(entry, "report_written")) == 1 and entry.attempts() == [1, 2]
        assert entry.lost_attempts() == 1
        assert _dead(pool_pid)  # its pool process died with it (no orphan grading on)
        assert events(entry, "containers_removed")[0]["attempt"] == 2  # the dead attempt's, still running
        assert key_containers(docker_client, key) == []
        assert entry.read_report().sandbox.verdict == "ok"
    finally:
        for w in workers:
            w.stop()


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_crash_after_report_before_ack_is_not_regraded(site, rabbit, tmp_path):
    root, env, settings = site
    marker = tmp_path / "crashed"
    worker = Worker(
        "crashy",
        rabbit,
        root / "store",
        "toycrash",
        {**env, "HOLDOUT_TEST_MARKER": str(marker)},
        tmp_path,
        code=CRASH_AFTER_REPORT,
    )
    try:
        wait_for(worker.ready, "the crashing worker")
        (sub,) = submissions(tmp_path / "subs", "toycrash", 1, tag="crash-")
        result = grade_batch([sub], tmp_path / "out", settings, engine=engine(rabbit, root / "store"))
        assert result.items[0].state == "graded"
        entry = Store(root / "store").entry(_key_of(Store(root / "store"), sub.name))
        wait_for(lambda: events(entry, "report_reused"), "the redelivered message")
        assert marker.exists(), "the pool process did not crash after writing the report"
        assert hashlib.sha256(entry.report_path.read_bytes()).hexdigest() == marker.read_text()
        assert len(events(entry, "report_written")) == 1 and len(events(entry, "attempt_started")) == 1
        assert entry.attempts() == [1]
        assert "WorkerLostError" in worker.log.read_text(errors="replace")
    finally:
        worker.stop()


def test_redis_broker_grades_a_batch_too(site, tmp_path):
    from harness.workers.localbroker import new_broker

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    root, env, settings = site
    redis = new_broker("redis").start()
    worker = Worker("redisw", redis, root / "store", "toyw", env, tmp_path)
    try:
        wait_for(worker.ready, "the worker on Redis")
        submissions(tmp_path / "subs", "toyw", 2, tag="redis-")
        result = grade_batch([tmp_path / "subs"], tmp_path / "out", settings, engine=engine(redis, root / "store"))
        assert [i.state for i in result.items] == ["graded", "graded"]
        store = Store(root / "store")
        for item in result.items:
            assert len(events(store.entry(_key_of(store, item.source.name)), "report_written")) == 1
    finally:
        worker.stop()
        redis.stop()
