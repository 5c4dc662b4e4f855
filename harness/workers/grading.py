"""What one delivery of a key does, on a worker (no Celery here: the task is a thin wrapper).

1. A report already in the store is the answer: returned, nothing graded (a redelivery after a
   crash that came after the report was written, a duplicate message, a resubmission).
2. Otherwise claim the next attempt (see :mod:`harness.workers.store`); while another attempt
   holds a live lease, wait for its report (or for its lease to go stale).
3. Remove what a dead attempt left running: its containers carry the key's label and fixed
   names, so they are found on this engine and removed before grading starts.
4. A key whose attempts keep dying (more than ``max_attempts`` lost) is not graded again: it
   gets a ``needs_review`` report that says why.
5. Grade with the ordinary pipeline, write the report files aside, and publish them (report.json
   last) unless a later attempt took over meanwhile.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path

from harness.errors import HoldoutError, InfrastructureError
from harness.models import (
    AssignmentRef,
    GradeReport,
    Message,
    SubmissionRef,
    Visibility,
)
from harness.pipeline import Runner
from harness.settings import Settings
from harness.workers.store import DEFAULT_LEASE_TTL_S, Entry

KEY_LABEL = "io.holdout.key"
DEFAULT_MAX_ATTEMPTS = 3
WAIT_POLL_S = 1.0


def container_name(key: str, attempt_seq: int) -> str:
    """Fixed per key and per run within an attempt, so every attempt uses the same names."""
    return f"holdout-{key[:24]}-{attempt_seq}"


def remove_key_containers(client, key: str) -> list[str]:
    """Remove every container of ``key`` on this engine (a dead attempt's, still running)."""
    from harness.errors import HoldoutError
    from sandbox.engine import docker_errors

    removed = []
    try:
        with docker_errors("listing a submission's containers"):
            found = client.containers.list(all=True, sparse=True, filters={"label": f"{KEY_LABEL}={key}"})
    except HoldoutError:
        return removed
    for container in found:
        try:
            with docker_errors("removing a dead attempt's container"):
                container.remove(v=True, force=True)
            removed.append(container.id[:12])
        except HoldoutError:
            pass
    return removed


def keyed_runner(runner: Runner, key: str) -> Runner:
    """Give each container of this key's grading its fixed name and the key's label."""
    seq = iter(range(1, 1_000_000))

    def run(request):
        return runner(replace(request, name=container_name(key, next(seq)), labels={**request.labels, KEY_LABEL: key}))

    return run


def summary(entry: Entry, report: GradeReport | None, outcome: str) -> dict:
    return {
        "key": entry.key,
        "outcome": outcome,
        "status": report.status if report else None,
        "score": report.score if report else None,
    }


def grade_key(
    entry: Entry,
    settings: Settings,
    *,
    image: str | None = None,
    runner: Runner | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
    docker_client=None,
) -> dict:
    """Grade the submission under ``entry`` once, whatever the number of deliveries."""
    while True:
        if entry.has_report():
            entry.log("report_reused")
            return summary(entry, entry.read_report(), "reused")
        if entry.read_error() is not None:
            entry.log("error_reused")
            return {"key": entry.key, "outcome": "error", **(entry.read_error() or {})}
        attempt = entry.claim(lease_ttl_s)
        if attempt is not None:
            break
        time.sleep(WAIT_POLL_S)  # another attempt is grading it: its report is ours
    lost = entry.lost_attempts() - 1  # this attempt has not ended either
    with attempt:
        entry.log("attempt_started", attempt=attempt.number, lost_before=lost)
        python = None  # the image's Python; a given runner: the layout's
        if runner is None:
            from harness.api import docker_runner
            from sandbox.engine import connect

            try:
                client = docker_client or connect()
                removed = remove_key_containers(client, entry.key)
                if removed:
                    entry.log("containers_removed", attempt=attempt.number, containers=removed)
                runner, image, python = docker_runner(image, settings)
            except InfrastructureError as exc:
                return _record(entry, attempt.number, "infra_error", exc.describe())
        staging = entry.staging(attempt.number)
        try:
            if lost >= max_attempts:
                report = gave_up_report(entry, lost)
            else:
                report = _grade(entry, settings, image, python, keyed_runner(runner, entry.key), staging)
        except InfrastructureError as exc:
            return _record(entry, attempt.number, "infra_error", exc.describe())
        except HoldoutError as exc:
            return _record(entry, attempt.number, "error", exc.describe())
        except Exception as exc:  # our bug: recorded for the reviewer, the worker goes on
            entry.log("attempt_failed", attempt=attempt.number, traceback=traceback.format_exc()[-4000:])
            return _record(entry, attempt.number, "error", f"internal error: {type(exc).__name__}: {exc}")
        from harness.reports.write import write_reports

        write_reports(report, staging)
        if not attempt.is_latest():  # our lease went stale and another attempt took over
            entry.log("attempt_superseded", attempt=attempt.number)
            return summary(entry, report, "superseded")
        entry.publish(staging)
        entry.log("report_written", attempt=attempt.number, status=report.status, score=report.score)
    return summary(entry, report, "graded")


def _grade(
    entry: Entry, settings: Settings, image: str | None, python: str | None, runner: Runner, staging: Path
) -> GradeReport:
    from harness.api import grade
    from harness.pipeline import GradeOptions

    meta = entry.meta()
    options = GradeOptions(image=image, image_python=python, artifacts_dir=staging / "artifacts")
    return grade(
        entry.submission_path(), meta.get("assignment") or None, settings=settings, options=options, runner=runner
    )


def _record(entry: Entry, attempt: int, state: str, message: str) -> dict:
    entry.record_error(state, message)
    entry.log("error_recorded", attempt=attempt, state=state, error=message[:2000])
    return {"key": entry.key, "outcome": "error", "state": state, "error": message}


def gave_up_report(entry: Entry, lost: int) -> GradeReport:
    """``needs_review``: grading this submission killed its worker ``lost`` times. Not the
    candidate's score: a reviewer looks at it (and at the workers' logs)."""
    meta = entry.meta()
    text = (
        f"grading was not attempted again: {lost} earlier attempts ended with their worker lost "
        "(killed, out of memory, or the machine went down) before a report was written"
    )
    return GradeReport(
        status="needs_review",
        assignment=AssignmentRef(
            id=str(meta.get("assignment") or ""), version=str(meta.get("assignment_version") or "")
        ),
        submission=SubmissionRef(name=str(meta.get("name", "")), sha256=str(meta.get("sha256", ""))),
        messages=[Message(code="worker_lost", text=text, source="workers", visibility=Visibility.REVIEWER)],
        provenance={"store_key": entry.key, "lost_attempts": lost},
    )
