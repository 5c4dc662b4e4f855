"""The harness's own LLM judge (rag_judge) through the model gateway: the assignment's
``[gateway]`` (backend, key, judge_model) serves the judge too, logged, and ``replay``
reproduces its answers without calling the model again."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import SimpleNamespace

import pytest

pytest.importorskip("ragas")

from test_rag_judge import ANSWERS, QUESTIONS, USAGE, FakeJudge, _handler, jsonl

from graders.base import GradeContext
from graders.rag_judge import RagJudgeGrader
from harness import provision
from harness.spec import AssignmentSpec, GatewaySpec

CANARY = "sk-judge-canary-77aa"


@pytest.fixture
def upstream(monkeypatch):
    state = FakeJudge()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    for name in ("GRADE_JUDGE_BASE_URL", "GRADE_JUDGE_MODEL", "GRADE_GATEWAY_BACKEND", "GRADE_GATEWAY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADE_GATEWAY_API_KEY", CANARY)
    yield state
    server.shutdown()


def context(tmp_path) -> GradeContext:
    inputs, hidden, output = tmp_path / "inputs", tmp_path / "hidden", tmp_path / "output"
    for folder in (inputs, hidden, output):
        folder.mkdir()
    (inputs / "questions.jsonl").write_text(jsonl({"id": q["id"], "question": q["question"]} for q in QUESTIONS))
    (hidden / "eval.jsonl").write_text(jsonl(QUESTIONS))
    (output / "answers.jsonl").write_text(jsonl(ANSWERS))
    return GradeContext(
        spec=AssignmentSpec(id="t", title="t"),
        assignment_dir=tmp_path,
        submission_dir=tmp_path,
        inputs_dir=inputs,
        hidden_dir=hidden,
        output_dir=output,
        logs_dir=tmp_path,
        extras={"cache_dir": tmp_path / "cache"},
    )


def job_for(tmp_path, spec: GatewaySpec):
    job_dir = tmp_path / "job"
    job_dir.mkdir(exist_ok=True)
    return SimpleNamespace(  # what harness.job.Staged gives provision.judge_gateway
        assignment=SimpleNamespace(id="t", spec=SimpleNamespace(gateway=spec)),
        unpacked=SimpleNamespace(sha256="ab" * 32),
        job=SimpleNamespace(settings=SimpleNamespace(cache_dir=tmp_path / "cache"), job_dir=job_dir),
    )


def test_the_judge_goes_through_the_assignments_gateway_and_replays(tmp_path, upstream, monkeypatch):
    spec = GatewaySpec(
        backend="openai-compatible",
        base_url=upstream.url,
        judge_model="judge",
        models={"judge": "fake-judge"},
        max_requests=1,
    )
    ctx = context(tmp_path)
    ctx.extras["judge_gateway"] = provision.judge_gateway(job_for(tmp_path, spec))
    result = RagJudgeGrader().grade(ctx)
    m = result.measurements
    assert m["faithfulness"] == pytest.approx(0.25) and m["judge_calls"] == 6 == len(upstream.requests)
    assert (
        m["judge_prompt_tokens"] == 6 * USAGE["prompt_tokens"]
    )  # the judge has no budget (max_requests is the candidate's)
    assert {r["model"] for r in upstream.requests} == {"fake-judge"}
    log = (tmp_path / "job" / "judge-gateway-log" / "calls.jsonl").read_text()
    assert log.count("\n") == 6 and CANARY not in log

    monkeypatch.setenv("GRADE_GATEWAY_BACKEND", "replay")
    ctx.extras["cache_dir"] = tmp_path / "fresh-cache"  # no judge cache: every call is made, and replayed
    (tmp_path / "job2").mkdir()
    staged = job_for(tmp_path, spec)
    staged.job.job_dir = tmp_path / "job2"
    ctx.extras["judge_gateway"] = provision.judge_gateway(staged)
    again = RagJudgeGrader().grade(ctx)
    assert again.measurements["faithfulness"] == m["faithfulness"] and len(upstream.requests) == 6


def test_an_offline_gateway_does_not_judge(tmp_path):
    assert provision.judge_gateway(job_for(tmp_path, GatewaySpec(judge_model="judge"))) is None
    assert (
        provision.judge_gateway(job_for(tmp_path, GatewaySpec(backend="openai-compatible", base_url="http://x/v1")))
        is None
    )
