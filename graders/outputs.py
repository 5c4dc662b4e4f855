"""Reading files the candidate's container wrote, as data and without following links.

The output directory is untrusted: the candidate decides what every name in it is. A file
could be a symlink to a host secret, a fifo that blocks a reader forever, a device, or a
huge file. :func:`open_output` walks the path one component at a time relative to a
directory descriptor, refusing symlinks at every step (``O_NOFOLLOW``), opens the final
component non-blocking, insists on a regular file, and reads at most ``max_bytes``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Literal

from harness import safeio
from harness.errors import SubmissionError

OutputErrorCode = Literal["missing", "not_regular_file", "symlink", "too_large", "unreadable"]

_READ_CHUNK = 1024 * 1024


class OutputError(SubmissionError):
    """A candidate output file cannot be read safely. Graders turn it into feedback.

    ``code`` is one of ``missing``, ``not_regular_file``, ``symlink``, ``too_large``,
    ``unreadable``; ``text`` is readable by the candidate (it names only their own file).
    """

    def __init__(self, code: OutputErrorCode, text: str) -> None:
        super().__init__(text, hint="Write a regular file of the expected name into /output.")
        self.code: OutputErrorCode = code
        self.text = text


def check_output_name(name: str) -> tuple[str, ...]:
    """The components of ``name``, a simple relative POSIX path; ``ValueError`` otherwise.

    Names come from configuration, so a bad one is a programming or spec error.
    """
    if not name or "\x00" in name or "\\" in name:
        raise ValueError(f"output name {name!r} must be a non-empty relative path using '/'")
    parts = tuple(name.split("/"))
    if PurePosixPath(name).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"output name {name!r} must be a simple relative path inside the output directory")
    return parts


def _open_parent(root_fd: int, parents: tuple[str, ...], name: str) -> int:
    """Descend into ``parents`` below ``root_fd`` without following symlinks; return a new fd."""
    fd = os.dup(root_fd)
    walked: list[str] = []
    try:
        for part in parents:
            walked.append(part)
            where = "/".join(walked)
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                raise OutputError("missing", f"{name} was not written: folder {where}/ does not exist") from None
            if stat.S_ISLNK(st.st_mode):
                raise OutputError(
                    "symlink", f"{name} is not readable: {where} is a symbolic link; write real folders and files"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise OutputError("missing", f"{name} was not written: {where} is not a folder")
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:  # swapped between stat and open
                raise OutputError("unreadable", f"{name} could not be read: {where}: {exc.strerror}") from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_file(dir_fd: int, leaf: str, name: str) -> int:
    """Open ``leaf`` in ``dir_fd`` for reading if (and only if) it is a regular file."""
    try:
        st = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise OutputError("missing", f"{name} was not written to the output folder") from None
    except OSError as exc:
        raise OutputError("unreadable", f"{name} could not be read: {exc.strerror}") from None
    _require_regular(st.st_mode, name)  # the candidate's words for what it is instead
    try:  # no link followed, and the regular-file check made on what was opened
        return safeio.open_regular(leaf, dir_fd=dir_fd)
    except safeio.UntrustedDataError as exc:
        if exc.code == "symlink":
            raise OutputError("symlink", f"{name} is a symbolic link; write a regular file instead") from None
        if exc.code == "missing":
            raise OutputError("missing", f"{name} was not written to the output folder") from None
        if exc.code == "not_regular_file":
            raise OutputError("not_regular_file", f"{name} is not a regular file") from None
        raise OutputError("unreadable", f"{name} could not be read") from None


def _require_regular(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        raise OutputError("symlink", f"{name} is a symbolic link; write a regular file instead")
    kind = "a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
    raise OutputError("not_regular_file", f"{name} is {kind}, not a regular file")


def _read_capped(fd: int, max_bytes: int, name: str) -> bytes:
    try:
        data, more = safeio.read_fd_bounded(fd, max_bytes)
    except OSError as exc:
        raise OutputError("unreadable", f"{name} could not be read: {exc.strerror}") from None
    if more:
        raise OutputError("too_large", f"{name} is larger than the {max_bytes:,} bytes the grader reads")
    return data


def open_output(output_dir: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of ``output_dir/name``, read safely; :class:`OutputError` if it cannot be.

    ``name`` must be a simple relative path (``ValueError`` otherwise). ``output_dir`` itself
    is the host's folder and is trusted; every component below it must be a real folder or,
    for the last one, a regular file no larger than ``max_bytes``.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    parts = check_output_name(name)
    try:
        root_fd = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise OutputError("missing", f"{name} was not written: there is no output folder ({exc.strerror})") from None
    try:
        dir_fd = _open_parent(root_fd, parts[:-1], name)
    finally:
        os.close(root_fd)
    try:
        fd = _open_file(dir_fd, parts[-1], name)
    finally:
        os.close(dir_fd)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise OutputError("too_large", f"{name} is {size:,} bytes; the grader reads at most {max_bytes:,}")
        return _read_capped(fd, max_bytes, name)
    finally:
        os.close(fd)


class OutputLines:
    """The complete lines of a candidate's output file, read in chunks and never more than
    ``max_bytes`` of it: an over-limit file still gives what can be read.

    Use as a context manager and iterate: ``(line number, bytes without the newline)``. A line
    longer than ``max_line_bytes`` is skipped (its number lands in ``long_lines``). When the file
    is larger than ``max_bytes``, reading stops there, the unfinished last line is dropped and
    ``truncated`` is set (after the iteration). ``size`` is the file's size when opened.
    """

    def __init__(self, output_dir: Path, name: str, *, max_bytes: int, max_line_bytes: int) -> None:
        if max_bytes < 0 or max_line_bytes < 1:
            raise ValueError("max_bytes must be >= 0 and max_line_bytes >= 1")
        self.name, self.max_bytes, self.max_line_bytes = name, max_bytes, max_line_bytes
        self.truncated = False
        self.long_lines: list[int] = []
        self.read_bytes = 0
        parts = check_output_name(name)
        try:
            root_fd = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise OutputError(
                "missing", f"{name} was not written: there is no output folder ({exc.strerror})"
            ) from None
        try:
            dir_fd = _open_parent(root_fd, parts[:-1], name)
        finally:
            os.close(root_fd)
        try:
            self._fd = _open_file(dir_fd, parts[-1], name)
        finally:
            os.close(dir_fd)
        self.size = os.fstat(self._fd).st_size

    def __enter__(self) -> OutputLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self, n: int) -> bytes:
        try:
            return os.read(self._fd, n)
        except OSError as exc:
            raise OutputError("unreadable", f"{self.name} could not be read: {exc.strerror}") from None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        number, buf, skipping = 0, bytearray(), False
        while self.read_bytes < self.max_bytes:
            chunk = self._read(min(_READ_CHUNK, self.max_bytes - self.read_bytes))
            if not chunk:
                break
            self.read_bytes += len(chunk)
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                number += 1
                if skipping:
                    skipping = False
                else:
                    buf += chunk[start:end]
                    if len(buf) > self.max_line_bytes:
                        self.long_lines.append(number)
                    else:
                        yield number, bytes(buf)
                buf.clear()
                start = end + 1
            if not skipping:
                buf += chunk[start:]
                if len(buf) > self.max_line_bytes:
                    self.long_lines.append(number + 1)
                    skipping = True
                    buf.clear()
        if self.read_bytes >= self.max_bytes and self._read(1):
            self.truncated = True  # the unfinished line at the cap is not a line
            if self.long_lines and self.long_lines[-1] == number + 1 and skipping:
                self.long_lines.pop()
            return
        if buf and not skipping:
            yield number + 1, bytes(buf)
