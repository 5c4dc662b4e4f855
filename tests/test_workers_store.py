"""The shared store and one delivery's logic, without a broker (fake runner, fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from harness.errors import ConfigError
from harness.models import SandboxRun, Verdict
from harness.settings import Settings
from harness.spec import AssignmentSpec
from harness.workers.app import check_broker_timeout, grading_limit_s
from harness.workers.grading import grade_key
from harness.workers.store import Store, make_key

SPEC = """
id = "toyw"
title = "Toy workers"
version = "1"
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 1
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""


@pytest.fixture
def toy(tmp_path):
    root = tmp_path / "assignments" / "toyw"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(SPEC)
    (root / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    sub = tmp_path / "alice"
    sub.mkdir()
    (sub / "predict.py").write_text("print('hi')\n")
    (sub / "submission.toml").write_text('assignment = "toyw"\n')
    return settings, sub


def counting_runner(calls: list):
    def run(request):
        calls.append(request)
        return SandboxRun(verdict=Verdict.OK, exit_code=0, timeout_s=10, duration_s=1)

    return run


def put(store: Store, sub, sha="a" * 64):
    return store.put(sub, name=sub.name, sha256=sha, assignment="toyw", assignment_version="1")


def test_key_changes_with_each_part():
    base = make_key("a" * 64, "x", "1", "0.1.0")
    assert len(base) == 64 and base == make_key("a" * 64, "x", "1", "0.1.0")
    assert (
        len(
            {
                base,
                make_key("b" * 64, "x", "1", "0.1.0"),
                make_key("a" * 64, "y", "1", "0.1.0"),
                make_key("a" * 64, "x", "2", "0.1.0"),
                make_key("a" * 64, "x", "1", "0.2.0"),
            }
        )
        == 5
    )


def test_put_is_idempotent_and_keys_are_checked(tmp_path, toy):
    _, sub = toy
    store = Store(tmp_path / "store")
    first = put(store, sub)
    (sub / "predict.py").write_text("changed\n")
    second = put(store, sub)
    assert first == second and store.keys() == [first.key]
    assert (first.submission_path() / "predict.py").read_text() == "print('hi')\n"
    assert not [p for p in store.root.iterdir() if p.name.startswith(".incoming")]
    assert store.find(first.key[:10]) == first
    for bad in ("../etc", "A" * 64, "abc"):
        with pytest.raises(ConfigError):
            store.find(bad)


def test_one_claim_wins_and_a_dead_holder_is_taken_over(tmp_path, toy):
    _, sub = toy
    entry = put(Store(tmp_path / "store"), sub)
    results = []
    threads = [threading.Thread(target=lambda: results.append(entry.claim())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].number == 1
    # a lease held by a process of this host that is gone is stale at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lease = entry.root / "attempts" / "1"
    lease.write_text(json.dumps({"host": json.loads(lease.read_text())["host"], "pid": int(dead.stdout)}))
    second = entry.claim()
    assert second is not None and second.number == 2 and entry.lost_attempts() == 2
    # another host's lease: live until its heartbeat is older than the TTL
    (entry.root / "attempts" / "2").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert entry.claim(ttl_s=60) is None
    os.utime(entry.root / "attempts" / "2", (0, 0))
    assert entry.claim(ttl_s=60).number == 3


def test_a_lease_is_never_seen_empty_so_concurrent_claims_never_both_win(tmp_path, toy, monkeypatch):
    """Claims racing on one key: a lease that appeared before its content was written read as
    not live, and a second worker took the key over (seen in a full run). The lease now appears
    with its content; made likely here by yielding the processor between every two steps."""
    _, sub = toy
    slow_write = os.write

    def write(fd, data):  # the old claim wrote the lease after creating the file
        time.sleep(0.001)
        return slow_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    for round_ in range(15):
        entry = put(Store(tmp_path / f"store-{round_}"), sub)
        results: list = []
        threads = [threading.Thread(target=lambda e=entry, out=results: out.append(e.claim())) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r.number for r in results if r is not None] == [1]
        assert [n for n in os.listdir(entry.root / "attempts") if not n.isdigit()] == []  # no temp file left


def test_a_key_is_graded_once_whatever_the_deliveries(tmp_path, toy):
    settings, sub = toy
    entry = put(Store(tmp_path / "store"), sub)
    calls = []
    first = grade_key(entry, settings, runner=counting_runner(calls))
    assert first["outcome"] == "graded" and first["status"] == "graded"
    again = grade_key(entry, settings, runner=counting_runner(calls))
    assert again["outcome"] == "reused" and again["score"] == first["score"]
    assert len(calls) == 1
    events = [e["event"] for e in entry.events()]
    assert events.count("report_written") == 1 and events.count("report_reused") == 1
    for name in ("report.json", "report.md", "report.html", "junit.xml"):
        assert (entry.root / name).is_file()
    assert not list(entry.root.glob(".staging-*"))
    assert entry.status()["state"] == "graded" and entry.lost_attempts() == 0
    # each container of the key gets a fixed name and the key's label
    assert calls[0].name == f"holdout-{entry.key[:24]}-1" and calls[0].labels["io.holdout.key"] == entry.key


def test_a_submission_that_keeps_killing_workers_gets_needs_review(tmp_path, toy):
    settings, sub = toy
    entry = put(Store(tmp_path / "store"), sub)
    (entry.root / "attempts").mkdir()
    for n in (1, 2, 3):  # three attempts whose worker died: no .done, and their pid is gone
        (entry.root / "attempts" / str(n)).write_text(json.dumps({"host": "gone", "pid": 1}))
        os.utime(entry.root / "attempts" / str(n), (0, 0))
    calls = []
    out = grade_key(entry, settings, runner=counting_runner(calls), max_attempts=3)
    assert calls == [] and out["status"] == "needs_review"
    report = entry.read_report()
    assert report.status == "needs_review" and report.messages[0].code == "worker_lost"
    assert "3 earlier attempts" in report.messages[0].text


def test_a_harness_error_is_recorded_not_raised(tmp_path, toy):
    settings, sub = toy
    entry = Store(tmp_path / "store").put(
        sub, name="alice", sha256="b" * 64, assignment="nosuch", assignment_version="1"
    )
    out = grade_key(entry, settings, runner=counting_runner([]))
    assert out["outcome"] == "error" and entry.status()["state"] == "error"
    assert "nosuch" in entry.read_error()["error"]
    entry.reset(keep_report=True)
    assert entry.read_error() is None


def test_broker_timeout_shorter_than_the_longest_grading_is_refused():
    spec = AssignmentSpec.model_validate(
        {"id": "slow", "title": "Slow", "sandbox": {"timeout_s": 1000}, "dependencies": {"enabled": False}}
    )
    assert grading_limit_s(spec) == 1120
    check_broker_timeout("amqp://127.0.0.1:5672//", 1800, {"slow": spec})
    with pytest.raises(ConfigError, match="consumer_timeout.*shorter.*'slow'"):
        check_broker_timeout("amqp://127.0.0.1:5672//", 600, {"slow": spec})
    with pytest.raises(ConfigError, match="visibility_timeout"):
        check_broker_timeout("redis://127.0.0.1:6379/0", 600, {"slow": spec})


def run_cli(args, monkeypatch, tmp_path, capsys, toy_settings=None):
    from harness.cli import main

    monkeypatch.setenv("GRADE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def test_worker_refuses_a_broker_timeout_shorter_than_grading(monkeypatch, tmp_path, capsys):
    code, text = run_cli(
        [
            "worker",
            "--broker",
            "amqp://127.0.0.1:1//",
            "--store",
            str(tmp_path / "s"),
            "-Q",
            "applied_ml",
            "--broker-timeout",
            "60",
        ],
        monkeypatch,
        tmp_path,
        capsys,
    )
    assert code == 2 and "consumer_timeout (60 s) is shorter than" in text and "applied_ml" in text


def test_batch_engine_celery_needs_broker_and_store(monkeypatch, tmp_path, capsys):
    code, text = run_cli(["batch", str(tmp_path), "--engine", "celery"], monkeypatch, tmp_path, capsys)
    assert code == 2 and "--broker URL and --store DIR" in text


def test_status_reads_the_store(toy, tmp_path, monkeypatch, capsys):
    settings, sub = toy
    entry = put(Store(tmp_path / "store"), sub)
    code, text = run_cli(["status", entry.key[:12], "--store", str(tmp_path / "store")], monkeypatch, tmp_path, capsys)
    assert code == 0 and "queued" in text and "alice" in text
    grade_key(entry, settings, runner=counting_runner([]))
    code, text = run_cli(
        ["status", entry.key, "--store", str(tmp_path / "store"), "--json"], monkeypatch, tmp_path, capsys
    )
    assert code == 0 and json.loads(text)["state"] == "graded" and json.loads(text)["status"] == "graded"
    code, text = run_cli(["status", "0" * 64, "--store", str(tmp_path / "store")], monkeypatch, tmp_path, capsys)
    assert code == 2 and "not in the store" in text


def test_worker_refuses_a_store_that_is_not_there(monkeypatch, tmp_path, capsys):
    code, text = run_cli(
        ["worker", "--broker", "amqp://127.0.0.1:1//", "--store", str(tmp_path / "not-mounted"), "-Q", "applied_ml"],
        monkeypatch,
        tmp_path,
        capsys,
    )
    assert code == 2 and "not a writable folder" in text and not (tmp_path / "not-mounted").exists()
