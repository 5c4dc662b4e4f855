"""``grade check``: the assignment author's CI.

Static checks first (spec, graders and metrics, rubric references, grader-specific problems,
canary folders), then the data (checksums, preparation), the starter kit's leak scan, and
finally every canary graded end to end in the sandbox, each with its own time limit, and
compared with its declared outcome (:func:`canary_problems`).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.authoring.guides import guide_problems, level_problems
from harness.errors import SpecError
from harness.models import GradeReport, GraderStatus
from harness.settings import Settings
from harness.spec import Assignment, AssignmentSpec, CanarySpec


def canary_problems(report: GradeReport, canary: CanarySpec, assignment: AssignmentSpec | None = None) -> list[str]:
    """Every way ``report`` misses ``canary``'s expectations; empty when it matches.

    With ``assignment``, also every rubric row whose level contradicts its guide or the level
    the canary declares (:func:`harness.authoring.guides.level_problems`)."""
    problems: list[str] = []
    if canary.status and report.status != canary.status:
        problems.append(f"status {report.status}, expected {canary.status}")
    score = report.score
    if canary.min_score is not None and (score is None or score < canary.min_score):
        problems.append(f"score {score}, expected >= {canary.min_score}")
    if canary.max_score is not None and (score is None or score > canary.max_score):
        problems.append(f"score {score}, expected <= {canary.max_score}")
    verdict = report.sandbox.verdict.value if report.sandbox else None
    if canary.verdict and verdict != canary.verdict:
        problems.append(f"verdict {verdict}, expected {canary.verdict}")
    codes = {m.code for m in report.messages} | {m.code for g in report.graders for m in g.messages}
    if canary.message and canary.message not in codes:
        problems.append(f"no message {canary.message!r} (got {', '.join(sorted(codes)) or 'none'})")
    for name, (low, high) in canary.metrics.items():
        value = report.metrics.get(name)
        if value is None or not low <= value <= high:
            problems.append(f"{name} = {value}, expected in [{low}, {high}]")
    if assignment is not None:
        problems += level_problems(report, assignment, canary.levels)
    return problems


@dataclass
class CheckRow:
    """One line of the ``grade check`` table."""

    name: str
    ok: bool
    expected: str = ""
    got: str = ""
    problems: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass
class CheckReport:
    assignment: str
    rows: list[CheckRow] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def describe_expectation(canary: CanarySpec) -> str:
    parts = []
    if canary.verdict:
        parts.append(f"verdict {canary.verdict}")
    if canary.status and canary.status != "graded":
        parts.append(f"status {canary.status}")
    if canary.min_score is not None and canary.max_score is not None:
        parts.append(f"score {canary.min_score:g}–{canary.max_score:g}")
    elif canary.min_score is not None:
        parts.append(f"score ≥ {canary.min_score:g}")
    elif canary.max_score is not None:
        parts.append(f"score ≤ {canary.max_score:g}")
    if canary.message:
        parts.append(f"message {canary.message}")
    parts += [f"{name} in [{low:g}, {high:g}]" for name, (low, high) in canary.metrics.items()]
    parts += [f"{cid} level {level}" for cid, level in canary.levels.items()]
    return ", ".join(parts) or "graded"


def describe_outcome(report: GradeReport, canary: CanarySpec) -> str:
    parts = [f"verdict {report.sandbox.verdict.value}" if report.sandbox else "not run"]
    if report.status != "graded":
        parts.append(f"status {report.status}")
    parts.append("score –" if report.score is None else f"score {report.score:.1f}")
    for name in canary.metrics:
        value = report.metrics.get(name)
        parts.append(f"{name} {'–' if value is None else f'{value:.3g}'}")
    levels = {row.id: row.level for row in report.criteria}
    parts += [f"{cid} level {levels.get(cid, '–')}" for cid in canary.levels]
    parts += grader_errors(report)
    return ", ".join(parts)


def grader_errors(report: GradeReport) -> list[str]:
    """Each grader that failed (the harness's or the author's bug), with its reason: what the
    author needs to see when a canary comes out ``needs_review``."""
    return [
        f"grader {g.grader} failed: {(g.error or 'no reason recorded').strip()[:300]}"
        for g in report.graders
        if g.status == GraderStatus.ERROR
    ]


def unmeasured_criteria(spec: AssignmentSpec, reports: list[GradeReport]) -> list[str]:
    """Automated criteria whose measurement no graded canary produced (a misspelt name gives
    every submission level 1, "not measured"), each with the closest produced name."""
    produced = {
        f"{g.grader}.{name}"
        for r in reports
        for g in r.graders
        if g.status == GraderStatus.OK
        for name in g.measurements
    }
    if not produced:
        return []  # no grader ran cleanly: the canary rows already say why
    problems = []
    for i, c in enumerate(spec.rubric.criteria):
        if c.kind != "automated" or not c.measurement or c.measurement in produced:
            continue
        close = difflib.get_close_matches(c.measurement, sorted(produced), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; measured: {', '.join(sorted(produced))}"
        problems.append(f"rubric.criteria[{i}] ({c.id}): no grader produced {c.measurement!r}{hint}")
    return problems


def stated_limits(assignment: Assignment, graders: list) -> list[tuple[str, str]]:
    """Every limit on what a submission writes, as (what, phrase): the sandbox's (largest file,
    scratch space) and each grader's on the files it reads (:meth:`Grader.output_limits`)."""
    box = assignment.spec.sandbox
    limits = [
        ("largest file the code may write", f"{box.file_size_mb:g} MiB"),
        ("scratch space in /tmp", f"{box.tmpfs_mb:g} MiB"),
    ]
    for grader in graders:
        limits += grader.output_limits(box.output_read_mb * 2**20)
    return limits


