"""The library API: ``grade(submission, assignment, settings) -> GradeReport``."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from harness import safeio
from harness.assignments import find_assignment
from harness.errors import ConfigError
from harness.job import GradeOptions, Job, Runner
from harness.models import GradeReport
from harness.pipeline import execute
from harness.reports.assembly import build_report, keep_artifacts
from harness.settings import Settings
from harness.spec import Assignment


def docker_runner(image: str | None, settings: Settings) -> tuple[Runner, str, str]:
    """A runner bound to the local engine and the current sandbox image (which must exist), the
    image's tag and its Python (full version, for :attr:`GradeOptions.image_python`)."""
    from sandbox.cleanup import prune
    from sandbox.engine import connect
    from sandbox.image import image_layout, require_image, runtime_tag
    from sandbox.root_mode import check_mode
    from sandbox.runner import run_container
    from sandbox.venv_copy import venv_mounts

    root_mode = check_mode(settings.sandbox_root)
    client = connect()
    prune(client)  # sweep what a crashed earlier run left behind
    tag = image or settings.image or runtime_tag()
    found = require_image(client, tag)
    python = image_layout(found).python_full_version
    extra = venv_mounts(client, found, settings.cache_dir, settings.sandbox_venv)

    def run(request):
        from dataclasses import replace

        return run_container(client, replace(request, image=tag, mounts=(*request.mounts, *extra), root_mode=root_mode))

    return run, tag, python


def grade(
    submission: str | Path,
    assignment: str | Path | Assignment | None = None,
    settings: Settings | None = None,
    *,
    options: GradeOptions | None = None,
    runner: Runner | None = None,
) -> GradeReport:
    """Grade one submission (zip, tar.gz or directory) and return the report.

    ``assignment``: an id, an assignment folder, or a loaded :class:`~harness.spec.Assignment`;
    None: the submission's ``submission.toml`` names it (by id). ``options`` are never changed.

    Raises :class:`~harness.errors.ConfigError` (no such path, unknown assignment, missing data) and
    :class:`~harness.errors.InfrastructureError` (no engine, no image); everything that is the
    candidate's doing — including an unsafe archive — is in the report.
    """
    from sandbox.cleanup import new_job_dir

    settings = settings or Settings.from_env()
    options = options or GradeOptions()  # frozen: the caller's options are never changed
    source = Path(submission)
    if not source.exists():
        # the operator's mistake, not the candidate's archive: a usage error (2), as in `grade batch`
        raise ConfigError(f"submission {source} does not exist", hint="Check the path you passed to `grade`.")
    # Configuration errors first: a typo in --assignment should not wait for Docker.
    chosen = (
        assignment
        if isinstance(assignment, Assignment) or assignment is None
        else find_assignment(assignment, settings)
    )
    if runner is None:
        runner, image, python = docker_runner(options.image, settings)
        options = replace(options, image=image, image_python=python)
    job = Job(
        source=source, settings=settings, options=options, job_dir=new_job_dir(), runner=runner, assignment=chosen
    )
    started_at, started = round(time.time(), 3), time.monotonic()
    try:
        record = execute(job)
        record.timings = {"started_at": started_at, **record.timings}
        keep_artifacts(record)
        report = build_report(record)
    finally:
        safeio.rmtree(job.job_dir)  # iterative, never raises: candidate code wrote in there
    report.timings["total_s"] = round(time.monotonic() - started, 3)
    return report
