"""Grading many submissions at once: parallel, isolated, resumable.

- One failure (crash, timeout, rejection, even a configuration problem) is that submission's
  result; the others go on.
- Each report is written atomically as soon as it is done, into ``<out>/<slug>/``.
- A rerun skips submissions whose report already records the same submission sha256 and
  assignment version (``force`` regrades).
- Interrupted (Ctrl-C, SIGTERM): running containers are killed and removed, unfinished
  submissions write nothing, finished reports stay.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from harness.errors import ConfigError, HoldoutError, InfrastructureError
from harness.models import GradeReport
from harness.pipeline import GradeOptions, Runner
from harness.safeio import sha256_file
from harness.settings import Settings
from harness.slugs import ARCHIVE_SUFFIXES, assign_slugs, base_slug, hashed_slug, source_key
from sandbox.cleanup import remove_own_containers

State = Literal["graded", "needs_review", "rejected", "awaiting_panel", "error", "infra_error", "skipped"]
ENTRY_NAMES = ("submission.toml", "predict.py", "solution.ipynb", "rag.py")


@dataclass
class BatchItem:
    source: Path
    slug: str
    state: State | None = None
    report: GradeReport | None = None
    error: str | None = None
    duration_s: float = 0.0
    blind: bool = False
    """``slug`` is an anonymised id; the name lives only in the round's blind map."""

    @property
    def score(self) -> float | None:
        return self.report.score if self.report else None


@dataclass
class BatchResult:
    items: list[BatchItem]
    out_dir: Path
    wall_s: float = 0.0
    interrupted: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def discover(inputs: list[Path]) -> list[Path]:
    """Submissions among ``inputs``: archives, submission folders, or folders of those.

    A folder is itself a submission when it holds a ``submission.toml`` or an entry point;
    otherwise each archive or sub-folder in it is one.
    """
    found: list[Path] = []
    for path in inputs:
        if not path.exists():
            raise ConfigError(f"{path} does not exist", hint="Pass zips, tarballs, or folders of them.")
        if path.is_file() or _is_submission_dir(path):
            found.append(path)
            continue
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_dir() or child.name.endswith(ARCHIVE_SUFFIXES):
                found.append(child)
    if not found:
        raise ConfigError("no submissions found", hint="Pass zips, tarballs, submission folders, or folders of them.")
    return found


def _is_submission_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ENTRY_NAMES)


def slug_for(path: Path, taken: set[str]) -> str:
    """A slug for ``path`` not in ``taken`` (added to it): the name, or on a clash the name plus
    a short hash of the resolved path (:mod:`harness.slugs`; batches also keep a map across reruns)."""
    base, n = base_slug(path), 1
    slug = base
    while slug in taken:
        slug, n = hashed_slug(base, source_key(path), n), n + 1
    taken.add(slug)
    return slug


def submission_digest(path: Path) -> str:
    """The sha256 the report will record: of the archive, or of the folder's contents."""
    if path.is_file():
        return sha256_file(path)
    import tempfile

    from harness.intake import unpack_submission  # a folder's digest is computed while copying

    with tempfile.TemporaryDirectory(prefix="holdout-digest-") as tmp:
        return unpack_submission(path, Path(tmp) / "copy").sha256


def already_graded(report_path: Path, digest: str, settings: Settings, assignment: str | Path | None) -> bool:
    try:
        data = json.loads(report_path.read_text())
    except (OSError, ValueError):
        return False
    if data.get("submission", {}).get("sha256") != digest or data.get("status") not in (
        "graded",
        "rejected",
        "awaiting_panel",
    ):
        return False
    if data["status"] == "rejected":  # the archive itself was refused: same bytes, same answer
        return True
    from harness.assignments import find_assignment

    try:
        current = find_assignment(assignment or data["assignment"]["id"], settings)
    except (HoldoutError, KeyError):
        return False
    return current.spec.version == data["assignment"].get("version")


Event = Callable[[str, BatchItem], None]


class Engine(Protocol):
    """Who grades a batch's items. The default is this module's threads in one process; the
    Celery workers are :class:`harness.workers.engine.CeleryEngine`; the server's database
    queue is the next one. An engine sets each item's ``state``, ``report`` (or ``error``) and
    ``duration_s``, writes its report files into ``<out_dir>/<item.slug>/``, and calls
    ``on_event("start" | "done", item)`` like the threads do; :func:`grade_batch` then writes
    the leaderboard and the CLI maps the states to exit codes, whatever the engine."""

    def grade_items(
        self,
        items: list[BatchItem],
        out_dir: Path,
        settings: Settings,
        *,
        assignment: str | Path | None,
        force: bool,
        image: str | None,
        on_event: Event,
    ) -> None: ...


