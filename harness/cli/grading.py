"""``grade SUBMISSION`` and ``grade batch``: grade, print, write reports, map results to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.base import EXIT_BELOW, EXIT_INFRA, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, _console, cli
from harness.settings import Settings


@cli.command("submission")
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("-a", "--assignment", help="Assignment id or folder (default: from the submission's submission.toml).")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("grade-report"),
    show_default=True,
    help="Where to write report.json, report.md, report.html, junit.xml and the run's artifacts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary.")
@click.option("--fail-under", type=click.FloatRange(0, 100), help="Exit 1 when the score is below this (0-100).")
@click.option("--image", help="Sandbox image tag to use (default: the current content-hashed tag).")
@click.option("--force", is_flag=True, help="Replace a report already in --out.")
def submission_cmd(
    submission: Path,
    assignment: str | None,
    out_dir: Path,
    as_json: bool,
    fail_under: float | None,
    image: str | None,
    force: bool,
) -> None:
    """Grade SUBMISSION (a .zip, .tar.gz or directory)."""
    from harness.api import grade
    from harness.pipeline import GradeOptions
    from harness.reports.write import print_summary, report_json, write_reports

    _claim_out_dir(out_dir, force)
    options = GradeOptions(image=image, artifacts_dir=out_dir / "artifacts")
    report = grade(submission, assignment, settings=Settings.from_env(), options=options)
    paths = write_reports(report, out_dir)
    if as_json:
        click.echo(report_json(report), nl=False)
    else:
        console = _console()
        print_summary(report, console)
        console.print(
            f"report: {paths['html']}  (also {', '.join(p.name for k, p in paths.items() if k != 'html')})",
            highlight=False,
            markup=False,
        )
    code = exit_code_for(report, fail_under)
    if code == EXIT_BELOW:
        click.echo(f"score {report.score:.1f} is below --fail-under {fail_under:g}", err=True)
    elif code == EXIT_INFRA and fail_under is not None:
        click.echo(
            f"no score to compare with --fail-under {fail_under:g}: a grader failed "
            "(the report says which; status needs_review)",
            err=True,
        )
    sys.exit(code)


def _claim_out_dir(out_dir: Path, force: bool) -> None:
    """A second ``grade`` must not silently replace the first one's report: refuse, unless
    ``--force``. (Old artifacts need no care here: the run clears them, and a report links only
    artifacts stamped with its own submission's sha256.)"""
    from harness.errors import ConfigError

    if (out_dir / "report.json").exists() and not force:
        raise ConfigError(
            f"{out_dir} already holds a report",
            hint="Pass --force to replace it, or --out to write the new one elsewhere.",
        )


def exit_code_for(report, fail_under: float | None) -> int:
    if report.status == "rejected":
        return EXIT_REJECTED
    if fail_under is None:
        return EXIT_OK
    if report.score is None:  # a grader failed: CI cannot judge, and it is not the candidate's fault
        return EXIT_INFRA
    return EXIT_BELOW if report.score < fail_under else EXIT_OK


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="Submissions graded in parallel."
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("grade-batch"),
    show_default=True,
    help="Folder for one report folder per submission and the leaderboard.",
)
@click.option("-a", "--assignment", help="Assignment for every submission (default: each one's submission.toml).")
@click.option("--force", is_flag=True, help="Regrade submissions that already have a report.")
@click.option("--junit", is_flag=True, help="Also write one JUnit file for the whole batch (<out>/junit.xml).")
@click.option(
    "--fail-under", type=click.FloatRange(0, 100), help="Exit 1 when any graded submission scores below this (0-100)."
)
@click.option("--image", help="Sandbox image tag to use (default: the current content-hashed tag).")
@click.option(
    "--blind",
    is_flag=True,
    help="Anonymised ids in every report and the leaderboard; names go to <out>/blind-map.json until `grade unblind`.",
)
@click.option(
    "--engine",
    type=click.Choice(["threads", "celery"]),
    default="threads",
    show_default=True,
    help="threads: grade here; celery: send to `grade worker` processes (needs --broker and --store).",
)
@click.option("--broker", help="Celery broker URL for --engine celery, e.g. amqp://127.0.0.1:5672//.")
@click.option("--store", help="Shared store every worker mounts, or s3://BUCKET/PREFIX (--engine celery).")
def batch(
    inputs: tuple[Path, ...],
    jobs: int,
    out_dir: Path,
    assignment: str | None,
    force: bool,
    junit: bool,
    fail_under: float | None,
    image: str | None,
    blind: bool,
    engine: str,
    broker: str | None,
    store: str | None,
) -> None:
    """Grade many submissions (zips, folders, or folders of them) in parallel.

    A failure of one submission never affects the others; finished reports are kept when the
    batch is interrupted, and a rerun skips what is already graded. Exit code 0 unless the
    infrastructure failed (4), a submission could not be set up (2), or --fail-under is missed (1).
    """
    from harness.batch import grade_batch
    from harness.reports.leaderboard import render_batch_junit
    from harness.reports.write import write_atomic

    console = _console()
    if blind and engine != "threads":
        raise click.UsageError("--blind works with --engine threads only (Celery workers write named reports)")
    chosen = None if engine == "threads" and not (broker or store) else _engine_for(engine, broker, store)
    with _batch_progress(console) as (on_event, on_total):
        result = grade_batch(
            list(inputs),
            out_dir,
            Settings.from_env(),
            jobs=jobs,
            assignment=assignment,
            force=force,
            image=image,
            on_event=on_event,
            on_total=on_total,
            blind=blind,
            engine=chosen,
        )
    if junit:
        write_atomic(out_dir / "junit.xml", render_batch_junit(result))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    console.print(f"{len(result.items)} submissions in {result.wall_s:.1f} s: {counts}", markup=False)
    console.print(f"leaderboard: {out_dir / 'summary.html'}  ({out_dir / 'summary.csv'})", markup=False)
    code = batch_exit_code(result, fail_under)
    if code == EXIT_BELOW:
        below = [item.slug for item in result.items if _below(item, fail_under)]
        shown = ", ".join(below[:10]) + (f" and {len(below) - 10} more" if len(below) > 10 else "")
        click.echo(f"{len(below)} submission(s) scored below --fail-under {fail_under:g}: {shown}", err=True)
    sys.exit(code)


