"""The ``rag_judge`` grader against a tiny OpenAI-compatible server on 127.0.0.1 (no other network).

The server answers ragas' prompts with canned JSON: two statements/claims per answer, the first
supported and the second not, so faithfulness and factual correctness are both 0.5.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("ragas")

from graders.base import GradeContext
from graders.rag_judge import RagJudgeGrader
from harness.api import grade
from harness.errors import GraderError
from harness.models import GraderStatus, SandboxRun, Verdict
from harness.settings import Settings
from harness.spec import AssignmentSpec

QUESTIONS = [
    {
        "id": "q1",
        "question": "What do koalas eat?",
        "answers": ["Eucalyptus leaves"],
        "reference_doc_ids": ["d1"],
        "yes_no": False,
    },
    {
        "id": "q2",
        "question": "Where is Nairobi?",
        "answers": ["In Kenya"],
        "reference_doc_ids": ["d2"],
        "yes_no": False,
    },
]
ANSWERS = [
    {
        "id": "q1",
        "answer": "Koalas eat eucalyptus leaves.",
        "contexts": [{"doc_id": "d1", "text": "Koalas eat eucalyptus leaves."}],
    },
    {"id": "q2", "answer": "", "contexts": [{"doc_id": "d2", "text": "Nairobi is in Kenya."}]},
]
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def jsonl(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@dataclass
class FakeJudge:
    """State shared with the request handler: what to answer and what was asked."""

    mode: str = "ok"  # ok | error | garbage
    requests: list[dict] = field(default_factory=list)
    url: str = ""

    def reply(self, prompt: str) -> str:
        if prompt.startswith("Given a question and an answer"):
            return json.dumps({"statements": ["Koalas eat leaves.", "Koalas eat meat."]})
        if "Decompose and break down" in prompt[:200]:
            return json.dumps({"claims": ["Koalas eat leaves.", "Koalas eat meat."]})
        if "judge the faithfulness" in prompt[:200]:
            return json.dumps(
                {
                    "statements": [
                        {"statement": "Koalas eat leaves.", "reason": "stated", "verdict": 1},
                        {"statement": "Koalas eat meat.", "reason": "not stated", "verdict": 0},
                    ]
                }
            )
        raise AssertionError(f"unexpected prompt: {prompt[:120]!r}")


def _handler(judge: FakeJudge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            judge.requests.append(body)
            if judge.mode == "error":
                self._send(500, {"error": {"message": "judge is down", "type": "server_error"}})
                return
            content = "this is not JSON" if judge.mode == "garbage" else judge.reply(body["messages"][0]["content"])
            self._send(
                200,
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                    ],
                    "usage": USAGE,
                },
            )

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def judge(monkeypatch) -> Iterator[FakeJudge]:
    state = FakeJudge()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    monkeypatch.setenv("GRADE_JUDGE_BASE_URL", state.url)
    monkeypatch.setenv("GRADE_JUDGE_MODEL", "fake-judge")
    monkeypatch.setenv("GRADE_JUDGE_API_KEY", "test-key")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def ctx(tmp_path) -> GradeContext:
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


def test_skipped_with_a_message_when_no_judge_is_configured(ctx, monkeypatch):
    monkeypatch.delenv("GRADE_JUDGE_BASE_URL", raising=False)
    result = RagJudgeGrader().grade(ctx)
    assert result.status == GraderStatus.SKIPPED and not result.measurements
    assert [m.code for m in result.messages] == ["judge_not_configured"]
    assert "GRADE_JUDGE_BASE_URL" in result.messages[0].text


def test_judged_scores_counted_calls_and_temperature_zero(ctx, judge):
    result = RagJudgeGrader().grade(ctx)
    m = result.measurements
    # q1 is judged 0.5 on both metrics; q2's answer is empty, so it scores 0 without a call.
    assert m["faithfulness"] == pytest.approx(0.25) and m["factual_correctness"] == pytest.approx(0.25)
    # faithfulness: statements + verdicts (2 calls); factual correctness f1: 2 decompositions + 2 verdicts (4 calls)
    assert m["judge_calls"] == 6 == len(judge.requests)
    assert (
        m["judge_prompt_tokens"] == 6 * USAGE["prompt_tokens"]
        and m["judge_completion_tokens"] == 6 * USAGE["completion_tokens"]
    )
    assert m["judge_cache_hits"] == 0 and m["judged_questions"] == 2
    assert {r["temperature"] for r in judge.requests} == {0} and {r["model"] for r in judge.requests} == {"fake-judge"}
    assert result.details["per_question"][1] == {"id": "q2", "faithfulness": 0.0, "factual_correctness": 0.0}


def test_second_grading_is_served_from_the_cache(ctx, judge):
    first = RagJudgeGrader().grade(ctx)
    calls = len(judge.requests)
    second = RagJudgeGrader().grade(ctx)
    assert len(judge.requests) == calls, "no call for a sample already judged"
    assert second.measurements["judge_calls"] == 0 and second.measurements["judge_cache_hits"] == 2
    assert second.measurements["faithfulness"] == first.measurements["faithfulness"]


def test_changed_answer_or_model_is_judged_again(ctx, judge, monkeypatch):
    RagJudgeGrader().grade(ctx)
    calls = len(judge.requests)
    monkeypatch.setenv("GRADE_JUDGE_MODEL", "another-judge")
    RagJudgeGrader().grade(ctx)
    assert len(judge.requests) == 2 * calls


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_judge_failure_is_a_grader_error_not_the_candidates_zero(ctx, judge, mode):
    judge.mode = mode
    with pytest.raises(GraderError, match="judge") as err:
        RagJudgeGrader().grade(ctx)
    assert "judge calls" in str(err.value)


# --- through the pipeline: a judge failure marks the report needs_review, offline scores stay ---

SPEC = """
id = "toyrag"
title = "Toy RAG"
kind = "rag"

