"""The model gateway end to end in real Docker, with the real `openai` SDK inside the sandbox
(a submission gets it through its requirements.txt, resolved on the host as wheels and
installed offline): a genai_rag submission written the usual way, chat/streaming/embeddings,
budget exhaustion, a host key that never reaches the container or a report, no other way out
of the sandbox, identical regrades (offline and replay), an openai-compatible upstream (a stub
on the host's 127.0.0.1), a gateway killed mid-run, one gateway per submission in a batch, and
a model called directly."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("ragas")

from harness.api import grade
from harness.batch import grade_batch
from harness.pipeline import GradeOptions
from harness.reports.write import stable_view, write_reports
from harness.settings import Settings

pytestmark = pytest.mark.docker
ASSIGNMENT = Path(__file__).resolve().parent.parent / "assignments" / "genai_rag"
RAW = Path("rag_eval") / "cmu_qa_s10" / "question_answer_pairs.txt"
CANARY = "sk-holdout-canary-5e1f0c2a9b7d4e3f"
REQUIREMENTS = "openai==1.109.1\n"

PROBE = r"""
import json, os, socket, sys, time
from pathlib import Path
import openai
from openai import OpenAI

out = {}
client = OpenAI(max_retries=0)
ctx = "Paris is the capital of France. Berlin is the capital of Germany. Bananas are yellow."
def ask(q):
    return [{"role": "user", "content": f"Context:\n{ctx}\n\nQuestion: {q}"}]
MODE = __MODE__
if MODE in ("probe", "secret"):
    out["chat"] = client.chat.completions.create(model="gpt-4o-mini", messages=ask("What is the capital of Germany?")).choices[0].message.content
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o-mini", messages=ask("What colour are bananas?"), stream=True))
if MODE == "probe":
    out["embeddings"] = [len(d.embedding) for d in client.embeddings.create(model="text-embedding-3-small", input=["a", "b c"]).data]
    try:
        for i in range(50):
            client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    except openai.RateLimitError as exc:
        out["rate_limited_after"] = i
        out["rate_limit_code"] = exc.code
    reach = {}
    for name, family, addr in __TARGETS__:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect(addr)
            reach[name] = "connected"
        except OSError as exc:
            reach[name] = type(exc).__name__
        finally:
            s.close()
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.sendto(b"x", ("8.8.8.8", 53))
        u.recvfrom(10)
        reach["udp"] = "answered"
    except OSError as exc:
        reach["udp"] = type(exc).__name__
    try:
        socket.getaddrinfo("api.openai.com", 443)
        reach["dns"] = "resolved"
    except OSError as exc:
        reach["dns"] = type(exc).__name__
    out["reach"] = reach
    out["interfaces"] = sorted(n for _, n in socket.if_nameindex())
if MODE == "secret":
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "leak"}])
    except openai.APIStatusError as exc:
        out["leak_reply"] = str(exc)
    seen = []
    key = "".join(reversed(__CANARY__))  # the literal is reversed: this file must not hold the key
    places = [Path("/proc/self/environ"), Path("/proc/self/mountinfo")]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            places += [proc / "environ", proc / "cmdline"]
    for root in ("/tmp", "/holdout-gateway", "/submission", "/data", "/output", "/holdout/logs", "/etc"):
        for dirpath, _, files in os.walk(root):
            places += [Path(dirpath) / f for f in files]
    for place in places:
        try:
            data = place.read_bytes()[:5_000_000]
        except OSError:
            continue
        if key.encode() in data:
            seen.append(str(place))
    out["key_seen"] = seen + [k for k, v in os.environ.items() if key in v]
    out["env_key"] = os.environ.get("OPENAI_API_KEY")
if MODE == "kill":
    client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
    for i in range(600):
        time.sleep(0.1)
        client.chat.completions.create(model="gpt-4o-mini", messages=ask("capital of France?"))
if MODE == "direct":
    OpenAI(base_url="https://api.openai.com/v1", api_key="sk-mine", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=ask("capital of France?"))
if isinstance(MODE, int):
    for i in range(MODE):
        client.chat.completions.create(model="gpt-4o-mini", messages=ask(f"capital of France? {i}"))
if MODE == "few":
    questions = [json.loads(x) for x in open(os.environ["DATA_DIR"] + "/questions.jsonl")][:15]
    vectors = client.embeddings.create(model="text-embedding-3-small", input=[q["question"] for q in questions]).data
    with open(os.environ["OUTPUT_DIR"] + "/answers.jsonl", "w") as fh:
        for q, v in zip(questions, vectors):
            a = client.chat.completions.create(model="gpt-4o-mini", messages=ask(q["question"])).choices[0].message.content
            fh.write(json.dumps({"id": q["id"], "answer": a, "contexts": [{"doc_id": "set1/a1", "text": str(sum(v.embedding))}]}) + "\n")