def unstated_limits(assignment: Assignment, graders: list) -> list[str]:
    """Limits the candidate README (``README.md`` of the assignment, shipped in the kit) does
    not state: a candidate must not meet a limit they were never told about."""
    readme = assignment.root / "README.md"
    if not readme.is_file():
        return []  # the kit's README is then built from the description: nothing to check
    text = " ".join(readme.read_text(encoding="utf-8").replace("**", "").replace("`", "").split())
    return [
        f"README.md does not state the limit on the {what} ({phrase!r}); say it where the output is described"
        for what, phrase in stated_limits(assignment, graders)
        if phrase not in text
    ]


def static_problems(assignment: Assignment) -> list[str]:
    """Everything wrong with the assignment that needs no data and no container."""
    from graders.registry import default_registry

    spec, root = assignment.spec, assignment.root
    problems: list[str] = []
    registry = default_registry(root)
    graders = []
    for i, g in enumerate(spec.graders):
        try:
            graders.append(registry.instantiate(g, i))
        except SpecError as exc:
            problems.append(exc.message)
        except Exception as exc:  # unknown grader name (ConfigError) and friends
            problems.append(f"graders[{i}].use: {getattr(exc, 'message', exc)}")
    keys = [g.key for g in spec.graders]
    if len(set(keys)) != len(keys):
        problems.append(f"graders: two graders publish under the same name ({', '.join(keys)}); set 'name' on one")
    for i, c in enumerate(spec.rubric.criteria):
        if c.kind == "automated" and c.measurement:
            grader = c.measurement.split(".", 1)[0]
            if grader not in keys or "." not in c.measurement:
                problems.append(
                    f"rubric.criteria[{i}].measurement: {c.measurement!r} names no grader "
                    f"(expected '<grader>.<measurement>' with a grader among {', '.join(keys) or 'none'})"
                )
    for grader in graders:
        problems += [f"graders ({grader.name}): {p}" for p in grader.problems(root)]
    problems += guide_problems(spec)
    problems += unstated_limits(assignment, graders)
    criteria = {c.id for c in spec.rubric.criteria}
    for i, c in enumerate(spec.canaries):
        if unknown := sorted(set(c.levels) - criteria):
            problems.append(f"canaries[{i}].levels: no criterion {', '.join(map(repr, unknown))}")
    names = [c.name for c in spec.canaries]
    if len(set(names)) != len(names):
        problems.append("canaries: two canaries share a name")
    for i, c in enumerate(spec.canaries):
        if not (root / c.path).is_dir():
            problems.append(f"canaries[{i}].path: folder {c.path!r} does not exist")
    if not spec.canaries:
        problems.append("canaries: none declared; add at least a reference solution with min_score")
    return problems


