"""Grading one submission: an explicit, ordered list of small steps over a :class:`Job`.

    unpack → assignment → graders loaded → data → resources → entry point → dependencies
           → sandbox run → outputs checked → graders

Each step can be called alone in a test with a hand-built job. Candidate mistakes become
messages and verdicts; only our own failures raise. The resources and dependencies steps live
in :mod:`harness.provision`; turning a finished job into a report, in
:mod:`harness.reports.assembly`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import grading, provision, safeio, workcopy
from harness.assignments import find_assignment
from harness.data import PreparedPaths, prepare_assignment
from harness.errors import ConfigError, SubmissionRejected
from harness.intake import IntakeLimits, UnpackedSubmission, unpack_submission
from harness.manifest import MANIFEST, EntryProblem, declared_entry, read_manifest
from harness.models import (
    GraderResult,
    Message,
    SandboxRun,
    Verdict,
)
from harness.settings import Settings
from harness.spec import Assignment
from sandbox.layout import LAYOUT
from sandbox.runner import Mount, RunRequest, make_job_dirs, open_regular

Runner = Callable[[RunRequest], SandboxRun]


@dataclass(frozen=True)
class GradeOptions:
    assignment: str | Path | None = None
    image: str | None = None
    timeout_s: float | None = None
    """Override the assignment's wall-clock limit (``grade check`` uses it for slow canaries)."""
    artifacts_dir: Path | None = None
    """Where to keep the executed notebook and the full logs for the reviewer."""
    container_slots: threading.Semaphore | None = None
    """A batch's containers (``-j``): the checks that do not depend on the run start beside
    it only when a slot is free. None (one ``grade``): they always do."""


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


@dataclass
class Job:
    source: Path
    settings: Settings
    options: GradeOptions
    job_dir: Path
    runner: Runner
    assignment: Assignment | None = None
    unpacked: UnpackedSubmission | None = None
    prepared: PreparedPaths | None = None
    entry: EntryPoint | None = None
    run: SandboxRun | None = None
    resources_dir: Path | None = None
    """Host folder with the assignment's declared data resources (mounted at /resources)."""
    deps_prefix: Path | None = None
    """Host folder with the candidate's installed dependencies (mounted read-only at /deps)."""
    output_dir: Path | None = None
    logs_dir: Path | None = None
    trusted_dir: Path | None = None
    """The in-container runner's record (runner.json, the executed notebook): the only trusted one."""
    graders: list = field(default_factory=list)
    results: list[GraderResult] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rejected: SubmissionRejected | None = None
    provenance: dict = field(default_factory=dict)
    gateway: dict | None = None
    """Model gateway (issue 14): the summary of the candidate's model calls, for the report."""
    early: grading.EarlyGrades | None = None
    """The graders started alongside the run (they do not depend on it), collected by run_graders."""


# --- steps ----------------------------------------------------------------------------------


def unpack(job: Job) -> None:
    """Safe intake, with the assignment's limits when it is already known (``--assignment``)."""
    limits = IntakeLimits.from_mapping(job.assignment.spec.intake.overrides()) if job.assignment else IntakeLimits()
    try:
        job.unpacked = unpack_submission(job.source, job.job_dir / "submission", limits)
    except SubmissionRejected as exc:
        job.rejected = exc
        job.messages.append(Message(code=f"rejected_{exc.reason}", text=str(exc), source="intake"))


def resolve_assignment(job: Job) -> None:
    if job.assignment is not None:
        return
    ref = job.options.assignment
    from_manifest = ref is None
    if from_manifest and job.unpacked is not None:
        ref = read_manifest(job.unpacked.root).get("assignment")
    if not ref or not isinstance(ref, (str, Path)):
        raise ConfigError(
            "cannot tell which assignment this submission is for",
            hint=f'Pass --assignment ID, or add {MANIFEST} with `assignment = "ID"` to the submission root '
            "(`grade list assignments` shows the ids).",
        )
    job.assignment = find_assignment(ref, job.settings, allow_path=not from_manifest)
    if from_manifest and job.assignment.spec.intake.overrides() and job.rejected is None:
        # Unpacked with the default limits to read the manifest: now apply the assignment's own.
        safeio.rmtree(job.job_dir / "submission")
        job.unpacked = None
        unpack(job)


def load_graders(job: Job) -> None:
    """Instantiate every grader now, so a bad grader config fails before anything runs."""
    from graders.registry import default_registry

    assert job.assignment is not None
    registry = default_registry(job.assignment.root)
    job.graders = [registry.instantiate(g, i) for i, g in enumerate(job.assignment.spec.graders)]