[[data.sources]]
name = "toyrag/questions.jsonl"
sha256 = "{sha}"

[entry]
script = "rag.py"

[[graders]]
use = "rag"

[[graders]]
use = "rag_judge"

[[rubric.criteria]]
id = "retrieval"
title = "Retrieval"
weight = 50
measurement = "rag.context_recall"
thresholds = [0.25, 0.5, 0.75, 0.9]

[[rubric.criteria]]
id = "answers"
title = "Answers"
weight = 50
measurement = "rag.answer_f1"
thresholds = [0.15, 0.4, 0.45, 0.5]
"""

PREPARE = """
import json

def prepare(sources, out, seed):
    items = [json.loads(line) for line in sources["toyrag/questions.jsonl"].read_text().splitlines()]
    (out.inputs / "corpus").mkdir()
    for doc in ("d1", "d2"):
        (out.inputs / "corpus" / f"{doc}.txt").write_text(doc)
    (out.inputs / "questions.jsonl").write_text("".join(json.dumps({"id": i["id"], "question": i["question"]}) + "\\n" for i in items))
    (out.hidden / "eval.jsonl").write_text("".join(json.dumps(i) + "\\n" for i in items))
"""


def test_pipeline_judge_failure_needs_review_and_keeps_offline_scores(tmp_path, judge):
    import hashlib

    raw = jsonl(QUESTIONS)
    (tmp_path / "data" / "toyrag").mkdir(parents=True)
    (tmp_path / "data" / "toyrag" / "questions.jsonl").write_text(raw)
    root = tmp_path / "assignments" / "toyrag"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(SPEC.format(sha=hashlib.sha256(raw.encode()).hexdigest()))
    (root / "prepare.py").write_text(PREPARE)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "rag.py").write_text("print('hi')\n")
    (sub / "submission.toml").write_text('assignment = "toyrag"\n')
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )

    def runner(request):
        out = next(Path(m.source) for m in request.mounts if m.target == "/output")
        (out / "answers.jsonl").write_text(jsonl(ANSWERS))
        return SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=1.0, timeout_s=request.limits.timeout_s)

    judge.mode = "error"
    report = grade(sub, settings=settings, runner=runner)
    assert report.status == "needs_review"
    assert report.score is not None, "offline criteria are still scored"
    assert report.metrics["context_recall"] == 1.0
    failed = {g.grader: g for g in report.graders}["rag_judge"]
    assert failed.status == GraderStatus.ERROR and "judge is down" in (failed.error or "")
    judge.mode = "ok"
    report = grade(sub, settings=settings, runner=runner)
    assert report.status == "graded" and report.metrics["rag_judge.faithfulness"] == pytest.approx(0.25)