def check_assignment(
    assignment: Assignment,
    settings: Settings,
    *,
    runner=None,
    image: str | None = None,
    only: list[str] | None = None,
    progress: Callable[[CheckRow], None] = lambda row: None,
) -> CheckReport:
    """Validate ``assignment`` and run its canaries end to end; one row per check.

    Raises :class:`SpecError` for static problems and :class:`~harness.errors.DataError` for
    data that cannot be verified or prepared (exit 2); canary mismatches are rows (exit 1).
    """
    from harness.api import docker_runner, grade
    from harness.authoring.kit import scan_kit
    from harness.data import prepare_assignment, verify_prepared
    from harness.pipeline import GradeOptions

    started = time.monotonic()
    report = CheckReport(assignment=assignment.id)

    def add(row: CheckRow) -> None:
        report.rows.append(row)
        progress(row)

    names = [c.name for c in assignment.spec.canaries]
    if only is not None and (unknown := sorted(set(only) - set(names))):
        raise SpecError(
            f"no canary named {', '.join(map(repr, unknown))}", hint=f"Canaries of {assignment.id}: {', '.join(names)}."
        )
    t = time.monotonic()
    problems = static_problems(assignment)
    if problems:
        raise SpecError(
            "\n  ".join(["the assignment does not pass its static checks:", *problems]),
            path=str(assignment.root / "assignment.toml"),
            hint="Fix these and run `grade check` again.",
        )
    spec = assignment.spec
    add(
        CheckRow(
            "spec, graders, rubric",
            True,
            got=f"{len(spec.graders)} graders, {len(spec.rubric.criteria)} criteria, {len(spec.canaries)} canaries",
            duration_s=round(time.monotonic() - t, 2),
        )
    )

    t = time.monotonic()
    prepared = prepare_assignment(assignment, settings)
    broken = verify_prepared(prepared)
    add(
        CheckRow(
            "data",
            not broken,
            expected="sources match their sha256; prepared files intact",
            got=(f"{len(spec.data.sources)} source(s) verified" if spec.data.sources else "no sources declared")
            + f", prepared {prepared.root.name}"
            + (f"; altered: {', '.join(broken)}" if broken else ""),
            problems=[f"prepared file altered: {b} (run `grade data prepare --force`)" for b in broken],
            duration_s=round(time.monotonic() - t, 2),
        )
    )

    t = time.monotonic()
    kit = scan_kit(assignment, settings, prepared)
    scanned = f"{len(kit.files)} files scanned against {kit.hidden_files} hidden"
    if kit.warnings:
        scanned += f"; {len(kit.warnings)} placeholder(s) left: " + "; ".join(kit.warnings[:3])
    add(
        CheckRow(
            "starter kit",
            kit.ok,
            expected="no hidden content",
            got=scanned if kit.ok else f"{len(kit.leaks)} leak(s)",
            problems=[str(leak) for leak in kit.leaks],
            duration_s=round(time.monotonic() - t, 2),
        )
    )

    canaries = [c for c in spec.canaries if only is None or c.name in only]
    image_python = None  # a given runner: the layout's
    if canaries and runner is None:
        runner, image, image_python = docker_runner(image, settings)
    reports = []
    for canary in canaries:
        t = time.monotonic()
        options = GradeOptions(image=image, image_python=image_python, timeout_s=canary.timeout_s)
        graded = grade(assignment.root / canary.path, assignment, settings=settings, options=options, runner=runner)
        reports.append(graded)
        problems = canary_problems(graded, canary, spec)
        if problems:
            problems += grader_errors(graded)
        add(
            CheckRow(
                f"canary {canary.name}",
                not problems,
                expected=describe_expectation(canary),
                got=describe_outcome(graded, canary),
                problems=problems,
                duration_s=round(time.monotonic() - t, 2),
            )
        )
    if reports:
        unmeasured = unmeasured_criteria(spec, reports)
        add(
            CheckRow(
                "rubric measurements",
                not unmeasured,
                expected="every automated criterion measured",
                got=f"{sum(c.kind == 'automated' for c in spec.rubric.criteria)} criteria measured by the canaries"
                if not unmeasured
                else f"{len(unmeasured)} never measured",
                problems=unmeasured,
            )
        )
    report.duration_s = round(time.monotonic() - started, 2)
    return report


def render_check(report: CheckReport, console) -> None:
    """The ``grade check`` table (rich)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"grade check {report.assignment}", header_style="bold", show_lines=False)
    for col in ("check", "expected", "got", "time", "result"):
        table.add_column(col, overflow="fold")
    for row in report.rows:
        result = Text("ok", "green") if row.ok else Text("MISMATCH\n" + "\n".join(row.problems), "red")
        table.add_row(Text(row.name), Text(row.expected), Text(row.got), f"{row.duration_s:.1f} s", result)
    console.print(table)
    failed = [r for r in report.rows if not r.ok]
    verdict = (
        Text("all checks pass", "bold green") if not failed else Text(f"{len(failed)} check(s) failed", "bold red")
    )
    console.print(Text.assemble(verdict, f"  ({len(report.rows)} checks in {report.duration_s:.1f} s)"))


def check_as_dict(report: CheckReport) -> dict:
    """``grade check --json``."""
    return {
        "assignment": report.assignment,
        "ok": report.ok,
        "duration_s": report.duration_s,
        "checks": [row.__dict__ for row in report.rows],
    }
