"""The shared store on S3: a real S3-compatible server (moto's server mode, a process of its own
on loopback), boto3 as in production. The grading logic runs with a fake sandbox runner in the
fast tests; the last test grades for real (RabbitMQ, a `grade worker` process, Docker) with
the submission and the report going through the object store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("boto3")

from harness.errors import ConfigError
from harness.models import SandboxRun, Verdict
from harness.settings import Settings
from harness.workers.grading import grade_key
from harness.workers.store import REPORT_FILES, make_key
from harness.workers.store_address import open_store
from tests.toy_assignments import run_only

SECRET = "holdout-test-secret-7f3a9c"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """moto's S3 server on a loopback port; its endpoint and test credentials in the environment."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        pytest.fail("moto_server is missing: pip install 'holdout[dev,distributed]'")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    env = {
        "GRADE_S3_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "holdout-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.fixture
def bucket(s3_server, request):
    import boto3

    name = f"holdout-{request.node.name[:30].replace('_', '-').lower()}-{os.getpid()}"
    boto3.client("s3", endpoint_url=s3_server["GRADE_S3_ENDPOINT"]).create_bucket(Bucket=name)
    return name


@pytest.fixture
def toy(tmp_path, monkeypatch):
    root = tmp_path / "assignments" / "toys3"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(run_only("toys3", title="Toy S3", in_docker=True))
    (root / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    sub = tmp_path / "alice"
    (sub / "src").mkdir(parents=True)
    (sub / "predict.py").write_text("print('hi')\n")
    (sub / "src" / "util.py").write_text("X = 1\n")
    (sub / "submission.toml").write_text('assignment = "toys3"\n')
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    return settings, sub


def ok_runner(calls: list):
    def run(request):
        calls.append(request)
        return SandboxRun(verdict=Verdict.OK, exit_code=0, timeout_s=10, duration_s=1)

    return run


def test_an_s3_store_grades_a_key_once_with_the_same_key_scheme(bucket, toy):
    settings, sub = toy
    store = open_store(f"s3://{bucket}/round-1")
    store.check_usable()
    entry = store.put(sub, name="alice", sha256="a" * 64, assignment="toys3", assignment_version="1")
    assert entry.key == make_key("a" * 64, "toys3", "1") and store.keys() == [entry.key]
    assert store.put(sub, name="alice", sha256="a" * 64, assignment="toys3", assignment_version="1") == entry
    assert store.find(entry.key[:10]) == entry and entry.meta()["assignment"] == "toys3"
    calls = []
    first = grade_key(entry, settings, runner=ok_runner(calls))
    again = grade_key(entry, settings, runner=ok_runner(calls))
    assert first["outcome"] == "graded" and again["outcome"] == "reused" and len(calls) == 1
    # what the container saw was downloaded whole, folders included
    assert (entry.submission_path() / "src" / "util.py").read_text() == "X = 1\n"
    names = set(entry.list(""))
    assert {"meta.json", "report.json", *REPORT_FILES, "attempts/1", "attempts/1.done"} <= names
    assert "submission/alice/predict.py" in names
    info = entry.status()
    assert info["state"] == "graded" and info["report"] == f"s3://{bucket}/round-1/{entry.key}/report.json"
    events = [e["event"] for e in entry.events()]
    assert events.count("report_written") == 1 and events.count("report_reused") == 1
    out = Path(entry.workdir()) / "exported"
    entry.export_reports(out)
    assert (out / "report.html").is_file() and entry.read_report().score == first["score"]
    entry.cleanup()
    entry.reset()
    assert not entry.has_report() and entry.attempts() == []


def test_one_claim_wins_and_report_json_is_written_last(bucket, toy):
    settings, sub = toy
    store = open_store(f"s3://{bucket}/p")
    entry = store.put(sub, name="alice", sha256="b" * 64, assignment="toys3", assignment_version="1")
    results = []
    threads = [threading.Thread(target=lambda: results.append(entry.claim())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].number == 1 and entry.attempts() == [1]
    with winners[0]:
        pass
    writes = []
    client = store.client
    real_put, real_upload = client.put_object, client.upload_file
    client.put_object = lambda **kw: writes.append(kw["Key"].rsplit("/", 1)[-1]) or real_put(**kw)
    client.upload_file = lambda path, b, key, **kw: (
        writes.append(key.rsplit("/", 1)[-1]) or real_upload(path, b, key, **kw)
    )
    try:
        grade_key(entry, settings, runner=ok_runner([]))
    finally:
        client.put_object, client.upload_file = real_put, real_upload
    published = [w for w in writes if w in ("report.json", *REPORT_FILES)]
    assert published[-1] == "report.json" and set(published) == {"report.json", *REPORT_FILES}


def test_an_s3_url_with_credentials_is_refused_without_repeating_them(s3_server):
    with pytest.raises(ConfigError) as caught:
        open_store(f"s3://holdout:{SECRET}@bucket-name/prefix")
    assert SECRET not in caught.value.describe()
    with pytest.raises(ConfigError):
        open_store("s3://Not_A_Bucket/x")
    with pytest.raises(ConfigError) as unreachable:
        open_store("s3://no-such-bucket-here/x").check_usable()
    assert SECRET not in unreachable.value.describe()


@pytest.mark.docker
def test_a_worker_grades_through_an_s3_store_and_no_credential_leaks(s3_server, bucket, sandbox_image, tmp_path):
    from harness.batch import grade_batch
    from harness.workers.engine import CeleryEngine
    from harness.workers.localbroker import new_broker
    from tests.test_workers_broker import Worker, submissions, wait_for

    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        pytest.fail("rabbitmq-server is not installed (apt-get install rabbitmq-server; .ci/run does)")
    (tmp_path / "assignments" / "toyw").mkdir(parents=True)
    (tmp_path / "assignments" / "toyw" / "assignment.toml").write_text(run_only("toyw", title="Toy S3", in_docker=True))
    (tmp_path / "assignments" / "toyw" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    env = {**os.environ, "GRADE_ASSIGNMENTS_PATH": str(tmp_path / "assignments"), "GRADE_IMAGE": sandbox_image}
    settings = Settings.from_env(env)
    url = f"s3://{bucket}/graded"
    broker = new_broker("rabbitmq").start()
    worker = Worker("s3w", broker, url, "toyw", env, tmp_path)
    try:
        wait_for(worker.ready, "the worker on the S3 store")
        subs = submissions(tmp_path / "subs", "toyw", 2, tag="s3-")
        (subs[0] / "leak.py").write_text(
            "import os\nprint('ENV' + 'DUMP', sorted(os.environ), os.environ.get('AWS_SECRET_ACCESS_KEY'))\n"
        )
        (subs[0] / "predict.py").write_text("import leak\n")
        result = grade_batch([tmp_path / "subs"], tmp_path / "out", settings, engine=CeleryEngine(broker.url, url))
        assert [i.state for i in result.items] == ["graded", "graded"], [(i.state, i.error) for i in result.items]
        store = open_store(url)
        assert len(store.keys()) == 2
        for key in store.keys():
            entry = store.entry(key)
            assert [e["event"] for e in entry.events()].count("report_written") == 1
            assert entry.read_report().sandbox.verdict == "ok"
        assert (tmp_path / "out" / result.items[0].slug / "report.html").is_file()
        # the candidate printed its whole environment: no credential in it, in any object, or the worker's log
        client, dumped = store.client, []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                assert SECRET.encode() not in body, obj["Key"]
                if b"ENVDUMP" in body:
                    dumped.append(obj["Key"].rsplit("/", 1)[-1])
        assert dumped, "the candidate's output is in no object: the search above proved nothing"
        assert SECRET not in worker.log.read_text(errors="replace")
    finally:
        worker.stop()
        broker.stop()
