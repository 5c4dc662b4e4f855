"""What a sandbox run gets besides the submission and the public inputs: the assignment's
declared data resources (mounted at ``/resources``) and the candidate's own dependencies
(resolved on the host, installed in a container with no network, mounted at ``/deps``).

Two pipeline steps (:func:`provide_resources`, :func:`install_dependencies`) and what
:func:`harness.pipeline.sandbox_request` adds for them (:func:`mounts`, :func:`sandbox_env`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness import deps, safeio
from harness.models import Level, Message, Verdict, Visibility
from sandbox.layout import LAYOUT
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs

if TYPE_CHECKING:
    from harness.pipeline import Job

DEPS_MOUNT = "/deps"
RESOURCES_MOUNT = "/resources"


def provide_resources(job: Job) -> None:
    """Declared resources (files, NLTK packages, model snapshots), verified and assembled once
    per content into the cache (:mod:`harness.resources`)."""
    from harness.resources import prepare_resources

    assert job.assignment is not None
    job.resources_dir = prepare_resources(job.assignment, job.settings)


def install_dependencies(job: Job) -> None:
    """Resolve the submission's requirements on the host (wheels only, cached) and install them
    in a sandbox container with no network; the candidate's run then sees them."""
    assert job.assignment is not None and job.unpacked is not None
    policy = job.assignment.spec.dependencies
    reqs, messages, source = deps.read_requirements(job.unpacked.root)
    job.messages.extend(messages)
    if source is None or not policy.enabled:
        if source is not None:
            job.messages.append(
                Message(
                    code="dep_disabled",
                    text=f"{source} was ignored: this assignment installs no extra packages.",
                    level=Level.WARNING,
                    source="dependencies",
                )
            )
        return
    plan = deps.apply_policy(reqs, policy, deps.image_pins())
    job.messages.extend(plan.messages)
    record: dict = {"file": source, "preinstalled": plan.satisfied, "installed": [], "refused": []}
    job.provenance["dependencies"] = record
    resolution = deps.resolve(plan, policy, job.settings.cache_dir, job.options.image or "", job.settings.pip_args)
    if resolution is None:
        return
    job.messages.extend(resolution.messages())
    record.update(
        refused=[r["code"] + ": " + r["name"] for r in resolution.refused],
        cache="hit" if resolution.cache_hit else "miss",
        resolve_s=0.0 if resolution.cache_hit else resolution.seconds,
        download_mb=round(resolution.download_bytes / 1e6, 1),
    )
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
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=resolution.root))
    os.chmod(work, 0o755)
    staging = work / "prefix"
    staging.mkdir()
    try:
        os.chown(staging, LAYOUT.candidate_uid, LAYOUT.candidate_uid)
    except PermissionError:
        os.chmod(staging, 0o777)
    dirs = make_job_dirs(job.job_dir / "install")
    limits = job.assignment.spec.sandbox.model_copy(update={"timeout_s": timeout_s})
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
        job.messages.append(
            Message(
                code="dep_install_failed",
                text=f"Installing the requirements failed ({run.verdict.value}); the run went ahead without them.",
                level=Level.WARNING,
                source="dependencies",
            )
        )
        job.messages.append(
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


def mounts(job: Job) -> tuple[Mount, ...]:
    """The read-only mounts for what this job was provided."""
    return (
        *((Mount(job.deps_prefix, DEPS_MOUNT),) if job.deps_prefix else ()),
        *((Mount(job.resources_dir, RESOURCES_MOUNT),) if job.resources_dir else ()),
    )


def sandbox_env(job: Job, *, via_entry: bool = True) -> dict[str, str]:
    """The environment variables that point the candidate's code at them. ``via_entry``: the
    command is the in-container entry, which gets the requirements' path under its own name and
    hands it on to the candidate's processes only (a command that runs nothing trusted, such as
    the candidate's own tests, gets ``PYTHONPATH`` itself)."""
    return {**_deps_env(job, via_entry), **_resources_env(job)}


def _resources_env(job: Job) -> dict[str, str]:
    """``NLTK_DATA``: the submission's own ``nltk_data`` first, then the declared packages;
    ``HF_HOME`` and friends when resources are declared."""
    from harness import resources, workcopy

    shipped = f"{workcopy.NLTK_DATA}:/submission/nltk_data"  # the copy in the run, the original in graders' runs
    if job.resources_dir is None:
        return {"NLTK_DATA": shipped}
    return {**resources.sandbox_env(RESOURCES_MOUNT), "NLTK_DATA": f"{shipped}:{resources.nltk_path(RESOURCES_MOUNT)}"}


def _deps_env(job: Job, via_entry: bool) -> dict[str, str]:
    if job.deps_prefix is None:
        return {}
    site = next(iter(sorted(job.deps_prefix.glob("lib/python3*/site-packages"))))
    variable = LAYOUT.candidate_pythonpath_var if via_entry else "PYTHONPATH"
    return {
        variable: f"{DEPS_MOUNT}/{site.relative_to(job.deps_prefix).as_posix()}",
        "PATH": LAYOUT.path(f"{DEPS_MOUNT}/bin"),
    }


# --- model gateway (issue 14) ----------------------------------------------------------------


def start_gateway(job: Job):
    """The submission's own model gateway (a fresh socket folder in its job dir), or None when
    the assignment declares none. Started just before the candidate's run."""
    from sandbox.gateway.config import resolve_config
    from sandbox.gateway.job import JobGateway, recording_dir

    assert job.assignment is not None and job.unpacked is not None
    config = resolve_config(job.assignment.spec.gateway)
    if config is None:
        return None
    recordings = recording_dir(job.settings.cache_dir, job.assignment.id, job.unpacked.sha256)
    return JobGateway(config, job.job_dir, recordings).start()


def finish_gateway(job: Job, gateway) -> None:
    """Stop it; the summary goes to the report, the budget and habits into messages, a gateway
    that failed during the run marks the report for review (not the candidate's fault)."""
    if gateway is None:
        return
    from harness.reports.gateway import budget_line

    summary = gateway.finish()
    job.gateway = summary
    if job.options.artifacts_dir is not None:
        job.options.artifacts_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gateway.log_path, job.options.artifacts_dir / "gateway-calls.jsonl")
    if summary["budget_exhausted"]:
        job.messages.append(
            Message(
                code="gateway_budget_exhausted",
                text=f"Model budget exhausted: {budget_line(summary)}",
                level=Level.WARNING,
                source="gateway",
            )
        )
    for habit in summary["habits"]:
        job.messages.append(
            Message(
                code=habit["code"],
                text=habit["text"],
                level=Level.INFO,
                source="gateway",
                visibility=Visibility.REVIEWER,
            )
        )
    from sandbox.gateway.direct import direct_call_host, message_text

    output = job.run.stdout.text + job.run.stderr.text if job.run and gateway.healthy else ""
    host = direct_call_host(output, job.unpacked.root if job.unpacked else None) if output else None
    if host is not None:
        job.messages.append(
            Message(code="model_called_directly", text=message_text(host), level=Level.ERROR, source="gateway")
        )
    if not gateway.healthy:
        why = "; ".join(summary["failures"][:3])
        job.messages.append(
            Message(
                code="gateway_failed",
                level=Level.ERROR,
                source="gateway",
                text=f"The model gateway failed during the run ({why}). Model calls the submission made may "
                "have failed for that reason, which is not the candidate's fault: a reviewer must look at "
                "this report.",
            )
        )


