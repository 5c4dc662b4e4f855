"""The job-engine seam and its database-queue implementation.

``JobEngine`` is what the app talks to: ``start()``, ``notify()`` (a job was queued), ``stop()``.
``DatabaseQueue`` runs N grading threads in this process that claim jobs from the database
(``jobqueue``); ``CeleryJobs`` (``--engine celery``, :mod:`harness.server.celery_jobs`) sends
them to Celery workers through the shared store. Whatever the engine, grading is the same
pipeline and the same report files as ``grade`` (:func:`publish_report` writes them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from harness.server import jobqueue
from harness.server.storage import DataDir

log = logging.getLogger("harness.server")


@dataclass
class Outcome:
    status: str  # graded | rejected | needs_review | failed
    score: float | None = None
    error: str = ""


GradeFn = Callable[[Path, str, Path], Outcome]
"""(uploaded archive, assignment id, report dir) -> outcome; writes the report files."""


class JobEngine(Protocol):
    def start(self) -> None: ...
    def notify(self) -> None: ...
    def stop(self, timeout_s: float = 10) -> None: ...


def grade_submission(archive: Path, assignment: str, out_dir: Path) -> Outcome:
    """Grade with the real pipeline (Docker) and write report.json/.md/.html, junit.xml."""
    from harness.api import grade
    from harness.errors import HoldoutError
    from harness.pipeline import GradeOptions
    from harness.settings import Settings

    try:
        settings = Settings.from_env()
        options = GradeOptions(artifacts_dir=out_dir / "artifacts")
        report = grade(archive, assignment, settings=settings, options=options)
        return publish_report(report, out_dir, assignment, settings=settings)
    except HoldoutError as exc:  # configuration or infrastructure: ours, not the candidate's
        return Outcome("failed", None, exc.describe())


def publish_report(report, out_dir: Path, assignment: str, *, settings=None) -> Outcome:
    """Write a report's files into a submission's folder (with its panel block, as `grade batch`
    does: the report opens the panel, reviews beside it) and say what it means for the row."""
    from harness.errors import HoldoutError
    from harness.panel.scorecard import grading_status, panel_criteria, refresh_panel
    from harness.reports.write import write_reports
    from harness.settings import Settings

    try:
        if panel_criteria(report):
            settings = settings or Settings.from_env()
            report = refresh_panel(out_dir, report, settings=settings, assignment=assignment, write=False)
        write_reports(report, out_dir)
    except HoldoutError as exc:
        return Outcome("failed", None, exc.describe())
    return Outcome(grading_status(report), report.score)


class DatabaseQueue:
    """Grading threads that claim jobs from the database until stopped."""

    def __init__(
        self,
        engine: Engine,
        data: DataDir,
        grade_fn: GradeFn = grade_submission,
        *,
        workers: int = 1,
        poll_s: float = 1.0,
        on_done: Callable[[int, Outcome], None] | None = None,
    ) -> None:
        self.engine, self.data, self.grade_fn = engine, data, grade_fn
        self.workers, self.poll_s, self.on_done = max(0, workers), poll_s, on_done
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        requeued = jobqueue.recover(self.engine)
        if requeued:
            log.warning("re-queued %d submission(s) a stopped server was grading: %s", len(requeued), requeued)
        for n in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"holdout-grader-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def run_one(self) -> bool:
        """Claim and grade one job; False when the queue was empty."""
        claim = jobqueue.claim(self.engine)
        if claim is None:
            return False
        outcome = self._grade(claim)
        if jobqueue.finish(self.engine, claim, outcome.status, outcome.score, outcome.error):
            if self.on_done:
                try:
                    self.on_done(claim.submission_id, outcome)
                except Exception:
                    log.exception("after-grading hook failed for submission %s", claim.submission_id)
        return True

    def _grade(self, claim: jobqueue.Claim) -> Outcome:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT s.sha256, s.filename, s.round_id, r.assignment FROM submissions s "
                    "JOIN rounds r ON r.id = s.round_id WHERE s.id = :s"
                ),
                {"s": claim.submission_id},
            ).one()
        archive = self.data.upload_path(row.sha256, row.filename)
        try:
            return self.grade_fn(archive, row.assignment, self.data.report_dir(row.round_id, claim.submission_id))
        except Exception as exc:  # a harness bug: this submission is flagged, the server goes on
            log.exception("grading submission %s failed", claim.submission_id)
            return Outcome("failed", None, f"internal error: {type(exc).__name__}: {exc}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_one():
                    continue
            except Exception:
                log.exception("job queue error (retrying)")
            self._wake.wait(self.poll_s)
            self._wake.clear()
