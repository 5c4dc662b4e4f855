"""``grade batch --engine celery``: put each submission in the store, send its key, follow the store.

The batch's own process grades nothing. It reads each submission once (the same safe intake
as grading: that gives the sha256 and the assignment the submission names), places it under
its key, and sends one message per key to the assignment's queue. Then it watches the store:
a key is done when its ``report.json`` (or ``error.json``) appears. The report files are copied
into ``<out>/<slug>/``, so the leaderboard, the exit codes and the output folder are those of a
local batch. Interrupting the batch leaves the messages queued: the workers finish them, and a
rerun picks the reports up from the store.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from harness.batch import BatchItem, Event
from harness.errors import (
    ConfigError,
    HoldoutError,
    InfrastructureError,
    SubmissionRejected,
)
from harness.safeio import rmtree, sha256_file
from harness.settings import Settings
from harness.workers import queue_for
from harness.workers.app import redact
from harness.workers.store import Entry
from harness.workers.store_address import open_store
from harness.workers.tasks import TASK_NAME

POLL_S = 0.5


class CeleryEngine:
    """Grades a batch's items on Celery workers (see :class:`harness.batch.Engine`)."""

    def __init__(self, broker: str, store: str | Path, *, app=None) -> None:
        from harness.workers.app import make_app

        self.broker = broker
        self.store = open_store(store)
        self.app = app or make_app(broker)

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
    ) -> None:
        self.store.ensure()
        following: dict[str, list[BatchItem]] = {}
        sent_at: dict[str, float] = {}
        for item in items:
            try:
                entry, queue = self.place(item.source, settings, assignment)
            except InfrastructureError as exc:
                item.state, item.error = "infra_error", exc.describe()
            except HoldoutError as exc:
                item.state, item.error = "error", exc.describe()
            else:
                if entry.key in following:  # the same submission twice in one batch: graded once
                    following[entry.key].append(item)
                    continue
                following[entry.key] = [item]
                if force:
                    entry.reset()
                elif entry.has_report():
                    continue  # picked up below, as "skipped"
                else:
                    entry.reset(keep_report=True)  # an earlier harness error is tried again
                self.send(entry, queue)
                sent_at[entry.key] = time.monotonic()
                on_event("start", item)
                continue
            on_event("done", item)
        while following:
            for key in list(following):
                entry = self.store.entry(key)
                report = entry.read_report() if entry.has_report() else None
                error = None if report else entry.read_error()
                if report is None and error is None:
                    continue
                for item in following.pop(key):
                    item.duration_s = round(time.monotonic() - sent_at[key], 2) if key in sent_at else 0.0
                    if report is not None:
                        entry.export_reports(out_dir / item.slug)
                        item.report = report
                        item.state = report.status if key in sent_at else "skipped"
                    else:
                        item.state, item.error = str(error.get("state", "error")), str(error.get("error", ""))
                    on_event("done", item)
            if following:
                time.sleep(POLL_S)

    def place(self, source: Path, settings: Settings, assignment: str | Path | None) -> tuple[Entry, str]:
        """Put ``source`` in the store under its key; return the entry and the queue for it."""
        from harness.assignments import find_assignment
        from harness.intake import unpack_submission
        from harness.pipeline import read_manifest

        self.store.ensure()
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.store.scratch_dir))
        try:
            ref = assignment
            try:
                unpacked = unpack_submission(source, tmp / "copy")
            except SubmissionRejected:
                if not source.is_file():
                    raise
                sha, files = sha256_file(source), source  # the worker writes the rejected report
            else:
                sha, files = unpacked.sha256, source if source.is_file() else unpacked.root
                if ref is None:
                    ref = read_manifest(unpacked.root).get("assignment")
                if not ref or not isinstance(ref, (str, Path)):
                    raise ConfigError(
                        "cannot tell which assignment this submission is for",
                        hint='Pass --assignment ID, or add submission.toml with `assignment = "ID"`.',
                    )
            chosen = find_assignment(ref, settings, allow_path=assignment is not None) if ref else None
            aid, version = (chosen.id, chosen.spec.version) if chosen else (None, None)
            entry = self.store.put(files, name=source.name, sha256=sha, assignment=aid, assignment_version=version)
        finally:
            rmtree(tmp)
        return entry, queue_for(aid)

    def send(self, entry: Entry, queue: str) -> None:
        try:
            self.app.send_task(
                TASK_NAME,
                args=[entry.key, self.store.location],
                queue=queue,
                retry=True,
                retry_policy={"max_retries": 5, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0},
            )
        except Exception as exc:  # kombu's OperationalError and socket errors: the broker is unreachable
            raise InfrastructureError(
                f"cannot send the job to the broker at {redact(self.broker)}: {exc}",
                hint="Start it (`make broker` for a local one) or check --broker.",
            ) from None
        entry.log("sent", queue=queue)


def engine_for(name: str, broker: str | None, store: str | Path | None):
    """The batch engine ``name`` (``None`` for the in-process threads)."""
    if name == "threads":
        if broker or store:
            raise ConfigError("--broker and --store are for --engine celery")
        return None
    require_celery_options(broker, store)
    return CeleryEngine(broker, store)


def require_celery_options(broker: str | None, store: object | None) -> None:
    """``--engine celery`` needs both a broker and a store (exit 2 with an example otherwise)."""
    if not broker or store is None:
        raise ConfigError(
            "--engine celery needs --broker URL and --store DIR",
            hint="e.g. --broker amqp://127.0.0.1:5672// --store /mnt/holdout-store (`make broker` starts a local one).",
        )
