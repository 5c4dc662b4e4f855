"""Grading beyond one machine: Celery workers on RabbitMQ (or Redis), and the shared store.

- :mod:`harness.workers.store`: ``<store>/<key>/`` holds the submission, the attempts (leases)
  and, once graded, the report files. The store, not the queue, is the source of truth.
  :mod:`harness.workers.s3store` is the same on an S3-compatible object store;
  :mod:`harness.workers.store_address` opens the one a ``--store`` value names.
- :mod:`harness.workers.grading`: what one delivery of a key does (no Celery in it).
- :mod:`harness.workers.app` and :mod:`harness.workers.tasks`: the Celery app and its task.
- :mod:`harness.workers.engine`: ``grade batch --engine celery`` (submit, then follow the store).
- :mod:`harness.workers.localbroker`: a throwaway RabbitMQ or Redis on loopback (``make broker``,
  tests).

Needs the ``[distributed]`` extra (Celery); nothing else in holdout imports this package.
"""

from __future__ import annotations

DEFAULT_QUEUE = "holdout.default"


def queue_for(assignment_id: str | None) -> str:
    """The queue of an assignment's submissions (so heavy assignments can get their own machines)."""
    return f"holdout.{assignment_id}" if assignment_id else DEFAULT_QUEUE
