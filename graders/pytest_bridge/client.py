"""The hidden tests' side of the bridge: the candidate's code, reached as data.

    predict = candidate.module("predict")        # imported in the candidate's own process
    model = predict.build_model()                # a handle: the estimator stays over there
    model.fit(texts, labels)                     # lists, numpy arrays, pandas objects cross as data
    labels = model.predict(["free prize!"])      # comes back as a numpy array
    candidate.facts(model)["clone_ok"]           # type checks are answered over there, as facts

Nothing of the candidate's runs in this process: answers are decoded within size limits, every
call has a deadline, and whatever the other side does (garbage, silence, a huge reply, hanging
up) ends as an exception of this module in the test that made the call, never as a crash or a
hang of pytest. The candidate's own exceptions arrive as :class:`CandidateError` (also an
``AttributeError``/``ImportError``/... where the remote one was, so ``getattr(mod, "x", None)``
works as usual).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Any

from .codec import (
    DEFAULT_MAX_BYTES,
    BridgeError,
    Decoder,
    Encoder,
    PeerGone,
    ProtocolError,
    recv_frame,
    send_frame,
)

__all__ = ["BridgeError", "Candidate", "CandidateError", "RemoteModule", "RemoteObject"]


class CandidateError(Exception):
    """The candidate's code raised: ``type_name``, ``message`` and the remote ``traceback``."""

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message, self.remote_traceback = type_name, message, remote_traceback


_AS_BUILTIN = {
    "builtins.AttributeError": AttributeError,
    "builtins.ImportError": ImportError,
    "builtins.TypeError": TypeError,
    "builtins.ValueError": ValueError,
    "builtins.KeyError": KeyError,
    "builtins.NotImplementedError": NotImplementedError,
}
_error_classes: dict[type, type] = {}


def _candidate_error(info: Any) -> CandidateError:
    if not isinstance(info, dict):
        return CandidateError("unknown", "the candidate's side answered with a malformed error")
    mro = [m for m in info.get("mro") or [] if isinstance(m, str)] if isinstance(info.get("mro"), list) else []
    base = next((_AS_BUILTIN[m] for m in mro if m in _AS_BUILTIN), None)
    cls = CandidateError
    if base is not None:
        cls = _error_classes.setdefault(base, type(f"Candidate{base.__name__}", (CandidateError, base), {}))
    return cls(str(info.get("type"))[:200], str(info.get("message"))[:2000], str(info.get("traceback"))[-8000:])


