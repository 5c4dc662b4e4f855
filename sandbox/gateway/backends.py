"""Where the gateway's answers come from.

- :class:`OfflineBackend` (the default): deterministic, no provider. Chat and completions answer
  with the sentence of the prompt's context that shares the most words with the question, or
  ``I don't know based on the provided context.``; embeddings are feature-hashed words and word
  pairs (numpy), L2-normalised, of a fixed dimension.
- :class:`OpenAICompatibleBackend`: any provider or self-hosted server (vLLM, Ollama) by base URL
  and key, forwarded with the standard library (``urllib``); the key stays in this process.
- :class:`ReplayBackend`: the responses recorded for this submission by an earlier run
  (:class:`Recording`), so a regrade reproduces the run exactly; a miss is an error response.

A backend takes the endpoint path, the checked request body and the upstream model name and
returns the full (non-streaming) OpenAI response as a dict, or raises :class:`BackendError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

from sandbox.gateway import codec

NO_ANSWER = "I don't know based on the provided context."
MAX_RESPONSE_BYTES = 16 * 2**20
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "him",
        "i",
        "you",
        "your",
        "we",
        "our",
        "us",
        "me",
        "my",
        "not",
        "no",
        "yes",
        "if",
        "so",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "about",
        "into",
        "over",
        "under",
        "after",
        "before",
        "also",
        "only",
        "just",
        "any",
        "some",
        "all",
        "each",
        "other",
        "such",
        "more",
        "most",
        "many",
        "much",
        "very",
        "answer",
        "question",
        "context",
        "use",
        "using",
        "based",
        "following",
        "given",
        "provided",
    ]
)


class BackendError(Exception):
    """A backend could not answer: the HTTP status and message to return (already redacted)."""

    def __init__(self, status: int, message: str, type_: str = "api_error", *, ours: bool = True) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type_
        self.ours = ours
        """True when the failure is the infrastructure's (upstream down), not the request's."""


class OfflineBackend:
    name = "offline"

    def __init__(self, embedding_dim: int = 384) -> None:
        self.embedding_dim = embedding_dim

    def __call__(self, path: str, body: dict, model: str) -> dict:
        ident = codec.request_key(path, body)[:24]
        if path == "/v1/embeddings":
            texts = codec.embedding_inputs(body)
            as_base64 = body.get("encoding_format") == "base64"  # what the openai SDK asks for by default
            data = [
                {"object": "embedding", "index": i, "embedding": _encode(embed(t, self.embedding_dim), as_base64)}
                for i, t in enumerate(texts)
            ]
            tokens = sum(codec.count_tokens(t) for t in texts)
            return {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        prompt = codec.prompt_text(path, body)
        if path == "/v1/chat/completions":
            users = [codec.message_text(m.get("content")) for m in body["messages"] if m.get("role") == "user"]
            answer = best_sentence(prompt, users[-1] if users else prompt)
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
            obj, prefix = "chat.completion", "chatcmpl-"
        else:
            answer = best_sentence(prompt, prompt)
            choice = {"index": 0, "text": answer, "finish_reason": "stop", "logprobs": None}
            obj, prefix = "text_completion", "cmpl-"
        p, c = codec.count_tokens(prompt), codec.count_tokens(answer)
        return {
            "id": prefix + ident,
            "object": obj,
            "created": codec.CREATED,
            "model": model,
            "choices": [choice],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        }


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def question_of(text: str) -> str:
    """The question in a prompt: a ``Question:`` line, else the last sentence ending in ``?``,
    else the last non-empty line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"(?i)^(question|q)\s*:", line):
            return line.split(":", 1)[1].strip()
    asks = [s for s in _SENTENCE.split(text) if s.strip().endswith("?")]
    if asks:
        return asks[-1].strip()
    return lines[-1] if lines else ""


def best_sentence(prompt: str, user_text: str) -> str:
    """The context sentence sharing the most content words with the question (first on ties)."""
    question = question_of(user_text)
    wanted = _words(question)
    best, best_score = None, 0
    for sentence in _SENTENCE.split(prompt):
        sentence = re.sub(r"^(context|question|q|a|answer)\s*:\s*", "", sentence.strip(), flags=re.IGNORECASE)
        if not sentence or sentence == question or sentence.endswith("?"):
            continue
        score = len(wanted & _words(sentence))
        if score > best_score:
            best, best_score = sentence, score
    return best if best is not None else NO_ANSWER


