"""Removing what a crashed or interrupted run left behind: containers (by label) and job dirs.

A job dir holds what candidate code wrote (its output and logs folders): folder chains
thousands deep, folders without permissions, links, fifos. It is removed with
:func:`harness.safeio.rmtree`, which is iterative, follows no link and never raises, so no
leftover can make a later ``grade`` or ``grade sandbox prune`` fail (``shutil.rmtree`` recurses:
a 3,000-deep chain raises ``RecursionError``, which ``ignore_errors`` does not cover).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import safeio
from sandbox import LABEL, PID_LABEL
from sandbox.engine import docker_errors

JOB_PREFIX = "holdout-job-"


@dataclass
class PruneReport:
    containers: list[str] = field(default_factory=list)
    job_dirs: list[str] = field(default_factory=list)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def prune(
    client,
    *,
    all_owners: bool = False,
    tmp_root: Path | None = None,
    min_age_s: float = 0,
    labels: tuple[str, ...] = (),
) -> PruneReport:
    """Remove holdout containers whose owning process is gone (all of them with ``all_owners``),
    and job directories whose owning process is gone.

    Called at the start of every grading run (so a crash is swept next time) and by
    ``grade sandbox prune``. A concurrent ``grade`` keeps its own containers: they carry its pid.
    ``labels`` (``key=value``) narrows the sweep further.
    """
    from docker.errors import APIError, NotFound

    report = PruneReport()
    with docker_errors("listing holdout containers"):
        # sparse: no inspect per container, so one that a concurrent run removes meanwhile
        # cannot make this listing fail (labels come with the list response).
        for container in client.containers.list(all=True, sparse=True, filters={"label": [LABEL, *labels]}):
            owner = (container.attrs.get("Labels") or {}).get(PID_LABEL, "")
            if not all_owners and (not owner.isdigit() or pid_alive(int(owner))):
                continue  # a live run's (or one we cannot attribute: `prune --all` removes those)
            try:
                container.remove(v=True, force=True)
            except NotFound:
                continue  # removed concurrently by another run's prune
            except APIError as exc:
                if exc.status_code == 409:  # removal already in progress elsewhere
                    continue
                raise
            report.containers.append(container.short_id)
    root = tmp_root or Path(tempfile.gettempdir())
    now = time.time()
    for path in _job_dirs(root):
        owner = _owner_pid(path)
        if not all_owners and owner > 0 and pid_alive(owner):
            continue
        try:
            if now - path.lstat().st_mtime < min_age_s:
                continue
        except OSError:
            continue
        if path.is_dir() and not path.is_symlink() and safeio.rmtree(path):
            report.job_dirs.append(str(path))
    return report


def _job_dirs(root: Path) -> list[Path]:
    try:
        return [root / name for name in sorted(os.listdir(root)) if name.startswith(JOB_PREFIX)]
    except OSError:
        return []


def _owner_pid(job_dir: Path) -> int:
    """The pid in ``owner.pid`` (written by :func:`new_job_dir`), or -1 if it cannot be read."""
    try:
        pid = int(safeio.read_bounded(job_dir / "owner.pid", 64).strip())
    except (safeio.UntrustedDataError, ValueError):
        return -1
    return pid if 0 < pid <= PID_MAX else -1


PID_MAX = 2**22
"""Linux's highest possible pid: a larger number in ``owner.pid`` is no process (and would
overflow ``os.kill``)."""


def new_job_dir(tmp_root: Path | None = None) -> Path:
    """A private temp dir for one submission, stamped with our pid so prune can tell it is live."""
    path = Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=tmp_root))
    (path / "owner.pid").write_text(str(os.getpid()))
    return path


def remove_own_containers() -> int:
    """Best effort, on interrupt: remove every container this process created, including one
    whose creation was in flight when the signal came (the runner never saw its id)."""
    from docker.errors import DockerException

    from harness.errors import HoldoutError
    from sandbox.engine import connect

    try:
        client = connect()
        mine = client.containers.list(all=True, sparse=True, filters={"label": f"{PID_LABEL}={os.getpid()}"})
    except (HoldoutError, DockerException):
        return 0
    removed = 0
    for container in mine:
        try:
            container.remove(v=True, force=True)
            removed += 1
        except DockerException:
            pass
    return removed
