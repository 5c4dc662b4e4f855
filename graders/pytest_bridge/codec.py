"""Frames and values on the bridge's socket. Both sides use it; neither trusts the other's bytes.

A frame is ``MAGIC, json length (u32), blob count (u32)``, the JSON document, then each blob as
``length (u64), bytes``. Values are plain JSON where JSON can say it exactly (``None``, bools,
ints, finite floats, strings, lists); everything else is a tagged object ``{"$": tag, ...}``:
tuples, dicts with any keys, sets, non-finite floats, bytes, numpy arrays and scalars (``.npy``
blobs, read with ``allow_pickle=False`` after the header is checked against the blob's size),
pandas ``Series``/``DataFrame``/``Index`` as columns, and handles to objects that stay on the
server. Reading stops at the size limits and the deadline; anything malformed is a
:class:`ProtocolError`, never a crash of the reader.
"""

from __future__ import annotations

import io
import json
import math
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

MAGIC = b"HBR1"
_HEAD = struct.Struct(">4sII")
_BLOB = struct.Struct(">Q")
MAX_JSON_BYTES = 16 * 2**20
MAX_BLOBS = 4096
DEFAULT_MAX_BYTES = 64 * 2**20
ARRAY_KINDS = frozenset("biufcUSmM")
MAX_NDIM = 32


class BridgeError(Exception):
    """The other side broke the protocol, went away, or took too long (base class)."""


class ProtocolError(BridgeError):
    """A frame or value that does not follow the protocol, or exceeds a limit."""


class BridgeTimeout(BridgeError):
    """No complete answer before the deadline."""


class PeerGone(BridgeError):
    """The other side closed the connection (it exited, crashed or was stopped)."""


# --- frames ---------------------------------------------------------------------------------


