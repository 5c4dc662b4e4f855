"""Grading one submission: an explicit, ordered list of small steps over a :class:`Job`.

    unpack → assignment → data → entry point → sandbox (phase A) → outputs → graders (phase B)

Each step can be called alone in a test with a hand-built job. Candidate mistakes become
messages and verdicts; only our own failures raise.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import __version__, deps
from harness.assignments import find_assignment
from harness.data import PreparedPaths, assignment_data_digest, prepare_assignment
from harness.errors import ConfigError, HoldoutError, SubmissionRejected
from harness.intake import IntakeLimits, UnpackedSubmission, unpack_submission
from harness.models import (
    AssignmentRef,
    GradeReport,
    GraderResult,
    GraderStatus,
    Level,
    Message,
    SandboxRun,
    SubmissionRef,
    Verdict,
    Visibility,
)
from harness.rubric import score_rubric
from harness.settings import Settings
from harness.spec import Assignment
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs, open_regular

Runner = Callable[[RunRequest], SandboxRun]
MANIFEST = "submission.toml"
RUNNER = ["/opt/venv/bin/python", "/opt/holdout/entry.py"]
ARTIFACTS = {"executed.ipynb": 64 * 2**20, "stdout.txt": 8 * 2**20, "stderr.txt": 8 * 2**20}


@dataclass
class GradeOptions:
    assignment: str | Path | None = None
    image: str | None = None
    timeout_s: float | None = None
    """Override the assignment's wall-clock limit (``grade check`` uses it for slow canaries)."""
    artifacts_dir: Path | None = None
    """Where to keep the executed notebook and the full logs for the reviewer."""


@dataclass(frozen=True)
class EntryPoint:
    kind: str  # "script" | "notebook"
    path: str

    def command(self, assignment: Assignment) -> list[str]:
        if self.kind == "notebook":
            timeout = assignment.spec.entry.cell_timeout_s
            return [*RUNNER, "notebook", self.path, "--cell-timeout", f"{timeout:g}"]
        return [*RUNNER, "script", self.path]


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
    graders: list = field(default_factory=list)
    results: list[GraderResult] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rejected: SubmissionRejected | None = None
    provenance: dict = field(default_factory=dict)


# --- steps ----------------------------------------------------------------------------------


def unpack(job: Job) -> None:
    """Safe intake, with the assignment's limits when it is already known (``--assignment``)."""
    limits = IntakeLimits.from_mapping(job.assignment.spec.intake) if job.assignment else IntakeLimits()
    try:
        job.unpacked = unpack_submission(job.source, job.job_dir / "submission", limits)
    except SubmissionRejected as exc:
        job.rejected = exc
        job.messages.append(Message(code=f"rejected_{exc.reason}", text=str(exc), source="intake"))


def read_manifest(root: Path) -> dict:
    """``submission.toml`` from the unpacked submission, read as data (size-capped)."""
    fd = open_regular(root / MANIFEST)
    if fd is None:
        return {}
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(64 * 1024)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(
            f"the submission's {MANIFEST} is not valid TOML: {why}",
            hint="Fix it, or pass --assignment ID to ignore it.",
        ) from None
    return data


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
            hint=f"Pass --assignment ID, or add {MANIFEST} with `assignment = \"ID\"` to the submission root "
            "(`grade list assignments` shows the ids).",
        )
    job.assignment = find_assignment(ref, job.settings, allow_path=not from_manifest)
    if from_manifest and job.assignment.spec.intake and job.rejected is None:
        # Unpacked with the default limits to read the manifest: now apply the assignment's own.
        shutil.rmtree(job.job_dir / "submission")
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
    assert job.assignment is not None and job.unpacked is not None
    entry = job.assignment.spec.entry
    root = job.unpacked.root
    for kind, name in (("script", entry.script), ("notebook", entry.notebook)):
        if name and (root / name).is_file() and not (root / name).is_symlink():
            job.entry = EntryPoint(kind, name)
            return
    expected = " or ".join(n for n in (entry.script, entry.notebook) if n)
    present = sorted(p.name for p in root.iterdir())[:10]
    job.messages.append(
        Message(
            code="no_entry_point",
            text=f"No entry point: expected {expected} at the submission root; found {', '.join(present) or 'nothing'}.",
            source="pipeline",
        )
    )


DEPS_MOUNT = "/deps"
RESOURCES_MOUNT = "/resources"