def prepare_data(job: Job) -> None:
    assert job.assignment is not None
    job.prepared = prepare_assignment(job.assignment, job.settings)


def find_entry_point(job: Job) -> None:
    """The entry ``submission.toml`` names (checked: a candidate's mistake there is a message
    and no run), else the assignment's default script, else its default notebook."""
    assert job.assignment is not None and job.unpacked is not None
    entry = job.assignment.spec.entry
    root = job.unpacked.root
    try:
        declared = declared_entry(root, entry)
    except EntryProblem as exc:
        job.messages.append(Message(code="entry_invalid", text=str(exc), source="pipeline"))
        return
    if declared is not None:
        job.entry = EntryPoint(*declared)
        return
    for kind, name in (("script", entry.script), ("notebook", entry.notebook)):
        if name and (root / name).is_file() and not (root / name).is_symlink():
            job.entry = EntryPoint(kind, name)
            return
    expected = " or ".join(n for n in (entry.script, entry.notebook) if n)
    present = sorted(p.name for p in root.iterdir())[:10]
    job.messages.append(
        Message(
            code="no_entry_point",
            text=f"No entry point: expected {expected} at the submission root; found {', '.join(present) or 'nothing'}. "
            f'To run another file, name it in {MANIFEST} (entry = "src/run.py").',
            source="pipeline",
        )
    )


def sandbox_request(
    job: Job, command: list[str], dirs, extra_mounts=(), timeout_s: float | None = None, *, trusted: bool = False
) -> RunRequest:
    """A run of ``command`` with the submission and public inputs mounted read-only; with
    ``trusted``, a two-uid run of the in-container entry with the runner's trusted folder."""
    assert job.assignment is not None and job.prepared is not None and job.unpacked is not None
    limits = job.assignment.spec.sandbox
    timeout = timeout_s if timeout_s is not None else job.options.timeout_s
    if timeout is not None:
        limits = limits.model_copy(update={"timeout_s": timeout})
    return RunRequest(
        image=job.options.image or "",
        command=command,
        limits=limits,
        mounts=(
            Mount(job.unpacked.root, "/submission"),
            Mount(job.prepared.inputs, "/data"),
            *(Mount(Path(src), target, *rest) for src, target, *rest in extra_mounts),
            *provision.mounts(job),
            *dirs.mounts(trusted=trusted),
        ),
        env={"DATA_DIR": "/data", "OUTPUT_DIR": "/output", **provision.sandbox_env(job, via_entry=_via_entry(command))},
        labels={"io.holdout.assignment": job.assignment.id, "io.holdout.submission": job.unpacked.sha256[:16]},
    )


def _via_entry(command: list[str]) -> bool:
    """Whether ``command`` starts the in-container entry (which keeps the candidate's requirements
    off its own ``sys.path`` and hands them to the candidate's processes only)."""
    return command[: len(LAYOUT.entry)] == LAYOUT.entry


def sandbox_call(job: Job, *, background: bool = False):
    """The :class:`graders.base.SandboxCall` graders get: each call a fresh container and dirs.
    Returns the run and ``/output``'s host folder, or the trusted folder's with ``trusted``.
    ``background``: beside the candidate's run (labelled so; the same limits)."""
    counter = iter(range(1, 1_000_000))
    prefix = "early-" if background else ""

    def call(command, *, extra_mounts=(), timeout_s=None, name="extra", trusted=False):
        dirs = make_job_dirs(job.job_dir / f"{prefix}{name}-{next(counter)}")
        request = sandbox_request(job, list(command), dirs, extra_mounts, timeout_s, trusted=trusted)
        run = job.runner(dataclasses.replace(request, background=True) if background else request)
        return run, dirs.trusted if trusted else dirs.output

    return call


