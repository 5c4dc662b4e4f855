"""The model gateway: a metered, logged OpenAI-compatible endpoint for sandboxed code.

Host side (:mod:`.server`, holds the key) and the in-container forwarder (:mod:`.forwarder`,
``127.0.0.1:<port>`` → the bind-mounted Unix socket). The sandbox keeps no network.

What a run with a gateway gets (:func:`container_env`): the socket folder mounted read-only at
:data:`MOUNT`, ``OPENAI_BASE_URL``/``OPENAI_API_BASE`` pointing at the forwarder and a dummy
``OPENAI_API_KEY``. This module stays import-light: the runner imports it.
"""

from __future__ import annotations

from pathlib import Path

MOUNT = "/holdout-gateway"
PORT = 8765
SOCKET_NAME = "gateway.sock"
DUMMY_KEY = "holdout-sandbox"
FORWARDER = Path(__file__).with_name("forwarder.py")


def container_env() -> dict[str, str]:
    base = f"http://127.0.0.1:{PORT}/v1"
    return {
        "OPENAI_BASE_URL": base,
        "OPENAI_API_BASE": base,  # llama-index and older LangChain read only this one
        "OPENAI_API_KEY": DUMMY_KEY,
        "HOLDOUT_GATEWAY_SOCKET": f"{MOUNT}/{SOCKET_NAME}",
        "HOLDOUT_GATEWAY_PORT": str(PORT),
    }