def provide_resources(job: Job) -> None:
    """Declared data resources, verified and assembled once per content into the cache."""
    import hashlib

    from harness.data import resolve_source

    assert job.assignment is not None
    resources = job.assignment.spec.data.resources
    if not resources:
        return
    key = hashlib.sha256("".join(f"{r.name}:{r.sha256}|" for r in resources).encode()).hexdigest()[:20]
    target = job.settings.cache_dir / "resources" / key
    if not (target / ".complete").is_file():
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=_mkdirs(target.parent)))
        for resource in resources:
            dest = staging / resource.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(resolve_source(resource, job.settings), dest)
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (staging / ".complete").write_text("")
        try:
            os.replace(staging, target)
        except OSError:  # published concurrently
            shutil.rmtree(staging, ignore_errors=True)
    job.resources_dir = target


def _mkdirs(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def install_dependencies(job: Job) -> None:
    """Resolve the submission's requirements on the host (wheels only, cached) and install them
    in a sandbox container with no network; the candidate's run then sees them."""
    assert job.assignment is not None and job.unpacked is not None
    policy = job.assignment.spec.dependencies
    reqs, messages, source = deps.read_requirements(job.unpacked.root)
    job.messages.extend(messages)
    if source is None or not policy.enabled:
        if source is not None:
            job.messages.append(Message(code="dep_disabled", text=f"{source} was ignored: this assignment installs no extra packages.", level=Level.WARNING, source="dependencies"))
        return
    plan = deps.apply_policy(reqs, policy, deps.image_pins())
    job.messages.extend(plan.messages)
    record: dict = {"file": source, "preinstalled": plan.satisfied, "installed": [], "refused": []}
    job.provenance["dependencies"] = record
    resolution = deps.resolve(plan, policy, job.settings.cache_dir, job.options.image or "", job.settings.pip_args)
    if resolution is None:
        return
    job.messages.extend(resolution.messages())
    record.update(refused=[r["code"] + ": " + r["name"] for r in resolution.refused], cache="hit" if resolution.cache_hit else "miss",
                  resolve_s=0.0 if resolution.cache_hit else resolution.seconds, download_mb=round(resolution.download_bytes / 1e6, 1))
    if not resolution.resolved:
        return
    prefix = resolution.root / "prefix"
    if not (resolution.root / "installed.json").is_file():
        started = time.monotonic()
        prefix = _install_wheels(job, resolution, bool(plan.repins), policy.install_timeout_s)
        record["install_s"] = round(time.monotonic() - started, 2)
        if prefix is None:
            return
    site = next(iter(sorted(prefix.glob("lib/python3*/site-packages"))), None)
    if site is None:
        return
    record["installed"] = deps.installed_distributions(site)
    job.deps_prefix = prefix


def _install_wheels(job: Job, resolution, ignore_installed: bool, timeout_s: float) -> Path | None:
    """``pip install --no-index`` inside a hardened container; published atomically into the cache."""
    from sandbox.runner import CANDIDATE_UID

    work = Path(tempfile.mkdtemp(prefix=".install-", dir=resolution.root))
    os.chmod(work, 0o755)
    staging = work / "prefix"
    staging.mkdir()
    try:
        os.chown(staging, CANDIDATE_UID, CANDIDATE_UID)
    except PermissionError:
        os.chmod(staging, 0o777)
    dirs = make_job_dirs(job.job_dir / "install")
    limits = job.assignment.spec.sandbox.model_copy(update={"timeout_s": timeout_s})
    command = ["/opt/venv/bin/python", "-m", "pip", "install", "--no-index", "--find-links", "/wheels",
               "--prefix", DEPS_MOUNT, "--no-warn-script-location", "--disable-pip-version-check",
               *(["--ignore-installed"] if ignore_installed else []), "-r", "/wheels/requirements.txt"]
    run = job.runner(RunRequest(
        image=job.options.image or "", command=command, limits=limits, workdir="/tmp",
        mounts=(Mount(resolution.wheels, "/wheels"), Mount(staging, DEPS_MOUNT, read_only=False),
                Mount(dirs.logs, LOGS_MOUNT, read_only=False)),
        output_quota_mb=max(1024, int(resolution.download_bytes * 4 / 1e6)),
        labels={"io.holdout.step": "install"},
    ))
    if run.verdict != Verdict.OK:
        shutil.rmtree(work, ignore_errors=True)
        tail = (run.stdout.text + run.stderr.text).strip()[-1500:]
        job.messages.append(Message(code="dep_install_failed", text=f"Installing the requirements failed ({run.verdict.value}); the run went ahead without them.", level=Level.WARNING, source="dependencies"))
        job.messages.append(Message(code="dep_install_log", text=tail, level=Level.INFO, source="dependencies", visibility=Visibility.REVIEWER))
        return None
    target = resolution.root / "prefix"
    try:
        os.replace(staging, target)
        (resolution.root / "installed.json").write_text("{}")
    except OSError:
        pass  # a concurrent grade installed the same set first
    shutil.rmtree(work, ignore_errors=True)
    return target


def sandbox_request(job: Job, command: list[str], dirs, extra_mounts=(), timeout_s: float | None = None) -> RunRequest:
    """A run of ``command`` with the submission and public inputs mounted read-only."""
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
            *(Mount(Path(src), target) for src, target in extra_mounts),
            *((Mount(job.deps_prefix, DEPS_MOUNT),) if job.deps_prefix else ()),
            *((Mount(job.resources_dir, RESOURCES_MOUNT),) if job.resources_dir else ()),
            Mount(dirs.output, "/output", read_only=False),
            Mount(dirs.logs, LOGS_MOUNT, read_only=False),
        ),
        env={"DATA_DIR": "/data", "OUTPUT_DIR": "/output", **_deps_env(job), **_resources_env(job)},
        labels={"io.holdout.assignment": job.assignment.id, "io.holdout.submission": job.unpacked.sha256[:16]},
    )


