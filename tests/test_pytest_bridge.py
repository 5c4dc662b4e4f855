"""The bridge between the hidden tests and the candidate's code, on the host (two real processes).

The codec both ways, the limits a hostile server meets, and a real server process of a small
submission answering a real client. In Docker, the same runs under two uids
(tests/test_pytest_grader_docker.py and the hostile catalogue).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graders.pytest_bridge import codec
from graders.pytest_bridge.client import Candidate, CandidateError
from graders.pytest_bridge.codec import (
    BridgeTimeout,
    Decoder,
    Encoder,
    PeerGone,
    ProtocolError,
)

GRADERS = Path(__file__).resolve().parents[1] / "graders"


def roundtrip(value):
    enc = Encoder()
    doc = enc.encode(value)
    return Decoder(enc.blobs).decode(json.loads(json.dumps(doc)))


# --- codec ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [None, True, 0, -(2**70), 1.5, "é", [1, [2, "x"]], (1, (2,)), {1: "a", "b": (2,)}, {1, 2}, b"\x00\xff"]
)
def test_plain_values_cross_unchanged(value):
    out = roundtrip(value)
    assert out == value and type(out) is type(value)


def test_non_finite_floats_cross():
    out = roundtrip([float("nan"), float("inf"), float("-inf")])
    assert np.isnan(out[0]) and out[1:] == [float("inf"), float("-inf")]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype="int32").reshape(2, 3),
        np.array([0.5, np.nan]),
        np.array(["ham", "spam"]),
        np.array([True, False]),
        np.asfortranarray(np.ones((2, 3))),
        np.array("2024-01-01", dtype="datetime64[D]"),
        np.zeros((0, 4)),
    ],
)
def test_arrays_cross_as_npy_without_pickle(array):
    out = roundtrip(array)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_object_arrays_scalars_and_pandas_cross_as_columns():
    out = roundtrip(np.array(["ham", None, 3], dtype=object))
    assert out.dtype == object and list(out) == ["ham", None, 3]
    assert roundtrip(np.float32(1.5)) == 1.5 and type(roundtrip(np.int64(3))) is np.int64
    frame = pd.DataFrame({"text": ["a", "b"], "n": [1, 2]}, index=[10, 11])
    pd.testing.assert_frame_equal(roundtrip(frame), frame, check_dtype=False)
    series = pd.Series([0.1, 0.2], name="p")
    pd.testing.assert_series_equal(roundtrip(series), series)


def test_what_is_not_data_is_refused_without_a_fallback():
    with pytest.raises(TypeError, match="cannot send"):
        Encoder().encode(object())
    assert Encoder(fallback=lambda v: {"$": "handle", "id": 1}).encode([object()]) == [{"$": "handle", "id": 1}]


def _npy_header(descr: str, shape: tuple) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


@pytest.mark.parametrize(
    "blob, why",
    [
        (_npy_header("|O", (2,)) + b"\x80\x04N.", "not allowed"),
        (_npy_header("<f8", (10**12,)) + b"\x00" * 8, "does not match"),
        (_npy_header("<f8", (2,)) + b"\x00" * 15, "does not match"),
        (b"\x93NUMPY\x09\x00", "bad array header|unsupported"),
        (b"not npy at all", "bad array header"),
    ],
)
def test_array_headers_are_checked_against_their_bytes(blob, why):
    with pytest.raises(ProtocolError, match=why):
        codec.load_npy(blob)


@pytest.mark.parametrize(
    "doc",
    [
        {"$": "nope"},
        {"$": "ndarray", "b": 5},
        {"$": "dict", "v": [[[1], 2]]},
        {"$": "float", "v": "1e999"},
        {"$": "objarray", "shape": [3], "v": [1]},
        {"$": "DataFrame", "columns": [1], "data": [], "index": None},
    ],
)
def test_malformed_values_are_protocol_errors(doc):
    with pytest.raises(ProtocolError):
        Decoder([]).decode(doc)


# --- frames and limits ----------------------------------------------------------------------


def pair():
    a, b = socket.socketpair()
    return a, b


def test_frames_round_trip_and_refuse_what_exceeds_the_limits():
    a, b = pair()
    codec.send_frame(a, {"x": 1}, [b"abc"])
    assert codec.recv_frame(b, deadline=time.monotonic() + 5) == ({"x": 1}, [b"abc"])
    with pytest.raises(ProtocolError, match="exceeds"):
        codec.send_frame(a, {"x": "y" * 100}, [], max_bytes=50)
    a.sendall(codec._HEAD.pack(codec.MAGIC, 2**31, 0))
    with pytest.raises(ProtocolError, match="over the limits"):
        codec.recv_frame(b, deadline=time.monotonic() + 5)


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"XXXX" + b"\x00" * 8, ProtocolError),  # not a frame
        (codec._HEAD.pack(codec.MAGIC, 5, 0) + b"{nope", ProtocolError),  # not JSON
        (codec._HEAD.pack(codec.MAGIC, 20_001, 0) + b"[" * 10_000 + b"]" * 10_001, ProtocolError),  # too deep
        (codec._HEAD.pack(codec.MAGIC, 0, 1) + codec._BLOB.pack(2**40), ProtocolError),  # a huge blob
        (codec._HEAD.pack(codec.MAGIC, 10, 0) + b"[1,", PeerGone),  # cut short
    ],
)
def test_hostile_frames_end_as_bridge_errors(payload, error):
    a, b = pair()
    a.sendall(payload)
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(error):
        codec.recv_frame(b, deadline=time.monotonic() + 5)


def test_a_silent_peer_ends_at_the_deadline():
    a, b = pair()
    a.sendall(codec._HEAD.pack(codec.MAGIC, 10, 0) + b"[1")
    started = time.monotonic()
    with pytest.raises(BridgeTimeout):
        codec.recv_frame(b, deadline=time.monotonic() + 0.3)
    assert time.monotonic() - started < 5


# --- a real server process ------------------------------------------------------------------

SUBMISSION = """
import os, time
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

