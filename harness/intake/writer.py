"""Extract: planned members created below a job directory we made ourselves, with
``O_EXCL | O_NOFOLLOW``, counting the real bytes against the limits; on any failure what was
written is removed."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from harness.errors import ConfigError, InfrastructureError
from harness.intake.limits import CHUNK, IntakeLimits, human_size, rejected
from harness.intake.planner import ARCHIVE_SUFFIXES, Plan, Planned
from harness.intake.readers import READ_ERRORS, StreamLimit, archive_kind, next_tar_header, open_tar, read_errors
from harness.safeio import rmtree

# ---------------------------------------------------------------------------------------------
# Extract


class _Writer:
    """Creates planned members below ``dest`` (made by us, so no link can exist in it)."""

    def __init__(self, dest: Path, limits: IntakeLimits, hash_files: bool) -> None:
        self._dest = dest
        self._root = os.path.realpath(dest)
        self._limits = limits
        self._hash_files = hash_files
        self._made: set[tuple[str, ...]] = set()
        self.files = 0
        self.bytes = 0
        self.digests: dict[str, str] = {}

    def make_dir(self, parts: tuple[str, ...]) -> None:
        for depth in range(1, len(parts) + 1):
            if parts[:depth] in self._made:
                continue
            path = self._target(parts[:depth])
            with writing(path):
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        raise rejected(
                            "duplicate_name", f"{'/'.join(parts[:depth])!r} is both a file and a folder"
                        ) from None
                os.chmod(path, 0o755)
            self._made.add(parts[:depth])

    def write_file(self, member: Planned, source: IO[bytes]) -> None:
        self.make_dir(member.parts[:-1])
        path = self._target(member.parts)
        with writing(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with writing(path):
                os.fchmod(fd, 0o644)
            written, digest = self._copy(member, source, fd, path)
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += written
        if digest is not None:
            self.digests["/".join(member.parts)] = digest
        _check_nested(path, member.name, self._limits)

    def root_dir(self) -> Path:
        """``dest``, or its only entry when that is a directory (the candidate zipped a folder)."""
        with os.scandir(self._dest) as listing:
            entries = list(itertools.islice(listing, 2))
        if len(entries) == 1 and entries[0].is_dir(follow_symlinks=False):
            return self._dest / entries[0].name
        return self._dest

    def _copy(self, member: Planned, source: IO[bytes], fd: int, path: str) -> tuple[int, str | None]:
        """Stream ``source`` into ``fd``, counting real bytes against the limits."""
        hasher = hashlib.sha256() if self._hash_files else None
        written = 0
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > self._limits.member_bytes:
                raise rejected(
                    "member_too_large",
                    f"member {member.name!r} expands to more than {human_size(self._limits.member_bytes)} "
                    f"(its header said {human_size(member.size)}); the limit is {human_size(self._limits.member_bytes)} per file",
                    member.name,
                )
            if self.bytes + written > self._limits.total_bytes:
                raise rejected(
                    "total_too_large",
                    f"the files expand to more than {human_size(self._limits.total_bytes)} at member {member.name!r}; "
                    f"the limit is {human_size(self._limits.total_bytes)} in total",
                    member.name,
                )
            if hasher is not None:
                hasher.update(chunk)
            with writing(path):
                write_all(fd, chunk)
        return written, hasher.hexdigest() if hasher is not None else None

    def _target(self, parts: tuple[str, ...]) -> str:
        """The path for ``parts``, checked to resolve inside ``dest`` (defence in depth)."""
        path = os.path.join(self._root, *parts)
        resolved = os.path.realpath(path)
        if resolved == self._root or os.path.commonpath([self._root, resolved]) != self._root:
            name = "/".join(parts)
            raise rejected("path_traversal", f"member {name!r} resolves outside the job directory", name)
        return path


def extract(
    plan: Plan,
    dest: Path,
    limits: IntakeLimits,
    opener: Callable[[Planned], IO[bytes]],
    *,
    hash_files: bool,
) -> _Writer:
    """Create ``dest`` and write every planned member; on any failure remove what was written."""
    created = _make_dest(dest)
    writer = _Writer(dest, limits, hash_files)
    try:
        for member in plan.members:
            if member.is_dir:
                writer.make_dir(member.parts)
                continue
            with read_errors(f"member {member.name!r}", member.name), opener(member) as source:
                writer.write_file(member, source)
    except BaseException:
        _clear(dest, remove=created)
        raise
    return writer


def _check_nested(path: str, member: str, limits: IntakeLimits) -> None:
    """An extracted archive is kept as a file, but one that holds another archive is refused."""
    for inner in _inner_member_names(path, limits):
        if inner.casefold().endswith(ARCHIVE_SUFFIXES):
            raise rejected(
                "nested_archive",
                f"member {member!r} is an archive that contains another archive, {inner!r}; "
                "only one level of nesting is accepted",
                member,
            )


def _inner_member_names(path: str, limits: IntakeLimits) -> list[str]:
    """File names inside an extracted archive, best effort: a corrupt one is just a file."""
    names: list[str] = []
    try:
        with open(path, "rb") as raw:
            kind = archive_kind(raw)
            if kind == "zip":
                with zipfile.ZipFile(raw) as archive:
                    infos = itertools.islice(archive.infolist(), limits.entries)
                    names.extend(info.orig_filename for info in infos if not info.orig_filename.endswith("/"))
            elif kind == "tar":
                with open_tar(raw, limits) as tar:
                    for _ in range(limits.entries):
                        info = next_tar_header(tar)
                        if info is None or info.size < 0:
                            break
                        if not info.isdir():
                            names.append(info.name)
    except (*READ_ERRORS, StreamLimit):
        pass
    return names


# ---------------------------------------------------------------------------------------------
# Helpers


def check_dest(dest: Path, source: Path) -> None:
    if os.path.lexists(dest):
        if dest.is_symlink() or not dest.is_dir():
            raise ConfigError(f"job directory {str(dest)!r} exists and is not a directory")
        with os.scandir(dest) as listing:
            if next(listing, None) is not None:
                raise ConfigError(f"job directory {str(dest)!r} is not empty", hint="Use a fresh directory.")
    real_source, real_dest = os.path.realpath(source), os.path.realpath(dest)
    if os.path.commonpath([real_source, real_dest]) == real_source:
        raise ConfigError(f"job directory {str(dest)!r} is inside the submission {str(source)!r}")


def _make_dest(dest: Path) -> bool:
    """Create ``dest`` (mode 0o700); return whether it was created rather than found empty."""
    with writing(str(dest)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(dest, 0o700)
            created = True
        except FileExistsError:
            created = False
        os.chmod(dest, 0o700)
    return created


def _clear(dest: Path, *, remove: bool) -> None:
    """Remove ``dest`` (if we created it) or everything in it; best effort."""
    if remove:
        rmtree(dest)
        return
    with os.scandir(dest) as listing:
        for entry in list(listing):
            if entry.is_dir(follow_symlinks=False):
                rmtree(entry.path)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


@contextmanager
def writing(path: str) -> Iterator[None]:
    """A failed write is the machine's problem (disk full, permissions), not the candidate's."""
    try:
        yield
    except OSError as err:
        raise InfrastructureError(
            f"cannot write {path!r}: {err.strerror or err}",
            hint="Check free disk space and permissions of the job directory.",
        ) from err


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
