"""``grade review``, ``grade panel``, ``grade similarity``, ``grade unblind``: parse, call
:mod:`harness.panel`, print. Registered on the main ``grade`` group by :func:`register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.errors import ConfigError


class _DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to ``default_cmd``."""

    default_cmd = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_cmd, *args]
        return super().parse_args(ctx, args)


class _ReviewGroup(_DefaultGroup):
    default_cmd = "record"


class _PanelGroup(_DefaultGroup):
    default_cmd = "show"


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--{what} {value!r} is not CRITERION=VALUE", hint=f"e.g. --{what} approach=4")
        out[key.strip()] = rest
    return out


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@click.group(cls=_ReviewGroup)
def review() -> None:
    """Record a reviewer's levels for the panel criteria of a report (`grade review REPORT_DIR
    --reviewer NAME`), or import/export them as a spreadsheet."""


@review.command("record")
@click.argument("report_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--reviewer", required=True, help="Your name (letters, digits, . _ -): the review file's name.")
@click.option("--level", "levels", multiple=True, metavar="CRITERION=N", help="A level 1-5 (repeatable).")
@click.option("--comment", "comments", multiple=True, metavar="CRITERION=TEXT", help="A comment (repeatable).")
@click.option(
    "--recommendation", type=click.Choice(["strong-no", "no", "yes", "strong-yes"]), help="Your hiring recommendation."
)
def review_record(
    report_dir: Path, reviewer: str, levels: tuple[str, ...], comments: tuple[str, ...], recommendation: str | None
) -> None:
    """Record REVIEWER's review of the report in REPORT_DIR (replaces their earlier one)."""
    from harness.panel.reviews import Review, check_review, check_reviewer, write_review
    from harness.panel.scorecard import panel_criteria, read_report

    check_reviewer(reviewer)
    report = read_report(report_dir)
    criteria = panel_criteria(report)
    if not criteria:
        raise ConfigError(
            f'{report.assignment.id}\'s rubric has no panel criteria (kind = "human")',
            hint="Nothing to review here: the report is entirely automated.",
        )
    given, notes = {}, _pairs(comments, "comment")
    for key, value in _pairs(levels, "level").items():
        try:
            given[key] = int(value)
        except ValueError:
            raise ConfigError(f"--level {key}={value!r}: a level is a whole number 1-5") from None
    missing = [c for c in criteria if c not in given]
    if missing:
        if not sys.stdin.isatty():
            raise ConfigError(
                f"no level for {', '.join(missing)}",
                hint="Pass --level CRITERION=N for every panel criterion "
                f"({' '.join(f'--level {c}=N' for c in criteria)}), or run in a terminal to be asked.",
            )
        given, notes, recommendation = _ask(report, missing, given, notes, recommendation)
    try:
        entry = Review(
            reviewer=reviewer,
            levels=given,
            comments=notes,
            recommendation=recommendation,
            submission_sha256=report.submission.sha256,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid review: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}") from None
    check_review(entry, criteria)
    path = write_review(report_dir, entry)
    updated = _refresh(report_dir)
    console = _console()
    console.print(f"recorded {path}", markup=False)
    from harness.panel.render import panel_terminal

    panel_terminal(updated, console)


def _ask(report, missing, given, notes, recommendation):
    """Rich prompts with each criterion's level guide beside it."""
    from rich.panel import Panel
    from rich.prompt import Prompt
    from rich.text import Text

    console = _console()
    for c in (c for c in report.criteria if c.kind == "human" and c.id in missing):
        guide = "\n".join(f"{k}  {v}" for k, v in sorted(c.guide.items())) or "(no level guide)"
        console.print(Panel(Text(guide), title=Text(f"{c.title} ({c.id})"), expand=False))
        given[c.id] = int(Prompt.ask("level", choices=["1", "2", "3", "4", "5"], console=console))
        note = Prompt.ask("comment (optional)", default="", show_default=False, console=console)
        if note:
            notes[c.id] = note
    if recommendation is None:
        answer = Prompt.ask(
            "recommendation",
            choices=["strong-no", "no", "yes", "strong-yes", ""],
            default="",
            show_default=False,
            console=console,
        )
        recommendation = answer or None
    return given, notes, recommendation


def _refresh(report_dir: Path):
    """Re-render the report with its panel, and the round's leaderboard if it is in one."""
    from harness.panel.round import rebuild_leaderboard, round_of
    from harness.panel.scorecard import refresh_panel

    updated = refresh_panel(report_dir)
    parent = round_of(report_dir)
    if parent is not None:
        rebuild_leaderboard(parent)
    return updated


