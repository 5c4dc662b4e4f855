"""The ``candidate`` fixture: registered by the pytest driver when it serves the hidden tests."""

from __future__ import annotations

import pytest

from .client import Candidate, from_environment


@pytest.fixture(scope="session")
def candidate() -> Candidate:
    """The candidate's code, in its own process: ``candidate.module("predict")``."""
    session = from_environment()
    yield session
    session.close()
