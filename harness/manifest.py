"""``submission.toml``: the submission's own manifest, read on the host as untrusted data.

``assignment = "ID"`` names the assignment (:func:`harness.pipeline.resolve_assignment`);
``entry = "src/run.py"`` (or a notebook path) names the entry point instead of the
assignment's default (``predict.py`` / ``solution.ipynb``): :func:`declared_entry` checks it
(inside the submission, present, a regular file of a kind the assignment runs) and says in
plain words what is wrong when it is not.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path, PurePosixPath

from harness.errors import ConfigError
from harness.spec import EntrySpec
from sandbox.runner import open_regular

MANIFEST = "submission.toml"
MAX_BYTES = 64 * 1024
KINDS = {".py": "script", ".ipynb": "notebook"}


def read_manifest(root: Path) -> dict:
    """``submission.toml`` from the unpacked submission, read as data (size-capped)."""
    fd = open_regular(root / MANIFEST)
    if fd is None:
        return {}
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read(MAX_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ConfigError(
            f"the submission's {MANIFEST} is not valid TOML: {why}",
            hint="Fix it, or pass --assignment ID to ignore it.",
        ) from None
    return data


class EntryProblem(Exception):
    """A declared entry that cannot run; the text is for the candidate."""


def declared_entry(root: Path, spec: EntrySpec) -> tuple[str, str] | None:
    """``(kind, path)`` of the entry ``submission.toml`` names, None when it names none.

    Raises :class:`EntryProblem` with a candidate-facing text when the manifest cannot be read
    or the entry is not a ``.py``/``.ipynb`` regular file inside the submission.
    """
    try:
        value = read_manifest(root).get("entry")
    except ConfigError as exc:
        raise EntryProblem(f"{exc.message} The entry point could not be read from it.") from None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise EntryProblem(f'{MANIFEST}: entry must be a path in quotes, e.g. entry = "src/run.py".')
    shown = value[:200]
    path = PurePosixPath(value)
    if "\\" in value or path.is_absolute() or ".." in path.parts or not path.parts:
        raise EntryProblem(
            f"{MANIFEST} names entry = {shown!r}, which is not a path inside the submission: give it relative "
            'to the submission root with forward slashes, e.g. entry = "src/run.py".'
        )
    kind = KINDS.get(path.suffix)
    allowed = [k for k, name in (("script", spec.script), ("notebook", spec.notebook)) if name]
    if kind is None or kind not in allowed:
        wanted = " or ".join(f"a {'.py script' if k == 'script' else '.ipynb notebook'}" for k in allowed)
        raise EntryProblem(f"{MANIFEST} names entry = {shown!r}; this assignment runs {wanted or 'no entry point'}.")
    where = root
    for index, part in enumerate(path.parts):
        where = where / part
        try:
            mode = os.lstat(where).st_mode
        except OSError:
            raise EntryProblem(
                f"{MANIFEST} names entry = {shown!r}, but the submission has no such file "
                f"({'/'.join(path.parts[: index + 1])} is missing). Check the path and its capitals."
            ) from None
        last = index == len(path.parts) - 1
        if stat.S_ISLNK(mode) or (last and not stat.S_ISREG(mode)) or (not last and not stat.S_ISDIR(mode)):
            what = "a link" if stat.S_ISLNK(mode) else ("a folder" if stat.S_ISDIR(mode) else "not a regular file")
            raise EntryProblem(
                f"{MANIFEST} names entry = {shown!r}, but {'/'.join(path.parts[: index + 1])} is {what}; "
                "the entry must be a regular file in the submission."
            )
    return kind, path.as_posix()