def _resources_env(job: Job) -> dict[str, str]:
    if job.resources_dir is None:
        return {}
    return {"RESOURCES_DIR": RESOURCES_MOUNT, "NLTK_DATA": f"{RESOURCES_MOUNT}/nltk_data"}


def _deps_env(job: Job) -> dict[str, str]:
    if job.deps_prefix is None:
        return {}
    site = next(iter(sorted(job.deps_prefix.glob("lib/python3*/site-packages"))))
    return {
        "PYTHONPATH": f"{DEPS_MOUNT}/{site.relative_to(job.deps_prefix).as_posix()}",
        "PATH": f"{DEPS_MOUNT}/bin:/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
    }


def sandbox_call(job: Job):
    """The :class:`graders.base.SandboxCall` graders get: each call a fresh container and dirs."""
    counter = iter(range(1, 1_000_000))

    def call(command, *, extra_mounts=(), timeout_s=None, name="extra"):
        dirs = make_job_dirs(job.job_dir / f"{name}-{next(counter)}")
        run = job.runner(sandbox_request(job, list(command), dirs, extra_mounts, timeout_s))
        return run, dirs.output

    return call


def run_sandbox(job: Job) -> None:
    assert job.assignment is not None and job.prepared is not None and job.unpacked is not None
    dirs = make_job_dirs(job.job_dir / "run")
    # The container's uid must read the submission; the job dir around it stays private (0700).
    for path in {job.unpacked.root, job.job_dir / "submission"}:
        os.chmod(path, 0o755)
    job.output_dir, job.logs_dir = dirs.output, dirs.logs
    if job.entry is None:
        job.run = SandboxRun(verdict=Verdict.NOT_RUN)
        return
    warming = _warm_up_in_background(job)
    job.run = job.runner(sandbox_request(job, job.entry.command(job.assignment), dirs))
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
            except Exception:  # noqa: S110 - grade() meets the same error and reports it
                pass
        if job.options.artifacts_dir is not None and job.entry is not None and job.entry.kind == "notebook":
            from harness.report_notebook import warm_up

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


def run_graders(job: Job) -> None:
    """Every grader runs; one that fails is recorded as ``error`` and the others go on."""
    from graders.base import GradeContext

    assert job.assignment is not None and job.prepared is not None and job.unpacked is not None
    spec = job.assignment.spec
    ctx = GradeContext(
        spec=spec,
        assignment_dir=job.assignment.root,
        submission_dir=job.unpacked.root,
        inputs_dir=job.prepared.inputs,
        hidden_dir=job.prepared.hidden,
        output_dir=job.output_dir or job.job_dir / "missing-output",
        logs_dir=job.logs_dir or job.job_dir / "missing-logs",
        sandbox=job.run,
        output_read_bytes=spec.sandbox.output_read_mb * 2**20,
        seed=spec.data.seed,
        run_in_sandbox=sandbox_call(job),
        extras={"cache_dir": job.settings.cache_dir},
    )
    for grader in job.graders:
        started = time.monotonic()
        try:
            result = grader.grade(ctx)
        except Exception as exc:  # a grader bug must not become the candidate's zero
            detail = exc.describe() if isinstance(exc, HoldoutError) else f"{type(exc).__name__}: {exc}"
            result = GraderResult(grader=grader.name, status=GraderStatus.ERROR, error=detail)
            result.messages.append(
                Message(
                    code="grader_error",
                    text=f"grader {grader.name!r} failed: {detail}",
                    source=grader.name,
                    visibility=Visibility.REVIEWER,
                )
            )
        result.duration_s = round(time.monotonic() - started, 3)
        job.results.append(result)