def run_sandbox(job: Job) -> None:
    assert job.assignment is not None and job.prepared is not None and job.unpacked is not None
    dirs = make_job_dirs(job.job_dir / "run")
    # The container's uid must read the submission; the job dir around it stays private (0700).
    for path in {job.unpacked.root, job.job_dir / "submission"}:
        os.chmod(path, 0o755)
    job.output_dir, job.logs_dir, job.trusted_dir = dirs.output, dirs.logs, dirs.trusted
    if job.entry is None:
        job.run = SandboxRun(verdict=Verdict.NOT_RUN)
        return
    warming = _warm_up_in_background(job)
    work = dirs.root / "work"  # the candidate's writable copy (harness.workcopy)
    baseline = workcopy.make_work_copy(job.unpacked.root, work)
    job.early = grading.start_early(
        job.graders, grade_context(job, background=True), job.settings.grader_timeout_s, job.options.container_slots
    )
    gateway = None
    try:
        gateway = provision.start_gateway(job)  # model gateway (issue 14): one socket per submission
        request = dataclasses.replace(
            sandbox_request(
                job, job.entry.command(job.assignment), dirs, ((work, workcopy.WORK_MOUNT, False),), trusted=True
            ),
            workdir=job.entry.workdir,
            quota_baseline=baseline,
        )
        job.run = job.runner(dataclasses.replace(request, gateway=gateway.folder) if gateway else request)
    except BaseException:
        if job.early is not None:
            job.early.cancel()
        raise
    finally:
        provision.finish_gateway(job, gateway)
    warming.join()  # before any grader runs: imports never race with grading


def _warm_up_in_background(job: Job) -> threading.Thread:
    """Import what the graders (and the notebook report) will need while the container runs.

    scikit-learn, pandas and nbconvert cost seconds of host CPU to import; done after the run
    they add to every grading, done here they overlap the candidate's run, during which this
    process only waits on the engine. Only imports happen here (``Grader.warm_up``); a failure
    is ignored, and met again and reported where the module is really used.
    """

    def warm() -> None:
        for grader in job.graders:
            try:
                grader.warm_up()
            except Exception:
                pass
        if job.options.artifacts_dir is not None and job.entry is not None and job.entry.kind == "notebook":
            from harness.reports.notebook import warm_up

            warm_up()

    thread = threading.Thread(target=warm, name="holdout-warm-up", daemon=True)
    thread.start()
    return thread


def check_outputs(job: Job) -> None:
    """``no_output`` when none of the files the graders read exist; ``invalid_output`` for links."""
    if job.run is None or job.run.verdict != Verdict.OK or job.output_dir is None:
        return
    expected = [name for grader in job.graders for name in grader.outputs()]
    if not expected:
        return
    present = [name for name in expected if os.path.lexists(job.output_dir / name)]
    if not present:
        job.run = job.run.model_copy(update={"verdict": Verdict.NO_OUTPUT})
    elif any(open_regular(job.output_dir / name) is None for name in present):
        job.run = job.run.model_copy(update={"verdict": Verdict.INVALID_OUTPUT})


def grade_context(job: Job, *, background: bool = False):
    """What the graders see; ``background``: for those started beside the run, which has no
    outputs, logs or record yet (they do not read them)."""
    from graders.base import GradeContext

    assert job.assignment is not None and job.prepared is not None and job.unpacked is not None
    spec = job.assignment.spec
    return GradeContext(
        spec=spec,
        assignment_dir=job.assignment.root,
        submission_dir=job.unpacked.root,
        inputs_dir=job.prepared.inputs,
        hidden_dir=job.prepared.hidden,
        output_dir=(None if background else job.output_dir) or job.job_dir / "missing-output",
        logs_dir=(None if background else job.logs_dir) or job.job_dir / "missing-logs",
        sandbox=None if background else job.run,
        output_read_bytes=spec.sandbox.output_read_mb * 2**20,
        seed=spec.data.seed,
        run_in_sandbox=sandbox_call(job, background=background),
        extras={
            "cache_dir": job.settings.cache_dir,
            "judge_gateway": provision.judge_gateway(job),
        },  # model gateway (issue 14)
    )


def run_graders(job: Job) -> None:
    """Every grader runs, each under the wall-clock limit ``settings.grader_timeout_s``; one
    that fails is recorded as ``error`` and the others go on. Those started beside the run
    (:mod:`harness.grading`) are collected in their place."""
    results = grading.run_all(job.graders, grade_context(job), job.settings.grader_timeout_s, job.early)
    job.results.extend(results)
    if job.early is not None:
        job.timings["early_graders"] = job.early.seconds  # beside the run: part of run_sandbox's time


STEPS = (
    unpack,
    resolve_assignment,
    load_graders,
    prepare_data,
    provision.provide_resources,
    find_entry_point,
    provision.install_dependencies,
    run_sandbox,
    check_outputs,
    run_graders,
)


def execute(job: Job) -> None:
    for step in STEPS:
        if job.rejected is not None and step is not resolve_assignment:
            continue
        if job.rejected is not None:
            try:
                resolve_assignment(job)
            except ConfigError:
                pass  # a rejected archive may have no readable manifest: report it anyway
            continue
        started = time.monotonic()
        step(job)
        job.timings[step.__name__] = round(time.monotonic() - started, 3)
