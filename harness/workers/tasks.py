"""The one Celery task: grade the submission a key names (see :mod:`harness.workers.grading`)."""

from __future__ import annotations

TASK_NAME = "holdout.grade"


def register(app) -> None:
    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def grade(key: str, store: str) -> dict:
        """``store`` is where the submitter saw the store; a worker started with ``--store``
        uses its own mount point instead (machines may mount it at different paths)."""
        from harness.errors import ConfigError
        from harness.settings import Settings
        from harness.workers.grading import DEFAULT_MAX_ATTEMPTS, grade_key
        from harness.workers.store import DEFAULT_LEASE_TTL_S
        from harness.workers.store_address import open_store

        conf = app.conf.holdout or {}
        entry = open_store(conf.get("store") or store).entry(key)
        try:
            if not entry.exists():  # nothing can be recorded: say it in the worker's log
                raise ConfigError(
                    f"key {key} is not in the store {entry.store_location} on this worker",
                    hint="Every worker must mount the store the batch submits to.",
                )
            return grade_key(
                entry,
                Settings.from_env(),
                image=conf.get("image"),
                max_attempts=conf.get("max_attempts") or DEFAULT_MAX_ATTEMPTS,
                lease_ttl_s=conf.get("lease_ttl_s") or DEFAULT_LEASE_TTL_S,
            )
        finally:
            entry.cleanup()
