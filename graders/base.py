"""The grader contract: a ``PLUGIN_NAME``, a typed ``Config``, and ``grade(ctx)``.

Graders run on the host, in phase B. They may read hidden data (``ctx.hidden_dir``); they
must read candidate outputs as data only (see :func:`graders.outputs.open_output`), never
import or execute anything the candidate wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from harness.models import GraderResult, SandboxRun
from harness.spec import AssignmentSpec


class GraderConfig(BaseModel):
    """Base for a grader's ``Config``; unknown keys are errors, as everywhere in a spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SandboxCall(Protocol):
    """Run another command in a fresh sandbox container (same image, same protections).

    The submission is mounted read-only at ``/submission`` and the public inputs at ``/data``;
    ``extra_mounts`` are ``(host_dir, container_path)`` pairs, mounted read-only. Returns the
    run and the host directory that was mounted writable at ``/output``; with ``trusted``, the
    command is the in-container entry of a two-uid run and the directory returned is the
    runner's trusted folder (``/holdout/trusted``), which the candidate's uid cannot write.
    """

    def __call__(
        self,
        command: list[str],
        *,
        extra_mounts: tuple[tuple[Path, str], ...] = (),
        timeout_s: float | None = None,
        name: str = "extra",
        trusted: bool = False,
    ) -> tuple[SandboxRun, Path]: ...


@dataclass
class GradeContext:
    """Everything a grader may look at for one submission."""

    spec: AssignmentSpec
    assignment_dir: Path
    submission_dir: Path
    """The unpacked submission (read as data)."""
    inputs_dir: Path
    """What the sandbox saw at ``/data``."""
    hidden_dir: Path
    """Labels and references: host only."""
    output_dir: Path
    """What the candidate wrote to ``/output`` (untrusted)."""
    logs_dir: Path
    """What the in-container runner wrote (untrusted)."""
    sandbox: SandboxRun | None = None
    output_read_bytes: int = 64 * 1024 * 1024
    seed: int = 0
    run_in_sandbox: SandboxCall | None = None
    """For graders that must run code (an author's hidden tests): never run it on the host."""
    extras: dict[str, Any] = field(default_factory=dict)


class Grader:
    """Subclass this; set ``PLUGIN_NAME`` and (optionally) a nested ``Config``."""

    PLUGIN_NAME: ClassVar[str] = ""
    Config: ClassVar[type[GraderConfig]] = GraderConfig
    DESCRIPTION: ClassVar[str] = ""

    def __init__(self, config: GraderConfig | None = None, *, name: str | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.name = name or self.PLUGIN_NAME

    def outputs(self) -> list[str]:
        """Files this grader reads from ``/output``; none present means verdict ``no_output``."""
        return []

    def warm_up(self) -> None:
        """Import the slow-to-import modules :meth:`grade` needs (scikit-learn, pandas, ragas).

        The pipeline calls this in a background thread while the candidate's code runs in the
        sandbox, so the import overlaps the run instead of adding to the grading time. Import
        only: no reading of outputs, no state :meth:`grade` relies on. Errors are ignored here;
        :meth:`grade` meets them again and they are reported there.
        """

    def independent_of_run(self) -> bool:
        """True when :meth:`grade` reads nothing the candidate's run produced (``ctx.output_dir``,
        ``ctx.logs_dir``, ``ctx.sandbox``): only the submission and the assignment. The pipeline
        may then start it while the candidate's run is still going (its sandbox calls each in
        their own container, with their own limits), and collect its result afterwards."""
        return False

    def hidden_paths(self, assignment_dir: Path) -> list[Path]:
        """Files or folders of the assignment this grader keeps from candidates (hidden tests,
        references): ``grade kit`` never ships them and scans the kit for their content."""
        return []

    def output_limits(self, output_read_bytes: int) -> list[tuple[str, str]]:
        """Every limit on what this grader reads from ``/output``, as ``(what, phrase)``: the
        candidate README must state each phrase (``grade check`` says which are missing).
        ``output_read_bytes`` is the assignment's ``sandbox.output_read_mb`` in bytes."""
        return []

    def problems(self, assignment_dir: Path) -> list[str]:
        """What is wrong with the assignment for this grader (``grade check``); empty when fine."""
        return []

    def grade(self, ctx: GradeContext) -> GraderResult:  # pragma: no cover - interface
        raise NotImplementedError
