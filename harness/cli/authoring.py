"""The author's and the candidate's commands: ``grade new``, ``grade check``, ``grade kit``,
``grade selfcheck``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.cli.base import EXIT_BELOW, EXIT_OK, _console, cli
from harness.settings import Settings


@cli.command("new")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["classification", "regression", "rag"]),
    default="classification",
    show_default=True,
    help="Which template to start from.",
)
@click.option("--title", help="The assignment's title (default: from the folder name).")
def new_cmd(path: Path, kind: str, title: str | None) -> None:
    """Scaffold a new assignment folder at PATH (its name is the assignment id)."""
    from harness.authoring.new import new_assignment

    written = new_assignment(path, kind, title)
    click.echo(f"created {path} ({kind}, {len(written)} files). Next:")
    click.echo("  1. add data: declare it in assignment.toml and prepare.py (or rewrite load_table in prepare.py)")
    click.echo("  2. write canaries/reference: a good solution, and set the canaries' expected scores")
    click.echo(f"  3. grade check {path}")


@cli.command()
@click.argument("assignment")
@click.option("--canary", "canaries", multiple=True, help="Run only this canary (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.option("--image", help="Sandbox image tag to use (default: the current content-hashed tag).")
def check(assignment: str, canaries: tuple[str, ...], as_json: bool, image: str | None) -> None:
    """Validate ASSIGNMENT and run every canary end to end; exit 1 on any mismatch."""
    from harness.assignments import find_assignment
    from harness.authoring.check import check_as_dict, check_assignment, render_check

    settings = Settings.from_env()
    chosen = find_assignment(assignment, settings)
    err = _console(stderr=True)
    report = check_assignment(
        chosen,
        settings,
        image=image or settings.image,
        only=list(canaries) or None,
        progress=lambda row: err.print(
            f"{'ok  ' if row.ok else 'FAIL'} {row.name} ({row.duration_s:.1f} s)", highlight=False, markup=False
        ),
    )
    if as_json:
        click.echo(json.dumps(check_as_dict(report), indent=2))
    else:
        console = _console()
        if not console.is_terminal:
            console.width = 160  # a log file or CI: keep one line per check
        render_check(report, console)
    sys.exit(EXIT_OK if report.ok else EXIT_BELOW)


@cli.command()
@click.argument("assignment")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Where to write the zip (default: ./<id>-kit.zip).")
def kit(assignment: str, out: Path | None) -> None:
    """Build the candidate starter kit for ASSIGNMENT; refuses if any hidden content is inside."""
    from harness.assignments import find_assignment
    from harness.authoring.kit import build_kit

    settings = Settings.from_env()
    chosen = find_assignment(assignment, settings)
    out = out or Path(f"{chosen.id}-kit.zip")
    built = build_kit(chosen, settings, out)
    click.echo(f"wrote {out}: {len(built.files)} files, scanned against {built.hidden_files} hidden files")
    for name in sorted(built.files):
        click.echo(f"  {chosen.id}/{name}")
    for warning in built.warnings:
        click.echo(f"warning: {warning}", err=True)
    if built.warnings:
        click.echo(
            "  hint: candidates read these files; fill in the placeholders (the datasets' licences "
            "usually require the attribution) and build the kit again.",
            err=True,
        )


@cli.command()
@click.argument("submission", type=click.Path(path_type=Path), default=".")
@click.option("--kit", "kit_dir", type=click.Path(path_type=Path), help="The starter kit folder (default: SUBMISSION).")
@click.option(
    "--outputs",
    type=click.Path(path_type=Path),
    help="Check this folder of your own run's outputs instead of running the code in the sandbox.",
)
@click.option("--image", help="Sandbox image tag to use (default: the current content-hashed tag).")
def selfcheck(submission: Path, kit_dir: Path | None, outputs: Path | None, image: str | None) -> None:
    """Check SUBMISSION (default: this folder) against the starter kit's dev split: run it in the
    sandbox when Docker is here, then check its outputs' files, columns, ids and labels; exit 1 on
    any problem."""
    from harness.authoring.selfcheck import selfcheck as run_selfcheck

    settings = Settings.from_env()
    result = run_selfcheck(submission, settings, kit=kit_dir, outputs=outputs, image=image or settings.image)
    for check in result.checks:
        first, *rest = check.detail.splitlines() or [""]
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {first}")
        for line in rest:
            click.echo(f"       {line}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.ok:
        click.echo("selfcheck passed: the output has the shape the grader expects (this is not a score)")
    else:
        click.echo("selfcheck found problems (see FAIL above)", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_BELOW)
