"""Redis as the broker: the start-up check on its visibility timeout, against a real redis-server
on loopback (a throwaway one, no persistence). Grading on Redis end to end is in
tests/test_workers_broker.py (``test_redis_broker_grades_a_batch_too``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.workers.tasks import TASK_NAME
from tests.toy_assignments import run_only

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_broker():
    from harness.workers.localbroker import new_broker

    if not shutil.which("redis-server"):
        reason = "redis-server is not installed (apt-get install redis-server; .ci/run does)"
        if os.environ.get("REQUIRE_DOCKER") in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    broker = new_broker("redis").start()
    yield broker
    broker.stop()


def test_a_worker_refuses_a_visibility_timeout_shorter_than_the_longest_grading(redis_broker, tmp_path):
    import redis

    from harness.workers.app import make_app

    (tmp_path / "assignments" / "toyr").mkdir(parents=True)
    (tmp_path / "assignments" / "toyr" / "assignment.toml").write_text(
        run_only("toyr", title="Toy redis", in_docker=True)
    )
    (tmp_path / "assignments" / "toyr" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    (tmp_path / "store").mkdir()
    env = {**os.environ, "GRADE_ASSIGNMENTS_PATH": str(tmp_path / "assignments")}
    make_app(redis_broker.url).send_task(TASK_NAME, args=["0" * 64, str(tmp_path / "store")], queue="holdout.toyr")
    queue = redis.Redis.from_url(redis_broker.url)
    assert queue.llen("holdout.toyr") == 1

    store_args = ["--store", str(tmp_path / "store"), "-Q", "toyr", "--broker-timeout"]

    def worker(timeout: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "harness", "worker", "--broker", redis_broker.url, *store_args, timeout],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # the toy's longest grading: 60 s in the sandbox + 120 s on the host
    refused = worker("100")
    assert refused.returncode == 2, refused.stderr
    assert (
        "the Redis visibility_timeout (100 s) is shorter than the longest grading assignment 'toyr' allows (180 s)"
        in (refused.stderr)
    )
    assert "--broker-timeout 360" in refused.stderr  # the fix it suggests
    assert queue.llen("holdout.toyr") == 1  # it took nothing from the queue
    # at the limit it passes the check (and then stops at the next one here: no sandbox image by this tag)
    env["GRADE_IMAGE"] = "holdout-sandbox:no-such-tag"
    past = worker("180")
    assert "visibility_timeout" not in past.stderr and past.returncode == 4, past.stderr
    assert queue.llen("holdout.toyr") == 1
