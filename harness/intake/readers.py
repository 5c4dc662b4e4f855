"""Formats: zip, tar (plain or gzip/bzip2/xz, decompressed by us so the stream is capped) and
folders, each turning its headers into :class:`~harness.intake.planner.RawEntry` and opening
members for reading; what the stdlib readers raise on malformed input becomes ``corrupt_archive``."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import itertools
import lzma
import os
import re
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Literal

from harness.intake.limits import (
    TAR_HEADER_ALLOWANCE,
    TAR_HEADER_BYTES,
    IntakeLimits,
    MiB,
    clip,
    human_size,
    rejected,
)
from harness.intake.planner import Kind, Planned, RawEntry
from harness.safeio import UntrustedDataError, open_regular

_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
"""bzip2 and lzma members are refused: zipfile decompresses them without an output cap."""
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = re.compile(rb"BZh[1-9]")
_XZ_MAGIC = b"\xfd7zXZ\x00"
_OTHER_FORMATS = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "RAR", b"\x28\xb5\x2f\xfd": "zstd"}

READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,  # includes UnicodeDecodeError from member names
    struct.error,
    NotImplementedError,
    OverflowError,
)
"""What the stdlib readers raise on malformed input; all of it means ``corrupt_archive``."""


def detect_format(raw: IO[bytes], source: Path) -> Literal["zip", "tar"]:
    kind = archive_kind(raw)
    if kind is not None:
        return kind
    head = peek(raw, 8)
    label = next((name for magic, name in _OTHER_FORMATS.items() if head.startswith(magic)), None)
    what = f"a {label} archive, which is not supported" if label else "not a zip or tar archive"
    raise rejected("unsupported_format", f"the submission {source.name!r} is {what}")


def archive_kind(raw: IO[bytes]) -> Literal["zip", "tar"] | None:
    """Format by magic bytes; compressed streams are assumed to hold a tar (opening tells)."""
    head = peek(raw, tarfile.BLOCKSIZE)
    if head[:4] in _ZIP_MAGIC:
        return "zip"
    if head.startswith((_GZIP_MAGIC, _XZ_MAGIC)) or _BZIP2_MAGIC.match(head):
        return "tar"
    try:  # one header block parsed on its own: bounded, unlike tarfile.is_tarfile
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.EOFHeaderError:  # a zero block: an empty tar ("empty", not "unsupported")
        return "tar"
    except tarfile.TarError:
        return None
    return "tar"


# zip -------------------------------------------------------------------------------------------


@contextmanager
def open_zip(raw: IO[bytes]) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(raw)
    except UnicodeDecodeError as err:  # the UTF-8 flag is set but a name is not UTF-8
        name = bytes(err.object).decode("utf-8", "backslashreplace")
        raise rejected("bad_name", f"the name of member {name!r} is not valid UTF-8", name) from None
    with archive:
        yield archive


def check_zip_entry_count(raw: IO[bytes], size: int, limits: IntakeLimits) -> None:
    """Refuse a zip with too many entries before zipfile loads them all: by the end record's
    count, and by walking the central directory's record headers (the end record can lie, and
    zipfile would otherwise build an object per record: ~0.5 GB for a 100 MiB archive)."""
    count = _zip_declared_entries(raw, size)
    if count is not None and count > limits.entries:
        raise rejected("too_many_entries", f"the archive declares {count} entries; the limit is {limits.entries}")
    over = _zip_record_over_limit(raw, size, limits.entries)
    if over is not None:
        raise rejected(
            "too_many_entries",
            f"the archive has more than {limits.entries} entries (at member {clip(over)}); the limit is {limits.entries}",
            over,
        )


def _zip_record_over_limit(raw: IO[bytes], size: int, limit: int) -> str | None:
    """The name of central-directory record number ``limit + 1``, if there is one.

    The directory is found the way zipfile finds it: it ends where the (zip64) end record starts.
    """
    tail_length = min(size, 22 + 0xFFFF + 20 + 56)
    raw.seek(size - tail_length)
    tail = raw.read(tail_length)
    end = tail.rfind(b"PK\x05\x06")
    try:
        if end < 0 or len(tail) - end < 22:
            return None
        record = end - 20 - 56
        if record >= 0 and tail[end - 20 : end - 16] == b"PK\x06\x07" and tail[record : record + 4] == b"PK\x06\x06":
            cd_size, cd_end = int.from_bytes(tail[record + 40 : record + 48], "little"), record
        else:
            cd_size, cd_end = int.from_bytes(tail[end + 12 : end + 16], "little"), end
        position = size - tail_length + cd_end - cd_size
        if position < 0:
            return None  # inconsistent: zipfile and the planner decide
        for _ in range(limit):  # skip the records within the limit
            raw.seek(position)
            header = raw.read(46)
            if len(header) < 46 or header[:4] != b"PK\x01\x02":
                return None
            name_length, extra_length, comment_length = struct.unpack_from("<HHH", header, 28)
            position += 46 + name_length + extra_length + comment_length
        raw.seek(position)
        header = raw.read(46)
        if len(header) < 46 or header[:4] != b"PK\x01\x02":
            return None
        (flags,) = struct.unpack_from("<H", header, 8)
        raw_name = raw.read(struct.unpack_from("<H", header, 28)[0])
        return raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
    finally:
        raw.seek(0)


def _zip_declared_entries(raw: IO[bytes], size: int) -> int | None:
    """Entry count from the end-of-central-directory record (zip64-aware), or None if not found."""
    tail_length = min(size, 22 + 0xFFFF + 20 + 56)
    raw.seek(size - tail_length)
    tail = raw.read(tail_length)
    raw.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) - end < 22:
        return None
    count = int.from_bytes(tail[end + 10 : end + 12], "little")
    if count != 0xFFFF:
        return count
    locator, record = end - 20, end - 20 - 56
    if record < 0 or tail[locator : locator + 4] != b"PK\x06\x07" or tail[record : record + 4] != b"PK\x06\x06":
        return None
    return int.from_bytes(tail[record + 32 : record + 40], "little")


def zip_entries(archive: zipfile.ZipFile) -> Iterator[RawEntry]:
    for info in archive.infolist():
        name = _zip_name(info)
        if info.flag_bits & 0x1:
            raise rejected("encrypted", f"member {clip(name)} is encrypted; archives must not use a password", name)
        if info.compress_type not in _ZIP_METHODS:
            raise rejected(
                "unsupported_format",
                f"member {clip(name)} uses zip compression method {info.compress_type}; "
                "only stored and deflate are supported",
                name,
            )
        yield RawEntry(name, _zip_kind(info, name), info.file_size, info.compress_size, info)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member name as stored (``filename`` is cut at a NUL; ``orig_filename`` is not).

    Without the UTF-8 flag zipfile decodes cp437, but many tools write UTF-8 and forget the
    flag: such names are decoded as UTF-8 when that works.
    """
    name = info.orig_filename
    if not info.flag_bits & 0x800 and not name.isascii():
        try:
            return name.encode("cp437").decode("utf-8")
        except UnicodeError:
            pass
    return name


