"""The ``grade`` command: parse arguments, call the library, print, map errors to exit codes.

Exit codes: 0 graded; 1 graded but below ``--fail-under`` (or ``grade check``: a canary or the kit
scan did not get its expected outcome); 2 usage or configuration error (incl. an invalid spec or a
kit that would leak hidden content);
3 submission rejected; 4 infrastructure error (no engine, image missing, grader failure
under ``--fail-under``) or a holdout bug (an unexpected exception: the message names the crash
file with the traceback, see :mod:`harness.crash`); 130 interrupted; 141 the reader of stdout went
away (``grade ... | head``: a broken pipe, as for a process killed by SIGPIPE).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness import __version__
from harness.errors import HoldoutError
from harness.settings import Settings

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_REJECTED, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_BROKEN_PIPE = 141


class _ReaderGone(Exception):
    """stdout (or stderr) was closed by its reader. Not an ``OSError``: click turns an ``EPIPE``
    into exit 1, and 1 means "below --fail-under", nothing else."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class GradeGroup(click.Group):
    """``grade SUBMISSION`` grades; ``grade COMMAND`` runs a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            self._refuse_typo(args[0])
            args = ["submission", *args]
        return super().parse_args(ctx, args)

    def _refuse_typo(self, word: str) -> None:
        """``grade lsit`` is a misspelt command, not a missing submission called ``lsit``."""
        import difflib

        if Path(word).exists() or "/" in word or "." in word:
            return
        names = sorted(n for n, c in self.commands.items() if not c.hidden)
        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        if close:
            raise click.UsageError(
                f"no such command {word!r}; did you mean {close[0]!r}? "
                f"(to grade a submission, give the path of a zip, tar.gz or folder)"
            )

    def format_usage(self, ctx, formatter) -> None:
        formatter.write_usage("grade", "SUBMISSION [OPTIONS] | COMMAND [ARGS]...")

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _ReaderGone() from exc


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="holdout")
def cli() -> None:
    """Grade ML take-home submissions in a hardened Docker sandbox against hidden data.

    \b
    grade submission.zip                 grade one submission, print a summary, write ./grade-report/
    grade submission.zip --json          the canonical report.json on stdout (for CI)
    grade doctor                         check the engine and demonstrate every sandbox protection
    grade sandbox build                  build the sandbox image (offline, content-hashed)
    """


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
    options = GradeOptions(assignment=assignment, image=image, artifacts_dir=out_dir / "artifacts")
    report = grade(submission, settings=Settings.from_env(), options=options)
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
                if item.error:
                    line.append(f"  {item.error.splitlines()[0][:120]}")
                progress.console.print(line)

            yield on_event, lambda n: progress.update(task, total=n)

    return run()


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
@click.option("--base-image", help="Use this existing image as the base instead of debootstrapping Debian.")
@click.option("--force", is_flag=True, help="Rebuild even if the content-hashed tag exists.")
def sandbox_build(base_image: str | None, force: bool) -> None:
    """Build the runtime image offline (a no-op when nothing changed)."""
    from sandbox.engine import connect
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
    for mount in venv_mounts(client, client.images.get(info.tag), settings.cache_dir, settings.sandbox_venv):
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
    """Verify the raw files and build the public/hidden splits for ASSIGNMENT."""
    from harness.assignments import find_assignment
    from harness.data import load_manifest, prepare_assignment

    settings = Settings.from_env()
    paths = prepare_assignment(find_assignment(assignment, settings), settings, force=force)
    manifest = load_manifest(paths)
    click.echo(f"prepared {assignment} in {paths.root}")
    for name in sorted(manifest.get("files", manifest)):
        click.echo(f"  {name}")


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


from harness.panel.cli import register as _register_panel  # noqa: E402  (review, panel, similarity, unblind)

_register_panel(cli)

from harness.server.cli import register as _register_server  # noqa: E402  (grade serve, admin, submit)

_register_server(cli)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _cleanup_after_interrupt() -> None:
    import signal

    from sandbox.cleanup import remove_own_containers

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    remove_own_containers()
    click.echo("interrupted: containers and temp dirs were cleaned up", err=True)
    sys.exit(EXIT_INTERRUPTED)


def main(argv: list[str] | None = None) -> None:
    import signal

    if threading_is_main():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        cli.main(args=argv, prog_name="grade", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if as_json:
            _json_error("usage", exc.format_message(), EXIT_USAGE)
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:  # click turns Ctrl-C (and our SIGTERM handler) into Abort
        _cleanup_after_interrupt()
    except HoldoutError as exc:
        if as_json:
            _json_error(type(exc).__name__, exc.message, exc.exit_code, hint=exc.hint)
        click.echo(f"error: {exc.describe()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _cleanup_after_interrupt()
    except (_ReaderGone, BrokenPipeError):
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as exc:  # a holdout bug: exit 4 and a crash file, never a traceback and exit 1
        from harness.crash import describe_crash, write_crash_file

        crash_file = write_crash_file(exc, context="grade " + " ".join(args))
        message = describe_crash(exc, crash_file)
        if as_json:
            _json_error("crash", message, EXIT_INFRA, crash_file=str(crash_file) if crash_file else None)
        try:
            click.echo(f"error: {message}", err=True)
        except OSError:
            pass
        sys.exit(EXIT_INFRA)
    finally:
        if argv is None:  # a process of its own (console script, python -m harness): it exits next
            _exit_fast()
            if not _flushed():  # buffered output met a closed pipe: not exit 1, nor Python's 120
                sys.exit(EXIT_BROKEN_PIPE)


def _json_error(kind: str, message: str, exit_code: int, *, hint: str = "", crash_file: str | None = None) -> None:
    """Under ``--json``, a failure still prints one JSON object on stdout (CI parses stdout):
    ``{"error": {"type", "message", "hint", "exit_code"[, "crash_file"]}}``. The plain message
    goes to stderr as well."""
    error = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
    if crash_file is not None:
        error["crash_file"] = crash_file
    try:
        click.echo(json.dumps({"error": error}, indent=2))
    except OSError:
        pass


def _flushed() -> bool:
    """Flush stdout now (not in the interpreter's shutdown, where a failure becomes exit 120)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    except (OSError, ValueError):
        pass
    return True


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _exit_fast() -> None:
    """Spare the interpreter's final garbage-collection passes over what pandas, scikit-learn
    and nbconvert left in memory (about half a second per run): freeze the collector. Objects
    are still freed by reference counting, atexit handlers and finalizers still run; our own
    cleanup (containers, temp dirs, reports) is done explicitly before this."""
    import gc

    gc.freeze()


from harness.workers.cli import register as _register_workers  # noqa: E402  (grade worker, grade status)

_register_workers(cli)
