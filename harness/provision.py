"""What a sandbox run gets besides the submission and the public inputs: the assignment's
declared data resources (mounted at ``/resources``) and the candidate's own dependencies
(resolved on the host, installed in a container with no network, mounted at ``/deps``).

Two pipeline steps (:func:`provide_resources`, :func:`install_dependencies`), what
:func:`harness.pipeline.sandbox_request` adds for them (:func:`mounts`, :func:`sandbox_env`),
and the model gateway around the candidate's run (:func:`start_gateway`, :func:`finish_gateway`)
and for the judge (:func:`judge_gateway`). Each takes what it needs and returns what it made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import deps, safeio
from harness.intake import UnpackedSubmission
from harness.job import Job, Staged
from harness.models import Level, Message, SandboxRun, Verdict, Visibility
from harness.settings import Settings
from harness.spec import Assignment
from sandbox.layout import LAYOUT
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs

DEPS_MOUNT = "/deps"
RESOURCES_MOUNT = "/resources"


def provide_resources(assignment: Assignment, settings: Settings) -> Path | None:
    """Declared resources (files, NLTK packages, model snapshots), verified and assembled once
    per content into the cache (:mod:`harness.resources`); None when there are none."""
    from harness.resources import prepare_resources

    return prepare_resources(assignment, settings)


@dataclass
class Dependencies:
    """What :func:`install_dependencies` did: the installed prefix (None: nothing to mount),
    what it tells the candidate, and its provenance record (None: no requirements file)."""

    prefix: Path | None = None
    messages: list[Message] = field(default_factory=list)
    record: dict | None = None


def install_dependencies(job: Job, assignment: Assignment, unpacked: UnpackedSubmission) -> Dependencies:
    """Resolve the submission's requirements on the host (wheels only, cached) and install them
    in a sandbox container with no network; the candidate's run then sees them."""
    policy = assignment.spec.dependencies
    python = job.options.image_python or LAYOUT.python_full_version  # the image's: markers, wheels
    reqs, messages, source = deps.read_requirements(unpacked.root, python)
    done = Dependencies(messages=list(messages))
    if source is None or not policy.enabled:
        if source is not None:
            done.messages.append(
                Message(
                    code="dep_disabled",
                    text=f"{source} was ignored: this assignment installs no extra packages.",
                    level=Level.WARNING,
                    source="dependencies",
                )
            )
        return done
    plan = deps.apply_policy(reqs, policy, deps.image_pins())
    done.messages.extend(plan.messages)
    record: dict = {"file": source, "python": python, "preinstalled": plan.satisfied, "installed": [], "refused": []}
    done.record = record
    image = job.options.image or ""
    resolution = deps.resolve(plan, policy, job.settings.cache_dir, image, job.settings.pip_args, python)
    if resolution is None:
        return done
    done.messages.extend(resolution.messages())
    record.update(
        refused=[r["code"] + ": " + r["name"] for r in resolution.refused],
        cache="hit" if resolution.cache_hit else "miss",
        resolve_s=0.0 if resolution.cache_hit else resolution.seconds,
        download_mb=round(resolution.download_bytes / 1e6, 1),
    )
    if not resolution.resolved:
        return done
    prefix = resolution.root / "prefix"
    if not (resolution.root / "installed.json").is_file():
        started = time.monotonic()
        prefix = _install_wheels(job, assignment, resolution, bool(plan.repins), done.messages)
        record["install_s"] = round(time.monotonic() - started, 2)
        if prefix is None:
            return done
    site = next(iter(sorted(prefix.glob("lib/python3*/site-packages"))), None)
    if site is None:
        return done
    record["installed"] = deps.installed_distributions(site)
    done.prefix = prefix
    return done