def _zip_kind(info: zipfile.ZipInfo, name: str) -> Kind:
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        return "symlink"
    if name.endswith("/") or file_type == stat.S_IFDIR:
        return "dir"
    if file_type in (0, stat.S_IFREG):
        return "file"
    return "special"


# tar -------------------------------------------------------------------------------------------


class StreamLimit(Exception):
    """A tar stream went past its cap; ``reason`` is the code to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class CappedStream:
    """Read-only seekable view of a (decompressed) tar stream that never goes past ``cap``.

    tarfile trusts sizes from headers: a crafted pax, GNU long-name or sparse header would make
    it read gigabytes into memory, and crafted sizes would make it decompress them. While the
    member list is scanned tarfile only *reads* headers (it seeks over data), so each header
    gets a read budget of :data:`TAR_HEADER_BYTES`; extraction reads without one.
    """

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self._inner = inner
        self._cap = cap
        self._pos = inner.tell()
        self._budget: int | None = None

    def budget_header(self) -> None:
        """Allow the reads for one member's headers (call before ``TarFile.next``)."""
        self._budget = TAR_HEADER_BYTES

    def unbudget(self) -> None:
        """Allow reads of member data (extraction)."""
        self._budget = None

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence not in (os.SEEK_SET, os.SEEK_CUR):
            raise OSError("tar stream: only absolute and relative seeks are supported")
        target = offset + (self._pos if whence == os.SEEK_CUR else 0)
        if target > self._cap:
            raise self._too_large()
        self._pos = self._inner.seek(target)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise StreamLimit("corrupt_archive", "tar stream: unbounded read")
        if self._budget is not None:
            if size > self._budget:
                raise StreamLimit("corrupt_archive", f"a tar header is larger than {human_size(TAR_HEADER_BYTES)}")
            self._budget -= size
        data = self._inner.read(min(size, self._cap - self._pos))
        self._pos += len(data)
        if len(data) < size and self._pos >= self._cap and self._inner.read(1):
            raise self._too_large()
        return data

    def _too_large(self) -> StreamLimit:
        return StreamLimit("total_too_large", f"the tar stream expands to more than {human_size(self._cap)}")


