"""``grade serve --engine celery``: the server's jobs go to Celery workers through the shared store.

The server grades nothing itself. One thread does two things in turn:

- **dispatch**: claim a queued job (the same one-statement claim as the local queue, so a
  server killed here is re-queued at its next start), put the upload in the store under its
  key (:mod:`harness.workers.store`: submission sha256 + assignment id/version + harness
  version), send the key to the assignment's queue, then mark the job as followed
  (``claimed_by = "celery/<key>"``);
- **follow**: for every followed job, look at ``<store>/<key>/``. A ``report.json`` there is
  the answer: its files are written into the round folder (with the panel block, as the local
  queue does) and the row is recorded; an ``error.json`` records the job as ``failed``.

The store is the source of truth and the database follows it: a row is recorded once (only
while its job still carries the same claim), a server restarted at any point picks its
followed jobs up again (and sends their keys once more: a duplicate message is graded once,
the worker returns the store's report), and a submission whose key is already graded (the
same bytes in another round, or graded by ``grade batch --engine celery``) takes that report.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from harness.server import jobqueue
from harness.server.engine import Outcome, publish_report
from harness.server.storage import DataDir

log = logging.getLogger("harness.server")
FOLLOWED = "celery/"
"""``jobs.claimed_by`` of a job whose key was sent: ``celery/<key>`` (no host, so the local
queue's recovery never takes it for a dead thread of this machine)."""


class CeleryJobs:
    """The server's job engine on Celery workers (``start``/``notify``/``stop``, see engine.py)."""

    def __init__(
        self,
        engine: Engine,
        data: DataDir,
        broker: str,
        store: str | Path,
        *,
        poll_s: float = 1.0,
        on_done: Callable[[int, Outcome], None] | None = None,
        celery_app=None,
    ) -> None:
        from harness.workers.engine import CeleryEngine

        self.engine, self.data, self.poll_s, self.on_done = engine, data, poll_s, on_done
        self.sender = CeleryEngine(broker, store, app=celery_app)
        self.store = self.sender.store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the engine seam ---------------------------------------------------------------------

    def start(self) -> None:
        self.store.ensure()
        requeued = jobqueue.recover(self.engine)
        if requeued:
            log.warning("re-queued %d submission(s) a stopped server was sending: %s", len(requeued), requeued)
        self.resend_followed()
        self._thread = threading.Thread(target=self._loop, name="holdout-celery-jobs", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # --- one round of work -------------------------------------------------------------------

    def run_once(self) -> int:
        """Dispatch every queued job, then record every followed job the store has answered;
        the number of jobs dispatched or recorded."""
        done = 0
        while self.dispatch_one():
            done += 1
        return done + self.follow()

    def dispatch_one(self) -> bool:
        claim = jobqueue.claim(self.engine)
        if claim is None:
            return False
        sha256, filename, assignment = self._row(claim.submission_id)
        try:
            entry, queue = self._place(self.data.upload_path(sha256, filename), sha256, assignment)
            if entry.read_error() is not None:  # an earlier harness failure: an admin asked to grade again
                entry.reset(keep_report=True)
            if not entry.has_report():
                self.sender.send(entry, queue)
        except Exception as exc:  # broker down, store unwritable, unknown assignment: the admin sees it
            log.warning("cannot send submission %s to the workers: %s", claim.submission_id, exc)
            describe = getattr(exc, "describe", None)
            message = describe() if callable(describe) else f"{type(exc).__name__}: {exc}"
            self._record(claim, Outcome("failed", None, message))
            return True
        with self.engine.begin() as conn:  # from now on the store answers for this job
            conn.execute(
                text("UPDATE jobs SET claimed_by = :k WHERE id = :j AND status = 'running' AND claimed_by = :w"),
                {"k": FOLLOWED + entry.key, "j": claim.job_id, "w": claim.worker},
            )
        return True

    def follow(self) -> int:
        recorded = 0
        for claim in self._followed():
            entry = self.store.entry(claim.worker.removeprefix(FOLLOWED))
            if entry.has_report():
                report = entry.read_report()
                if report is None:  # report.json is written atomically: this one is not a report
                    outcome = Outcome("failed", None, f"the store's report for key {entry.key} cannot be read")
                else:
                    outcome = self._publish(entry, claim, report)
            elif (error := entry.read_error()) is not None:
                outcome = Outcome("failed", None, str(error.get("error") or error.get("state") or "worker error"))
            else:
                continue
            recorded += self._record(claim, outcome)
        return recorded

    def resend_followed(self) -> None:
        """At start: send again every followed key with no answer in the store (a message the
        broker lost, or one this server never sent before it stopped); the worker grades a
        key once however many messages name it."""
        for claim in self._followed():
            entry = self.store.entry(claim.worker.removeprefix(FOLLOWED))
            if entry.exists() and not entry.has_report() and entry.read_error() is None:
                meta = entry.meta()
                try:
                    from harness.workers import queue_for

                    self.sender.send(entry, queue_for(meta.get("assignment")))
                except Exception as exc:
                    log.warning("cannot send key %s again: %s", entry.key[:12], exc)

    # --- helpers -----------------------------------------------------------------------------

    def _row(self, submission_id: int) -> tuple[str, str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT s.sha256, s.filename, r.assignment FROM submissions s "
                    "JOIN rounds r ON r.id = s.round_id WHERE s.id = :s"
                ),
                {"s": submission_id},
            ).one()
        return row.sha256, row.filename, row.assignment

    def _place(self, archive: Path, sha256: str, assignment: str):
        from harness.assignments import find_assignment
        from harness.settings import Settings
        from harness.workers import queue_for

        spec = find_assignment(assignment, Settings.from_env(), allow_path=False).spec
        entry = self.store.put(
            archive, name=archive.name, sha256=sha256, assignment=assignment, assignment_version=spec.version
        )
        return entry, queue_for(assignment)

    def _followed(self) -> list[jobqueue.Claim]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, submission_id, claimed_by FROM jobs WHERE status = 'running' "
                    "AND claimed_by LIKE :p ORDER BY id"
                ),
                {"p": FOLLOWED + "%"},
            ).all()
        return [jobqueue.Claim(r.id, r.submission_id, r.claimed_by) for r in rows]

    def _publish(self, entry, claim: jobqueue.Claim, report) -> Outcome:
        with self.engine.connect() as conn:
            round_id, assignment = conn.execute(
                text(
                    "SELECT s.round_id, r.assignment FROM submissions s JOIN rounds r ON r.id = s.round_id WHERE s.id = :s"
                ),
                {"s": claim.submission_id},
            ).one()
        out_dir = self.data.report_dir(round_id, claim.submission_id)
        entry.export_reports(out_dir)  # artifacts included; the report files are written again below
        return publish_report(report, out_dir, assignment)

    def _record(self, claim: jobqueue.Claim, outcome: Outcome) -> int:
        if not jobqueue.finish(self.engine, claim, outcome.status, outcome.score, outcome.error):
            return 0
        if self.on_done:
            try:
                self.on_done(claim.submission_id, outcome)
            except Exception:
                log.exception("after-grading hook failed for submission %s", claim.submission_id)
        return 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                log.exception("celery job engine error (retrying)")
            self._wake.wait(self.poll_s)
            self._wake.clear()