def _round_criteria(round_dir: Path):
    from harness.panel.round import load_reports
    from harness.panel.scorecard import panel_criteria

    reports = load_reports(round_dir)
    criteria: dict[str, str] = {}
    for _, _, report in reports:
        criteria.update(panel_criteria(report))
    if not criteria:
        raise ConfigError(
            f"no panel criteria in the reports under {round_dir}", hint='Their rubric has no kind = "human" criteria.'
        )
    return reports, list(criteria)


@review.command("import")
@click.argument("sheet", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--round",
    "round_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The round's folder (default: the sheet's folder).",
)
def review_import(sheet: Path, round_dir: Path | None) -> None:
    """Import reviews from SHEET (the `grade review export` columns; one row per submission and reviewer)."""
    from harness.panel.reviews import check_review, import_csv, write_review
    from harness.panel.round import rebuild_leaderboard

    round_dir = round_dir or sheet.parent
    reports, criteria = _round_criteria(round_dir)
    by_slug = {slug: (folder, report) for slug, folder, report in reports}
    text = sheet.read_bytes()[: 16 * 2**20].decode("utf-8-sig", errors="replace")
    entries = import_csv(text, criteria)
    for submission, entry in entries:  # check every row before writing any
        if submission not in by_slug:
            raise ConfigError(
                f"{sheet.name}: no submission {submission!r} in {round_dir}",
                hint=f"The submission column holds report folder names: {', '.join(list(by_slug)[:5])} ...",
            )
        check_review(entry, criteria)
    from harness.panel.scorecard import refresh_panel

    for submission, entry in entries:
        folder, report = by_slug[submission]
        entry.submission_sha256 = report.submission.sha256
        write_review(folder, entry)
    for submission in sorted({s for s, _ in entries}):
        refresh_panel(by_slug[submission][0])
    rebuild_leaderboard(round_dir)
    click.echo(f"imported {len(entries)} reviews for {len({s for s, _ in entries})} submissions into {round_dir}")


@review.command("export")
@click.argument("round_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=".")
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write here instead of stdout.")
def review_export(round_dir: Path, out: Path | None) -> None:
    """Export every review in ROUND_DIR as CSV (a blank row for each submission nobody reviewed yet)."""
    from harness.panel.reviews import export_csv, load_reviews

    reports, criteria = _round_criteria(round_dir)
    rows = []
    for slug, folder, _ in reports:
        reviews, _ = load_reviews(folder)
        rows += [(slug, r) for r in reviews] or [(slug, None)]
    text = export_csv(rows, criteria)
    if out is None:
        click.echo(text, nl=False)
    else:
        from harness.reports.write import write_atomic

        write_atomic(out, text)
        click.echo(f"wrote {out}: {len(rows)} rows", err=True)


@click.group(cls=_PanelGroup)
def panel() -> None:
    """Calibrate a round's panel (`grade panel ROUND_DIR`), or compute alpha for a sheet
    (`grade panel alpha FILE.csv`)."""


@panel.command("show")
@click.argument("round_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the calibration as JSON.")
@click.option(
    "--min-candidates",
    type=click.IntRange(2),
    help="Below this many candidates: not enough data yet (default: the assignment's [panel] min_candidates, 5).",
)
@click.option(
    "--target-hours",
    type=click.FloatRange(min=0, min_open=True),
    help="Decision target (default: the assignment's [panel] target_hours, 48).",
)
def panel_show(round_dir: Path, as_json: bool, min_candidates: int | None, target_hours: float | None) -> None:
    """Agreement (Krippendorff's alpha), leniency, automated-vs-panel and turnaround for ROUND_DIR;
    also writes ROUND_DIR/panel.html."""
    from harness.panel.calibration import calibrate_round, render_calibration_html
    from harness.reports.write import write_atomic

    data = calibrate_round(round_dir, min_candidates=min_candidates, target_hours=target_hours)
    write_atomic(round_dir / "panel.html", render_calibration_html(data))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    _print_calibration(data, _console())
    click.echo(f"page: {round_dir / 'panel.html'}")


def _print_calibration(data: dict, console) -> None:
    from rich.table import Table
    from rich.text import Text

    def num(x, d=3):
        return "–" if x is None else f"{x:.{d}f}"

    console.print(Text(f"{data['candidates']} candidates; reviewers: {', '.join(data['reviewers']) or 'none yet'}"))
    table = Table(box=None, header_style="bold")
    for col in ("criterion", "candidates", "alpha", "95% CI", "verdict"):
        table.add_column(col)
    for c in data["criteria"]:
        table.add_row(
            Text(c["title"]),
            str(c["candidates"]),
            num(c["alpha"]),
            f"{num(c['ci_low'])}–{num(c['ci_high'])}",
            Text(c["verdict"]),
        )
    console.print(table)
    for reviewer, v in data["leniency"].items():
        console.print(Text(f"leniency {reviewer}: {num(v['offset'], 2)} over {v['ratings']} ratings"))
    for p in data["pairs"]:
        console.print(
            Text(
                f"agreement {p['a']}–{p['b']}: exact {num(p['exact'], 2)}, within one "
                f"{num(p['within_one'], 2)} over {p['shared']} shared ratings"
            )
        )
    avp = data["automated_vs_panel"]
    console.print(
        Text(
            f"automated vs panel: Spearman {num(avp['spearman'])} over {avp['candidates']} candidates"
            + ("" if avp["enough_data"] else " (not enough data yet)")
        )
    )
    for w in data["waiting"]:
        console.print(Text(f"waiting: {w['submission']} {w['waiting_h']:.1f} h (target {w['target_h']:g} h)"))


@panel.command("alpha")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--level",
    type=click.Choice(["nominal", "ordinal", "interval", "ratio"]),
    default="ordinal",
    show_default=True,
    help="Level of measurement.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"alpha": ...} as JSON.')
def panel_alpha(file: Path, level: str, as_json: bool) -> None:
    """Krippendorff's alpha for FILE.csv: a header row of candidate ids, then one row per
    reviewer with the name first; an empty cell is missing."""
    from harness.panel.alpha import bootstrap_alpha, matrix_from_csv

    try:
        reviewers, units, matrix = matrix_from_csv(file.read_bytes()[: 16 * 2**20].decode("utf-8-sig"), level)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{file}: {exc}",
            hint="Header row: a label, then the candidate ids; then one row per reviewer: the name, then the levels.",
        ) from None
    est = bootstrap_alpha(matrix, level)
    if as_json:
        click.echo(json.dumps(est.as_dict()))
        return
    value = est.as_dict()
    shown = "undefined (no variation)" if value["alpha"] is None else f"{value['alpha']:.3f}"
    ci = "" if value["ci_low"] is None else f" (95% CI {value['ci_low']:.3f}–{value['ci_high']:.3f})"
    click.echo(f"alpha = {shown}{ci}; {level}, {len(reviewers)} reviewers, {est.units} of {len(units)} units pairable")


