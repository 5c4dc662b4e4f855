"""Finding assignments: a path, a built-in id, or an id under ``GRADE_ASSIGNMENTS_PATH``."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from harness.errors import ConfigError
from harness.settings import BUILTIN_ASSIGNMENTS, Settings
from harness.spec import SPEC_FILE, Assignment, load_assignment

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def search_paths(settings: Settings) -> list[Path]:
    return [*settings.assignment_paths, BUILTIN_ASSIGNMENTS]


def list_assignments(settings: Settings) -> dict[str, Path]:
    """Assignment id (folder name) → folder, earlier search paths winning."""
    found: dict[str, Path] = {}
    for root in search_paths(settings):
        if not root.is_dir():
            continue
        for spec in sorted(root.glob(f"*/{SPEC_FILE}")):
            found.setdefault(spec.parent.name, spec.parent)
    return found


def find_assignment(ref: str | Path, settings: Settings, *, allow_path: bool = True) -> Assignment:
    """By id, or (with ``allow_path``, for the person running ``grade``) by folder.

    A submission's own ``submission.toml`` may only name an id: a path there could point at
    an assignment folder the candidate wrote, whose prepare hook would run on the host.
    """
    path = Path(ref)
    if allow_path and (path.is_dir() or path.name == SPEC_FILE):
        return load_assignment(path)
    if not allow_path and not _ID.fullmatch(str(ref)):
        raise ConfigError(
            f"the submission names assignment {str(ref)[:80]!r}, which is not an assignment id",
            hint='submission.toml must say `assignment = "ID"` with an id from `grade list assignments`.',
        )
    known = list_assignments(settings)
    if str(ref) in known:
        return load_assignment(known[str(ref)])
    close = difflib.get_close_matches(str(ref), list(known), n=3)
    suggestion = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(
        f"unknown assignment {str(ref)!r}{suggestion}",
        hint="`grade list assignments` shows the known ones; a path to an assignment folder works too.",
    )