def embed(text: str, dim: int) -> list[float]:
    """Feature hashing of words and adjacent word pairs, signed, L2-normalised (stable hashes)."""
    import numpy as np

    words = _WORD.findall(text.lower())
    vec = np.zeros(dim, dtype=np.float64)
    for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        h = int.from_bytes(digest, "little")
        vec[h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    norm = float(np.linalg.norm(vec))
    if norm > 0:
        vec /= norm
    return [round(float(x), 6) for x in vec]


def _encode(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    import base64

    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


class OpenAICompatibleBackend:
    """Forwards to ``base_url`` with the host's key; ``stream`` is always off upstream (the
    gateway streams the finished reply itself), ``max_tokens`` capped to the reservation."""

    name = "openai-compatible"

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout_s = timeout_s

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    def __call__(self, path: str, body: dict, model: str) -> dict:
        upstream = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        upstream["model"] = model
        url = self.base_url + path.removeprefix("/v1")
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "holdout-gateway"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(url, data=json.dumps(upstream).encode("utf-8"), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            detail = self.redact(exc.read(4096).decode("utf-8", "replace"))
            try:
                message = json.loads(detail)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = detail[:500] or exc.reason
            # 4xx: the request (the candidate's); 5xx and 429: the provider's.
            ours = exc.code >= 500 or exc.code in (401, 403, 429)
            raise BackendError(
                exc.code if exc.code < 500 else 502,
                f"upstream said: {self.redact(str(message))}",
                "upstream_error",
                ours=ours,
            ) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise BackendError(
                502, f"the upstream model server is unreachable: {self.redact(str(exc))}", "upstream_unreachable"
            ) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise BackendError(502, "the upstream reply is too large", "upstream_error")
        try:
            data = json.loads(self.redact(raw.decode("utf-8", "replace")))
        except ValueError:
            raise BackendError(502, "the upstream reply is not JSON", "upstream_error") from None
        if not isinstance(data, dict):
            raise BackendError(502, "the upstream reply is not a JSON object", "upstream_error")
        return data


class Recording:
    """Responses of one submission by request key and occurrence: the n-th identical request
    gets the answer recorded for the n-th (or, for a recording that stored only the first of a
    run of equal answers, the latest before it). One JSON file per key, written atomically; the
    first recording of an occurrence is kept."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seen: dict[str, int] = {}
        self._runs: dict[str, list[dict]] = {}
        self._lock = threading.Lock()

    def occurrence(self, key: str) -> int:
        with self._lock:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            return n

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def _load(self, key: str) -> list[dict]:
        if key not in self._runs:
            from harness.safeio import read_json

            try:
                data = read_json(self._path(key), max_bytes=64 * 2**20)
            except Exception:
                data = []
            ok = isinstance(data, list) and all(isinstance(r, dict) and isinstance(r.get("from"), int) for r in data)
            self._runs[key] = data if ok else []
        return self._runs[key]

    def response(self, key: str, occurrence: int) -> dict | None:
        with self._lock:
            runs = sorted((r for r in self._load(key) if r["from"] <= occurrence), key=lambda r: r["from"])
        return runs[-1]["response"] if runs else None

    def save(self, key: str, occurrence: int, response: dict) -> None:
        """Record the answer to the ``occurrence``-th identical request. Concurrent identical
        requests (a judge scoring two samples at once) may finish in any order, so each
        occurrence is stored under its own number, never folded into a neighbour's run."""
        with self._lock:
            runs = self._load(key)
            if any(r["from"] == occurrence for r in runs):
                return
            runs.append({"from": occurrence, "response": response})
            runs.sort(key=lambda r: r["from"])
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".rec-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(runs, ensure_ascii=False))
            os.replace(tmp, self._path(key))


class ReplayBackend:
    name = "replay"

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def __call__(self, path: str, body: dict, model: str, *, key: str, occurrence: int) -> dict:
        response = self.recording.response(key, occurrence)
        if response is None:
            raise BackendError(
                404,
                "replay: this request was not made when the submission was first graded, so there is no recorded "
                "answer for it (the replay backend never calls a model)",
                "replay_miss",
                ours=False,
            )
        return response
