"""Attacks on the model gateway (issue 14) from a genai_rag submission: the Unix socket abused
directly (hundreds of held connections, a slow request, garbage, an absurd Content-Length), the
mounted gateway folder written to, and prompts full of markup that the report must show as text.
Standard library only (no requirements to resolve)."""

from __future__ import annotations

import textwrap

from harness.models import Verdict

from .builders import write_tree
from .catalogue import Case, Env, Expect

MANIFEST = 'assignment = "genai_rag"\n'

HELPERS = """
import http.client, json, os, socket

SOCK = os.environ["HOLDOUT_GATEWAY_SOCKET"]
PORT = int(os.environ["HOLDOUT_GATEWAY_PORT"])

def call(messages):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": messages}),
                 {"Content-Type": "application/json"})
    reply = conn.getresponse()
    body = reply.read()
    conn.close()
    return reply.status, body

def raw(payload):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(SOCK)
    s.sendall(payload)
    try:
        return s.recv(200).split(b"\\r\\n")[0].decode()
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()
"""


def _sub(env: Env, body: str):
    code = HELPERS + "\n" + textwrap.dedent(body)
    return write_tree(env.tmp / "submission", {"rag.py": code, "submission.toml": MANIFEST})


def _stdout_has(*needles: str):
    def check(outcome, env: Env) -> None:
        text = outcome.report.sandbox.stdout.text
        for needle in needles:
            assert needle in text, (needle, text[-2000:])

    return check


def _socket_abuse(env: Env):
    return _sub(
        env,
        """
        held = []
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(SOCK)
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\\r\\nContent-Le")  # a slow request, never finished
                held.append(s)
            except OSError:
                s.close()
        print("held", len(held), flush=True)
        try:
            print("while held:", call([{"role": "user", "content": "hi"}])[0], flush=True)
        except OSError as exc:
            print("while held:", type(exc).__name__, flush=True)
        for s in held:
            s.close()
        import time
        for _ in range(200):  # a closed connection's slot is freed when its thread sees the close
            if "503" not in raw(b"POST /v1/embeddings HTTP/1.1\\r\\n\\r\\n{}"):
                break
            time.sleep(0.05)
        print("garbage:", raw(b"\\x00\\xff" * 5000 + b"\\r\\n\\r\\n")[:40], flush=True)
        print("bad method:", raw(b"GARBAGE /\\x00 HTTP/1.1\\r\\n\\r\\n"), flush=True)
        print("huge length:", raw(b"POST /v1/embeddings HTTP/1.1\\r\\nContent-Length: 999999999999\\r\\n\\r\\n{"), flush=True)
        print("no length:", raw(b"POST /v1/embeddings HTTP/1.1\\r\\n\\r\\n{}"), flush=True)
        try:
            open("/holdout-gateway/forwarder.py", "a").write("x")
            print("write gateway folder: SUCCEEDED", flush=True)
        except OSError as exc:
            print("write gateway folder: blocked", type(exc).__name__, flush=True)
        status, body = call([{"role": "user", "content": "Context: Paris is in France.\\nQuestion: Where is Paris?"}])
        print("after:", status, json.loads(body)["choices"][0]["message"]["content"], flush=True)
    """,
    )


def _markup_prompts(env: Env):
    return _sub(
        env,
        """
        evil = '<script>alert(1)</script></pre></details><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>'
        print("status", call([{"role": "system", "content": evil}, {"role": "user", "content": evil + " Where is it?"}])[0], flush=True)
    """,
    )


def _calls_shown_as_text(outcome, env: Env) -> None:
    html = (outcome.out_dir / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the prompt is not shown (escaped) in report.html"
    assert outcome.report.gateway["calls"] == 1


CASES = [
    Case(
        "gateway_socket_abuse",
        "runtime",
        "holds 300 connections to the model gateway's socket with unfinished requests, sends garbage, an absurd "
        "Content-Length and none, writes into the mounted gateway folder, then makes a normal call",
        _socket_abuse,
        Expect(
            verdict=Verdict.NO_OUTPUT,
            check=_stdout_has(
                "garbage: ",
                "bad method: HTTP/1.1 501",
                "huge length: HTTP/1.1 413",
                "no length: HTTP/1.1 411",
                "write gateway folder: blocked",
                "after: 200 Paris is in France.",
            ),
            note="the connection cap holds the host's threads; bad requests get 4xx; the folder is read-only; the "
            "gateway still answers afterwards",
        ),
        assignment=None,
    ),
    Case(
        "gateway_markup_prompts",
        "report",
        "sends prompts full of HTML (script, closing tags, event handlers, javascript: links) through the model gateway",
        _markup_prompts,
        Expect(
            verdict=Verdict.NO_OUTPUT, check=_calls_shown_as_text, note="the calls are shown in report.html as text"
        ),
        assignment=None,
    ),
]
