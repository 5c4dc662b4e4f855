"""The ``pytest`` grader's configuration: where the hidden tests are, limits, and points per group."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field, field_validator, model_validator

from graders.base import GraderConfig


class TestGroupSpec(GraderConfig):
    """Points for a group of hidden tests."""

    name: str
    tests: list[str] = Field(min_length=1)
    """fnmatch patterns over node ids (``test_contract.py::test_build_model*``); a pattern
    without ``::`` also matches the bare test name."""
    points: float = Field(gt=0)
    all_or_nothing: bool = False
    """Award the points only when every test of the group passes (default: pro rata)."""
    description: str = ""
    """What the group checks, in words a candidate may read (shown when it loses points)."""


class PytestConfig(GraderConfig):
    tests: str | None = "hidden_tests"
    """Folder of the assignment with the hidden tests; None runs only the candidate's tests."""
    timeout_s: float = Field(default=60, gt=0)
    """Wall-clock limit for the whole hidden-test run (enforced from outside the container)."""
    per_test_timeout_s: float = Field(default=10, gt=0)
    """Limit for one test (setup, call and teardown each) or one module's collection."""
    points_per_test: float = Field(default=1.0, ge=0)
    """Points of a test that is in no group (and the cost of a module that fails to load)."""
    groups: list[TestGroupSpec] = Field(default_factory=list)
    candidate_tests: bool = True
    """Also run the candidate's own tests (evidence for engineering habits, never points)."""
    candidate_timeout_s: float = Field(default=60, gt=0)
    results_read_mb: int = Field(default=8, ge=1)
    preload: list[str] = Field(default_factory=list)
    """Modules the server of the candidate's code imports before the first test (outside the
    per-test limits), without the submission on ``sys.path``: the heavy libraries the
    candidate's code is expected to import (``["pandas", "sklearn.pipeline"]``), so that importing
    it in a test is quick. Each session is a fork of that server and shares what it loaded."""
    bridge_max_mb: int = Field(default=64, ge=1)
    """Largest message across the bridge (either way)."""

    @field_validator("tests")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError("must be a folder inside the assignment (a relative path without '..')")
        return value

    @model_validator(mode="after")
    def _unique_groups(self) -> PytestConfig:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"group names must be unique: {names}")
        return self
