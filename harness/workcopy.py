"""The candidate's writable working copy: where its code runs, as on its own laptop.

The unpacked submission stays pristine and read-only at ``/submission`` (lint, the hidden
tests, the report read that one). For the candidate's run the host copies it into the run's
job folder, owned by the candidate uid, and mounts that read-write at :data:`WORK_MOUNT`, the
run's working directory: relative reads work, and so do writes such as ``models/model.pkl``
or ``vector_store.json``.

It is one of the run's writable mounts, so the output quota and the entry limit watch it; the
copy's own size is the baseline the quota starts from (:func:`make_work_copy`). What the
candidate writes there is never read back by the host (the folder is removed with the job).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sandbox.layout import LAYOUT
from sandbox.runner import CANDIDATE_UID, usage

WORK_MOUNT = LAYOUT.workspace_mount
NLTK_DATA = f"{WORK_MOUNT}/nltk_data"
"""NLTK data shipped in the submission (``nltk_data/corpora/stopwords/...``) is found first."""


def make_work_copy(submission: Path, dest: Path) -> tuple[int, int]:
    """Copy ``submission`` to ``dest`` (links copied as links, never followed), owned by the
    candidate uid; returns its (bytes, entries) as counted by the quota watchdog."""
    shutil.copytree(submission, dest, symlinks=True, copy_function=shutil.copyfile)
    try:
        os.chown(dest, CANDIDATE_UID, CANDIDATE_UID)
        as_root = True
    except PermissionError:
        as_root = False  # the container's uid can only write what is open to all (the job
        # folder around it stays 0700, so no other host user reaches it)
    for path in [dest, *_walk(dest)]:
        if os.path.islink(path):
            if as_root:
                os.lchown(path, CANDIDATE_UID, CANDIDATE_UID)
            continue
        if os.path.isdir(path):
            mode = 0o755 if as_root else 0o777
        else:
            executable = os.stat(path).st_mode & 0o100
            mode = (0o755 if executable else 0o644) if as_root else (0o777 if executable else 0o666)
        if as_root:
            os.chown(path, CANDIDATE_UID, CANDIDATE_UID)
        os.chmod(path, mode)
    return usage(dest, limit_entries=10**9)


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            yield Path(dirpath) / name


def workdir(entry_path: str, kind: str) -> str:
    """The run's working directory: the copy's root for a script (``python src/run.py`` from
    the root, as on a laptop), the notebook's own folder for a notebook (as Jupyter does)."""
    if kind == "notebook":
        parent = Path(entry_path).parent.as_posix()
        return WORK_MOUNT if parent in ("", ".") else f"{WORK_MOUNT}/{parent}"
    return WORK_MOUNT
