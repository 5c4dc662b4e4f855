"""Broken canary: never finishes. The sandbox must stop it at the time limit (verdict timeout)."""

from __future__ import annotations

import time


def main() -> None:
    print("thinking...", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
