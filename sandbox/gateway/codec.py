"""The wire format the gateway speaks: OpenAI-compatible JSON bodies, error bodies, server-sent
event chunks for ``stream: true``, token counts and the canonical request key.

Pure functions over plain data; no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models")
CREATED = 1_700_000_000
"""A fixed ``created`` timestamp: offline answers are identical on every run."""
DONE = b"data: [DONE]\n\n"
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class RequestError(Exception):
    """A request the gateway refuses (the candidate's doing): an HTTP status and an OpenAI error body."""

    def __init__(
        self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code

    def body(self) -> dict:
        return error_body(self.message, self.type, self.code)


def error_body(message: str, type_: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code or type_}}


def count_tokens(text: str) -> int:
    """A deterministic token count (words and punctuation marks), for backends that report none."""
    return len(_TOKEN.findall(text))


def message_text(content: Any) -> str:
    """The text of a chat message's ``content``: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def prompt_text(path: str, body: dict) -> str:
    """Everything the request asks the model to read, as one text (for counting and logging)."""
    if path == "/v1/chat/completions":
        return "\n".join(message_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict))
    if path == "/v1/completions":
        prompt = body.get("prompt", "")
        return "\n".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
    if path == "/v1/embeddings":
        return "\n".join(embedding_inputs(body))
    return ""


def embedding_inputs(body: dict) -> list[str]:
    """The texts of an embeddings request (a string or a list of strings; token-id lists refused)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RequestError(400, "'input' must be a string or a list of strings (token ids are not supported here)")


def parse_body(path: str, raw: bytes, models: dict[str, str]) -> dict:
    """Decode and check a request body; returns it with ``model`` verified against the allow-list."""
    from harness.safeio import UntrustedDataError, loads_json

    try:
        body = loads_json(raw, max_depth=32, what="the request body")
    except UntrustedDataError as exc:
        raise RequestError(400, str(exc)) from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "'model' is required")
    if model not in models:
        allowed = ", ".join(sorted(models)) or "(none)"
        raise RequestError(
            404,
            f"the model {model!r} is not available in this assignment; use one of: {allowed}",
            code="model_not_found",
        )
    if path == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise RequestError(400, "'messages' must be a non-empty list of objects")
    elif path == "/v1/completions" and not isinstance(body.get("prompt"), (str, list)):
        raise RequestError(400, "'prompt' is required")
    elif path == "/v1/embeddings":
        embedding_inputs(body)
    return body


def request_key(path: str, body: dict) -> str:
    """The canonical identity of a request: its endpoint and body, key order and streaming ignored."""
    clean = {k: v for k, v in body.items() if k not in ("stream", "stream_options", "user")}
    blob = json.dumps({"path": path, "body": clean}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def models_body(models: dict[str, str]) -> dict:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "holdout"} for m in sorted(models)],
    }


def sse_chunks(completion: dict, include_usage: bool = False) -> list[bytes]:
    """A finished chat completion as ``chat.completion.chunk`` events (role, content, finish,
    and usage with empty ``choices`` only when ``stream_options.include_usage`` asked for it, as
    OpenAI does), ending with ``data: [DONE]`` — what the openai SDK's stream iterator expects."""
    base = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created", CREATED),
        "model": completion.get("model", ""),
    }
    events: list[dict] = []
    for choice in completion.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": index,
                        "delta": {"role": message.get("role", "assistant"), "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
        content = message.get("content") or ""
        for piece in _pieces(content):
            events.append({**base, "choices": [{"index": index, "delta": {"content": piece}, "finish_reason": None}]})
        events.append(
            {**base, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}]}
        )
    if include_usage and completion.get("usage") is not None:
        events.append({**base, "choices": [], "usage": completion["usage"]})
    return [b"data: " + json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n\n" for e in events] + [DONE]


def _pieces(text: str, size: int = 64) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def usage_of(response: dict) -> tuple[int, int]:
    """(prompt, completion) tokens from a reply's ``usage``; missing or odd values count 0."""
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return 0, 0

    def num(v: Any) -> int:
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else 0

    return num(usage.get("prompt_tokens")), num(usage.get("completion_tokens"))


def sse_text_chunks(completion: dict) -> list[bytes]:
    """A finished text completion as ``text_completion`` events, ending with ``data: [DONE]``."""
    base = {
        "id": completion.get("id", ""),
        "object": "text_completion",
        "created": completion.get("created", CREATED),
        "model": completion.get("model", ""),
    }
    events = []
    for choice in completion.get("choices") or []:
        index = choice.get("index", 0)
        for piece in _pieces(str(choice.get("text") or "")):
            events.append(
                {**base, "choices": [{"index": index, "text": piece, "finish_reason": None, "logprobs": None}]}
            )
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": index,
                        "text": "",
                        "finish_reason": choice.get("finish_reason") or "stop",
                        "logprobs": None,
                    }
                ],
            }
        )
    return [b"data: " + json.dumps(e, ensure_ascii=False).encode("utf-8") + b"\n\n" for e in events] + [DONE]
