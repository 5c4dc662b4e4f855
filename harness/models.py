"""Observed things: what a run, a grader and a report record. Plain data, serialisable.

Declared things (``*Spec``) live in :mod:`harness.spec`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


class Verdict(StrEnum):
    """How the candidate's run ended, as far as the sandbox can tell."""

    OK = "ok"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"
    NO_OUTPUT = "no_output"
    INVALID_OUTPUT = "invalid_output"
    NOT_RUN = "not_run"


class Visibility(StrEnum):
    """Who may see a piece of text: the candidate, or only the reviewer (tracebacks, hidden ids)."""

    CANDIDATE = "candidate"
    REVIEWER = "reviewer"


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Message(BaseModel):
    """One piece of feedback. ``code`` is stable (``missing_ids``); ``text`` is for people."""

    model_config = ConfigDict(frozen=True)

    code: str
    text: str
    level: Level = Level.ERROR
    source: str = ""
    visibility: Visibility = Visibility.CANDIDATE


class StreamCapture(BaseModel):
    """Head and tail of a captured stream; the middle is dropped when it is larger than the cap."""

    text: str = ""
    total_bytes: int = 0
    truncated: bool = False


class SandboxRun(BaseModel):
    """The result of running one command in a fresh container."""

    verdict: Verdict
    exit_code: int | None = None
    duration_s: float = 0.0
    timeout_s: float | None = None
    oom_killed: bool = False
    stdout: StreamCapture = Field(default_factory=StreamCapture)
    stderr: StreamCapture = Field(default_factory=StreamCapture)
    peak_memory_mb: float | None = None
    peak_memory_source: str | None = None
    image: str = ""
    image_id: str = ""
    command: list[str] = Field(default_factory=list)
    runner: dict[str, Any] = Field(default_factory=dict)
    """What the in-container runner reported (written by untrusted code: treat as hints)."""


class GraderStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"


class GraderResult(BaseModel):
    """What one grader measured. ``measurements`` feed the rubric; ``messages`` are feedback."""

    grader: str
    status: GraderStatus = GraderStatus.OK
    measurements: dict[str, float | None] = Field(default_factory=dict)
    messages: list[Message] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None
    """For ``status == error``: what went wrong inside the grader (reviewer-only)."""


class CriterionScore(BaseModel):
    """One rubric row: a level 1–5 and points, or ``level=None`` for a human criterion."""

    id: str
    title: str
    kind: Literal["automated", "human"] = "automated"
    level: int | None = None
    score: float | None = None
    max_score: float = 0.0
    weight: float = 0.0
    evidence: list[str] = Field(default_factory=list)
    guide: dict[str, str] = Field(default_factory=dict)
    passed: bool | None = None
    pass_level: int | None = None
    """The level an automated criterion needs to pass (JUnit failures, report colours)."""


class AssignmentRef(BaseModel):
    id: str
    title: str = ""
    version: str = ""


class SubmissionRef(BaseModel):
    name: str
    sha256: str
    kind: Literal["zip", "tar", "directory"] = "zip"
    files: int = 0
    bytes: int = 0
    entry_point: str | None = None


class GradeReport(BaseModel):
    """The canonical report (``report.json``). Markdown, HTML, JUnit render from it."""

    schema_version: str = SCHEMA_VERSION
    status: Literal["graded", "needs_review", "rejected"]
    score: float | None = None
    max_score: float = 100.0
    assignment: AssignmentRef
    submission: SubmissionRef
    sandbox: SandboxRun | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = Field(default_factory=dict)
    criteria: list[CriterionScore] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    graders: list[GraderResult] = Field(default_factory=list)
    provenance: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    gateway: dict[str, Any] | None = None
    """The model gateway's account of the candidate's calls (sandbox/gateway/usage.py): totals,
    budget, habits and the calls, written by the host; None when the assignment has no gateway."""
