"""One exception tree, grouped by who must act.

- :class:`ConfigError` and subclasses: the user or the assignment author (exit code 2).
- :class:`SubmissionRejected`: the candidate's archive is unsafe or unreadable (exit code 3).
- :class:`InfrastructureError`: the machine (no Docker engine, image missing; exit code 4).
- :class:`GraderError`: a bug in holdout or a grader; the report is flagged ``needs_review``.

Every error carries a ``hint`` that says what to do next. Third-party exceptions (Docker SDK,
ragas, pydantic) are translated into these once, at the boundary.
"""

from __future__ import annotations


class HoldoutError(Exception):
    """Base class. ``str(err)`` is what happened; ``err.hint`` is what to do about it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """The message and the hint, for a terminal."""
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(HoldoutError):
    """Usage or configuration error: a bad option, an unknown assignment, a missing setting."""

    exit_code = 2


class SpecError(ConfigError):
    """An assignment spec (``assignment.toml``) is invalid; ``path`` names the TOML location."""

    def __init__(self, message: str, *, path: str = "", hint: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message, hint=hint)
        self.path = path


class DataError(ConfigError):
    """A raw data file is missing, cannot be downloaded, or fails its checksum."""


class SubmissionError(HoldoutError):
    """Something about the candidate's submission; becomes a result with feedback."""

    exit_code = 3


class SubmissionRejected(SubmissionError):
    """The archive is unsafe or unreadable; nothing from it is run.

    ``member`` names the offending archive member (if any) and ``reason`` is a short stable
    code such as ``"path_traversal"`` or ``"too_many_entries"``.
    """

    def __init__(self, message: str, *, reason: str, member: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint or "Fix the archive and submit it again.")
        self.reason = reason
        self.member = member


class InfrastructureError(HoldoutError):
    """The grading machine cannot do its job (Docker engine, image, disk)."""

    exit_code = 4


class SandboxUnavailable(InfrastructureError):
    """No Docker engine can be reached, or it refused a request the sandbox needs."""


class ImageMissing(InfrastructureError):
    """The sandbox image for the current harness version has not been built."""


class GraderError(HoldoutError):
    """A grader failed for a reason that is not the candidate's fault (a bug, or a judge outage).

    The pipeline isolates it per grader and marks the report ``needs_review``.
    """

    exit_code = 4
