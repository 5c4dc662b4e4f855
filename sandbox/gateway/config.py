"""The gateway's run-time configuration: the assignment's ``[gateway]`` table
(:class:`harness.spec.GatewaySpec`) with the operator's overrides from the host environment,
and the upstream key read from the variable or file the configuration names.

The key is kept out of ``repr`` and never written anywhere; only :mod:`sandbox.gateway.backends`
uses it, in this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.spec import GatewaySpec
from sandbox.gateway.budget import Price

BACKENDS = ("offline", "openai-compatible", "replay")
ENV_BACKEND = "GRADE_GATEWAY_BACKEND"
ENV_BASE_URL = "GRADE_GATEWAY_BASE_URL"
ENV_DISABLE = "GRADE_GATEWAY"
"""``GRADE_GATEWAY=off`` runs an assignment that declares a gateway without one."""


@dataclass(frozen=True)
class GatewayConfig:
    backend: str = "offline"
    models: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None
    api_key: str = field(default="", repr=False)
    max_tokens: int = 0
    max_requests: int = 0
    max_cost_usd: float = 0.0
    prices: dict[str, Price] = field(default_factory=dict)
    max_request_bytes: int = 1024 * 1024
    max_completion_tokens: int = 1024
    concurrency: int = 4
    timeout_s: float = 60.0
    embedding_dim: int = 384
    judge_model: str | None = None

    def public(self) -> dict:
        """What the report may say about the configuration (no key, no upstream URL)."""
        return {
            "backend": self.backend,
            "models": sorted(self.models),
            "max_tokens": self.max_tokens,
            "max_requests": self.max_requests,
            "max_cost_usd": self.max_cost_usd,
        }


def resolve_config(spec: GatewaySpec | None, environ: dict[str, str] | None = None) -> GatewayConfig | None:
    """The configuration for one grading, or None when the assignment has no gateway (or the
    operator turned it off). Raises :class:`ConfigError` for an unusable one."""
    env = os.environ if environ is None else environ
    if spec is None or not spec.enabled or env.get(ENV_DISABLE, "").lower() in ("0", "off", "no", "false"):
        return None
    backend = env.get(ENV_BACKEND, "").strip() or spec.backend
    if backend not in BACKENDS:
        raise ConfigError(
            f"{ENV_BACKEND}={backend!r} is not a gateway backend", hint=f"Use one of: {', '.join(BACKENDS)}."
        )
    base_url = env.get(ENV_BASE_URL, "").strip() or spec.base_url
    key = ""
    if backend == "openai-compatible":
        if not base_url:
            raise ConfigError(
                "the openai-compatible gateway backend needs a base URL",
                hint=f"Set [gateway] base_url in assignment.toml or {ENV_BASE_URL} on the grading host.",
            )
        key = _read_key(spec, env)
    return GatewayConfig(
        backend=backend,
        models=dict(spec.models),
        base_url=base_url,
        api_key=key,
        max_tokens=spec.max_tokens,
        max_requests=spec.max_requests,
        max_cost_usd=spec.max_cost_usd,
        prices={m: Price(p.prompt, p.completion) for m, p in spec.prices.items()},
        max_request_bytes=spec.max_request_kb * 1024,
        max_completion_tokens=spec.max_completion_tokens,
        concurrency=spec.concurrency,
        timeout_s=spec.timeout_s,
        embedding_dim=spec.embedding_dim,
        judge_model=spec.judge_model,
    )


def _read_key(spec: GatewaySpec, env) -> str:
    key = env.get(spec.api_key_env, "").strip()
    if not key and spec.api_key_file:
        path = Path(spec.api_key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the gateway key file named in [gateway] api_key_file: {exc.strerror}",
                hint="Fix the path, or set the key in the environment variable instead.",
            ) from None
    return key  # a local server (vLLM, Ollama) may need none
