"""Hostile canary: tries the network (TCP to 1.1.1.1:80 and a DNS lookup), reports what happened,
and then writes all-ham predictions so that the run completes. In the sandbox both attempts must
fail (the container has no network)."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def try_tcp(host: str = "1.1.1.1", port: int = 80, timeout: float = 3.0) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return f"tcp {host}:{port}: CONNECTED (the network is reachable)"
    except OSError as exc:
        return f"tcp {host}:{port}: unreachable ({type(exc).__name__}: {exc})"


def try_dns(name: str = "example.com") -> str:
    try:
        addresses = sorted({info[4][0] for info in socket.getaddrinfo(name, 80)})
        return f"dns {name}: RESOLVED to {', '.join(addresses)} (the network is reachable)"
    except OSError as exc:
        return f"dns {name}: failed ({type(exc).__name__}: {exc})"


def main() -> None:
    print(try_tcp(), flush=True)
    print(try_dns(), flush=True)
    with open(DATA_DIR / "test.csv", encoding="utf-8", newline="") as fh:
        ids = [row["id"] for row in csv.DictReader(fh)]
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT_DIR / "predictions.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "label"])
        writer.writerows([i, "ham"] for i in ids)


if __name__ == "__main__":
    main()
