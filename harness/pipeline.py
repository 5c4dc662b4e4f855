"""Grading one submission: an explicit, ordered list of small steps, each taking what it
needs and returning what it made.

    unpack → assignment → graders loaded → data → resources → entry point → dependencies
           → sandbox run → outputs checked → graders

What the steps share is fixed when the grading starts (:class:`~harness.job.Job`) or frozen
once made (:class:`~harness.job.Staged`, :class:`~harness.job.RunOutcome`); :func:`execute`
threads them through and records how far the grading got in a :class:`~harness.job.Grading`,
from which the report is built (:mod:`harness.reports.assembly`). Each step can be called
alone in a test. Candidate mistakes become messages and verdicts; only our own failures raise.
The resources, dependencies and model-gateway steps live in :mod:`harness.provision`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from pathlib import Path

from harness import grading, provision, safeio, workcopy
from harness.assignments import find_assignment
from harness.data import PreparedPaths, prepare_assignment
from harness.errors import ConfigError, SubmissionRejected
from harness.intake import IntakeLimits, UnpackedSubmission, unpack_submission
from harness.job import EntryPoint, GradeOptions, Grading, Job, Runner, RunOutcome, Staged
from harness.manifest import MANIFEST, EntryProblem, declared_entry, read_manifest
from harness.models import GraderResult, Message, SandboxRun, Verdict
from harness.settings import Settings
from harness.spec import Assignment
from sandbox.layout import LAYOUT
from sandbox.runner import Mount, RunRequest, make_job_dirs, open_regular

__all__ = ["EntryPoint", "GradeOptions", "Grading", "Job", "Runner", "execute", "read_manifest", "stage"]


# --- steps ----------------------------------------------------------------------------------


def unpack(job: Job, assignment: Assignment | None) -> UnpackedSubmission:
    """Safe intake, with the assignment's limits when it is known (else the defaults, enough to
    read the manifest). Raises :class:`SubmissionRejected` for an unsafe or oversized archive."""
    limits = IntakeLimits.from_mapping(assignment.spec.intake.overrides()) if assignment else IntakeLimits()
    return unpack_submission(job.source, job.job_dir / "submission", limits)


def named_assignment(job: Job, unpacked: UnpackedSubmission | None) -> Assignment:
    """The assignment the caller named, else the one the submission's manifest names (by id only)."""
    if job.assignment is not None:
        return job.assignment
    ref = read_manifest(unpacked.root).get("assignment") if unpacked is not None else None
    if not ref or not isinstance(ref, str):
        raise ConfigError(
            "cannot tell which assignment this submission is for",
            hint=f'Pass --assignment ID, or add {MANIFEST} with `assignment = "ID"` to the submission root '
            "(`grade list assignments` shows the ids).",
        )
    return find_assignment(ref, job.settings, allow_path=False)


def load_graders(assignment: Assignment) -> tuple:
    """Instantiate every grader now, so a bad grader config fails before anything runs."""
    from graders.registry import default_registry

    registry = default_registry(assignment.root)
    return tuple(registry.instantiate(g, i) for i, g in enumerate(assignment.spec.graders))


def prepare_data(assignment: Assignment, settings: Settings) -> PreparedPaths:
    return prepare_assignment(assignment, settings)


def find_entry_point(assignment: Assignment, root: Path) -> EntryPoint | Message:
    """The entry ``submission.toml`` names (checked: a candidate's mistake there is a message
    and no run), else the assignment's default script, else its default notebook; a
    :class:`Message` saying why there is none."""
    entry = assignment.spec.entry
    try:
        declared = declared_entry(root, entry)
    except EntryProblem as exc:
        return Message(code="entry_invalid", text=str(exc), source="pipeline")
    if declared is not None:
        return EntryPoint(*declared)
    for kind, name in (("script", entry.script), ("notebook", entry.notebook)):
        if name and (root / name).is_file() and not (root / name).is_symlink():
            return EntryPoint(kind, name)
    expected = " or ".join(n for n in (entry.script, entry.notebook) if n)
    present = sorted(p.name for p in root.iterdir())[:10]
    return Message(
        code="no_entry_point",
        text=f"No entry point: expected {expected} at the submission root; found {', '.join(present) or 'nothing'}. "
        f'To run another file, name it in {MANIFEST} (entry = "src/run.py").',
        source="pipeline",
    )