def _install_wheels(
    job: Job, assignment: Assignment, resolution, ignore_installed: bool, messages: list[Message]
) -> Path | None:
    """``pip install --no-index`` inside a hardened container; published atomically into the cache."""
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=resolution.root))
    os.chmod(work, 0o755)
    staging = work / "prefix"
    staging.mkdir()
    try:
        os.chown(staging, LAYOUT.candidate_uid, LAYOUT.candidate_uid)
    except PermissionError:
        os.chmod(staging, 0o777)
    dirs = make_job_dirs(job.job_dir / "install")
    timeout_s = assignment.spec.dependencies.install_timeout_s
    limits = assignment.spec.sandbox.model_copy(update={"timeout_s": timeout_s})
    command = [
        LAYOUT.python,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        "/wheels",
        "--prefix",
        DEPS_MOUNT,
        "--no-warn-script-location",
        "--disable-pip-version-check",
        *(["--ignore-installed"] if ignore_installed else []),
        "-r",
        "/wheels/requirements.txt",
    ]
    run = job.runner(
        RunRequest(
            image=job.options.image or "",
            command=command,
            limits=limits,
            workdir="/tmp",
            mounts=(
                Mount(resolution.wheels, "/wheels"),
                Mount(staging, DEPS_MOUNT, read_only=False),
                Mount(dirs.logs, LOGS_MOUNT, read_only=False),
            ),
            output_quota_mb=max(1024, int(resolution.download_bytes * 4 / 1e6)),
            labels={"io.holdout.step": "install"},
        )
    )
    if run.verdict != Verdict.OK:
        safeio.rmtree(work)
        tail = (run.stdout.text + run.stderr.text).strip()[-1500:]
        messages.append(
            Message(
                code="dep_install_failed",
                text=f"Installing the requirements failed ({run.verdict.value}); the run went ahead without them.",
                level=Level.WARNING,
                source="dependencies",
            )
        )
        messages.append(
            Message(
                code="dep_install_log",
                text=tail,
                level=Level.INFO,
                source="dependencies",
                visibility=Visibility.REVIEWER,
            )
        )
        return None
    target = resolution.root / "prefix"
    try:
        os.replace(staging, target)
        (resolution.root / "installed.json").write_text("{}")
    except OSError:
        pass  # a concurrent grade installed the same set first
    safeio.rmtree(work)  # written by pip in the container: iterative, never raises
    return target


def mounts(deps_prefix: Path | None, resources_dir: Path | None) -> tuple[Mount, ...]:
    """The read-only mounts for what a submission was provided."""
    return (
        *((Mount(deps_prefix, DEPS_MOUNT),) if deps_prefix else ()),
        *((Mount(resources_dir, RESOURCES_MOUNT),) if resources_dir else ()),
    )


def sandbox_env(deps_prefix: Path | None, resources_dir: Path | None, *, via_entry: bool = True) -> dict[str, str]:
    """The environment variables that point the candidate's code at them. ``via_entry``: the
    command is the in-container entry, which gets the requirements' path under its own name and
    hands it on to the candidate's processes only (a command that runs nothing trusted, such as
    the candidate's own tests, gets ``PYTHONPATH`` itself)."""
    return {**_deps_env(deps_prefix, via_entry), **_resources_env(resources_dir)}


def _resources_env(resources_dir: Path | None) -> dict[str, str]:
    """``NLTK_DATA``: the submission's own ``nltk_data`` first, then the declared packages;
    ``HF_HOME`` and friends when resources are declared."""
    from harness import resources, workcopy

    shipped = f"{workcopy.NLTK_DATA}:/submission/nltk_data"  # the copy in the run, the original in graders' runs
    if resources_dir is None:
        return {"NLTK_DATA": shipped}
    return {**resources.sandbox_env(RESOURCES_MOUNT), "NLTK_DATA": f"{shipped}:{resources.nltk_path(RESOURCES_MOUNT)}"}


def _deps_env(deps_prefix: Path | None, via_entry: bool) -> dict[str, str]:
    if deps_prefix is None:
        return {}
    site = next(iter(sorted(deps_prefix.glob("lib/python3*/site-packages"))))
    variable = LAYOUT.candidate_pythonpath_var if via_entry else "PYTHONPATH"
    return {
        variable: f"{DEPS_MOUNT}/{site.relative_to(deps_prefix).as_posix()}",
        "PATH": LAYOUT.path(f"{DEPS_MOUNT}/bin"),
    }