def grade_batch(
    inputs: list[Path],
    out_dir: Path,
    settings: Settings,
    *,
    jobs: int = 2,
    assignment: str | Path | None = None,
    force: bool = False,
    image: str | None = None,
    runner: Runner | None = None,
    on_event: Event = lambda kind, item: None,
    on_total: Callable[[int], None] = lambda n: None,
    blind: bool = False,
    engine: Engine | None = None,
) -> BatchResult:
    """Grade every submission found in ``inputs`` with ``jobs`` parallel workers.

    ``blind``: report folders, reports and the leaderboard carry anonymised ids; the names go to
    ``<out>/blind-map.json`` for ``grade unblind``."""
    from harness.api import grade
    from harness.reports.write import write_reports

    sources = list({source_key(s): s for s in discover(inputs)}.values())  # each source once
    out_dir.mkdir(parents=True, exist_ok=True)
    if blind:  # anonymised ids, the same on every rerun; the names only in the blind map
        from harness.panel.blind import assign_blind_ids

        items = [
            BatchItem(source=s, slug=cid, blind=True) for s, cid in zip(sources, assign_blind_ids(sources, out_dir))
        ]
    else:
        # the same folder for the same source on every rerun; never one source's folder for another
        items = [BatchItem(source=s, slug=slug) for s, slug in zip(sources, assign_slugs(sources, out_dir))]
    on_total(len(items))
    cancelled = threading.Event()
    result = BatchResult(items=items, out_dir=out_dir)
    started = time.monotonic()
    if engine is not None:
        try:
            engine.grade_items(
                items, out_dir, settings, assignment=assignment, force=force, image=image, on_event=on_event
            )
        except KeyboardInterrupt:
            result.interrupted = True
            raise
        finally:
            _finish(result, started)
        return result

    # -j counts containers: each worker's own (one at a time), and the checks that do not
    # depend on a run start beside it only on a slot no worker is using (harness.grading)
    slots = threading.BoundedSemaphore(max(1, jobs))

    def work(item: BatchItem) -> BatchItem:
        with slots:
            return graded(item)

    def graded(item: BatchItem) -> BatchItem:
        if cancelled.is_set():
            return item
        target = out_dir / item.slug
        t0 = time.monotonic()
        try:
            if not force and already_graded(
                target / "report.json", submission_digest(item.source), settings, assignment
            ):
                item.state = "skipped"
                item.report = GradeReport.model_validate_json((target / "report.json").read_text())
                return item
            on_event("start", item)
            options = GradeOptions(image=image, artifacts_dir=target / "artifacts", container_slots=slots)
            report = grade(item.source, assignment, settings=settings, options=options, runner=runner)
            if cancelled.is_set():  # killed mid-run: its result is not the candidate's
                return item
            if item.blind:
                from harness.panel.blind import anonymise

                report = anonymise(report, item.source, item.slug)
            report = _with_panel(report, target, settings, assignment)
            write_reports(report, target)
            item.report, item.state = report, report.status
        except InfrastructureError as exc:
            item.state, item.error = "infra_error", exc.describe()
        except HoldoutError as exc:
            item.state, item.error = "error", exc.describe()
        except Exception as exc:  # a harness bug in one submission must not lose the others
            from harness.crash import describe_crash, write_crash_file

            path = write_crash_file(exc, context=f"grade batch, {item.source.name}", cache_dir=settings.cache_dir)
            item.state, item.error = "infra_error", describe_crash(exc, path)  # ours, not the candidate's: exit 4
        finally:
            item.duration_s = round(time.monotonic() - t0, 2)
            if item.blind and item.error:
                item.error = item.error.replace(str(item.source), item.slug).replace(item.source.name, item.slug)
        return item

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="holdout-batch")
    pending: set[Future] = {pool.submit(work, item) for item in items}
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED, timeout=0.5)
            for future in done:
                item = future.result()
                if item.state is not None:
                    on_event("done", item)
    except KeyboardInterrupt:
        cancelled.set()
        result.interrupted = True
        for future in pending:
            future.cancel()
        remove_own_containers()  # interrupted workers return at once
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        _finish(result, started)
    return result


def _with_panel(report: GradeReport, target: Path, settings: Settings, assignment) -> GradeReport:
    """A round is what a panel reviews: open the report's panel block (reviews already beside it
    are kept, e.g. after ``--force``)."""
    from harness.panel.scorecard import refresh_panel

    return refresh_panel(target, report, settings=settings, assignment=assignment, write=False)


def _finish(result: BatchResult, started: float) -> None:
    from harness.reports.leaderboard import write_leaderboard

    result.wall_s = round(time.monotonic() - started, 2)
    result.counts = _count(result.items)
    write_leaderboard(result)


def _count(items: list[BatchItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        key = item.state or "not_done"
        counts[key] = counts.get(key, 0) + 1
    return counts
