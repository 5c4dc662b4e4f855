"""The model gateway on the host (fast): codec, budgets, backends, the server through the
in-container forwarder with the real openai SDK, replay, and an openai-compatible upstream
(a stub server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from harness.errors import ConfigError
from harness.reports.gateway import budget_line
from harness.spec import GatewaySpec
from sandbox.gateway import codec, container_env, forwarder
from sandbox.gateway.backends import NO_ANSWER, OfflineBackend, best_sentence, embed
from sandbox.gateway.budget import Budget, Exhausted, Price
from sandbox.gateway.config import GatewayConfig, resolve_config
from sandbox.gateway.job import JobGateway
from sandbox.gateway.usage import habits

openai = pytest.importorskip("openai")

CONTEXT = "Paris is the capital of France. Berlin is the capital of Germany. Bananas are yellow."
MODELS = {"gpt-4o-mini": "upstream-chat", "text-embedding-3-small": "upstream-embed"}
CANARY = "sk-holdout-canary-0123456789abcdef"


def ask(question: str) -> list[dict]:
    return [
        {"role": "system", "content": "Answer only from the context."},
        {"role": "user", "content": f"Context:\n{CONTEXT}\n\nQuestion: {question}"},
    ]


# --- codec and backends ------------------------------------------------------------------


def test_offline_chat_answers_with_the_best_matching_context_sentence():
    assert (
        best_sentence(
            CONTEXT + "\nQuestion: What is the capital of Germany?", "Question: What is the capital of Germany?"
        )
        == "Berlin is the capital of Germany."
    )
    assert best_sentence(CONTEXT + "\nWho painted the Mona Lisa?", "Who painted the Mona Lisa?") == NO_ANSWER


def test_offline_backend_is_deterministic_and_reports_usage():
    backend = OfflineBackend(64)
    body = {"model": "m", "messages": ask("What colour are bananas?")}
    first, again = backend("/v1/chat/completions", body, "m"), backend("/v1/chat/completions", body, "m")
    assert first == again
    assert first["choices"][0]["message"]["content"] == "Bananas are yellow."
    assert first["usage"]["prompt_tokens"] > 10 and first["usage"]["completion_tokens"] == 4


def test_embeddings_are_normalised_fixed_size_and_similar_for_similar_text():
    a, b, c = embed("the capital of France", 384), embed("France capital city", 384), embed("bananas are yellow", 384)

    def dot(x, y):
        return sum(p * q for p, q in zip(x, y))

    assert len(a) == 384 and abs(dot(a, a) - 1) < 1e-5
    assert dot(a, b) > dot(a, c)
    assert embed("", 16) == [0.0] * 16


def test_request_key_ignores_streaming_and_key_order():
    a = codec.request_key("/v1/chat/completions", {"model": "m", "messages": [], "stream": True})
    b = codec.request_key("/v1/chat/completions", {"messages": [], "model": "m"})
    assert a == b != codec.request_key("/v1/completions", {"messages": [], "model": "m"})


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"{", 400),
        (b"[]", 400),
        (b'{"model": "gpt-5"}', 404),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', 400),
        (b"[" * 100 + b"]" * 100, 400),
    ],
)
def test_bad_requests_are_refused_with_an_openai_error(raw, status):
    with pytest.raises(codec.RequestError) as info:
        codec.parse_body("/v1/chat/completions", raw, MODELS)
    assert info.value.status == status and info.value.body()["error"]["message"]


def test_sse_chunks_end_with_done_and_carry_the_whole_answer():
    completion = OfflineBackend(8)("/v1/chat/completions", {"model": "m", "messages": ask("capital of France?")}, "m")
    chunks = codec.sse_chunks(completion)
    assert chunks[-1] == b"data: [DONE]\n\n"
    text = "".join(json.loads(c[6:])["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert text == "Paris is the capital of France."
    assert all(json.loads(c[6:])["choices"] for c in chunks[:-1])  # no usage chunk unless asked
    assert "usage" in json.loads(codec.sse_chunks(completion, include_usage=True)[-2][6:])


# --- budgets -----------------------------------------------------------------------------


def test_budget_reserves_before_and_settles_after():
    budget = Budget(max_tokens=100, max_requests=3)
    r = budget.reserve("m", 30, 1000)
    assert r.completion_tokens == 70  # capped to what is left
    with pytest.raises(Exhausted):
        budget.reserve("m", 10, 10)  # everything is held
    budget.settle(r, 30, 5)
    assert budget.tokens == 35
    budget.release(budget.reserve("m", 10, 10))
    budget.reserve("m", 1, 1)
    with pytest.raises(Exhausted, match="request budget"):
        budget.reserve("m", 1, 1)
    assert "request budget" in budget.snapshot()["exhausted"]


def test_cost_budget_with_prices():
    budget = Budget(max_cost_usd=0.01, prices={"m": Price(prompt_per_mtok=1000, completion_per_mtok=2000)})
    r = budget.reserve("m", 5, 100)
    assert r.completion_tokens == 2  # (0.01 - 0.005) USD buys 2 completion tokens
    assert budget.settle(r, 5, 2) == pytest.approx(0.009)
    with pytest.raises(Exhausted, match="cost budget"):
        budget.reserve("m", 5, 1)
    assert Budget().reserve("free", 10**9, 10**9).completion_tokens == 10**9  # no limits


# --- configuration -----------------------------------------------------------------------


def test_operator_overrides_and_key_from_env_or_file(tmp_path):
    spec = GatewaySpec()
    assert resolve_config(spec, {}).backend == "offline"
    assert resolve_config(spec, {"GRADE_GATEWAY": "off"}) is None
    assert resolve_config(None, {}) is None
    with pytest.raises(ConfigError, match="base URL"):
        resolve_config(spec, {"GRADE_GATEWAY_BACKEND": "openai-compatible"})
    cfg = resolve_config(
        spec,
        {
            "GRADE_GATEWAY_BACKEND": "openai-compatible",
            "GRADE_GATEWAY_BASE_URL": "http://x/v1",
            "GRADE_GATEWAY_API_KEY": CANARY,
        },
    )
    assert cfg.api_key == CANARY and CANARY not in repr(cfg) and CANARY not in json.dumps(cfg.public())
    (tmp_path / "key").write_text(CANARY + "\n")
    spec2 = GatewaySpec(backend="openai-compatible", base_url="http://x/v1", api_key_file=str(tmp_path / "key"))
    assert resolve_config(spec2, {}).api_key == CANARY
    with pytest.raises(ConfigError):
        resolve_config(spec, {"GRADE_GATEWAY_BACKEND": "magic"})


def test_container_env_has_a_dummy_key_only():
    env = container_env()
    assert env["OPENAI_BASE_URL"] == env["OPENAI_API_BASE"] == "http://127.0.0.1:8765/v1"
    assert env["OPENAI_API_KEY"] == "holdout-sandbox"


# --- the server through the forwarder, with the real SDK -----------------------------------


@pytest.fixture
def gateway(tmp_path):
    started = []

    def make(config: GatewayConfig, name: str = "gateway") -> tuple[JobGateway, openai.OpenAI]:
        gw = JobGateway(config, tmp_path, tmp_path / "rec", name=name).start()
        started.append(gw)
        port = forwarder.start(gw.server.address, 0)
        return gw, openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="holdout-sandbox", max_retries=2)

    yield make
    for gw in started:
        gw.server.stop()


def test_chat_streaming_embeddings_models_and_log(gateway):
    gw, client = gateway(GatewayConfig(models=MODELS))
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=ask("What is the capital of Germany?"))
    assert reply.choices[0].message.content == "Berlin is the capital of Germany."
    assert reply.model == "gpt-4o-mini" and reply.usage.total_tokens > 0
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=ask("What colour are bananas?"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Bananas are yellow."
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"]).data
    assert [len(v.embedding) for v in vectors] == [384, 384]
    assert {m.id for m in client.models.list()} == set(MODELS)
    assert (
        client.completions.create(model="gpt-4o-mini", prompt=CONTEXT + "\nQ: capital of France?").choices[0].text
        == "Paris is the capital of France."
    )
    with pytest.raises(openai.NotFoundError, match="not available"):
        client.chat.completions.create(model="gpt-5", messages=ask("x"))
    summary = gw.finish()
    assert summary["calls"] == 5 and summary["errors"] == 1 and gw.healthy
    lines = [json.loads(x) for x in gw.log_path.read_text().splitlines()]
    assert lines[0]["request"]["messages"][1]["content"].endswith("capital of Germany?")
    assert lines[0]["response"]["text"] == "Berlin is the capital of Germany."
    assert {"model", "prompt_tokens", "completion_tokens", "latency_ms", "status"} <= set(lines[0])
    assert not gw.log_path.is_relative_to(gw.folder)  # the log is never in the mounted folder
    assert sorted(p.name for p in gw.folder.iterdir()) == ["forwarder.py"]  # socket gone after stop


def test_budget_exhaustion_is_a_rate_limit_error_at_once(gateway):
    gw, client = gateway(GatewayConfig(models=MODELS, max_requests=2))
    client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    assert info.value.code == "insufficient_quota" and info.value.response.headers["x-should-retry"] == "false"
    summary = gw.finish()
    assert summary["calls"] == 3  # the SDK did not retry (max_retries=2)
    assert "Budget exhausted: the request budget is used up" in budget_line(summary)


def test_oversized_requests_are_refused(gateway):
    gw, client = gateway(GatewayConfig(models=MODELS, max_request_bytes=2048))
    with pytest.raises(openai.APIStatusError) as info:
        client.embeddings.create(model="text-embedding-3-small", input="x " * 5000)
    assert info.value.status_code == 413
    assert gw.finish()["errors"] == 1


def test_replay_reproduces_a_recorded_run_and_a_miss_is_an_error(gateway, tmp_path):
    gw, client = gateway(GatewayConfig(models=MODELS), name="first")
    first = client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?")).model_dump()
    gw.finish()
    gw2, client2 = gateway(GatewayConfig(models=MODELS, backend="replay"), name="second")
    assert (
        client2.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?")).model_dump() == first
    )
    with pytest.raises(openai.NotFoundError, match="replay"):
        client2.chat.completions.create(model="gpt-4o-mini", messages=ask("never asked"))
    assert gw2.finish()["failures"] == []  # a miss is the request's, not the gateway's
    with pytest.raises(ConfigError, match="no recording"):
        JobGateway(GatewayConfig(backend="replay"), tmp_path / "x", tmp_path / "missing")


def test_a_killed_gateway_is_reported_as_ours(gateway):
    gw, client = gateway(GatewayConfig(models=MODELS))
    client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    gw.server.kill()
    with pytest.raises((openai.APIConnectionError, openai.APIStatusError)):  # its kept-alive connection is cut too
        client.with_options(max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=ask("capital of France?")
        )
    with pytest.raises(openai.APIStatusError) as info:
        openai.OpenAI(base_url=client.base_url, api_key="x", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=ask("capital of France?")
        )
    assert info.value.status_code == 502 and "not your code's fault" in info.value.message
    summary = gw.finish()
    assert gw.healthy is False and "stopped answering" in summary["failures"][0]


def test_habits_large_prompts_and_retry_loops():
    calls = [
        {"endpoint": "/v1/chat/completions", "status": 200, "prompt_tokens": 100, "request_sha256": str(i)}
        for i in range(9)
    ]
    calls.append({"endpoint": "/v1/chat/completions", "status": 200, "prompt_tokens": 50_000, "request_sha256": "x"})
    calls += [{"endpoint": "/v1/chat/completions", "status": 500, "request_sha256": "loop"}] * 6
    codes = [h["code"] for h in habits(calls)]
    assert codes == ["gateway_large_prompts", "gateway_retry_loop"]
    assert habits(calls[:9]) == []


# --- openai-compatible upstream (a stub on 127.0.0.1) --------------------------------------


class _Stub(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if body["messages"][-1]["content"] == "leak":
            data = json.dumps({"error": {"message": f"bad key {self.headers.get('Authorization')}"}}).encode()
            self.send_response(401)
        else:
            data = json.dumps(
                {
                    "id": "up-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "from upstream"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
                }
            ).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Stub.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_compatible_forwards_with_the_host_key_and_maps_models(gateway, stub):
    cfg = GatewayConfig(
        models=MODELS,
        backend="openai-compatible",
        base_url=stub,
        api_key=CANARY,
        prices={"gpt-4o-mini": Price(1.0, 2.0)},
        max_completion_tokens=50,
    )
    gw, client = gateway(cfg)
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in reply) == "from upstream"
    seen = _Stub.seen[0]
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == f"Bearer {CANARY}"
    assert (
        seen["body"]["model"] == "upstream-chat" and "stream" not in seen["body"] and seen["body"]["max_tokens"] == 50
    )
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "leak"}])
    assert CANARY not in str(info.value) and "[redacted]" in str(info.value)
    summary = gw.finish()
    assert summary["prompt_tokens"] == 11 and summary["cost_usd"] == pytest.approx((11 * 1 + 3 * 2) / 1e6)
    assert CANARY not in gw.log_path.read_text() and CANARY not in json.dumps(summary)


# --- a model called without the gateway ---------------------------------------------------


def test_direct_model_calls_are_named(tmp_path):
    from sandbox.gateway.direct import direct_call_host, message_text

    stderr = (
        "httpcore.ConnectError: [Errno -3] Temporary failure in name resolution\n\nThe above exception ...\n"
        "openai.APIConnectionError: Connection error.\n"
    )
    (tmp_path / "rag.py").write_text('client = OpenAI(base_url="https://api.openai.com/v1", api_key="sk-x")\n')
    assert direct_call_host(stderr, tmp_path) == "api.openai.com"
    assert direct_call_host(stderr, None) == "a model provider"
    requests_style = "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.anthropic.com', port=443): Failed to resolve"
    assert direct_call_host(requests_style, None) == "api.anthropic.com"
    assert direct_call_host("Traceback ... KeyError: 'x'", tmp_path) is None
    assert direct_call_host("Network is unreachable", tmp_path) is None  # not a model client
    assert "OPENAI_BASE_URL; your code called api.openai.com directly" in message_text("api.openai.com")


# --- reports -------------------------------------------------------------------------------


def test_reports_show_totals_budget_and_escaped_calls():
    from harness.models import AssignmentRef, GradeReport, SubmissionRef
    from harness.reports.html import render_html
    from harness.reports.write import render_markdown, stable_view
    from sandbox.gateway.usage import summarize

    calls = [
        {
            "seq": 1,
            "endpoint": "/v1/chat/completions",
            "model": "gpt-4o-mini",
            "status": 200,
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "latency_ms": 4.2,
            "request": {"messages": [{"role": "user", "content": "<script>alert(1)</script>"}]},
            "response": {"text": "</pre><img src=x>"},
        },
        {
            "seq": 2,
            "endpoint": "/v1/chat/completions",
            "model": "gpt-4o-mini",
            "status": 429,
            "error": "budget exhausted",
        },
    ]
    budget = {
        "requests": 2,
        "max_requests": 1,
        "tokens": 15,
        "max_tokens": 100,
        "tokens_left": 85,
        "exhausted": "the request budget is used up (1 requests)",
    }
    summary = summarize(calls, budget, {"backend": "offline", "models": ["gpt-4o-mini"]}, [])
    report = GradeReport(
        status="graded",
        score=50,
        assignment=AssignmentRef(id="a"),
        submission=SubmissionRef(name="s", sha256="0" * 64),
        gateway=summary,
    )
    html = render_html(report)
    assert '<section id="gateway">' in html and "<details><summary>The calls (2 shown)" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<img src=x>" not in html
    assert "Budget exhausted: the request budget is used up" in html
    md = render_markdown(report)
    assert "## Model calls (gateway)" in md and "Budget exhausted" in md and "15 tokens" in md
    assert "latency_ms" not in json.dumps(stable_view(report))


def test_recording_keeps_the_nth_answer_of_repeated_requests(tmp_path):
    from sandbox.gateway.backends import Recording

    rec = Recording(tmp_path)
    for occurrence, answer in enumerate(["a", "a", "b", "b"]):
        rec.save("k", occurrence, {"text": answer})
    rec.save("k", 1, {"text": "later run"})  # an earlier recording wins
    fresh = Recording(tmp_path)
    assert [fresh.response("k", n)["text"] for n in range(6)] == ["a", "a", "b", "b", "b", "b"]
    # one entry per occurrence: folding equal answers into runs breaks when identical requests
    # finish out of order (see the next test)
    assert len(json.loads((tmp_path / "k.json").read_text())) == 4
    assert fresh.response("missing", 0) is None


def test_a_job_folder_too_deep_for_an_af_unix_path_still_works(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    gw = JobGateway(GatewayConfig(models=MODELS), deep, deep / "rec").start()
    try:
        assert len(str(gw.server.socket_path)) > 108 and gw.server.alive()
        port = forwarder.start(gw.server.address, 0)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        assert (
            client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
            .choices[0]
            .message.content
        )
    finally:
        assert gw.finish()["calls"] == 1


def test_replay_keeps_identical_requests_that_finish_out_of_order(tmp_path):
    # Two identical requests in flight at once: the second may be answered first. Each
    # occurrence keeps its own answer, so a replay gives both back.
    from sandbox.gateway.backends import Recording

    first = Recording(tmp_path)
    a, b = first.occurrence("k"), first.occurrence("k")
    first.save("k", b, {"answer": "second"})
    first.save("k", a, {"answer": "first"})
    first.save("k", a, {"answer": "ignored: the first recording of an occurrence is kept"})
    again = Recording(tmp_path)
    assert again.response("k", again.occurrence("k")) == {"answer": "first"}
    assert again.response("k", again.occurrence("k")) == {"answer": "second"}
    assert again.response("k", 7) == {"answer": "second"}
