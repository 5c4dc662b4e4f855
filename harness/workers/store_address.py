"""Which shared store a ``--store`` value names: a folder every worker mounts
(:mod:`harness.workers.store`) or ``s3://BUCKET/PREFIX``, an S3-compatible object store
(:mod:`harness.workers.s3store`)."""

from __future__ import annotations

import os

from harness.workers.s3store import S3Store
from harness.workers.store import Store


def open_store(spec: str | os.PathLike[str]) -> Store:
    """The store ``spec`` names: a folder every worker mounts, or ``s3://BUCKET/PREFIX`` (an
    S3-compatible object store; :mod:`harness.workers.s3store`)."""
    if isinstance(spec, str) and spec.startswith("s3://"):
        return S3Store.from_url(spec)
    return Store(spec)