@click.command("similarity")
@click.argument("round_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help='Print {"pairs": [{"a", "b", "score", "spans"}]} as JSON.')
@click.option("--top", type=click.IntRange(1), default=200, show_default=True, help="Keep this many pairs.")
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to write similarity.json/.html (default: ROUND_DIR when it is a batch round).",
)
def similarity_cmd(round_dir: Path, as_json: bool, top: int, out: Path | None) -> None:
    """Rank pairs of submissions in ROUND_DIR by shared code (winnowing fingerprints; renamed
    variables still match, the starter code is ignored). Evidence for a person: no score changes."""
    from harness.panel.round import rebuild_leaderboard, similarity_round
    from harness.panel.similarity import SIMILARITY_FILE, render_similarity_html
    from harness.reports.leaderboard import ROUND_FILE
    from harness.reports.write import write_atomic

    data, docs = similarity_round(round_dir, top=top)
    target = out or (round_dir if (round_dir / ROUND_FILE).is_file() else None)
    if target is not None:
        write_atomic(target / SIMILARITY_FILE, json.dumps(data, indent=2) + "\n")
        write_atomic(target / "similarity.html", render_similarity_html(data, docs))
        if target == round_dir:
            rebuild_leaderboard(round_dir)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = _console()
    from rich.text import Text

    console.print(
        Text(
            f"{data['submissions']} submissions, {len(data['pairs'])} pairs share code"
            + (f"; sources not found: {', '.join(data['missing'])}" if data["missing"] else "")
        )
    )
    for p in data["pairs"][:20]:
        console.print(Text(f"{p['score']:.2f}  {p['a']} ↔ {p['b']}  ({len(p['spans'])} spans)"))
    if target is not None:
        click.echo(f"page: {target / 'similarity.html'}")


@click.command("unblind")
@click.argument("round_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The blind map, if it was moved out of ROUND_DIR.",
)
def unblind_cmd(round_dir: Path, map_path: Path | None) -> None:
    """Put candidates' names back into a blind round's reports and leaderboard (after the panel scored)."""
    from harness.panel.round import unblind

    done = unblind(round_dir, map_path)
    click.echo(f"unblinded {done} reports in {round_dir}")


def register(cli: click.Group) -> None:
    """Add the panel's commands to the ``grade`` group."""
    cli.add_command(review)
    cli.add_command(panel)
    cli.add_command(similarity_cmd)
    cli.add_command(unblind_cmd)
