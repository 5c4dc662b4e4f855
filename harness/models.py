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


class ReportStatus(StrEnum):
    """Where a report stands (``report.json``'s ``status``)."""

    GRADED = "graded"
    NEEDS_REVIEW = "needs_review"
    """The harness failed (a grader error, an infrastructure problem): not the candidate's result."""
    REJECTED = "rejected"
    """The submission was refused before it ran (intake, manifest)."""
    AWAITING_PANEL = "awaiting_panel"
    """Graded by the harness; the panel's reviews are not all in yet."""


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
    TIMEOUT = "timeout"
    """Stopped at the per-grader wall-clock limit: the candidate's result (its measurements are
    missing and score the lowest level), not a harness failure."""


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


class PanelCriterion(BaseModel):
    """One panel (human) criterion: each reviewer's level and comment, their median and spread."""

    id: str
    title: str
    weight: float = 0.0
    levels: dict[str, int] = Field(default_factory=dict)
    """Reviewer -> level 1..5."""
    comments: dict[str, str] = Field(default_factory=dict)
    median: float | None = None
    spread: int | None = None
    """Highest minus lowest level; 2 or more is a disagreement to talk about."""
    disagreement: bool = False


class PanelBlock(BaseModel):
    """The reviewers' half of the scorecard (written by ``grade review``; see ``harness.panel``).

    ``automated_score`` is the harness's part, ``panel_score`` the reviewers' (both 0–100);
    ``final_score`` combines them by the rubric's weights once every panel criterion has
    ``required_reviewers`` levels.
    """

    status: Literal["awaiting_panel", "complete"] = "awaiting_panel"
    required_reviewers: int = 2
    target_hours: float = 48.0
    reviewers: list[str] = Field(default_factory=list)
    recommendations: dict[str, str] = Field(default_factory=dict)
    reviewed_at: dict[str, str] = Field(default_factory=dict)
    criteria: list[PanelCriterion] = Field(default_factory=list)
    automated_weight: float = 0.0
    panel_weight: float = 0.0
    automated_score: float | None = None
    panel_score: float | None = None
    final_score: float | None = None
    decided_at: str | None = None
    notes: list[str] = Field(default_factory=list)


class GradeReport(BaseModel):
    """The canonical report (``report.json``). Markdown, HTML, JUnit render from it."""

    schema_version: str = SCHEMA_VERSION
    status: ReportStatus
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
    panel: PanelBlock | None = None
    """The reviewers' levels and the final score; absent until the report joins a panel."""
    gateway: dict[str, Any] | None = None
    """The model gateway's account of the candidate's calls (sandbox/gateway/usage.py): totals,
    budget, habits and the calls, written by the host; None when the assignment has no gateway."""