STATE = {"pid": os.getpid()}

def build_model():
    return make_pipeline(CountVectorizer(), MultinomialNB())

def echo(*args, **kwargs):
    return args, kwargs

def fail():
    raise KeyError("missing")

def leave():
    raise SystemExit(3)

def die():
    os._exit(1)

def hang():
    time.sleep(60)

class Thing:
    pass
"""


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "submission"
    root.mkdir()
    (root / "predict.py").write_text(SUBMISSION)
    sock = tmp_path / "bridge" / "server.sock"
    code = f"import sys; sys.path[0] = {str(GRADERS)!r}; from pytest_bridge.server import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--socket", str(sock), "--root", str(root), "--preload", "numpy", "sklearn.base"],
        cwd=tmp_path,
    )
    yield str(sock)
    proc.kill()
    proc.wait()


def test_the_candidates_module_is_reached_as_data_and_handles(server):
    candidate = Candidate(server, call_timeout_s=30, peer_uid=os.getuid())
    predict = candidate.module("predict")
    model = predict.build_model()
    facts = candidate.facts(model)
    assert facts["type"] == "sklearn.pipeline.Pipeline" and facts["clone_ok"] and facts["fitted"] is False
    assert (
        model.fit(["win cash now", "see you at 7", "free prize", "ok mum"], ["spam", "ham", "spam", "ham"]) is not None
    )
    assert list(model.predict(["free cash prize"])) == ["spam"]
    assert candidate.facts(model)["fitted"] is True
    args, kwargs = predict.echo(np.arange(3), key=(1, "a"))
    assert list(args[0]) == [0, 1, 2] and kwargs == {"key": (1, "a")}
    assert getattr(predict, "nothing_here", None) is None and callable(predict.build_model)
    assert not callable(predict.STATE) and predict.STATE["pid"] != os.getpid()
    with pytest.raises(KeyError) as info:
        predict.fail()
    assert isinstance(info.value, CandidateError) and "missing" in str(info.value)
    with pytest.raises(CandidateError, match="SystemExit"):
        predict.leave()
    with pytest.raises(CandidateError, match="ModuleNotFoundError"):
        candidate.module("no_such_module")
    with pytest.raises(TypeError, match="cannot send"):
        predict.echo(object())


def test_a_session_that_dies_or_hangs_ends_and_the_next_one_is_fresh(server):
    candidate = Candidate(server, call_timeout_s=1.5)
    predict = candidate.module("predict")
    first_pid = predict.STATE["pid"]
    model = predict.build_model()
    with pytest.raises(PeerGone):
        predict.die()
    with pytest.raises(PeerGone, match="ended"):
        model.get_params()  # an object of the dead session
    # a module is imported again, in a fresh process, so a session-scoped fixture keeps working
    assert predict.STATE["pid"] != first_pid
    started = time.monotonic()
    with pytest.raises(BridgeTimeout):
        predict.hang()
    assert time.monotonic() - started < 10
    assert predict.echo(1) == ((1,), {})


def test_the_client_refuses_a_server_of_another_uid(server):
    with pytest.raises(ProtocolError, match="belongs to uid"):
        Candidate(server, peer_uid=os.getuid() + 1).module("predict")


# --- a hostile server -----------------------------------------------------------------------


def hostile_server(tmp_path, answer: bytes, *, then_sleep: float = 0.0) -> str:
    path = str(tmp_path / "hostile.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        codec.recv_frame(conn, deadline=None)
        conn.sendall(answer)
        time.sleep(then_sleep)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return path


@pytest.mark.parametrize(
    "answer, error",
    [
        (b"garbage!" * 4, ProtocolError),
        (codec._HEAD.pack(codec.MAGIC, 2, 0) + b"[]", ProtocolError),  # not a reply
        (codec._HEAD.pack(codec.MAGIC, 40, 0) + b'{"ok":{"$":1', PeerGone),  # cut short
        (codec._HEAD.pack(codec.MAGIC, 35, 0) + b'{"ok":{"$":"ndarray","b":0},"x":1} ', ProtocolError),
        (codec._HEAD.pack(codec.MAGIC, 25, 0) + b'{"ok":{"$":"ndarray","b":0}}', ProtocolError),
        (codec._HEAD.pack(codec.MAGIC, 20, 0) + b'{"error":"nonsense"}', CandidateError),
    ],
)
def test_a_hostile_server_ends_as_an_exception_of_the_test(tmp_path, answer, error):
    candidate = Candidate(hostile_server(tmp_path, answer, then_sleep=0.2), call_timeout_s=3)
    with pytest.raises(error):
        candidate.module("predict")


def test_a_hostile_server_that_stalls_mid_answer_is_stopped_at_the_deadline(tmp_path):
    candidate = Candidate(
        hostile_server(tmp_path, codec._HEAD.pack(codec.MAGIC, 100, 0) + b"{", then_sleep=30), call_timeout_s=0.5
    )
    started = time.monotonic()
    with pytest.raises(BridgeTimeout):
        candidate.module("predict")
    assert time.monotonic() - started < 5