def judge_gateway(job: Job):
    """For the ``rag_judge`` grader: opens its own gateway on the assignment's backend (same key,
    no budget, its own log and recording) as a context manager yielding ``{"socket_path",
    "model"}``; None when there is no gateway, no ``judge_model``, or the backend is offline
    (which cannot judge)."""
    import contextlib
    import dataclasses as dc

    from sandbox.gateway.config import resolve_config
    from sandbox.gateway.job import JobGateway, recording_dir

    if job.assignment is None or job.unpacked is None:
        return None
    config = resolve_config(job.assignment.spec.gateway)
    if config is None or config.backend == "offline" or not config.judge_model:
        return None
    model = config.judge_model
    judge_config = dc.replace(
        config, max_tokens=0, max_requests=0, max_cost_usd=0.0, models={model: config.models.get(model, model)}
    )
    recordings = recording_dir(job.settings.cache_dir, job.assignment.id, job.unpacked.sha256) / "judge"

    @contextlib.contextmanager
    def open_judge_gateway():
        recordings.mkdir(parents=True, exist_ok=True)  # judged answers may all come from the judge's cache
        gateway = JobGateway(judge_config, job.job_dir, recordings, name="judge-gateway").start()
        try:
            yield {"socket_path": gateway.server.address, "model": model}
        finally:
            gateway.finish()

    return open_judge_gateway
