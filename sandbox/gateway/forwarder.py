"""The in-container half of the model gateway: listens on ``127.0.0.1:<port>`` and relays each
connection, byte for byte, to the gateway's Unix socket bind-mounted from the host.

Standard library only: it runs inside the sandbox with the image's Python, started by the
in-container runner before the candidate's code (``start``), or as a script::

    python forwarder.py /holdout-gateway/gateway.sock 8765

The sandbox keeps ``network_mode="none"``: loopback is all there is, and the socket is the
only way out. When the host side does not answer, the caller gets an HTTP 502 that says so.
"""

from __future__ import annotations

import json
import socket
import sys
import threading

MAX_CONNECTIONS = 48
CHUNK = 65536
_UNAVAILABLE = json.dumps(
    {
        "error": {
            "message": "holdout: the model gateway on the grading host is not answering (this is not your code's fault)",
            "type": "gateway_unavailable",
            "param": None,
            "code": "gateway_unavailable",
        }
    }
).encode()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _linger(client: socket.socket) -> None:
    """Close after the caller has read the reply: closing with its unread request still in the
    buffer would send a reset that can overtake the reply."""
    try:
        client.shutdown(socket.SHUT_WR)
        client.settimeout(5)
        while client.recv(CHUNK):
            pass
    except OSError:
        pass


def _relay(client: socket.socket, socket_path: str, slots: threading.BoundedSemaphore) -> None:
    try:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(socket_path)
        except OSError:
            upstream.close()
            client.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(_UNAVAILABLE)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + _UNAVAILABLE
            )
            _linger(client)
            return
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        upstream.close()
    except OSError:
        pass
    finally:
        client.close()
        slots.release()


def _serve(listener: socket.socket, socket_path: str) -> None:
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        slots.acquire()
        try:  # no Nagle delay on small writes (headers, then body)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        threading.Thread(target=_relay, args=(client, socket_path, slots), daemon=True).start()


def start(socket_path: str, port: int) -> int:
    """Listen on 127.0.0.1:``port`` (0: any free port) and relay in a daemon thread; returns
    the port once listening."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, socket_path), name="holdout-forwarder", daemon=True).start()
    return listener.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: forwarder.py SOCKET_PATH PORT", file=sys.stderr)
        return 2
    port = start(args[0], int(args[1]))
    print(f"forwarding 127.0.0.1:{port} -> {args[0]}", file=sys.stderr, flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