def _below(item, fail_under: float | None) -> bool:
    return (
        fail_under is not None
        and item.report is not None
        and item.report.status != "rejected"
        and (item.score or 0.0) < fail_under
    )


def _engine_for(name: str, broker: str | None, store: str | None):
    from harness.workers.engine import engine_for

    return engine_for(name, broker, store)


def batch_exit_code(result, fail_under: float | None) -> int:
    states = {item.state for item in result.items}
    if "infra_error" in states:
        return EXIT_INFRA
    if "error" in states:
        return EXIT_USAGE
    if any(_below(item, fail_under) for item in result.items):
        return EXIT_BELOW
    return EXIT_OK


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _batch_progress(console):
    """A progress bar with ETA and per-state counts, and one line per finished submission."""
    from contextlib import contextmanager

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from harness.visible import visible

    @contextmanager
    def run():
        progress = Progress(
            TextColumn("[bold]grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console,
            transient=True,
        )
        counts: dict[str, int] = {}
        with progress:
            task = progress.add_task("batch", total=None, counts="")

            def on_event(kind, item):
                if kind == "start":
                    return
                counts[item.state] = counts.get(item.state, 0) + 1
                progress.update(task, advance=1, counts=" ".join(f"{k}:{v}" for k, v in sorted(counts.items())))
                score = "–" if item.score is None else f"{item.score:5.1f}"
                style = {"graded": "green", "skipped": "dim"}.get(
                    item.state, "red" if "error" in item.state else "yellow"
                )
                line = Text.assemble(
                    (f"{item.state:<12}", style),
                    f" {score}  {item.duration_s:6.1f} s  ",
                    Text(visible(item.source.name)),
                )
                progress.console.print(line)
                if item.error:  # the whole message and its hint, indented under the row
                    progress.console.print(Text(visible(_indent(item.error))))

            yield on_event, lambda n: progress.update(task, total=n)

    return run()
