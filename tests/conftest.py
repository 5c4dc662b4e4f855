"""Shared fixtures. Docker tests use the real engine and the current sandbox image; without
them they skip, unless ``REQUIRE_DOCKER=1`` (CI), where a missing engine or image fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _require(env: str) -> bool:
    return os.environ.get(env, "") in ("1", "true", "yes")


def _unavailable(reason: str, env: str = "REQUIRE_DOCKER"):
    if _require(env):
        pytest.fail(f"{reason} ({env}=1, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    from harness.errors import SandboxUnavailable
    from sandbox.engine import connect

    try:
        return connect()
    except SandboxUnavailable as exc:
        _unavailable(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def sandbox_image(docker_client) -> str:
    from sandbox.image import find_image, runtime_tag

    tag = os.environ.get("GRADE_IMAGE") or runtime_tag()
    if find_image(docker_client, tag) is None:
        _unavailable(f"sandbox image {tag} is not built: run `grade sandbox build` (make test does)")
    return tag


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real raw datasets (GRADE_DATA_DIR, or ../shared/data beside the repo)."""
    env = os.environ.get("GRADE_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for path in candidates:
        if (path / "sms_spam" / "SMSSpamCollection").is_file():
            return path
    _unavailable("the raw datasets are not available (set GRADE_DATA_DIR)", env="REQUIRE_DATA")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One prepared-data cache for the whole session (preparing is deterministic)."""
    return tmp_path_factory.mktemp("holdout-cache")


@pytest.fixture
def no_containers_left(docker_client):
    """Asserts the test left no holdout container behind."""

    def _ours():
        return {
            c.id
            for c in docker_client.containers.list(
                all=True, sparse=True, filters={"label": f"io.holdout.pid={os.getpid()}"}
            )
        }

    before = _ours()
    yield
    assert _ours() - before == set(), "a sandbox container was left behind"