class _TarInfo(tarfile.TarInfo):
    """Refuses GNU sparse 1.0 members: tarfile parses their block map one number at a time,
    so a crafted map costs seconds of CPU per megabyte before the member is even returned."""

    def _proc_gnusparse_10(self, next: tarfile.TarInfo, pax_headers: dict[str, str], tarfile_: object) -> None:
        name = pax_headers.get("GNU.sparse.name", next.name)
        raise tarfile.ReadError(f"member {name!r} is a GNU sparse file, which is not supported")


def tar_stream_cap(limits: IntakeLimits) -> int:
    return limits.total_bytes + limits.entries * TAR_HEADER_ALLOWANCE + MiB


@contextmanager
def open_tar(raw: IO[bytes], limits: IntakeLimits) -> Iterator[tarfile.TarFile]:
    """A TarFile over ``raw`` decompressed by us (not ``r:*``) so the stream can be capped."""
    head = peek(raw, 6)
    with ExitStack() as stack:
        stream: IO[bytes] = raw
        if head.startswith(_GZIP_MAGIC):
            stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        elif _BZIP2_MAGIC.match(head):
            stream = stack.enter_context(bz2.BZ2File(raw))
        elif head.startswith(_XZ_MAGIC):
            stream = stack.enter_context(lzma.LZMAFile(raw))
        capped = CappedStream(stream, tar_stream_cap(limits))
        capped.budget_header()  # opening reads the first header
        tar = tarfile.open(fileobj=capped, mode="r:", tarinfo=_TarInfo)  # type: ignore[call-overload]
        yield stack.enter_context(tar)


def next_tar_header(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    """``tar.next()`` with a fresh header read budget."""
    if isinstance(tar.fileobj, CappedStream):
        tar.fileobj.budget_header()
    return tar.next()


def tar_entries(tar: tarfile.TarFile) -> Iterator[RawEntry]:
    """Members one by one, so each header is checked before tarfile seeks past its data."""
    while (info := next_tar_header(tar)) is not None:
        if info.size < 0:
            raise rejected("corrupt_archive", f"member {info.name!r} has a negative size", info.name)
        yield RawEntry(info.name, _tar_kind(info), info.size if info.isreg() else 0, None, info)


def _tar_kind(info: tarfile.TarInfo) -> Kind:
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.isdir():
        return "dir"
    if info.isreg():
        return "file"
    return "special"


def tar_member(tar: tarfile.TarFile, member: Planned) -> IO[bytes]:
    if isinstance(tar.fileobj, CappedStream):
        tar.fileobj.unbudget()
    stream = tar.extractfile(member.ref)
    if stream is None:
        raise rejected("corrupt_archive", f"member {member.name!r} cannot be read as a file", member.name)
    return stream


# directory -------------------------------------------------------------------------------------


def directory_entries(source: Path, limits: IntakeLimits) -> Iterator[RawEntry]:
    """Walk ``source`` without following links; every entry is checked before descending."""
    pending: list[tuple[str, str]] = [("", os.fspath(source))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as listing:
            entries = sorted(itertools.islice(listing, limits.entries + 1), key=lambda entry: entry.name)
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            name = prefix + entry.name
            if entry.is_symlink():
                yield RawEntry(name, "symlink")
            elif entry.is_dir(follow_symlinks=False):
                yield RawEntry(f"{name}/", "dir", ref=entry.path)
                subfolders.append((f"{name}/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield RawEntry(name, "file", entry.stat(follow_symlinks=False).st_size, ref=entry.path)
            else:
                yield RawEntry(name, "special")
        pending.extend(reversed(subfolders))


def open_source_file(member: Planned) -> IO[bytes]:
    """Open a file of a directory submission, refusing it if it became a link or device."""
    try:
        fd = open_regular(member.ref)
    except UntrustedDataError as err:
        if err.code == "symlink":
            raise rejected("symlink", f"member {member.name!r} is a symbolic link", member.name) from None
        if err.code == "not_regular_file":
            raise rejected("special_file", f"member {member.name!r} is not a regular file", member.name) from None
        raise OSError(str(err)) from None  # gone or unreadable: read_errors says corrupt_archive
    return open(fd, "rb")


@contextmanager
def read_errors(what: str, member: str | None = None) -> Iterator[None]:
    """Translate what stdlib readers raise on malformed input into ``SubmissionRejected``."""
    try:
        yield
    except StreamLimit as err:
        raise rejected(err.reason, f"{what}: {err.message}", member) from None
    except READ_ERRORS as err:
        raise rejected("corrupt_archive", f"{what} cannot be read: {err}", member) from err


def sha256_stream(stream: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    while chunk := stream.read(MiB):
        hasher.update(chunk)
    stream.seek(0)
    return hasher.hexdigest()


def peek(raw: IO[bytes], size: int) -> bytes:
    position = raw.tell()
    head = raw.read(size)
    raw.seek(position)
    return head
