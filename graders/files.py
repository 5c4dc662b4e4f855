"""Walking an unpacked submission as data: regular files only, no links followed, bounded.

Static graders (lint, habits) read the candidate's files on the host. Nothing here imports or
executes them; every read is size-capped and goes through :func:`read_text`, which opens
without following symlinks.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.safeio import UntrustedDataError, read_bounded

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".ipynb_checkpoints",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
    }
)
"""Folders that hold tool state, not the candidate's work."""


@dataclass(frozen=True)
class SubmissionFile:
    """One regular file of the submission. ``rel`` is a POSIX path relative to the root."""

    rel: str
    size: int

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.rel).suffix.lower()

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.rel).parts


def _is_virtualenv(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path / "pyvenv.cfg").st_mode)
    except OSError:
        return False


def list_files(root: Path, *, max_files: int = 20_000) -> list[SubmissionFile]:
    """Regular files under ``root`` (sorted), skipping tool folders and shipped virtualenvs.

    Symlinks (to files or folders) are never followed and never listed.
    """
    found: list[SubmissionFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if d not in SKIP_DIRS and not os.path.islink(here / d) and not _is_virtualenv(here / d)
        )
        for name in sorted(filenames):
            try:
                info = os.lstat(here / name)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            found.append(SubmissionFile((here / name).relative_to(root).as_posix(), info.st_size))
            if len(found) >= max_files:
                return found
    return found


def read_bytes(root: Path, rel: str, cap: int) -> bytes | None:
    """At most ``cap`` bytes of a regular file, opened without following links; None if unreadable."""
    try:
        return read_bounded(root / rel, cap, truncate=True)
    except UntrustedDataError:
        return None


def read_text(root: Path, rel: str, cap: int = 2 * 2**20) -> str | None:
    """The file decoded as UTF-8 (invalid bytes replaced); None when missing or binary (NUL bytes)."""
    data = read_bytes(root, rel, cap)
    if data is None or b"\x00" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")
