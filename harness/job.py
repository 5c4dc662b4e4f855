"""What one grading starts from and what its steps hand each other, as frozen values.

:class:`Job` is fixed when the grading starts (the caller's options, the engine, the job's own
folder); :class:`Staged` is everything a sandbox run of the submission needs once it is
provisioned; :class:`RunOutcome` is what the candidate's run left. The steps that make them are
in :mod:`harness.pipeline` and :mod:`harness.provision`; :class:`Grading` records how far a
grading got, which is what the report is built from (:mod:`harness.reports.assembly`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import workcopy
from harness.data import PreparedPaths
from harness.errors import SubmissionRejected
from harness.intake import UnpackedSubmission
from harness.models import GraderResult, Message, SandboxRun
from harness.settings import Settings
from harness.spec import Assignment
from sandbox.layout import LAYOUT
from sandbox.runner import RunRequest

if TYPE_CHECKING:
    from harness.grading import EarlyGrades

Runner = Callable[[RunRequest], SandboxRun]


@dataclass(frozen=True)
class GradeOptions:
    """How to grade, as the caller chose; the assignment is named by ``grade(..., assignment=)``
    (or by the submission's ``submission.toml``), nowhere else."""

    image: str | None = None
    image_python: str | None = None
    """The image's Python, full version (``3.12.4``): the candidate's requirements are resolved for
    it. :func:`harness.api.grade` sets it with ``image``; None: the layout's (sandbox/layout.py)."""
    timeout_s: float | None = None
    """Override the assignment's wall-clock limit (``grade check`` uses it for slow canaries)."""
    artifacts_dir: Path | None = None
    """Where to keep the executed notebook and the full logs for the reviewer."""
    container_slots: threading.Semaphore | None = None
    """A batch's containers (``-j``): the checks that do not depend on the run start beside
    it only when a slot is free. None (one ``grade``): they always do."""


@dataclass(frozen=True)
class Job:
    """One grading's fixed inputs."""

    source: Path
    settings: Settings
    options: GradeOptions
    job_dir: Path
    """Private to this grading (0700), removed with everything in it when the grading ends."""
    runner: Runner
    assignment: Assignment | None = None
    """Named by the caller; None: the submission's ``submission.toml`` names it."""


@dataclass(frozen=True)
class EntryPoint:
    kind: str  # "script" | "notebook"
    path: str
    """Relative to the submission root (``predict.py``, ``src/run.py``, ``notebooks/a.ipynb``)."""

    def command(self, assignment: Assignment) -> list[str]:
        """Run from the working copy (:func:`workdir`): a script by its path from the copy's
        root, a notebook read from the pristine ``/submission`` (its kernel's cwd is the copy)."""
        if self.kind == "notebook":
            timeout = assignment.spec.entry.cell_timeout_s
            return [*LAYOUT.entry, "notebook", f"/submission/{self.path}", "--cell-timeout", f"{timeout:g}"]
        return [*LAYOUT.entry, "script", self.path]

    @property
    def workdir(self) -> str:
        return workcopy.workdir(self.path, self.kind)


@dataclass(frozen=True)
class Staged:
    """A submission ready to run: unpacked, its assignment's graders loaded, data prepared,
    resources and dependencies provided, its entry point found (None: nothing to run)."""

    job: Job
    assignment: Assignment
    unpacked: UnpackedSubmission
    prepared: PreparedPaths
    graders: tuple
    entry: EntryPoint | None = None
    resources_dir: Path | None = None
    """Host folder with the assignment's declared data resources (mounted at /resources)."""
    deps_prefix: Path | None = None
    """Host folder with the candidate's installed dependencies (mounted read-only at /deps)."""


@dataclass(frozen=True)
class RunOutcome:
    """The candidate's run and the host folders it wrote."""

    run: SandboxRun
    output_dir: Path
    logs_dir: Path
    trusted_dir: Path
    """The in-container runner's record (runner.json, the executed notebook): the only trusted one."""
    early: EarlyGrades | None = None
    """The graders started alongside the run (they do not depend on it), collected with the others."""
    gateway: dict | None = None
    """Model gateway (issue 14): the summary of the candidate's model calls, for the report."""
    messages: tuple[Message, ...] = ()
    """What the run's model gateway said (budget, habits, a direct call, a failure of its own)."""


@dataclass
class Grading:
    """How far one grading got, and what it said on the way: the report is built from this.

    Filled in order by :func:`harness.pipeline.execute`; a field still None is a step the
    grading never reached (a rejected archive stops after intake)."""

    job: Job
    messages: list[Message] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    rejected: SubmissionRejected | None = None
    assignment: Assignment | None = None
    unpacked: UnpackedSubmission | None = None
    staged: Staged | None = None
    outcome: RunOutcome | None = None
    results: list[GraderResult] = field(default_factory=list)

    @property
    def entry(self) -> EntryPoint | None:
        return self.staged.entry if self.staged else None

    @property
    def run(self) -> SandboxRun | None:
        return self.outcome.run if self.outcome else None
