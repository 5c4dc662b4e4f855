"""The model gateway's added latency per call: the offline backend called in-process vs the
same call through the whole path a sandboxed submission uses (openai SDK → 127.0.0.1 forwarder
→ Unix socket → gateway server → backend → call log), with the same request.

    python bench/gateway_latency.py [--calls 300] [--rounds 5]

Interleaves the two in every round (so machine load hits both alike) and prints the median
per-call time of each and the difference, for a chat completion and a 16-text embeddings
request. Runs on the host (the forwarder is the same code the sandbox runs); no Docker.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sandbox.gateway import forwarder
from sandbox.gateway.backends import OfflineBackend
from sandbox.gateway.config import GatewayConfig
from sandbox.gateway.job import JobGateway

CONTEXT = " ".join(f"Sentence {i} says that item {i} is made of material {i * 7}." for i in range(40))
CHAT = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": f"Context:\n{CONTEXT}\n\nQuestion: What is item 17 made of?"},
    ],
}
EMBED = {"model": "text-embedding-3-small", "input": [f"passage {i}: " + CONTEXT[:300] for i in range(16)]}
ENDPOINTS = {"chat": ("/v1/chat/completions", CHAT), "embeddings": ("/v1/embeddings", EMBED)}


def per_call_direct(backend: OfflineBackend, path: str, body: dict, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        backend(path, body, body["model"])
    return (time.perf_counter() - started) / calls


def per_call_gateway(client, name: str, body: dict, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        if name == "chat":
            client.chat.completions.create(**body)
        else:
            client.embeddings.create(**body)
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import openai

    root = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    config = GatewayConfig(models={"gpt-4o-mini": "m", "text-embedding-3-small": "e"})
    gateway = JobGateway(config, root, root / "recordings").start()
    port = forwarder.start(gateway.server.address, 0)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="holdout-sandbox", max_retries=0)
    backend = OfflineBackend(config.embedding_dim)
    times: dict[str, dict[str, list[float]]] = {n: {"direct": [], "gateway": []} for n in ENDPOINTS}
    for name, (path, body) in ENDPOINTS.items():  # warm up both paths (imports, connection pool)
        per_call_direct(backend, path, body, 5)
        per_call_gateway(client, name, body, 5)
    for _ in range(args.rounds):
        for name, (path, body) in ENDPOINTS.items():
            times[name]["direct"].append(per_call_direct(backend, path, body, args.calls))
            times[name]["gateway"].append(per_call_gateway(client, name, body, args.calls))
    gateway.finish()
    print(f"{args.rounds} rounds x {args.calls} calls; median per call (min-max over rounds)")
    for name, t in times.items():
        d, g = statistics.median(t["direct"]) * 1e3, statistics.median(t["gateway"]) * 1e3
        print(
            f"{name:<11} direct {d:7.3f} ms ({min(t['direct']) * 1e3:.3f}-{max(t['direct']) * 1e3:.3f})   "
            f"through the gateway {g:7.3f} ms ({min(t['gateway']) * 1e3:.3f}-{max(t['gateway']) * 1e3:.3f})   "
            f"added {g - d:6.3f} ms per call"
        )


if __name__ == "__main__":
    main()
