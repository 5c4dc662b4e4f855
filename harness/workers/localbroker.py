"""A throwaway broker on loopback, its data in a temp dir: ``make broker`` and the tests.

RabbitMQ from Debian's ``rabbitmq-server`` runs as its own node (``holdout-<port>@localhost``)
with its own Erlang cookie (``HOME`` is the temp dir), listening on ``127.0.0.1:<port>`` only,
so it collides neither with a system RabbitMQ nor with the tests' brokers. Redis likewise
(``redis-server``, no persistence). Not for production: see docs/distributed.md.

    python -m harness.workers.localbroker start [--kind rabbitmq|redis] [--port 5672]
    python -m harness.workers.localbroker stop [--port 5672]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError
from harness.safeio import rmtree

RABBITMQ_SERVER = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
CONSUMER_TIMEOUT_MS = 3_600_000
"""One hour: above every built-in assignment's grading limit (see ``grade worker --broker-timeout``)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _state_file(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"holdout-broker-{port}.json"


@dataclass
class LocalBroker:
    kind: str
    port: int
    root: Path
    pid: int | None = None
    dist_port: int | None = None

    @property
    def url(self) -> str:
        return (
            f"amqp://guest:guest@127.0.0.1:{self.port}//"
            if self.kind == "rabbitmq"
            else f"redis://127.0.0.1:{self.port}/0"
        )

    def start(self, *, timeout_s: float = 180) -> LocalBroker:
        if _listening(self.port):
            raise InfrastructureError(
                f"127.0.0.1:{self.port} is already in use",
                hint="Stop what listens there (`make broker-stop`) or pick another port.",
            )
        command, env = self._rabbitmq() if self.kind == "rabbitmq" else self._redis()
        log = open(self.root / "broker.log", "ab")
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid = proc.pid
        deadline = time.monotonic() + timeout_s
        while not _listening(self.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(remove=False)
                tail = (self.root / "broker.log").read_text(errors="replace")[-2000:]
                raise InfrastructureError(f"the {self.kind} broker did not start on 127.0.0.1:{self.port}:\n{tail}")
            time.sleep(0.25)
        return self

    def _rabbitmq(self) -> tuple[list[str], dict]:
        server = next((p for p in RABBITMQ_SERVER if os.path.exists(p)), None)
        if server is None:
            raise InfrastructureError("rabbitmq-server is not installed", hint="apt-get install rabbitmq-server")
        self.dist_port = self.dist_port or free_port()
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"consumer_timeout = {CONSUMER_TIMEOUT_MS}\n"
            "loopback_users.guest = true\n"
        )
        (self.root / "enabled_plugins").write_text("[].\n")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),  # its own Erlang cookie
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": f"holdout-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
        }
        return [server], env

    def _redis(self) -> tuple[list[str], dict]:
        server = shutil.which("redis-server")
        if server is None:
            raise InfrastructureError("redis-server is not installed", hint="apt-get install redis-server")
        return [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def stop(self, *, remove: bool = True, timeout_s: float = 60) -> None:
        """SIGTERM the broker's process group and wait; ``remove`` its data too."""
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout_s
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(self.pid):
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.pid = None
        if remove:
            rmtree(self.root)

    def save(self) -> Path:
        path = _state_file(self.port)
        path.write_text(json.dumps({"kind": self.kind, "port": self.port, "root": str(self.root), "pid": self.pid}))
        return path


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        if waited:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def new_broker(kind: str = "rabbitmq", port: int | None = None) -> LocalBroker:
    port = port or free_port()
    root = Path(tempfile.mkdtemp(prefix=f"holdout-{kind}-{port}-"))
    return LocalBroker(kind=kind, port=port, root=root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.workers.localbroker", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--kind", choices=["rabbitmq", "redis"], default="rabbitmq")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    port = args.port or (5672 if args.kind == "rabbitmq" else 6379)
    state = _state_file(port)
    if args.action == "stop":
        if not state.exists():
            print(f"no broker started by holdout on port {port}")
            return 0
        info = json.loads(state.read_text())
        LocalBroker(kind=info["kind"], port=info["port"], root=Path(info["root"]), pid=info["pid"]).stop()
        state.unlink()
        print(f"stopped the {info['kind']} broker on 127.0.0.1:{port} and removed {info['root']}")
        return 0
    broker = new_broker(args.kind, port)
    try:
        broker.start()
    except InfrastructureError as exc:
        rmtree(broker.root)
        print(f"error: {exc.describe()}", file=sys.stderr)
        return 4
    broker.save()
    print(f"{args.kind} on 127.0.0.1:{port} (data in {broker.root}); stop it with `make broker-stop`")
    print(f"  grade worker --broker {broker.url} --store STORE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