STEPS = (
    unpack,
    resolve_assignment,
    load_graders,
    prepare_data,
    provide_resources,
    find_entry_point,
    install_dependencies,
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


# --- the report -----------------------------------------------------------------------------


def keep_artifacts(job: Job) -> None:
    """Copy the executed notebook and full logs (untrusted; no links followed) for the reviewer."""
    target = job.options.artifacts_dir
    if target is None or job.logs_dir is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    for name, cap in ARTIFACTS.items():
        fd = open_regular(job.logs_dir / name)
        if fd is None:
            continue
        with os.fdopen(fd, "rb") as src, open(target / name, "wb") as dst:
            shutil.copyfileobj(_capped(src, cap), dst)


class _capped:
    def __init__(self, fh, cap: int) -> None:
        self.fh, self.left = fh, cap

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data


def _metrics(results: list[GraderResult]) -> dict[str, float | None]:
    """The first grader's measurements under bare names, the others as ``grader.name``."""
    metrics: dict[str, float | None] = {}
    for i, result in enumerate(results):
        for name, value in result.measurements.items():
            metrics[name if i == 0 else f"{result.grader}.{name}"] = value
    return metrics


def build_report(job: Job) -> GradeReport:
    assignment = (
        AssignmentRef(id=job.assignment.id, title=job.assignment.spec.title, version=job.assignment.spec.version)
        if job.assignment
        else AssignmentRef(id=str(job.options.assignment or "unknown"))
    )
    source_kind = "directory" if job.source.is_dir() else ("zip" if job.source.suffix == ".zip" else "tar")
    submission = SubmissionRef(
        name=job.source.name,
        sha256=job.unpacked.sha256 if job.unpacked else _sha256_or_empty(job.source),
        kind=job.unpacked.kind if job.unpacked else source_kind,
        files=job.unpacked.files if job.unpacked else 0,
        bytes=job.unpacked.bytes if job.unpacked else 0,
        entry_point=job.entry.path if job.entry else None,
    )
    if job.rejected is not None:
        return GradeReport(
            status="rejected",
            score=0.0,
            assignment=assignment,
            submission=submission,
            messages=job.messages,
            provenance=_provenance(job),
            timings=job.timings,
        )
    assert job.assignment is not None
    measurements = {f"{r.grader}.{k}": v for r in job.results for k, v in r.measurements.items()}
    failed = {r.grader for r in job.results if r.status == GraderStatus.ERROR}
    evidence = {
        r.grader: [m.text for m in r.messages if m.visibility == Visibility.CANDIDATE and m.level != Level.INFO][:3]
        for r in job.results
    }
    for r in job.results:  # a grader may give evidence per measurement (details["evidence"])
        for name, lines in (r.details.get("evidence") or {}).items():
            evidence[f"{r.grader}.{name}"] = [str(line) for line in lines]
    criteria, score = score_rubric(job.assignment.spec.rubric, measurements, failed_graders=failed, evidence=evidence)
    messages = list(job.messages) + [
        m for r in job.results for m in r.messages if m.visibility == Visibility.CANDIDATE
    ]
    baselines = {}
    for r in job.results:
        baselines.update(r.details.get("baselines") or {})
    needs_review = bool(failed) or score is None
    if needs_review:
        messages.append(
            Message(
                code="needs_review",
                text="A grader failed (not the candidate's fault): a reviewer must look at this report.",
                level=Level.WARNING,
                source="pipeline",
            )
        )
    return GradeReport(
        status="needs_review" if needs_review else "graded",
        score=score,
        assignment=assignment,
        submission=submission,
        sandbox=job.run,
        metrics=_metrics(job.results),
        baselines=baselines,
        criteria=criteria,
        messages=messages,
        graders=job.results,
        provenance=_provenance(job),
        timings=job.timings,
    )


def _sha256_or_empty(path: Path) -> str:
    from harness.intake import sha256_file

    try:
        return sha256_file(path) if path.is_file() else ""
    except OSError:
        return ""


def _provenance(job: Job) -> dict:
    prov: dict = {
        **job.provenance,
        "harness_version": __version__,
        "python": platform.python_version(),
        "image": job.run.image if job.run else job.options.image,
        "image_id": job.run.image_id if job.run else None,
    }
    if job.assignment is not None:
        prov["assignment_spec_sha256"] = _sha256_or_empty(job.assignment.root / "assignment.toml")
        prov["seed"] = job.assignment.spec.data.seed
    if job.prepared is not None:
        prov["data_sha256"] = assignment_data_digest(job.prepared)
    return prov