def send_frame(sock: socket.socket, doc: Any, blobs: list[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode("utf-8")
    total = len(data) + sum(len(b) for b in blobs)
    if len(data) > MAX_JSON_BYTES or len(blobs) > MAX_BLOBS or total > max_bytes:
        raise ProtocolError(f"message of {total:,} bytes ({len(blobs)} arrays) exceeds the bridge's limits")
    parts = [_HEAD.pack(MAGIC, len(data), len(blobs)), data]
    for blob in blobs:
        parts += [_BLOB.pack(len(blob)), blob]
    sock.sendall(b"".join(parts))


def recv_frame(
    sock: socket.socket, *, deadline: float | None, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[Any, list[bytes]]:
    """One frame, within ``max_bytes`` and before ``deadline`` (``time.monotonic()``; None: wait)."""
    magic, json_len, count = _HEAD.unpack(_recv_exact(sock, _HEAD.size, deadline))
    if magic != MAGIC:
        raise ProtocolError("not a bridge frame")
    if json_len > min(MAX_JSON_BYTES, max_bytes) or count > MAX_BLOBS:
        raise ProtocolError(f"frame header announces {json_len:,} bytes of JSON and {count} arrays: over the limits")
    raw = _recv_exact(sock, json_len, deadline)
    used = json_len
    blobs = []
    for _ in range(count):
        (size,) = _BLOB.unpack(_recv_exact(sock, _BLOB.size, deadline))
        used += size
        if used > max_bytes:
            raise ProtocolError(f"message larger than the bridge's limit of {max_bytes:,} bytes")
        blobs.append(_recv_exact(sock, size, deadline))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame is not valid JSON: {type(exc).__name__}") from None
    return doc, blobs


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BridgeTimeout("no answer before the deadline")
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(size - len(buf), 1 << 20))
        except TimeoutError:
            raise BridgeTimeout("no answer before the deadline") from None
        except OSError as exc:
            raise PeerGone(f"connection lost: {exc}") from None
        if not chunk:
            raise PeerGone("the other side closed the connection")
        buf += chunk
    return bytes(buf)


# --- values ---------------------------------------------------------------------------------


class Encoder:
    """Turns a value into JSON plus blobs; ``fallback`` handles what is not data (or raises)."""

    def __init__(self, fallback: Callable[[Any], dict] | None = None) -> None:
        self.blobs: list[bytes] = []
        self.fallback = fallback

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if type(value) is list:
            return [self.encode(v) for v in value]
        if type(value) is tuple:
            return {"$": "tuple", "v": [self.encode(v) for v in value]}
        if type(value) is dict:
            return {"$": "dict", "v": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if type(value) in (set, frozenset):
            return {"$": "set", "v": [self.encode(v) for v in value]}
        if type(value) in (bytes, bytearray):
            return {"$": "bytes", "b": self._blob(bytes(value))}
        tagged = self._numpy_or_pandas(value)
        if tagged is not None:
            return tagged
        if self.fallback is not None:
            return self.fallback(value)
        raise TypeError(
            f"cannot send a {type(value).__module__}.{type(value).__qualname__} across the bridge "
            "(data only: JSON types, tuples, dicts, sets, bytes, numpy arrays, pandas objects)"
        )

    def _blob(self, data: bytes) -> int:
        self.blobs.append(data)
        return len(self.blobs) - 1

    def _numpy_or_pandas(self, value: Any) -> dict | None:
        module = type(value).__module__.split(".")[0]
        if module == "numpy":
            import numpy as np

            if isinstance(value, np.ndarray):
                return self._array(value)
            if isinstance(value, np.generic):
                tagged = self._array(np.asarray(value))
                return {**tagged, "$": "npscalar"} if tagged["$"] == "ndarray" else {"$": "objscalar", "v": tagged}
        if module == "pandas":
            import pandas as pd

            if isinstance(value, pd.DataFrame):
                return {
                    "$": "DataFrame",
                    "columns": [self.encode(c) for c in value.columns],
                    "data": [self._array(value.iloc[:, i].to_numpy()) for i in range(value.shape[1])],
                    "index": self._array(value.index.to_numpy()),
                }
            if isinstance(value, pd.Series):
                return {
                    "$": "Series",
                    "name": self.encode(value.name),
                    "values": self._array(value.to_numpy()),
                    "index": self._array(value.index.to_numpy()),
                }
            if isinstance(value, pd.Index):
                return {"$": "Index", "values": self._array(value.to_numpy()), "name": self.encode(value.name)}
        return None

    def _array(self, array) -> dict:
        import numpy as np

        if array.dtype.kind in ARRAY_KINDS and array.dtype.fields is None and array.dtype.subdtype is None:
            buf = io.BytesIO()
            np.save(
                buf, array if array.flags.c_contiguous or array.flags.f_contiguous else array.copy(), allow_pickle=False
            )
            return {"$": "ndarray", "b": self._blob(buf.getvalue())}
        if array.dtype.kind == "O":
            return {"$": "objarray", "shape": list(array.shape), "v": [self.encode(v) for v in array.ravel().tolist()]}
        raise TypeError(f"cannot send a numpy array of dtype {array.dtype} across the bridge")


class Decoder:
    """The inverse of :class:`Encoder`; ``handle`` builds what a ``{"$": "handle"}`` stands for."""

    def __init__(self, blobs: list[bytes], handle: Callable[[dict], Any] | None = None) -> None:
        self.blobs = blobs
        self.handle = handle

    def decode(self, doc: Any) -> Any:
        try:
            return self._decode(doc)
        except RecursionError:
            raise ProtocolError("value nested too deeply") from None

    def _decode(self, doc: Any) -> Any:
        if doc is None or isinstance(doc, (bool, int, float, str)):
            return doc
        if isinstance(doc, list):
            return [self._decode(v) for v in doc]
        if not isinstance(doc, dict):
            raise ProtocolError("unexpected JSON value")
        tag = doc.get("$")
        if tag == "float":
            if doc.get("v") not in ("nan", "inf", "-inf"):
                raise ProtocolError("bad float")
            return float(doc["v"])
        if tag in ("tuple", "set", "dict"):
            items = doc.get("v")
            if not isinstance(items, list):
                raise ProtocolError(f"bad {tag}")
            if tag == "tuple":
                return tuple(self._decode(v) for v in items)
            try:
                if tag == "set":
                    return {self._decode(v) for v in items}
                if not all(isinstance(p, list) and len(p) == 2 for p in items):
                    raise ProtocolError("bad dict")
                return {self._decode(k): self._decode(v) for k, v in items}
            except TypeError:
                raise ProtocolError(f"unhashable key in a {tag}") from None
        if tag == "bytes":
            return self._take_blob(doc)
        if tag == "ndarray":
            return self._array(doc)
        if tag == "npscalar":
            return self._array(doc)[()]
        if tag == "objscalar":
            return self._decode(doc.get("v"))[()]
        if tag == "objarray":
            return self._objarray(doc)
        if tag in ("Series", "DataFrame", "Index"):
            return self._pandas(tag, doc)
        if tag == "handle" and self.handle is not None:
            return self.handle(doc)
        raise ProtocolError(f"unknown value tag {str(tag)[:40]!r}")

    def _take_blob(self, doc: dict) -> bytes:
        index = doc.get("b")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.blobs):
            raise ProtocolError("bad blob reference")
        return self.blobs[index]

    def _array(self, doc: dict):
        return load_npy(self._take_blob(doc))

    def _objarray(self, doc: dict):
        import numpy as np

        shape, items = doc.get("shape"), doc.get("v")
        if not (
            isinstance(shape, list)
            and len(shape) <= MAX_NDIM
            and all(isinstance(n, int) and n >= 0 for n in shape)
            and isinstance(items, list)
            and math.prod(shape) == len(items)
        ):
            raise ProtocolError("bad object array")
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = self._decode(item)
        return out.reshape(shape)

    def _pandas(self, tag: str, doc: dict):
        import pandas as pd

        if tag == "Index":
            return pd.Index(self._column(doc.get("values")), name=self._decode(doc.get("name")))
        index = self._column(doc.get("index"))
        if tag == "Series":
            values = self._column(doc.get("values"))
            if len(values) != len(index):
                raise ProtocolError("Series with mismatched index")
            return pd.Series(values, index=index, name=self._decode(doc.get("name")))
        columns, data = doc.get("columns"), doc.get("data")
        if not (isinstance(columns, list) and isinstance(data, list) and len(columns) == len(data)):
            raise ProtocolError("bad DataFrame")
        cols = [self._column(d) for d in data]
        if any(len(c) != len(index) for c in cols):
            raise ProtocolError("DataFrame with columns of different lengths")
        frame = pd.DataFrame({i: c for i, c in enumerate(cols)}, index=index)
        frame.columns = [self._decode(c) for c in columns]
        return frame

    def _column(self, doc: Any):
        if not isinstance(doc, dict) or doc.get("$") not in ("ndarray", "objarray"):
            raise ProtocolError("bad column")
        column = self._decode(doc)
        if column.ndim != 1:
            raise ProtocolError("a column must be one-dimensional")
        return column


def load_npy(data: bytes):
    """A numpy array from ``.npy`` bytes: no pickle, no object or structured dtype, and a
    header whose shape and dtype account for exactly the bytes that follow."""
    import numpy as np
    from numpy.lib import format as npy

    buf = io.BytesIO(data)
    try:
        version = npy.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(buf)
        else:
            raise ProtocolError(f"unsupported .npy version {version}")
    except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
        raise ProtocolError(f"bad array header: {str(exc)[:100]}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise ProtocolError(f"array dtype {dtype} is not allowed")
    if len(shape) > MAX_NDIM:
        raise ProtocolError("array has too many dimensions")
    count = math.prod(shape)
    body = data[buf.tell() :]
    if count * dtype.itemsize != len(body):
        raise ProtocolError("array header does not match its data")
    array = np.frombuffer(body, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
    return array.copy()