def sandbox_request(
    staged: Staged, command: list[str], dirs, extra_mounts=(), timeout_s: float | None = None, *, trusted: bool = False
) -> RunRequest:
    """A run of ``command`` with the submission and public inputs mounted read-only; with
    ``trusted``, a two-uid run of the in-container entry with the runner's trusted folder."""
    job = staged.job
    limits = staged.assignment.spec.sandbox
    timeout = timeout_s if timeout_s is not None else job.options.timeout_s
    if timeout is not None:
        limits = limits.model_copy(update={"timeout_s": timeout})
    return RunRequest(
        image=job.options.image or "",
        command=command,
        limits=limits,
        mounts=(
            Mount(staged.unpacked.root, "/submission"),
            Mount(staged.prepared.inputs, "/data"),
            *(Mount(Path(src), target, *rest) for src, target, *rest in extra_mounts),
            *provision.mounts(staged.deps_prefix, staged.resources_dir),
            *dirs.mounts(trusted=trusted),
        ),
        env={
            "DATA_DIR": "/data",
            "OUTPUT_DIR": "/output",
            **provision.sandbox_env(staged.deps_prefix, staged.resources_dir, via_entry=_via_entry(command)),
        },
        labels={"io.holdout.assignment": staged.assignment.id, "io.holdout.submission": staged.unpacked.sha256[:16]},
    )


def _via_entry(command: list[str]) -> bool:
    """Whether ``command`` starts the in-container entry (which keeps the candidate's requirements
    off its own ``sys.path`` and hands them to the candidate's processes only)."""
    return command[: len(LAYOUT.entry)] == LAYOUT.entry


def sandbox_call(staged: Staged, *, background: bool = False):
    """The :class:`graders.base.SandboxCall` graders get: each call a fresh container and dirs.
    Returns the run and ``/output``'s host folder, or the trusted folder's with ``trusted``.
    ``background``: beside the candidate's run (labelled so; the same limits)."""
    counter = iter(range(1, 1_000_000))
    prefix = "early-" if background else ""
    job = staged.job

    def call(command, *, extra_mounts=(), timeout_s=None, name="extra", trusted=False):
        dirs = make_job_dirs(job.job_dir / f"{prefix}{name}-{next(counter)}")
        request = sandbox_request(staged, list(command), dirs, extra_mounts, timeout_s, trusted=trusted)
        run = job.runner(dataclasses.replace(request, background=True) if background else request)
        return run, dirs.trusted if trusted else dirs.output

    return call


def run_sandbox(staged: Staged) -> RunOutcome:
    """The candidate's run (none without an entry point), with the checks that do not depend on
    it started alongside and the model gateway, when the assignment has one, around it."""
    job = staged.job
    dirs = make_job_dirs(job.job_dir / "run")
    # The container's uid must read the submission; the job dir around it stays private (0700).
    for path in {staged.unpacked.root, job.job_dir / "submission"}:
        os.chmod(path, 0o755)
    folders = {"output_dir": dirs.output, "logs_dir": dirs.logs, "trusted_dir": dirs.trusted}
    if staged.entry is None:
        return RunOutcome(run=SandboxRun(verdict=Verdict.NOT_RUN), **folders)
    warming = _warm_up_in_background(staged)
    work = dirs.root / "work"  # the candidate's writable copy (harness.workcopy)
    baseline = workcopy.make_work_copy(staged.unpacked.root, work)
    early = grading.start_early(
        list(staged.graders), grade_context(staged), job.settings.grader_timeout_s, job.options.container_slots
    )
    gateway = run = None
    try:
        gateway = provision.start_gateway(staged)  # model gateway (issue 14): one socket per submission
        request = dataclasses.replace(
            sandbox_request(
                staged,
                staged.entry.command(staged.assignment),
                dirs,
                ((work, workcopy.WORK_MOUNT, False),),
                trusted=True,
            ),
            workdir=staged.entry.workdir,
            quota_baseline=baseline,
        )
        run = job.runner(dataclasses.replace(request, gateway=gateway.folder) if gateway else request)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    finally:
        finished = provision.finish_gateway(staged, gateway, run)
    warming.join()  # before any grader runs: imports never race with grading
    return RunOutcome(run=run, **folders, early=early, gateway=finished.summary, messages=finished.messages)


def _warm_up_in_background(staged: Staged) -> threading.Thread:
    """Import what the graders (and the notebook report) will need while the container runs.

    scikit-learn, pandas and nbconvert cost seconds of host CPU to import; done after the run
    they add to every grading, done here they overlap the candidate's run, during which this
    process only waits on the engine. Only imports happen here (``Grader.warm_up``); a failure
    is ignored, and met again and reported where the module is really used.
    """
    notebook_report = staged.job.options.artifacts_dir is not None and staged.entry and staged.entry.kind == "notebook"

    def warm() -> None:
        for grader in staged.graders:
            try:
                grader.warm_up()
            except Exception:
                pass
        if notebook_report:
            from harness.reports.notebook import warm_up

            warm_up()

    thread = threading.Thread(target=warm, name="holdout-warm-up", daemon=True)
    thread.start()
    return thread


