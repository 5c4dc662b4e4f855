"""Connecting to the Docker engine, and translating Docker SDK errors into holdout's once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import ImageMissing, InfrastructureError, SandboxUnavailable

_NO_ENGINE_HINT = (
    "Start the Docker daemon (e.g. `systemctl start docker`), or point DOCKER_HOST at a running "
    "engine, and check you may use it (`docker info`). Then run `grade doctor`."
)


def connect():
    """A client for the local engine (``DOCKER_HOST`` etc. honoured); the API version is negotiated."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise SandboxUnavailable(f"cannot reach the Docker engine: {_short(exc)}", hint=_NO_ENGINE_HINT) from None
    except Exception as exc:  # requests/urllib3 errors surface raw from ping()
        raise SandboxUnavailable(f"cannot reach the Docker engine: {_short(exc)}", hint=_NO_ENGINE_HINT) from None
    return client


@contextmanager
def docker_errors(action: str) -> Iterator[None]:
    """Translate anything the Docker SDK raises while doing ``action``."""
    from docker.errors import APIError, DockerException, ImageNotFound, NotFound
    from requests.exceptions import RequestException

    try:
        yield
    except ImageNotFound as exc:
        raise ImageMissing(
            f"{action}: image not found ({_short(exc)})",
            hint="Build the sandbox image with `grade sandbox build`.",
        ) from None
    except NotFound as exc:
        raise InfrastructureError(f"{action}: {_short(exc)}", hint="Run `grade doctor` to check the engine.") from None
    except APIError as exc:
        raise InfrastructureError(
            f"{action}: the Docker engine refused: {_short(exc)}",
            hint="Run `grade doctor`; it shows which protection or limit this engine does not support.",
        ) from None
    except (DockerException, RequestException, ConnectionError) as exc:
        raise SandboxUnavailable(f"{action}: lost the Docker engine: {_short(exc)}", hint=_NO_ENGINE_HINT) from None


def _short(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text[:400]
