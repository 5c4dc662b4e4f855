"""The candidate's side of the bridge: imports the submission and answers calls as data.

Runs as the candidate uid (the entry starts it held, before dropping itself to the runner
uid), so everything here is as untrusted as the candidate's code: the tests' side checks every
answer. A parent process preloads the libraries (numpy, pandas, scikit-learn: what the hidden
tests' own imports used to warm) without the submission on ``sys.path``, listens on a Unix
socket, and forks one session per connection: each session is a fresh process that imports
the candidate's modules on request. A session whose client hangs up (its call ran past the
test's limit) ends itself.

    python -c "...; from pytest_bridge.server import main; main()" --socket /tmp/holdout-bridge/s.sock \
        --root /submission --preload numpy pandas sklearn.base
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import socket
import sys
import threading
import traceback
from types import ModuleType
from typing import Any

from .codec import (
    DEFAULT_MAX_BYTES,
    BridgeError,
    Decoder,
    Encoder,
    recv_frame,
    send_frame,
)

MAX_HANDLES = 100_000
TRACEBACK_CHARS = 8000


def _qualname(cls: type) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', getattr(cls, '__name__', '?'))}"


class Session:
    """One connection: a table of handles, and the operations the client may ask for."""

    def __init__(self, conn: socket.socket, max_bytes: int) -> None:
        self.conn = conn
        self.max_bytes = max_bytes
        self.handles: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle id, so one object is one handle
        self.busy = threading.Event()

    # --- handles ------------------------------------------------------------------------

    def handle_of(self, obj: Any) -> dict:
        hid = self.ids.get(id(obj))
        if hid is None or self.handles.get(hid) is not obj:
            if len(self.handles) >= MAX_HANDLES:
                raise RuntimeError("too many objects held for the tests")
            hid = len(self.handles) + 1
            self.handles[hid] = obj
            self.ids[id(obj)] = hid
        return {"$": "handle", "id": hid, "type": _qualname(type(obj)), "callable": callable(obj)}

    def _resolve(self, doc: dict) -> Any:
        hid = doc.get("id")
        if hid not in self.handles:
            raise BridgeError(f"unknown handle {hid!r}")
        return self.handles[hid]

    def encode(self, value: Any) -> tuple[Any, list[bytes]]:
        """Data when the value is data through and through; a handle otherwise."""
        encoder = Encoder(fallback=self.handle_of)
        try:
            return encoder.encode(value), encoder.blobs
        except (TypeError, ValueError, RecursionError):
            return self.handle_of(value), []

    # --- operations ---------------------------------------------------------------------

    def run(self, request: Any, blobs: list[bytes]) -> Any:
        if not isinstance(request, dict):
            raise BridgeError("a request must be an object")
        op = request.get("op")
        decode = Decoder(blobs, handle=self._resolve).decode
        if op == "import":
            name = request.get("module")
            if not isinstance(name, str) or not name:
                raise BridgeError("import needs a module name")
            return importlib.import_module(name)
        target = self._resolve(request.get("target") or {})
        if op == "getattr":
            return getattr(target, str(request.get("name")))
        if op == "call":
            args = decode(request.get("args", []))
            kwargs = decode(request.get("kwargs", {"$": "dict", "v": []}))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise BridgeError("bad call arguments")
            return target(*args, **{str(k): v for k, v in kwargs.items()})
        if op == "value":
            return target
        if op == "facts":
            return facts(target)
        raise BridgeError(f"unknown operation {str(op)[:40]!r}")

    def serve(self) -> None:
        threading.Thread(target=self._watch_client, daemon=True).start()
        while True:
            try:
                request, blobs = recv_frame(self.conn, deadline=None, max_bytes=self.max_bytes)
            except BridgeError:
                return
            self.busy.set()
            try:
                value = self.run(request, blobs)
                doc, out = self.encode(value)
                reply, reply_blobs = {"ok": doc}, out
            except BaseException as exc:
                reply, reply_blobs = {"error": describe(exc)}, []
            finally:
                self.busy.clear()
            try:
                send_frame(self.conn, reply, reply_blobs, max_bytes=self.max_bytes)
            except BridgeError as exc:
                send_frame(self.conn, {"error": describe(exc)}, [], max_bytes=self.max_bytes)
            except OSError:
                return

    def _watch_client(self) -> None:
        """While the candidate's code runs, a readable socket means the client hung up: end."""
        while True:
            self.busy.wait()
            ready, _, _ = select.select([self.conn], [], [], 0.2)
            if ready and self.busy.is_set():
                try:
                    if self.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                        os._exit(0)
                except BlockingIOError:
                    continue
                except OSError:
                    os._exit(0)


def describe(exc: BaseException) -> dict:
    return {
        "type": _qualname(type(exc)),
        "mro": [_qualname(c) for c in type(exc).__mro__][:20],
        "message": str(exc)[:2000],
        "traceback": "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:],
    }


def facts(obj: Any) -> dict:
    """What the tests may ask about an object, answered here (where it lives) as data."""
    found: dict[str, Any] = {
        "type": _qualname(type(obj)),
        "mro": [_qualname(c) for c in type(obj).__mro__][:50],
        "callable": callable(obj),
        "module": isinstance(obj, ModuleType),
    }
    for name in ("fit", "predict", "predict_proba", "decision_function", "transform", "get_params", "set_params"):
        found[f"has_{name}"] = callable(getattr(obj, name, None))
    found["sklearn_estimator"] = found["has_fit"] and found["has_get_params"]
    try:
        from sklearn.base import clone

        clone(obj)
        found["clone_ok"], found["clone_error"] = True, ""
    except Exception as exc:
        found["clone_ok"], found["clone_error"] = False, f"{type(exc).__name__}: {exc}"[:500]
    try:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
        found["fitted"] = True
    except NotFittedError:
        found["fitted"] = False
    except Exception:
        found["fitted"] = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdout-bridge-server")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--root", default="/submission", help="the candidate's folder (first on sys.path in a session)")
    parser.add_argument("--preload", nargs="*", default=[])
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    args = parser.parse_args(argv)
    for name in args.preload:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    folder = os.path.dirname(args.socket)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    tmp = f"{args.socket}.{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(tmp)
    os.chmod(tmp, 0o666)  # the runner uid connects to it
    listener.listen(16)
    os.replace(tmp, args.socket)  # appears whole: the client waits for the name
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # sessions are reaped by the kernel
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sys.path.insert(0, args.root)
            os.chdir(args.root)
            Session(conn, args.max_bytes).serve()
            os._exit(0)
        conn.close()