# --- model gateway (issue 14) ----------------------------------------------------------------


def start_gateway(staged: Staged):
    """The submission's own model gateway (a fresh socket folder in its job dir), or None when
    the assignment declares none. Started just before the candidate's run."""
    from sandbox.gateway.config import resolve_config
    from sandbox.gateway.job import JobGateway, recording_dir

    config = resolve_config(staged.assignment.spec.gateway)
    if config is None:
        return None
    recordings = recording_dir(staged.job.settings.cache_dir, staged.assignment.id, staged.unpacked.sha256)
    return JobGateway(config, staged.job.job_dir, recordings).start()


@dataclass(frozen=True)
class GatewayFinish:
    """A stopped gateway's summary (None: there was none) and what it tells the report."""

    summary: dict | None = None
    messages: tuple[Message, ...] = ()


def finish_gateway(staged: Staged, gateway, run: SandboxRun | None) -> GatewayFinish:
    """Stop it; the summary goes to the report, the budget and habits into messages, a gateway
    that failed during the run marks the report for review (not the candidate's fault).
    ``run``: the candidate's run (None when it never finished), read for direct model calls."""
    if gateway is None:
        return GatewayFinish()
    from harness.reports.gateway import budget_line

    summary = gateway.finish()
    messages: list[Message] = []
    artifacts_dir = staged.job.options.artifacts_dir
    if artifacts_dir is not None:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gateway.log_path, artifacts_dir / "gateway-calls.jsonl")
    if summary["budget_exhausted"]:
        messages.append(
            Message(
                code="gateway_budget_exhausted",
                text=f"Model budget exhausted: {budget_line(summary)}",
                level=Level.WARNING,
                source="gateway",
            )
        )
    for habit in summary["habits"]:
        messages.append(
            Message(
                code=habit["code"],
                text=habit["text"],
                level=Level.INFO,
                source="gateway",
                visibility=Visibility.REVIEWER,
            )
        )
    from sandbox.gateway.direct import direct_call_host, message_text

    output = run.stdout.text + run.stderr.text if run is not None and gateway.healthy else ""
    host = direct_call_host(output, staged.unpacked.root) if output else None
    if host is not None:
        messages.append(
            Message(code="model_called_directly", text=message_text(host), level=Level.ERROR, source="gateway")
        )
    if not gateway.healthy:
        why = "; ".join(summary["failures"][:3])
        messages.append(
            Message(
                code="gateway_failed",
                level=Level.ERROR,
                source="gateway",
                text=f"The model gateway failed during the run ({why}). Model calls the submission made may "
                "have failed for that reason, which is not the candidate's fault: a reviewer must look at "
                "this report.",
            )
        )
    return GatewayFinish(summary, tuple(messages))


def judge_gateway(staged: Staged):
    """For the ``rag_judge`` grader: opens its own gateway on the assignment's backend (same key,
    no budget, its own log and recording) as a context manager yielding ``{"socket_path",
    "model"}``; None when there is no gateway, no ``judge_model``, or the backend is offline
    (which cannot judge)."""
    import contextlib
    import dataclasses as dc

    from sandbox.gateway.config import resolve_config
    from sandbox.gateway.job import JobGateway, recording_dir

    config = resolve_config(staged.assignment.spec.gateway)
    if config is None or config.backend == "offline" or not config.judge_model:
        return None
    model = config.judge_model
    judge_config = dc.replace(
        config, max_tokens=0, max_requests=0, max_cost_usd=0.0, models={model: config.models.get(model, model)}
    )
    job = staged.job
    recordings = recording_dir(job.settings.cache_dir, staged.assignment.id, staged.unpacked.sha256) / "judge"

    @contextlib.contextmanager
    def open_judge_gateway():
        recordings.mkdir(parents=True, exist_ok=True)  # judged answers may all come from the judge's cache
        gateway = JobGateway(judge_config, job.job_dir, recordings, name="judge-gateway").start()
        try:
            yield {"socket_path": gateway.server.address, "model": model}
        finally:
            gateway.finish()

    return open_judge_gateway
