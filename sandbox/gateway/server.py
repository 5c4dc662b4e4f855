"""The host side of the gateway: one small HTTP/1.1 server per submission on a Unix socket.

The socket's folder is bind-mounted into the sandbox, where :mod:`sandbox.gateway.forwarder`
relays ``127.0.0.1:<port>`` to it. Each call is checked (size, JSON, allowed model), reserved
against the submission's :class:`~sandbox.gateway.budget.Budget`, answered by the backend,
settled from the reply's ``usage`` and written to the call log (JSONL) — host-side, so the log
is trusted evidence: the container can neither read nor write it.

When the budget is used up the reply is HTTP 429 with ``type: insufficient_quota``,
``x-should-retry: false`` and a long ``Retry-After``: the openai SDK raises ``RateLimitError``
at once instead of retrying.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sandbox.gateway import SOCKET_NAME, codec
from sandbox.gateway.backends import (
    BackendError,
    OfflineBackend,
    OpenAICompatibleBackend,
    Recording,
    ReplayBackend,
)
from sandbox.gateway.budget import Budget, Exhausted
from sandbox.gateway.config import GatewayConfig

MAX_CONNECTIONS = 64
IDLE_TIMEOUT_S = 15.0
LOG_TEXT_CHARS = 20_000
"""Each message or answer is cut to this many characters in the call log."""
RETRY_AFTER_S = 86_400


def make_backend(config: GatewayConfig, recording: Recording | None):
    if config.backend == "openai-compatible":
        return OpenAICompatibleBackend(config.base_url or "", config.api_key, timeout_s=config.timeout_s)
    if config.backend == "replay":
        if recording is None:
            raise ValueError("the replay backend needs a recording")
        return ReplayBackend(recording)
    return OfflineBackend(config.embedding_dim)


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    gateway: GatewayServer

    def process_request(self, request, client_address):
        # A connection cap before any thread is spawned: a candidate opening thousands of
        # connections (the socket is reachable directly too) costs the host nothing more.
        if not self.gateway._slots.acquire(blocking=False):
            try:
                request.sendall(
                    _raw_response(503, codec.error_body("too many open connections to the model gateway", "overloaded"))
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        # A caller that hangs up mid-reply is its own business; anything else is the gateway's failure.
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            self.gateway.failures.append(f"gateway handler error: {type(exc).__name__}")

    def process_request_thread(self, request, client_address):
        self.gateway._active.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.gateway._active.discard(request)
            self.gateway._slots.release()


def _raw_response(status: int, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n"
    ).encode() + data


class GatewayServer:
    """One submission's gateway. ``start()`` binds ``<folder>/gateway.sock`` and serves in
    daemon threads; ``stop()`` ends it. ``log_path`` must be outside ``folder``."""

    def __init__(
        self, config: GatewayConfig, folder: Path, log_path: Path, *, recording: Recording | None = None
    ) -> None:
        self.config = config
        self.folder = Path(folder)
        self.socket_path = self.folder / SOCKET_NAME
        self.log_path = Path(log_path)
        self.recording = recording
        self.backend = make_backend(config, recording)
        self.budget = Budget(
            max_tokens=config.max_tokens,
            max_requests=config.max_requests,
            max_cost_usd=config.max_cost_usd,
            prices=config.prices,
        )
        self.failures: list[str] = []
        """The gateway's own failures (upstream down, a bug): not the candidate's doing."""
        self._inflight = threading.BoundedSemaphore(config.concurrency)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._active: set[socket.socket] = set()
        self._log_lock = threading.Lock()
        self._seq = 0
        self._server: _UnixServer | None = None
        self._dir_fd: int | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> GatewayServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o755)
        if (
            len(os.fsencode(self.socket_path)) >= 100
        ):  # AF_UNIX paths are capped at 108 bytes: go through the folder's fd
            self._dir_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_path.touch()
        handler = type("Handler", (_Handler,), {"gateway": self})
        self._server = _UnixServer(self.address, handler)
        self._server.gateway = self
        os.chmod(self.socket_path, 0o666)  # the container's uid connects; the folder is its only way in
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="holdout-gateway", daemon=True
        )
        self._thread.start()
        return self

    @property
    def address(self) -> str:
        """The path host-side clients connect to: the socket's own path, or (when that is too long
        for AF_UNIX) the same socket through ``/proc/self/fd`` of its folder."""
        if self._dir_fd is None:
            return str(self.socket_path)
        return f"/proc/self/fd/{self._dir_fd}/{self.socket_path.name}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        try:
            self.socket_path.unlink()
        except OSError:
            pass
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def kill(self) -> None:
        """Stop serving abruptly, as a crash would (tests): the socket file stays, nothing answers,
        open connections are cut."""
        if self._server is not None:
            try:  # refuse new connections now, not when the serving thread's poll lets go of the socket
                self._server.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.socket.close()
            for conn in list(self._active):  # and the open (keep-alive) connections, as a crash would
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def alive(self) -> bool:
        """Does the socket still accept connections?"""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(self.address)
            except OSError:
                return False
        return True

    # --- one call --------------------------------------------------------------------------

    def handle(self, path: str, raw: bytes) -> tuple[int, dict, dict[str, str], bool | str]:
        """Answer one POST: (status, body, extra headers, stream?). Logs the call."""
        started = time.monotonic()
        entry: dict = {"endpoint": path, "status": 0}
        status, body, headers, stream = 500, codec.error_body("internal gateway error", "gateway_error"), {}, False
        try:
            status, body, headers, stream = self._answer(path, raw, entry)
        except codec.RequestError as exc:
            status, body = exc.status, exc.body()
            entry["error"] = exc.message
        except Exhausted as exc:
            status = 429
            body = codec.error_body(
                f"holdout: this submission's model budget is used up: {exc}. Further calls will be "
                "refused; make the most of fewer calls.",
                "insufficient_quota",
            )
            headers = {"x-should-retry": "false", "Retry-After": str(RETRY_AFTER_S)}
            entry["error"] = f"budget exhausted: {exc}"
        except BackendError as exc:
            status, body = exc.status, codec.error_body(exc.message, exc.type)
            entry["error"] = exc.message
            if exc.ours:
                entry["ours"] = True
                self.failures.append(exc.message)
        except Exception as exc:
            entry["error"] = f"internal gateway error: {type(exc).__name__}: {self._redact(str(exc))[:300]}"
            entry["ours"] = True
            self.failures.append(entry["error"])
        entry["status"] = status
        entry["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        self._log(entry)
        return status, body, headers, stream

    def _answer(self, path: str, raw: bytes, entry: dict) -> tuple[int, dict, dict[str, str], bool | str]:
        cfg = self.config
        body = codec.parse_body(path, raw, cfg.models)
        model = body["model"]
        stream: bool | str = bool(body.get("stream")) and path != "/v1/embeddings"
        options = body.get("stream_options")
        if stream and isinstance(options, dict) and options.get("include_usage"):
            stream = "include_usage"
        key = codec.request_key(path, body)
        entry.update(model=model, stream=stream, request_sha256=key, request=_logged_request(path, body))
        prompt = codec.prompt_text(path, body)
        prompt_estimate = codec.count_tokens(prompt)
        wanted = body.get("max_completion_tokens", body.get("max_tokens"))
        max_completion = (
            0
            if path == "/v1/embeddings"
            else min(
                cfg.max_completion_tokens,
                wanted
                if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0
                else cfg.max_completion_tokens,
            )
        )
        reservation = self.budget.reserve(model, prompt_estimate, max_completion)
        occurrence = self.recording.occurrence(key) if self.recording is not None else 0
        upstream = dict(body)
        if max_completion:
            cap = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
            upstream[cap] = max(1, reservation.completion_tokens)
        try:
            with self._inflight:
                if isinstance(self.backend, ReplayBackend):
                    response = self.backend(path, upstream, cfg.models[model], key=key, occurrence=occurrence)
                else:
                    response = self.backend(path, upstream, cfg.models[model])
        except BaseException:
            self.budget.release(reservation)
            raise
        prompt_tokens, completion_tokens = codec.usage_of(response)
        if not prompt_tokens and not completion_tokens:  # a server that reports no usage: count it ourselves
            prompt_tokens = prompt_estimate
            completion_tokens = codec.count_tokens(_answer_text(path, response))
        cost = self.budget.settle(reservation, prompt_tokens, completion_tokens)
        if self.recording is not None and not isinstance(self.backend, ReplayBackend):
            self.recording.save(key, occurrence, response)
        response = {**response, "model": model}  # the name the candidate asked for
        entry.update(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=round(cost, 6),
            response=_logged_response(path, response),
        )
        return 200, response, {}, stream

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "[redacted]") if key else text

    def _log(self, entry: dict) -> None:
        with self._log_lock:
            self._seq += 1
            line = json.dumps({"seq": self._seq, **entry}, ensure_ascii=False, default=str)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(self._redact(line) + "\n")


def _cut(text: str) -> str:
    return (
        text
        if len(text) <= LOG_TEXT_CHARS
        else text[:LOG_TEXT_CHARS] + f" [... {len(text) - LOG_TEXT_CHARS:,} characters cut]"
    )


def _logged_request(path: str, body: dict) -> dict:
    if path == "/v1/chat/completions":
        return {
            "messages": [
                {"role": str(m.get("role", ""))[:20], "content": _cut(codec.message_text(m.get("content")))}
                for m in body["messages"][:200]
            ]
        }
    if path == "/v1/embeddings":
        texts = codec.embedding_inputs(body)
        return {"inputs": len(texts), "first": _cut(texts[0]) if texts else ""}
    return {"prompt": _cut(codec.prompt_text(path, body))}


def _answer_text(path: str, response: dict) -> str:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    first = choices[0]
    if path == "/v1/chat/completions":
        message = first.get("message")
        return codec.message_text(message.get("content")) if isinstance(message, dict) else ""
    return str(first.get("text") or "")


def _logged_response(path: str, response: dict) -> dict:
    if path == "/v1/embeddings":
        data = response.get("data") if isinstance(response.get("data"), list) else []
        first = data[0].get("embedding") if data and isinstance(data[0], dict) else None
        return {"vectors": len(data), "dim": len(first) if isinstance(first, list) else None}
    return {"text": _cut(_answer_text(path, response))}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "holdout-gateway"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    gateway: GatewayServer

    def log_message(self, format, *args) -> None:
        pass

    def address_string(self) -> str:
        return "sandbox"

    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send(200, codec.models_body(self.gateway.config.models))
        elif path.startswith("/v1/models/") and path.removeprefix("/v1/models/") in self.gateway.config.models:
            self._send(
                200,
                {
                    "id": path.removeprefix("/v1/models/"),
                    "object": "model",
                    "created": codec.CREATED,
                    "owned_by": "holdout",
                },
            )
        else:
            self._send(
                404, codec.error_body(f"no such endpoint: GET {path[:100]}", "invalid_request_error", "not_found")
            )

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in codec.ENDPOINTS or path == "/v1/models":
            self.close_connection = True
            self._send(
                404,
                codec.error_body(
                    f"no such endpoint: POST {path[:100]}; this gateway serves {', '.join(codec.ENDPOINTS)}",
                    "invalid_request_error",
                    "not_found",
                ),
            )
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        limit = self.gateway.config.max_request_bytes
        if length < 0 or length > limit:
            self.close_connection = True
            why = "a Content-Length is required" if length < 0 else f"the request is larger than {limit // 1024} KiB"
            status = 411 if length < 0 else 413
            self.gateway._log({"endpoint": path, "status": status, "error": why, "latency_ms": 0.0})
            self._send(
                status, codec.error_body(why, "invalid_request_error", "request_too_large" if length >= 0 else None)
            )
            return
        raw = self.rfile.read(length)
        status, body, headers, stream = self.gateway.handle(path, raw)
        if status != 200 or not stream:
            self._send(status, body, headers)
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        chunks = (
            codec.sse_chunks(body, stream == "include_usage")
            if path == "/v1/chat/completions"
            else codec.sse_text_chunks(body)
        )
        for chunk in chunks:
            self.wfile.write(chunk)
        self.wfile.flush()