class RemoteObject:
    """An object that lives in the candidate's process; attribute reads and calls go there."""

    __slots__ = ("_generation", "_id", "_session", "_type")

    def __init__(self, session: Candidate, generation: int, hid: int, type_name: str) -> None:
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_generation", generation)
        object.__setattr__(self, "_id", hid)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        self._refresh()
        return self._session._request({"op": "getattr", "target": self._ref(), "name": name}, self._generation)

    def _refresh(self) -> None:
        """Objects are bound to their session: one of an ended session is gone (see RemoteModule)."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("objects of the candidate's code are read-only from the tests")

    def _ref(self) -> dict:
        return {"$": "handle", "id": self._id}

    def __repr__(self) -> str:
        return f"<candidate {self._type} #{self._id}>"


class RemoteModule(RemoteObject):
    """A module of the candidate's code. Unlike other objects it outlives its session: used
    after the session ended (a call ran past the test's limit, the process died), it is
    imported again in a fresh process, so a session-scoped fixture holding it keeps working."""

    __slots__ = ("_name",)

    def _refresh(self) -> None:
        session = self._session
        if session._sock is not None and self._generation == session._generation:
            return
        fresh = session.module(self._name)
        object.__setattr__(self, "_generation", fresh._generation)
        object.__setattr__(self, "_id", fresh._id)


class RemoteCallable(RemoteObject):
    """A callable object of the candidate's code (a function, class, bound method...)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._refresh()
        return self._session._request(
            {"op": "call", "target": self._ref(), "args": list(args), "kwargs": dict(kwargs)}, self._generation
        )


class Candidate:
    """A connection to the server of the candidate's code; reconnects (a fresh process) on demand.

    ``call_timeout_s`` bounds each call; ``max_bytes`` each message.
    """

    def __init__(
        self,
        socket_path: str,
        *,
        call_timeout_s: float = 30.0,
        connect_timeout_s: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        peer_uid: int | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.call_timeout_s = call_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_bytes = max_bytes
        self.peer_uid = peer_uid
        self._sock: socket.socket | None = None
        self._generation = 0

    # --- the API for test authors -------------------------------------------------------

    def module(self, name: str) -> RemoteObject:
        """Import ``name`` from the submission in the candidate's process (once per session)."""
        if self._sock is None:
            self._connect()
        found = self._request({"op": "import", "module": name}, self._generation)
        if not isinstance(found, RemoteObject):
            raise ProtocolError("an import must answer with a handle")
        module = RemoteModule(self, found._generation, found._id, found._type)
        object.__setattr__(module, "_name", name)
        return module

    def facts(self, obj: RemoteObject) -> dict:
        """What the candidate's side says about ``obj``: ``type``, ``mro``, ``callable``,
        ``has_fit``/``has_predict``/..., ``sklearn_estimator``, ``clone_ok`` (scikit-learn's
        ``clone`` accepts it), ``clone_error``, ``fitted`` (True/False/None)."""
        obj._refresh()
        answer = self._request({"op": "facts", "target": obj}, obj._generation)
        if not isinstance(answer, dict):
            raise ProtocolError("facts must be a mapping")
        return answer

    def value(self, obj: RemoteObject) -> Any:
        """``obj`` itself, as data (a handle again when it is not data)."""
        obj._refresh()
        return self._request({"op": "value", "target": obj}, obj._generation)

    def restart(self) -> None:
        """Start over in a fresh process of the candidate's code (new imports, new objects)."""
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # --- the wire -----------------------------------------------------------------------

    def _connect(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.socket_path)
            except OSError as exc:
                sock.close()
                last = exc
                time.sleep(0.02)
                continue
            self._check_peer(sock)
            self._sock = sock
            self._generation += 1
            return
        raise PeerGone(f"the server of the candidate's code is not answering at {self.socket_path}: {last}")

    def _check_peer(self, sock: socket.socket) -> None:
        if self.peer_uid is None:
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != self.peer_uid:
            sock.close()
            raise ProtocolError(f"the bridge socket belongs to uid {uid}, not the candidate's uid {self.peer_uid}")

    def _request(self, request: dict, generation: int) -> Any:
        if self._sock is None or generation != self._generation:
            raise PeerGone("this object belongs to a session of the candidate's code that has ended")
        sock = self._sock
        encoder = Encoder(fallback=self._reference)
        doc = {k: encoder.encode(v) if k in ("args", "kwargs") else v for k, v in request.items()}
        if isinstance(doc.get("target"), RemoteObject):
            doc["target"] = self._reference(doc["target"])
        try:
            send_frame(sock, doc, encoder.blobs, max_bytes=self.max_bytes)
            reply, blobs = recv_frame(sock, deadline=time.monotonic() + self.call_timeout_s, max_bytes=self.max_bytes)
        except BaseException:
            self.close()  # mid-message: this session cannot be trusted to be in step any more
            raise
        if not isinstance(reply, dict) or len(reply) != 1 or not ({"ok", "error"} & reply.keys()):
            self.close()
            raise ProtocolError("malformed answer from the candidate's side")
        if "error" in reply:
            raise _candidate_error(reply["error"])
        try:
            return Decoder(blobs, handle=lambda h: self._handle(h, generation)).decode(reply["ok"])
        except (ProtocolError, ValueError, TypeError, MemoryError) as exc:
            raise ProtocolError(f"undecodable answer from the candidate's side: {exc}") from None

    def _reference(self, value: Any) -> dict:
        if isinstance(value, RemoteObject):
            if value._session is not self or value._generation != self._generation:
                raise PeerGone("this object belongs to a session of the candidate's code that has ended")
            return value._ref()
        raise TypeError(f"cannot send a {type(value).__module__}.{type(value).__qualname__} to the candidate's code")

    def _handle(self, doc: dict, generation: int) -> RemoteObject:
        hid = doc.get("id")
        if not isinstance(hid, int) or isinstance(hid, bool):
            raise ProtocolError("bad handle")
        cls = RemoteCallable if doc.get("callable") is True else RemoteObject
        return cls(self, generation, hid, str(doc.get("type"))[:200])


def from_environment() -> Candidate:
    """The :class:`Candidate` the driver set up (``HOLDOUT_BRIDGE_*`` variables)."""
    peer = os.environ.get("HOLDOUT_BRIDGE_PEER_UID")
    return Candidate(
        os.environ["HOLDOUT_BRIDGE_SOCKET"],
        call_timeout_s=float(os.environ.get("HOLDOUT_BRIDGE_CALL_TIMEOUT", "30")),
        max_bytes=int(os.environ.get("HOLDOUT_BRIDGE_MAX_BYTES", str(DEFAULT_MAX_BYTES))),
        peer_uid=int(peer) if peer else None,
    )
