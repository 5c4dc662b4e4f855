"""Reading and removing what untrusted code left behind, within limits.

A leaf module (it imports only :mod:`harness.errors`): ``sandbox/`` and ``graders/`` use it
as well as the harness. Everything a container wrote is untrusted data: a file may be a
symlink to a host secret, a fifo that blocks a reader, a device, a huge file, a JSON document
nested 100,000 levels deep, or a folder chain 3,000 levels deep. The helpers here

- open files without following links and accept regular files only (:func:`open_regular`);
- read at most a given number of bytes (:func:`read_bounded`);
- parse JSON only after a linear scan has checked its nesting depth (:func:`loads_json`), so
  the parser never recurses past a limit (``RecursionError`` is not a ``ValueError``);
- walk and remove trees iteratively, never recursively (:func:`walk`, :func:`rmtree`), so no
  depth of folders can exhaust the interpreter's stack;

and raise nothing but :class:`UntrustedDataError` (a :class:`~harness.errors.HoldoutError`)
for anything the data did. Callers turn that into the candidate's result.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import ConfigError, HoldoutError

DEFAULT_MAX_DEPTH = 64
"""Nesting depth of JSON from a container (runner records, results lines): far more than any
honest record needs, far less than the parser's recursion limit."""

_CHUNK = 1024 * 1024


