"""What happens to an exception nobody expected: a crash file with the traceback, and one line
that says where it is.

An unexpected exception is a holdout bug, never the candidate's doing (their mistakes are
results) and never a score below ``--fail-under``: the CLI ends with exit 4 and the path of the
file written here, never with a bare traceback and exit 1. ``grade batch`` writes one per
submission that met such a bug and goes on with the others.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

CRASH_DIR = "crashes"
KEEP = 50
"""Crash files kept per folder; older ones are removed when a new one is written."""


def crash_dirs(cache_dir: Path | None) -> list[Path]:
    """Where crash files go, in order of preference: the cache, then the temp dir."""
    dirs = [cache_dir / CRASH_DIR] if cache_dir is not None else []
    return [*dirs, Path(tempfile.gettempdir()) / f"holdout-{CRASH_DIR}"]


def write_crash_file(exc: BaseException, *, context: str = "", cache_dir: Path | None = None) -> Path | None:
    """Write the traceback of ``exc`` (plus the command line and versions) to a new file and
    return its path; ``None`` if no folder could take it. Never raises."""
    from harness import __version__

    text = (
        f"holdout {__version__} crashed{f' ({context})' if context else ''}\n"
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        f"python: {sys.version.split()[0]}\n"
        f"command: {' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    name = f"crash-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{id(exc):x}.txt"
    for folder in crash_dirs(cache_dir if cache_dir is not None else _default_cache_dir()):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / name
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
        except (OSError, ValueError):
            continue
        _trim(folder)
        return path
    return None


def describe_crash(exc: BaseException, path: Path | None) -> str:
    """The message for the terminal (or a batch row): what, where the traceback is, what next."""
    where = (
        f"the traceback is in {path}" if path else "no crash file could be written (cache and temp dir not writable)"
    )
    return (
        f"internal error: {type(exc).__name__}: {str(exc)[:300]}; {where}\n"
        "  hint: this is a bug in holdout, not the submission's fault: please report it with that file."
    )


def _default_cache_dir() -> Path | None:
    try:
        from harness.settings import Settings

        return Settings.from_env().cache_dir
    except Exception:
        return None


def _trim(folder: Path) -> None:
    try:
        files = sorted((p for p in folder.iterdir() if p.name.startswith("crash-")), key=lambda p: p.stat().st_mtime)
        for old in files[:-KEEP]:
            old.unlink()
    except OSError:
        pass
