"""A submission that tries to reach a model without the gateway (a hard-coded provider URL, a
client that ignores ``OPENAI_BASE_URL``) fails with a connection error inside the sandbox. Say
so in plain words, naming the host it called, instead of a generic network message.

Read from the run's captured stderr/stdout (the openai SDK's ``APIConnectionError``, httpx /
httpcore / requests connection errors) and, to name the host, the URLs in that text or in the
submission's source files (read as data, bounded).
"""

from __future__ import annotations

import re
from pathlib import Path

_CLIENT_ERRORS = (
    "APIConnectionError",
    "APITimeoutError",
    "httpx.ConnectError",
    "httpcore.ConnectError",
    "ConnectError",
    "requests.exceptions.ConnectionError",
    "urllib3.exceptions.NameResolutionError",
    "urllib.error.URLError",
    "NewConnectionError",
    "MaxRetryError",
)
_NETWORK = (
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No address associated with hostname",
    "nodename nor servname",
    "Failed to resolve",
)
_HOST_IN_TEXT = re.compile(r"host='([^']+)'|https?://([A-Za-z0-9.-]+)")
_HOST_IN_CODE = re.compile(r"""["'](?:https?://)([A-Za-z0-9.-]+\.[A-Za-z]{2,})[:/"']""")
_LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::1")
_MODEL_HOST_HINTS = (
    "openai",
    "anthropic",
    "azure",
    "cohere",
    "mistral",
    "groq",
    "together",
    "huggingface",
    "googleapis",
    "perplexity",
    "deepseek",
    "fireworks",
    "voyageai",
    "jina",
)
MAX_SOURCE_BYTES = 512 * 1024


def _hosts(text: str) -> list[str]:
    return [a or b for a, b in _HOST_IN_TEXT.findall(text) if (a or b) not in _LOOPBACK]


def direct_call_host(output: str, submission_dir: Path | None) -> str | None:
    """The host a failed model call went to directly, ``"a model provider"`` when it cannot be
    named, or None when the output shows no such failure."""
    if not any(sig in output for sig in _CLIENT_ERRORS) or not any(sig in output for sig in _NETWORK):
        return None
    for host in _hosts(output):
        if not host.endswith((".py", ".ipynb")):
            return host
    for host in _source_hosts(submission_dir):
        if any(hint in host for hint in _MODEL_HOST_HINTS):
            return host
    return "a model provider"


def _source_hosts(root: Path | None) -> list[str]:
    if root is None:
        return []
    from harness.safeio import UntrustedDataError, read_bounded, walk

    found: list[str] = []
    try:
        entries = list(walk(root, max_entries=2000, max_depth=8))
    except (OSError, UntrustedDataError):
        return []
    for entry in entries:
        if not entry.relpath.endswith((".py", ".ipynb")):
            continue
        try:
            data = read_bounded(root / entry.relpath, MAX_SOURCE_BYTES, truncate=True)
        except (OSError, UntrustedDataError):
            continue
        found.extend(h for h in _HOST_IN_CODE.findall(data.decode("utf-8", "replace")) if h not in _LOOPBACK)
    return found


def message_text(host: str) -> str:
    return (
        f"This assignment provides a model at OPENAI_BASE_URL; your code called {host} directly, which cannot work: "
        "the sandbox has no network. Create the client without a base URL or key (`OpenAI()` reads OPENAI_BASE_URL "
        "and OPENAI_API_KEY from the environment), or pass base_url=os.environ['OPENAI_BASE_URL']."
    )