def check_outputs(staged: Staged, outcome: RunOutcome) -> RunOutcome:
    """``no_output`` when none of the files the graders read exist; ``invalid_output`` for links."""
    if outcome.run.verdict != Verdict.OK:
        return outcome
    expected = [name for grader in staged.graders for name in grader.outputs()]
    if not expected:
        return outcome
    present = [name for name in expected if os.path.lexists(outcome.output_dir / name)]
    if not present:
        verdict = Verdict.NO_OUTPUT
    elif any(open_regular(outcome.output_dir / name) is None for name in present):
        verdict = Verdict.INVALID_OUTPUT
    else:
        return outcome
    return dataclasses.replace(outcome, run=outcome.run.model_copy(update={"verdict": verdict}))


def grade_context(staged: Staged, outcome: RunOutcome | None = None):
    """What the graders see; without ``outcome``, for those started beside the run, which has no
    outputs, logs or record yet (they do not read them)."""
    from graders.base import GradeContext

    job, spec = staged.job, staged.assignment.spec
    return GradeContext(
        spec=spec,
        assignment_dir=staged.assignment.root,
        submission_dir=staged.unpacked.root,
        inputs_dir=staged.prepared.inputs,
        hidden_dir=staged.prepared.hidden,
        output_dir=outcome.output_dir if outcome else job.job_dir / "missing-output",
        logs_dir=outcome.logs_dir if outcome else job.job_dir / "missing-logs",
        sandbox=outcome.run if outcome else None,
        output_read_bytes=spec.sandbox.output_read_mb * 2**20,
        seed=spec.data.seed,
        run_in_sandbox=sandbox_call(staged, background=outcome is None),
        extras={
            "cache_dir": job.settings.cache_dir,
            "judge_gateway": provision.judge_gateway(staged),
        },  # model gateway (issue 14)
    )


def run_graders(staged: Staged, outcome: RunOutcome) -> list[GraderResult]:
    """Every grader runs, each under the wall-clock limit ``settings.grader_timeout_s``; one
    that fails is recorded as ``error`` and the others go on. Those started beside the run
    (:mod:`harness.grading`) are collected in their place."""
    return grading.run_all(
        list(staged.graders), grade_context(staged, outcome), staged.job.settings.grader_timeout_s, outcome.early
    )


# --- the whole grading ----------------------------------------------------------------------


@contextlib.contextmanager
def _timed(record: Grading, name: str):
    started = time.monotonic()
    try:
        yield
    finally:
        record.timings[name] = round(time.monotonic() - started, 3)


def stage(job: Job) -> Grading:
    """Intake and provisioning: the returned record has ``staged`` set when the submission is
    ready to run, and ``rejected`` (with no ``staged``) when its archive was refused."""
    record = Grading(job)
    unpacked = _intake(job, job.assignment, record)
    with _timed(record, "resolve_assignment"):
        try:
            assignment = named_assignment(job, unpacked)
        except ConfigError:
            if record.rejected is None:
                raise
            return record  # a rejected archive may have no readable manifest: report it anyway
        record.assignment = assignment
        if unpacked is not None and job.assignment is None and assignment.spec.intake.overrides():
            # Unpacked with the default limits to read the manifest: now apply the assignment's own.
            safeio.rmtree(job.job_dir / "submission")
            unpacked = _intake(job, assignment, record)
    if unpacked is None:
        return record
    record.unpacked = unpacked
    with _timed(record, "load_graders"):
        graders = load_graders(assignment)
    with _timed(record, "prepare_data"):
        prepared = prepare_data(assignment, job.settings)
    with _timed(record, "provide_resources"):
        resources_dir = provision.provide_resources(assignment, job.settings)
    with _timed(record, "find_entry_point"):
        found = find_entry_point(assignment, unpacked.root)
    entry = found if isinstance(found, EntryPoint) else None
    if isinstance(found, Message):
        record.messages.append(found)
    with _timed(record, "install_dependencies"):
        deps = provision.install_dependencies(job, assignment, unpacked)
    record.messages.extend(deps.messages)
    if deps.record is not None:
        record.provenance["dependencies"] = deps.record
    record.staged = Staged(job, assignment, unpacked, prepared, graders, entry, resources_dir, deps.prefix)
    return record


def _intake(job: Job, assignment: Assignment | None, record: Grading) -> UnpackedSubmission | None:
    with _timed(record, "unpack"):
        try:
            return unpack(job, assignment)
        except SubmissionRejected as exc:
            record.rejected = exc
            record.messages.append(Message(code=f"rejected_{exc.reason}", text=str(exc), source="intake"))
            return None


def execute(job: Job) -> Grading:
    """Grade: stage the submission, run it, check its outputs, run the graders."""
    record = stage(job)
    staged = record.staged
    if staged is None:
        return record
    with _timed(record, "run_sandbox"):
        outcome = run_sandbox(staged)
    record.outcome = outcome
    record.messages.extend(outcome.messages)
    with _timed(record, "check_outputs"):
        outcome = record.outcome = check_outputs(staged, outcome)
    with _timed(record, "run_graders"):
        record.results = run_graders(staged, outcome)
    if outcome.early is not None:
        record.timings["early_graders"] = outcome.early.seconds  # beside the run: part of run_sandbox's time
    return record
