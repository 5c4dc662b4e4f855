"""The machine and the catalogue: ``grade doctor``, ``grade sandbox …``, ``grade data prepare``,
``grade list``, ``grade schema``."""

from __future__ import annotations

import json
import sys

import click

from harness.cli.base import EXIT_INFRA, EXIT_OK, _console, cli
from harness.settings import Settings


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--image", help="Image tag to check (default: the current content-hashed tag).")
def doctor(as_json: bool, image: str | None) -> None:
    """Check the engine and image, then demonstrate each sandbox protection in a probe container."""
    from harness.doctor import render_table, run_doctor

    result = run_doctor(image=image or Settings.from_env().image)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        render_table(result, _console())
    sys.exit(EXIT_OK if result["ok"] else EXIT_INFRA)


@cli.group()
def sandbox() -> None:
    """Build the sandbox image, or clean up after crashed runs."""


@sandbox.command("build")
@click.option(
    "--base-image",
    help="Use this existing image (any with python3) as the base instead of debootstrapping Debian; "
    "candidates' requirements are resolved for its Python.",
)
@click.option("--force", is_flag=True, help="Rebuild even if the content-hashed tag exists.")
def sandbox_build(base_image: str | None, force: bool) -> None:
    """Build the runtime image offline (a no-op when nothing changed)."""
    from sandbox.engine import connect, docker_errors
    from sandbox.image import build_image
    from sandbox.venv_copy import venv_mounts

    console = _console(stderr=True)
    settings = Settings.from_env()
    client = connect()
    info = build_image(
        client,
        settings.cache_dir,
        base_image=base_image,
        force=force,
        log=lambda line: console.print(line, highlight=False, markup=False),
    )
    # made now rather than by the first grading run (a few seconds, once per image)
    with docker_errors(f"looking up the image just built ({info.tag})"):
        image = client.images.get(info.tag)
    for mount in venv_mounts(client, image, settings.cache_dir, settings.sandbox_venv):
        console.print(
            f"/opt/venv served read-only from {mount.source} (storage driver is slow for image files)",
            highlight=False,
            markup=False,
        )
    click.echo(info.tag)


@sandbox.command("prune")
@click.option("--all", "all_owners", is_flag=True, help="Also remove containers of runs that are still going.")
@click.option(
    "--cache-age-days",
    type=float,
    default=30,
    show_default=True,
    help="Drop cached candidate dependencies not used for this many days.",
)
@click.option(
    "--cache-max-mb",
    type=float,
    default=5000,
    show_default=True,
    help="Then drop the oldest cached dependencies until the cache is under this size.",
)
def sandbox_prune(all_owners: bool, cache_age_days: float, cache_max_mb: float) -> None:
    """Remove containers and temp dirs left behind by crashed or interrupted runs; trim caches."""
    from harness.deps import prune_cache
    from sandbox.cleanup import prune
    from sandbox.engine import connect
    from sandbox.venv_copy import prune_copies

    client = connect()
    cache_dir = Settings.from_env().cache_dir
    report = prune(client, all_owners=all_owners)
    trimmed = prune_cache(cache_dir, max_age_days=cache_age_days, max_total_mb=cache_max_mb)
    copies = prune_copies(client, cache_dir)
    click.echo(
        f"removed {len(report.containers)} container(s), {len(report.job_dirs)} job dir(s), "
        f"{len(trimmed)} cached dependency set(s) and {len(copies)} copied image environment(s)"
    )


@sandbox.command("tag")
def sandbox_tag() -> None:
    """Print the content-hashed tag the current sources build to."""
    from sandbox.image import runtime_tag

    click.echo(runtime_tag())


@cli.group()
def data() -> None:
    """Resolve and prepare assignment data."""


@data.command("prepare")
@click.argument("assignment")
@click.option("--force", is_flag=True, help="Prepare again even if a cached copy exists.")
def data_prepare(assignment: str, force: bool) -> None:
    """Verify the raw files and build the public/hidden splits for ASSIGNMENT; fetch, check and
    assemble its declared resources (files, NLTK packages, model snapshots)."""
    from harness.assignments import find_assignment
    from harness.data import load_manifest, prepare_assignment
    from harness.resources import prepare_resources

    settings = Settings.from_env()
    found = find_assignment(assignment, settings)
    paths = prepare_assignment(found, settings, force=force)
    manifest = load_manifest(paths)
    click.echo(f"prepared {assignment} in {paths.root}")
    for name in sorted(manifest.get("files", manifest)):
        click.echo(f"  {name}")
    resources = prepare_resources(found, settings)
    if resources is not None:
        click.echo(f"resources (mounted read-only at /resources) in {resources}")


@cli.command("list")
@click.argument("what", type=click.Choice(["assignments", "graders", "metrics"]), default="assignments")
def list_cmd(what: str) -> None:
    """List assignments, graders or metrics."""
    settings = Settings.from_env()
    if what == "assignments":
        from harness.assignments import list_assignments
        from harness.spec import load_assignment

        for name, path in list_assignments(settings).items():
            click.echo(f"{name:<16} {load_assignment(path).spec.title}")
    elif what == "graders":
        from graders.registry import default_registry

        for name, cls in default_registry().items():
            click.echo(f"{name:<16} {cls.DESCRIPTION or (cls.__doc__ or '').strip().splitlines()[0]}")
    else:
        from graders.metrics import default_registry as metric_registry

        registry = metric_registry()
        for name in registry.names():
            metric = registry.get(name)
            click.echo(f"{name:<24} {metric.task:<15} {metric.description}")


@cli.command()
@click.option("--assignment", "which", flag_value="assignment", help="The assignment.toml schema instead.")
def schema(which: str | None) -> None:
    """Print the JSON Schema of report.json (or of assignment.toml)."""
    from harness.models import GradeReport
    from harness.spec import AssignmentSpec

    model = AssignmentSpec if which == "assignment" else GradeReport
    click.echo(json.dumps(model.model_json_schema(), indent=2))