class UntrustedDataError(HoldoutError):
    """Data a container wrote could not be read within the limits (or at all).

    ``code`` is a short stable reason: ``missing``, ``symlink``, ``not_regular_file``,
    ``too_large``, ``too_deep``, ``invalid_json``, ``unreadable``.
    """

    exit_code = 3

    def __init__(self, code: str, message: str, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.code = code


# --- files ---------------------------------------------------------------------------------


def open_regular(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """Open ``path`` read-only without following a final symlink, without blocking on a
    fifo, and only if it is a regular file. Returns a file descriptor the caller closes."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    name = os.fspath(path)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise UntrustedDataError("missing", f"{name} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UntrustedDataError("symlink", f"{name} is a symbolic link, not a file") from None
        raise UntrustedDataError("unreadable", f"{name} could not be opened: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UntrustedDataError("not_regular_file", f"{name} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd_bounded(fd: int, max_bytes: int) -> tuple[bytes, bool]:
    """Up to ``max_bytes`` from ``fd``; the flag says whether more was there."""
    chunks: list[bytes] = []
    left = max_bytes + 1
    while left > 0:
        chunk = os.read(fd, min(_CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    return data[:max_bytes], len(data) > max_bytes


def read_bounded(
    path: str | os.PathLike[str], max_bytes: int, *, truncate: bool = False, dir_fd: int | None = None
) -> bytes:
    """The bytes of a regular file (no links followed), at most ``max_bytes``.

    A longer file raises ``too_large`` unless ``truncate`` is set, when its head is returned.
    """
    fd = open_regular(path, dir_fd=dir_fd)
    try:
        try:
            data, more = read_fd_bounded(fd, max_bytes)
        except OSError as exc:
            raise UntrustedDataError("unreadable", f"{os.fspath(path)} could not be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if more and not truncate:
        raise UntrustedDataError("too_large", f"{os.fspath(path)} is larger than {max_bytes:,} bytes")
    return data


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's content, streamed (no size limit: for the harness's own files
    and archives already bounded by intake)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- JSON ----------------------------------------------------------------------------------


def json_depth(text: str | bytes, limit: int) -> int:
    """The maximum nesting depth of the JSON value in ``text``, scanning at most until it
    exceeds ``limit`` (linear time; brackets inside strings do not count)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def loads_json(text: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, what: str = "JSON") -> Any:
    """``json.loads`` for untrusted text: nesting deeper than ``max_depth`` is refused before
    the parser sees it, and every failure is an :class:`UntrustedDataError`."""
    if json_depth(text, max_depth) > max_depth:
        raise UntrustedDataError("too_deep", f"{what} is nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise UntrustedDataError("invalid_json", f"{what} is not valid JSON: {str(exc)[:200]}") from None


def read_json(
    path: str | os.PathLike[str], *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH, dir_fd: int | None = None
) -> Any:
    """A JSON file a container wrote: no links, at most ``max_bytes``, at most ``max_depth``."""
    return loads_json(read_bounded(path, max_bytes, dir_fd=dir_fd), max_depth=max_depth, what=os.fspath(path))


# --- trees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry of :func:`walk`: its path relative to the root, its lstat, its depth."""

    relpath: str
    stat: os.stat_result
    depth: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.stat.st_mode)


def walk(root: str | os.PathLike[str], *, max_entries: int = 100_000, max_depth: int = 64) -> Iterator[Entry]:
    """Every entry below ``root`` (not ``root`` itself), depth-first in name order, never
    following a link, iteratively and relative to directory descriptors (so paths longer than
    ``PATH_MAX`` are no problem). Stops quietly after ``max_entries``; does not descend below
    ``max_depth`` (at most :data:`MAX_WALK_DEPTH`). Unreadable folders are skipped."""
    max_depth = min(max_depth, MAX_WALK_DEPTH)
    try:
        root_fd = os.open(os.fspath(root), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    stack: list[tuple[int, list[str], str]] = [(root_fd, sorted(_names(root_fd), reverse=True), "")]
    seen = 0
    try:
        while stack:
            fd, names, rel = stack[-1]
            if not names:
                os.close(stack.pop()[0])
                continue
            name = names.pop()
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if seen >= max_entries:
                return
            seen += 1
            child_rel = f"{rel}/{name}" if rel else name
            yield Entry(child_rel, st, len(stack))
            if stat.S_ISDIR(st.st_mode) and len(stack) < max_depth:
                try:
                    child_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError:
                    continue
                stack.append((child_fd, sorted(_names(child_fd), reverse=True), child_rel))
    finally:
        for fd, _, _ in stack:
            _quiet(os.close, fd)


MAX_WALK_DEPTH = 256
""":func:`walk` holds one descriptor per level: deeper trees are cut here."""

_FLATTEN_AT = 32
""":func:`rmtree` moves a folder deeper than this up to the top before descending into it, so
it never holds more than this many descriptors, whatever the depth of the tree."""


def rmtree(path: str | os.PathLike[str]) -> bool:
    """Remove ``path`` and everything below it, iteratively and without following links;
    folders without write or search permission are opened up first. Never raises: returns
    whether the path is gone. (``shutil.rmtree`` recurses, so a 3,000-deep chain of folders
    raises ``RecursionError``, which ``ignore_errors`` does not cover.)"""
    top = os.fspath(path)
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(top)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True
    # Depth-first with an explicit stack of open directory descriptors: every operation is
    # relative to a descriptor, so a rename or symlink swap mid-way cannot redirect it.
    try:
        root_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    stack: list[tuple[int, list[str], str]] = [(root_fd, _names(root_fd), "")]
    try:
        while stack:
            fd, names, own_name = stack[-1]
            if not names:
                stack.pop()
                os.close(fd)
                if stack:
                    _quiet(os.rmdir, own_name, dir_fd=stack[-1][0])
                continue
            name = names.pop()
            try:
                child_st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISDIR(child_st.st_mode):
                _quiet(os.unlink, name, dir_fd=fd)
                continue
            if child_st.st_mode & 0o700 != 0o700:
                _quiet(os.chmod, name, child_st.st_mode | 0o700, dir_fd=fd, follow_symlinks=False)
            if len(stack) >= _FLATTEN_AT:
                flat = f".holdout-rm-{len(stack[0][1])}-{child_st.st_ino}"
                try:
                    os.rename(name, flat, src_dir_fd=fd, dst_dir_fd=root_fd)
                except OSError:
                    continue
                stack[0][1].insert(0, flat)  # removed from the top, after the current branch
                continue
            try:
                child_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                continue
            stack.append((child_fd, _names(child_fd), name))
    except MemoryError:
        pass
    finally:
        for fd, _, _ in stack:
            _quiet(os.close, fd)
    _quiet(os.rmdir, top)
    return not os.path.lexists(top)


def _names(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        return []


def _quiet(func, *args, **kwargs) -> None:
    try:
        func(*args, **kwargs)
    except OSError:
        pass


# --- modules -------------------------------------------------------------------------------


def import_path(
    path: str | os.PathLike[str],
    name: str,
    *,
    error: type[HoldoutError] = ConfigError,
    hint: str = "Fix the error in that file; it belongs to the assignment.",
    keep: bool = True,
) -> ModuleType:
    """Import a trusted ``.py`` file (an assignment's ``prepare.py`` or ``graders.py``) by
    path under ``name``. A failure is an ``error`` (default :class:`~harness.errors.ConfigError`)
    naming the file. ``keep=False`` drops the module from ``sys.modules`` afterwards (it stays
    registered while it runs: dataclasses and pickling look a module up by name)."""
    location = Path(path)
    spec = importlib.util.spec_from_file_location(name, location)
    if spec is None or spec.loader is None:
        raise error(f"cannot load {location} as a Python module", hint="It must be a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise error(f"{location} failed to import: {type(exc).__name__}: {exc}", hint=hint) from exc
    finally:
        if not keep:
            sys.modules.pop(name, None)
    return module
