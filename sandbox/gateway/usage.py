"""From a gateway's call log to what the report says: totals, the budget, habits, the calls.

The log is written by the host process (never by the container), but it holds text the
candidate chose, so it is read with a size cap and every field is checked and cut.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

MAX_LOG_BYTES = 64 * 2**20
MAX_CALLS_SHOWN = 200
SHOWN_TEXT_CHARS = 2_000
RETRY_LOOP_MIN = 5
"""This many identical requests read as a retry loop."""
BIG_PROMPT_FACTOR = 10
BIG_PROMPT_MIN_TOKENS = 4_000


def read_log(path: Path) -> list[dict]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_LOG_BYTES)
    except OSError:
        return []
    calls = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            calls.append(entry)
    return calls


def _int(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def habits(calls: list[dict]) -> list[dict[str, str]]:
    """Signals for the reviewer (never points): very large prompts, retry loops."""
    found = []
    chats = [
        c for c in calls if c.get("endpoint") in ("/v1/chat/completions", "/v1/completions") and c.get("status") == 200
    ]
    sizes = [_int(c.get("prompt_tokens")) for c in chats]
    if sizes:
        median = statistics.median(sizes)
        big = [s for s in sizes if s >= BIG_PROMPT_MIN_TOKENS and s > BIG_PROMPT_FACTOR * max(median, 1)]
        if median >= BIG_PROMPT_MIN_TOKENS * 2:
            found.append(
                {
                    "code": "gateway_large_prompts",
                    "text": f"Sends very large prompts: a median of {int(median):,} "
                    f"prompt tokens per call over {len(sizes)} calls — likely the whole corpus per question instead of "
                    "the retrieved passages.",
                }
            )
        elif big:
            found.append(
                {
                    "code": "gateway_large_prompts",
                    "text": f"{len(big)} of {len(sizes)} calls sent far more than the "
                    f"median prompt ({int(median):,} tokens), up to {max(big):,} tokens — likely the whole corpus at once.",
                }
            )
    repeats = Counter(c.get("request_sha256") for c in calls if c.get("request_sha256"))
    loops = [n for n in repeats.values() if n >= RETRY_LOOP_MIN]
    if loops:
        found.append(
            {
                "code": "gateway_retry_loop",
                "text": f"Retries in a loop: {sum(loops)} calls were identical repeats "
                f"of {len(loops)} request(s) (up to {max(loops)} times the same request).",
            }
        )
    refused = sum(1 for c in calls if c.get("status") == 429)
    if refused >= RETRY_LOOP_MIN:
        found.append(
            {
                "code": "gateway_ignored_quota",
                "text": f"Kept calling after the budget was used up: {refused} calls refused.",
            }
        )
    return found


def _shown(entry: dict) -> dict:
    def cut(text) -> str:
        text = str(text)
        return text if len(text) <= SHOWN_TEXT_CHARS else text[:SHOWN_TEXT_CHARS] + " [...]"

    request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    messages = request.get("messages") if isinstance(request.get("messages"), list) else []
    return {
        "seq": _int(entry.get("seq")),
        "endpoint": str(entry.get("endpoint", ""))[:40],
        "model": str(entry.get("model", ""))[:80],
        "status": _int(entry.get("status")),
        "stream": bool(entry.get("stream")),
        "prompt_tokens": _int(entry.get("prompt_tokens")),
        "completion_tokens": _int(entry.get("completion_tokens")),
        "latency_ms": float(entry.get("latency_ms") or 0.0),
        "error": cut(entry["error"]) if entry.get("error") else None,
        "messages": [
            {"role": str(m.get("role", ""))[:20], "content": cut(m.get("content", ""))}
            for m in messages[:20]
            if isinstance(m, dict)
        ],
        "prompt": cut(request.get("prompt") or request.get("first") or ""),
        "answer": cut(response.get("text", ""))
        if "text" in response
        else (
            f"{_int(response.get('vectors'))} vectors of dimension {_int(response.get('dim'))}"
            if "vectors" in response
            else ""
        ),
    }


def summarize(calls: list[dict], budget: dict, config: dict, failures: list[str]) -> dict:
    """The report's ``gateway`` section."""
    ok = [c for c in calls if c.get("status") == 200]
    prompt = sum(_int(c.get("prompt_tokens")) for c in ok)
    completion = sum(_int(c.get("completion_tokens")) for c in ok)
    cost = round(sum(float(c.get("cost_usd") or 0.0) for c in ok), 6)
    return {
        **config,
        "calls": len(calls),
        "errors": len(calls) - len(ok),
        "refused_over_budget": sum(1 for c in calls if c.get("status") == 429),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": cost,
        "by_endpoint": dict(Counter(str(c.get("endpoint", "")) for c in calls)),
        "budget": budget,
        "budget_exhausted": budget.get("exhausted"),
        "habits": habits(calls),
        "failures": [str(f)[:500] for f in failures[:20]],
        "calls_shown": [_shown(c) for c in calls[:MAX_CALLS_SHOWN]],
        "calls_omitted": max(0, len(calls) - MAX_CALLS_SHOWN),
    }
