"""`grade sandbox prune`: removes what dead runs left, never a live run's containers."""

from __future__ import annotations

import os

import pytest

from sandbox import LABEL
from sandbox.cleanup import JOB_PREFIX, new_job_dir, prune

pytestmark = pytest.mark.docker


def make(client, image, **labels):
    return client.containers.create(image, ["true"], labels={LABEL: "1", "io.holdout.test": "cleanup", **labels})


def exists(client, container) -> bool:
    return bool(client.containers.list(all=True, sparse=True, filters={"id": container.id}))


def test_prune_removes_dead_owners_only(docker_client, sandbox_image, tmp_path):
    dead = make(docker_client, sandbox_image, **{"io.holdout.pid": "999999999"})
    live = make(docker_client, sandbox_image, **{"io.holdout.pid": str(os.getpid())})
    unknown = make(docker_client, sandbox_image)
    try:
        scope = ("io.holdout.test=cleanup",)  # never touch other runs' containers
        report = prune(docker_client, tmp_root=tmp_path, labels=scope)
        assert dead.short_id in report.containers
        assert not exists(docker_client, dead)
        assert exists(docker_client, live) and exists(docker_client, unknown)
        prune(docker_client, all_owners=True, tmp_root=tmp_path, labels=scope)
        assert not exists(docker_client, live) and not exists(docker_client, unknown)
    finally:
        for c in (dead, live, unknown):
            try:
                c.remove(force=True)
            except Exception:
                pass


def test_prune_sweeps_job_dirs_of_dead_runs(docker_client, tmp_path):
    mine = new_job_dir(tmp_path)
    stale = tmp_path / f"{JOB_PREFIX}stale"
    stale.mkdir()
    (stale / "owner.pid").write_text("999999999")
    report = prune(docker_client, tmp_root=tmp_path, labels=("io.holdout.test=none",))
    assert str(stale) in report.job_dirs and not stale.exists()
    assert mine.exists()