print("PROBE " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def settings(data_dir, session_cache, sandbox_image) -> Settings:
    if not (data_dir / RAW).is_file():
        reason = f"the raw CMU QA data ({RAW.parent}) is not under {data_dir}"
        if os.environ.get("REQUIRE_DATA", "") in ("1", "true", "yes"):
            pytest.fail(f"{reason} (REQUIRE_DATA=1, so this is a failure, not a skip)")
        pytest.skip(reason)
    return Settings(data_dir=data_dir, cache_dir=session_cache, image=sandbox_image, allow_download=False)


@pytest.fixture(autouse=True)
def _no_judge_no_override(monkeypatch):
    for name in (
        "GRADE_JUDGE_BASE_URL",
        "GRADE_EMBEDDING_MODEL",
        "GRADE_GATEWAY_BACKEND",
        "GRADE_GATEWAY_BASE_URL",
        "GRADE_GATEWAY",
        "GRADE_GATEWAY_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def assignment_with(tmp_path: Path, gateway: str) -> Path:
    """A copy of genai_rag whose [gateway] table is ``gateway`` (same id, same data)."""
    target = tmp_path / "genai_rag"
    shutil.copytree(ASSIGNMENT, target, ignore=shutil.ignore_patterns("canaries"))
    spec = target / "assignment.toml"
    text = re.sub(
        r"\n\[gateway\]\n.*?(?=\n# --- graders)", "\n" + gateway.strip() + "\n", spec.read_text(), flags=re.DOTALL
    )
    text = text[: text.index("\n[[canaries]]")] + "\n"
    spec.write_text(text)
    return target


def submission(tmp_path: Path, name: str, mode, **subs) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    code = PROBE.replace("__MODE__", repr(mode)).replace("__CANARY__", repr(CANARY[::-1]))
    code = code.replace("__TARGETS__", repr([(n, int(f), a) for n, f, a in subs.get("targets", [])]))
    (folder / "rag.py").write_text(code)
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    (folder / "submission.toml").write_text('assignment = "genai_rag"\n')
    return folder


def probe_output(report) -> dict:
    for line in report.sandbox.stdout.text.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[6:])
    raise AssertionError(f"no probe output; stderr: {report.sandbox.stderr.text[-2000:]}")


def test_an_sdk_submission_grades_end_to_end_with_its_calls_in_the_report(settings, tmp_path, no_containers_left):
    out = tmp_path / "report"
    report = grade(
        ASSIGNMENT / "canaries" / "openai_sdk", settings=settings, options=GradeOptions(artifacts_dir=out / "artifacts")
    )
    assert report.status == "graded" and report.sandbox.verdict.value == "ok", report.sandbox.stderr.text[-2000:]
    assert report.score >= 40 and report.metrics["context_recall"] > 0.5
    g = report.gateway
    assert g["backend"] == "offline" and g["calls"] > 300 and g["errors"] == 0
    assert g["by_endpoint"]["/v1/embeddings"] > 10 and g["total_tokens"] > 100_000
    assert g["budget"]["tokens"] == g["total_tokens"] and g["budget_exhausted"] is None
    write_reports(report, out)
    html = (out / "report.html").read_text()
    assert '<section id="gateway">' in html and "<details><summary>The calls (200 shown)" in html
    assert "Model calls (gateway)" in (out / "report.md").read_text()
    assert len((out / "artifacts" / "gateway-calls.jsonl").read_text().splitlines()) == g["calls"]


def test_chat_stream_embeddings_budget_and_no_way_out(settings, tmp_path, no_containers_left, docker_client):
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    ipam = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    bridge = ipam.get("Gateway") or str(ipaddress.ip_network(ipam["Subnet"])[1])
    targets = [
        ("host_bridge", socket.AF_INET, (bridge, port)),
        ("host_lo_port", socket.AF_INET, ("127.0.0.1", port)),
        ("public", socket.AF_INET, ("1.1.1.1", 443)),
        ("ipv6", socket.AF_INET6, ("2606:4700:4700::1111", 443)),
        ("ipv6_lo_port", socket.AF_INET6, ("::1", port)),
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:  # the host's own address (no packet is sent)
        try:
            route.connect(("192.0.2.123", 9))
            targets.append(("host_ip", socket.AF_INET, (route.getsockname()[0], port)))
        except OSError:
            pass
    assignment = assignment_with(
        tmp_path, '[gateway]\nmax_requests = 6\n[gateway.models]\n"gpt-4o-mini" = "x"\n"text-embedding-3-small" = "y"'
    )
    try:
        report = grade(
            submission(tmp_path, "probe", "probe", targets=targets), assignment=assignment, settings=settings
        )
    finally:
        listener.close()
    out = probe_output(report)
    assert out["chat"] == "Berlin is the capital of Germany." and out["stream"] == "Bananas are yellow."
    assert out["embeddings"] == [384, 384]
    assert (
        out["rate_limited_after"] == 3 and out["rate_limit_code"] == "insufficient_quota"
    )  # 3 calls above + 3 here = 6
    assert set(out["reach"].values()) <= {
        "OSError",
        "ConnectionRefusedError",
        "TimeoutError",
        "gaierror",
        "PermissionError",
    }, out["reach"]
    assert out["interfaces"] == ["lo"]
    g = report.gateway
    assert g["calls"] == 7 and g["refused_over_budget"] == 1 and "request budget" in g["budget_exhausted"]
    assert any(m.code == "gateway_budget_exhausted" and "Budget exhausted" in m.text for m in report.messages)
    assert report.status == "graded"


class _Stub(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        if body["messages"][-1]["content"] == "leak":
            data, status = json.dumps({"error": {"message": f"invalid key {auth}"}}).encode(), 401
        else:
            text = "upstream says hi" if auth == f"Bearer {CANARY}" else "wrong key"
            data, status = (
                json.dumps(
                    {
                        "id": "u",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
                    }
                ).encode(),
                200,
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_openai_compatible_upstream_and_the_key_never_reaches_the_sandbox_or_a_report(
    settings, tmp_path, monkeypatch, no_containers_left
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GRADE_GATEWAY_API_KEY", CANARY)
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    assignment = assignment_with(
        tmp_path,
        f'[gateway]\nbackend = "openai-compatible"\nbase_url = "{base}"\n'
        '[gateway.models]\n"gpt-4o-mini" = "upstream-model"',
    )
    out = tmp_path / "report"
    try:
        report = grade(
            submission(tmp_path, "secret", "secret"),
            assignment=assignment,
            settings=settings,
            options=GradeOptions(artifacts_dir=out / "artifacts"),
        )
    finally:
        server.shutdown()
    probe = probe_output(report)
    assert probe["chat"] == probe["stream"] == "upstream says hi"
    assert probe["key_seen"] == [] and probe["env_key"] == "holdout-sandbox"
    assert "[redacted]" in probe["leak_reply"] and CANARY not in probe["leak_reply"]
    write_reports(report, out)
    for path in out.rglob("*"):
        if path.is_file():
            assert CANARY not in path.read_text(errors="replace"), path
    assert report.gateway["calls"] == 3 and report.gateway["prompt_tokens"] == 18


def test_regrade_is_identical_offline_and_with_replay(settings, tmp_path, monkeypatch, no_containers_left):
    sub = submission(tmp_path, "few", "few")
    first = stable_view(grade(sub, settings=settings))
    assert first["gateway"]["calls"] == 16 and first["metrics"]["answered"] > 0
    assert stable_view(grade(sub, settings=settings)) == first
    monkeypatch.setenv("GRADE_GATEWAY_BACKEND", "replay")
    replayed = stable_view(grade(sub, settings=settings))
    assert replayed["gateway"].pop("backend") == "replay" and first["gateway"].pop("backend") == "offline"
    assert replayed == first


def test_a_gateway_killed_mid_run_is_not_the_candidates_fault(settings, tmp_path, monkeypatch, no_containers_left):
    from sandbox.gateway.job import JobGateway

    started: list[JobGateway] = []
    original = JobGateway.start

    def start(self):
        started.append(self)
        result = original(self)

        def killer():
            while not self.log_path.read_text():  # the first call is logged: now the gateway dies
                threading.Event().wait(0.05)
            self.server.kill()

        threading.Thread(target=killer, daemon=True).start()
        return result

    monkeypatch.setattr(JobGateway, "start", start)
    report = grade(submission(tmp_path, "kill", "kill"), settings=settings)
    assert report.status == "needs_review"
    failed = [m for m in report.messages if m.code == "gateway_failed"]
    assert failed and "not the candidate's fault" in failed[0].text
    assert report.sandbox.verdict.value == "crashed" and "Error" in report.sandbox.stderr.text  # its next call failed
    assert "model_called_directly" not in {m.code for m in report.messages}
    assert report.gateway["calls"] < 600


def test_one_gateway_per_submission_in_a_batch(settings, tmp_path, no_containers_left):
    subs = tmp_path / "subs"
    subs.mkdir()
    submission(subs, "three", 3)
    submission(subs, "seven", 7)
    result = grade_batch([subs], tmp_path / "out", settings, jobs=2)
    calls = {}
    for name in ("three", "seven"):
        data = json.loads((tmp_path / "out" / name / "report.json").read_text())
        calls[name] = (
            data["gateway"]["calls"],
            data["gateway"]["budget"]["requests"],
            {c["messages"][0]["content"][-3:] for c in data["gateway"]["calls_shown"]},
        )
    assert calls["three"][:2] == (3, 3) and calls["seven"][:2] == (7, 7), calls
    assert calls["three"][2] == {"? 0", "? 1", "? 2"}
    assert len(result.items) == 2


def test_a_model_called_directly_gets_a_plain_message(settings, tmp_path, no_containers_left):
    report = grade(submission(tmp_path, "direct", "direct"), settings=settings)
    found = [m for m in report.messages if m.code == "model_called_directly"]
    assert found, [m.code for m in report.messages]
    assert "provides a model at OPENAI_BASE_URL; your code called api.openai.com directly" in found[0].text
