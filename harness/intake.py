"""Intake: unpack an untrusted submission (zip, tar or directory) into a fresh job directory.

Our own extraction code, never ``extractall`` or ``shutil.unpack_archive``, in two passes:

1. **Scan** the member list without writing anything: names (absolute, ``..``, depth, length,
   control characters), member types (links, devices, encryption), declared sizes and
   compression ratios, duplicates (also after case folding and Unicode normalization), and the
   entry count.
2. **Extract** regular files by streaming them, counting the real bytes (declared sizes can
   lie) and stopping at the limits. Every file is created with ``O_EXCL | O_NOFOLLOW`` below
   the job directory, which we created ourselves; no link is ever created or followed.

Any problem raises :class:`~harness.errors.SubmissionRejected` with a stable ``reason`` code
(one of :data:`REASONS`) and the offending ``member``; whatever was written is removed first.
"""

from __future__ import annotations

import bz2
import difflib
import gzip
import hashlib
import itertools
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, Literal

from harness.errors import ConfigError, InfrastructureError, SubmissionRejected

REASONS: tuple[str, ...] = (
    "not_found",
    "unsupported_format",
    "corrupt_archive",
    "archive_too_large",
    "too_many_entries",
    "total_too_large",
    "member_too_large",
    "compression_ratio",
    "absolute_path",
    "path_traversal",
    "path_too_deep",
    "path_too_long",
    "symlink",
    "hardlink",
    "special_file",
    "encrypted",
    "duplicate_name",
    "bad_name",
    "nested_archive",
    "empty",
)
"""Every ``SubmissionRejected.reason`` this module raises."""

MiB = 2**20
_CHUNK = 64 * 1024
"""Bytes read per streaming step; a member never overshoots its limit by more than this."""
_RATIO_MIN_BYTES = MiB
"""Members (zip) or streams (tar) smaller than this are never rejected for their ratio."""
_FS_NAME_BYTES = 255
"""File systems cap one path component at 255 *bytes*, whatever the character limit says."""
_FS_PATH_BYTES = 3072
"""Encoded member path cap that keeps ``dest`` + member well below ``PATH_MAX`` (4096)."""
_TAR_HEADER_ALLOWANCE = 16 * 1024
"""Tar stream bytes allowed per entry on top of its data: header, pax/long-name blocks, padding."""
_TAR_HEADER_BYTES = MiB
"""Most bytes tarfile may read for one member's headers (pax, long names, sparse maps)."""

_SUPPORTED = "Submit a .zip, .tar or .tar.gz/.tgz archive, or a directory."
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
"""bzip2 and lzma members are refused: zipfile decompresses them without an output cap."""
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = re.compile(rb"BZh[1-9]")
_XZ_MAGIC = b"\xfd7zXZ\x00"
_OTHER_FORMATS = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "RAR", b"\x28\xb5\x2f\xfd": "zstd"}

_JUNK_DIRS = frozenset({"__macosx", "__pycache__", ".ipynb_checkpoints"})
_JUNK_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".7z", ".rar")
_DRIVE = re.compile(r"[A-Za-z]:")

_READ_ERRORS: tuple[type[BaseException], ...] = (
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

_HINTS = {
    "not_found": "Check the path to the submission.",
    "unsupported_format": _SUPPORTED,
    "corrupt_archive": "Re-create the archive with a standard tool and submit it again.",
    "archive_too_large": "Leave data sets and model files out; the harness provides the data.",
    "too_many_entries": "Leave virtual environments, data sets and caches out of the archive.",
    "total_too_large": "Leave data sets and model files out; the harness provides the data.",
    "member_too_large": "Leave data sets and model files out; the harness provides the data.",
    "compression_ratio": "Leave generated or padding files out of the archive.",
    "symlink": "Replace links with the files themselves.",
    "hardlink": "Replace links with the files themselves.",
    "special_file": "Only regular files and directories can be submitted.",
    "encrypted": "Submit the archive without a password.",
    "nested_archive": "Unpack inner archives, or keep at most one level of archive nesting.",
    "empty": "The archive must contain your solution files.",
}


@dataclass(frozen=True)
class IntakeLimits:
    """Caps for one submission; an assignment may override any of them by name."""

    archive_bytes: int = 100 * MiB
    """Size of the archive file itself."""
    entries: int = 5000
    """Number of members, directories and skipped junk included."""
    total_bytes: int = 500 * MiB
    """Total uncompressed bytes of all file members."""
    member_bytes: int = 200 * MiB
    """Uncompressed bytes of one member."""
    ratio: float = 200.0
    """Largest compression ratio (uncompressed / compressed), checked above 1 MiB: per member
    in a zip, for the whole stream in a compressed tar."""
    depth: int = 32
    """Path components in one member name."""
    path_length: int = 1024
    """Characters in one member name."""
    name_length: int = 255
    """Characters in one path component."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            number = (int, float) if item.name == "ratio" else (int,)
            if isinstance(value, bool) or not isinstance(value, number) or value <= 0:
                kind = "number" if item.name == "ratio" else "integer"
                raise ConfigError(f"intake limit {item.name!r} must be a positive {kind}, not {value!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> IntakeLimits:
        """Defaults overridden by ``data`` (an assignment's intake table); unknown keys are errors."""
        known = [item.name for item in fields(cls)]
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"Did you mean {close[0]!r}?" if close else f"Known limits: {', '.join(known)}."
                raise ConfigError(f"unknown intake limit {key!r}", hint=hint)
        return cls(**data)


@dataclass(frozen=True)
class UnpackedSubmission:
    root: Path
    """The candidate's files: ``dest``, or its only entry when that is a directory."""
    sha256: str
    """Of the archive file; for a directory, over the sorted (path, sha256) of the files copied."""
    kind: Literal["zip", "tar", "directory"]
    files: int
    """Regular files extracted."""
    bytes: int
    """Total bytes extracted."""
    skipped: tuple[str, ...]
    """Junk members left out (``__MACOSX/``, ``.DS_Store``, ``*.pyc``...), for the report."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    with open(path, "rb") as stream:
        return _sha256_stream(stream)


def unpack_submission(source: Path, dest: Path, limits: IntakeLimits = IntakeLimits()) -> UnpackedSubmission:
    """Check ``source`` (an archive file or a directory) and copy its files into ``dest``.

    ``dest`` must not exist yet or be an empty directory; it is created with mode 0o700, files
    get 0o644 and directories 0o755. Raises :class:`SubmissionRejected` for anything unsafe or
    unreadable (``dest`` is then left empty or removed), :class:`ConfigError` for a bad ``dest``.
    """
    source, dest = Path(source), Path(dest)
    try:
        info = os.stat(source)
    except OSError as err:
        raise _rejected("not_found", f"submission {str(source)!r} cannot be read: {err.strerror}") from None
    _check_dest(dest, source)
    if stat.S_ISDIR(info.st_mode):
        return _unpack_directory(source, dest, limits)
    if not stat.S_ISREG(info.st_mode):
        raise _rejected("unsupported_format", f"submission {str(source)!r} is neither a file nor a directory")
    return _unpack_archive(source, dest, limits)


# ---------------------------------------------------------------------------------------------
# Scan: the policy, applied member by member before anything is written


_Kind = Literal["file", "dir", "symlink", "hardlink", "special"]


@dataclass(frozen=True)
class _RawEntry:
    """One member as its format reports it, before any check."""

    name: str
    kind: _Kind
    size: int = 0
    compressed: int | None = None
    """Compressed size (zip only), for the per-member ratio."""
    ref: Any = None
    """ZipInfo, TarInfo or source path, handed back at extraction."""


@dataclass(frozen=True)
class _Planned:
    """A member that passed every check and will be extracted."""

    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int
    ref: Any


@dataclass(frozen=True)
class _Plan:
    members: tuple[_Planned, ...]
    skipped: tuple[str, ...]


class _Planner:
    """Applies every cheap check to members one at a time, so a bad archive is refused as soon
    as its first bad header is seen (for tar, before the stream is read any further)."""

    def __init__(self, limits: IntakeLimits, stream_bytes: int | None = None) -> None:
        self._limits = limits
        self._stream_bytes = stream_bytes
        self._count = 0
        self._total = 0
        self._members: list[_Planned] = []
        self._skipped: list[str] = []
        self._claimed: dict[str, tuple[str, bool]] = {}

    def add(self, raw: _RawEntry) -> None:
        self._count += 1
        if self._count > self._limits.entries:
            raise _rejected(
                "too_many_entries",
                f"the archive has more than {self._limits.entries} entries (at member {_clip(raw.name)}); "
                f"the limit is {self._limits.entries}",
                raw.name,
            )
        parts = _check_name(raw.name, self._limits)
        is_dir = _check_kind(raw)
        if not is_dir:
            self._check_size(raw)
        if not parts:
            if is_dir:  # "." or "./": the archive root itself
                return
            raise _rejected("bad_name", f"member {raw.name!r} has no file name", raw.name)
        path = "/".join(parts)
        if _is_junk(parts):
            self._skipped.append(f"{path}/" if is_dir else path)
            return
        self._claim(parts, is_dir, raw.name)
        self._members.append(_Planned(raw.name, parts, is_dir, 0 if is_dir else raw.size, raw.ref))

    def finish(self, what: str) -> _Plan:
        if not any(not member.is_dir for member in self._members):
            junk = " (only junk that is skipped)" if self._skipped else ""
            raise _rejected("empty", f"{what} contains no files{junk}")
        return _Plan(tuple(self._members), tuple(self._skipped))

    def _check_size(self, raw: _RawEntry) -> None:
        limits = self._limits
        if raw.size > limits.member_bytes:
            raise _rejected(
                "member_too_large",
                f"member {raw.name!r} is {_size(raw.size)} uncompressed; "
                f"the limit is {_size(limits.member_bytes)} per file",
                raw.name,
            )
        self._total += raw.size
        if self._total > limits.total_bytes:
            raise _rejected(
                "total_too_large",
                f"the files add up to {_size(self._total)} uncompressed at member {raw.name!r}; "
                f"the limit is {_size(limits.total_bytes)} in total",
                raw.name,
            )
        if raw.compressed is not None and raw.size > _RATIO_MIN_BYTES:
            ratio = raw.size / max(raw.compressed, 1)
            if ratio > limits.ratio:
                raise _rejected(
                    "compression_ratio",
                    f"member {raw.name!r} expands {ratio:.0f}:1 ({_size(raw.compressed)} to "
                    f"{_size(raw.size)}); the limit is {limits.ratio:g}:1",
                    raw.name,
                )
        if self._stream_bytes and self._total > _RATIO_MIN_BYTES:
            ratio = self._total / self._stream_bytes
            if ratio > limits.ratio:
                raise _rejected(
                    "compression_ratio",
                    f"the archive expands {ratio:.0f}:1 ({_size(self._stream_bytes)} to at least "
                    f"{_size(self._total)}, at member {raw.name!r}); the limit is {limits.ratio:g}:1",
                    raw.name,
                )

    def _claim(self, parts: tuple[str, ...], is_dir: bool, member: str) -> None:
        """Reserve the member's path and its parent directories, refusing any collision."""
        for depth in range(1, len(parts)):
            self._claim_path(parts[:depth], True, member)
        self._claim_path(parts, is_dir, member)

    def _claim_path(self, parts: tuple[str, ...], is_dir: bool, member: str) -> None:
        path = "/".join(parts)
        key = unicodedata.normalize("NFC", path).casefold()
        previous = self._claimed.get(key)
        if previous is None:
            self._claimed[key] = (path, is_dir)
            return
        old_path, old_is_dir = previous
        if old_path == path and old_is_dir and is_dir:
            return
        if old_path != path:
            what = f"collides with {old_path!r} (names may differ only in letter case or Unicode form)"
        elif old_is_dir != is_dir:
            what = "is both a file and a directory"
        else:
            what = "appears more than once"
        raise _rejected("duplicate_name", f"member {member!r}: the path {path!r} {what}", member)


def _check_name(name: str, limits: IntakeLimits) -> tuple[str, ...]:
    """Validate a member name; return its components with ``.`` removed (empty for the root)."""
    if len(name) > limits.path_length:
        raise _rejected(
            "path_too_long",
            f"member {_clip(name)} has a {len(name)}-character path; the limit is {limits.path_length}",
            name,
        )
    if not name:
        raise _rejected("bad_name", "a member has an empty name", name)
    bad = next((char for char in name if not char.isprintable()), None)
    if bad is not None:
        what = "is not valid UTF-8" if "\ud800" <= bad <= "\udfff" else f"contains the character U+{ord(bad):04X}"
        raise _rejected("bad_name", f"the name of member {name!r} {what}; names must be printable text", name)
    if name[0] in "/\\" or _DRIVE.match(name):
        raise _rejected("absolute_path", f"member {name!r} has an absolute path; paths must be relative", name)
    pieces = re.split(r"[/\\]", name)
    if ".." in pieces:
        raise _rejected("path_traversal", f"member {name!r} has a '..' component; it would escape the folder", name)
    if "\\" in name:
        raise _rejected("bad_name", f"member {name!r} contains a backslash; use '/' to separate folders", name)
    if pieces[-1] == "":  # a trailing slash marks a directory
        pieces.pop()
    parts = tuple(piece for piece in pieces if piece != ".")
    if "" in parts:
        raise _rejected("bad_name", f"member {name!r} has an empty path component ('//')", name)
    if len(parts) > limits.depth:
        raise _rejected(
            "path_too_deep",
            f"member {name!r} is {len(parts)} folders deep; the limit is {limits.depth}",
            name,
        )
    for part in parts:
        if len(part) > limits.name_length or len(part.encode()) > _FS_NAME_BYTES:
            raise _rejected(
                "path_too_long",
                f"member {_clip(name)} has a {len(part)}-character component {_clip(part)}; "
                f"the limit is {min(limits.name_length, _FS_NAME_BYTES)} characters",
                name,
            )
    if len(name.encode()) > _FS_PATH_BYTES:
        raise _rejected(
            "path_too_long",
            f"member {_clip(name)} is {len(name.encode())} bytes long in UTF-8; the limit is {_FS_PATH_BYTES}",
            name,
        )
    return parts


def _check_kind(raw: _RawEntry) -> bool:
    """Refuse links and special files; return whether the member is a directory."""
    if raw.kind == "symlink":
        raise _rejected("symlink", f"member {raw.name!r} is a symbolic link; links are not accepted", raw.name)
    if raw.kind == "hardlink":
        raise _rejected("hardlink", f"member {raw.name!r} is a hard link; links are not accepted", raw.name)
    if raw.kind == "special":
        raise _rejected(
            "special_file",
            f"member {raw.name!r} is a device, FIFO, socket or other special file; only files and folders are accepted",
            raw.name,
        )
    return raw.kind == "dir"


def _is_junk(parts: tuple[str, ...]) -> bool:
    folded = [part.casefold() for part in parts]
    return any(part in _JUNK_DIRS for part in folded) or folded[-1] in _JUNK_FILES or folded[-1].endswith(".pyc")


# ---------------------------------------------------------------------------------------------
# Formats: each one turns its headers into _RawEntry and opens members for reading


def _unpack_archive(source: Path, dest: Path, limits: IntakeLimits) -> UnpackedSubmission:
    with open(source, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        if size > limits.archive_bytes:
            raise _rejected(
                "archive_too_large",
                f"the archive {source.name!r} is {_size(size)}; the limit is {_size(limits.archive_bytes)}",
            )
        digest = _sha256_stream(raw)
        kind = _detect_format(raw, source)
        what = f"the {kind} archive {source.name!r}"
        with ExitStack() as stack, _read_errors(what):
            if kind == "zip":
                _check_zip_entry_count(raw, size, limits)
                archive = stack.enter_context(_open_zip(raw))
                plan = _scan(_zip_entries(archive), _Planner(limits), what)

                def opener(member: _Planned, archive=archive) -> IO[bytes]:
                    return archive.open(member.ref)
            else:
                tar = stack.enter_context(_open_tar(raw, limits))
                plan = _scan(_tar_entries(tar), _Planner(limits, stream_bytes=size), what)

                def opener(member: _Planned, tar=tar) -> IO[bytes]:
                    return _tar_member(tar, member)

            writer = _extract(plan, dest, limits, opener, hash_files=False)
    return UnpackedSubmission(writer.root_dir(), digest, kind, writer.files, writer.bytes, plan.skipped)


def _unpack_directory(source: Path, dest: Path, limits: IntakeLimits) -> UnpackedSubmission:
    what = f"the directory {str(source)!r}"
    with _read_errors(what):
        plan = _scan(_directory_entries(source, limits), _Planner(limits), what)
        writer = _extract(plan, dest, limits, _open_source_file, hash_files=True)
    pairs = "".join(f"{path}\0{digest}\n" for path, digest in sorted(writer.digests.items()))
    digest = hashlib.sha256(pairs.encode()).hexdigest()
    return UnpackedSubmission(writer.root_dir(), digest, "directory", writer.files, writer.bytes, plan.skipped)


def _scan(entries: Iterator[_RawEntry], planner: _Planner, what: str) -> _Plan:
    for entry in entries:
        planner.add(entry)
    return planner.finish(what)


def _detect_format(raw: IO[bytes], source: Path) -> Literal["zip", "tar"]:
    kind = _archive_kind(raw)
    if kind is not None:
        return kind
    head = _peek(raw, 8)
    label = next((name for magic, name in _OTHER_FORMATS.items() if head.startswith(magic)), None)
    what = f"a {label} archive, which is not supported" if label else "not a zip or tar archive"
    raise _rejected("unsupported_format", f"the submission {source.name!r} is {what}")


def _archive_kind(raw: IO[bytes]) -> Literal["zip", "tar"] | None:
    """Format by magic bytes; compressed streams are assumed to hold a tar (opening tells)."""
    head = _peek(raw, tarfile.BLOCKSIZE)
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
def _open_zip(raw: IO[bytes]) -> Iterator[zipfile.ZipFile]:
    try:
        archive = zipfile.ZipFile(raw)
    except UnicodeDecodeError as err:  # the UTF-8 flag is set but a name is not UTF-8
        name = bytes(err.object).decode("utf-8", "backslashreplace")
        raise _rejected("bad_name", f"the name of member {name!r} is not valid UTF-8", name) from None
    with archive:
        yield archive


def _check_zip_entry_count(raw: IO[bytes], size: int, limits: IntakeLimits) -> None:
    """Refuse a zip with too many entries before zipfile loads them all: by the end record's
    count, and by walking the central directory's record headers (the end record can lie, and
    zipfile would otherwise build an object per record: ~0.5 GB for a 100 MiB archive)."""
    count = _zip_declared_entries(raw, size)
    if count is not None and count > limits.entries:
        raise _rejected("too_many_entries", f"the archive declares {count} entries; the limit is {limits.entries}")
    over = _zip_record_over_limit(raw, size, limits.entries)
    if over is not None:
        raise _rejected(
            "too_many_entries",
            f"the archive has more than {limits.entries} entries (at member {_clip(over)}); the limit is {limits.entries}",
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


def _zip_entries(archive: zipfile.ZipFile) -> Iterator[_RawEntry]:
    for info in archive.infolist():
        name = _zip_name(info)
        if info.flag_bits & 0x1:
            raise _rejected("encrypted", f"member {_clip(name)} is encrypted; archives must not use a password", name)
        if info.compress_type not in _ZIP_METHODS:
            raise _rejected(
                "unsupported_format",
                f"member {_clip(name)} uses zip compression method {info.compress_type}; "
                "only stored and deflate are supported",
                name,
            )
        yield _RawEntry(name, _zip_kind(info, name), info.file_size, info.compress_size, info)


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


def _zip_kind(info: zipfile.ZipInfo, name: str) -> _Kind:
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        return "symlink"
    if name.endswith("/") or file_type == stat.S_IFDIR:
        return "dir"
    if file_type in (0, stat.S_IFREG):
        return "file"
    return "special"


# tar -------------------------------------------------------------------------------------------


class _StreamLimit(Exception):
    """A tar stream went past its cap; ``reason`` is the code to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _CappedStream:
    """Read-only seekable view of a (decompressed) tar stream that never goes past ``cap``.

    tarfile trusts sizes from headers: a crafted pax, GNU long-name or sparse header would make
    it read gigabytes into memory, and crafted sizes would make it decompress them. While the
    member list is scanned tarfile only *reads* headers (it seeks over data), so each header
    gets a read budget of :data:`_TAR_HEADER_BYTES`; extraction reads without one.
    """

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self._inner = inner
        self._cap = cap
        self._pos = inner.tell()
        self._budget: int | None = None

    def budget_header(self) -> None:
        """Allow the reads for one member's headers (call before ``TarFile.next``)."""
        self._budget = _TAR_HEADER_BYTES

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
            raise _StreamLimit("corrupt_archive", "tar stream: unbounded read")
        if self._budget is not None:
            if size > self._budget:
                raise _StreamLimit("corrupt_archive", f"a tar header is larger than {_size(_TAR_HEADER_BYTES)}")
            self._budget -= size
        data = self._inner.read(min(size, self._cap - self._pos))
        self._pos += len(data)
        if len(data) < size and self._pos >= self._cap and self._inner.read(1):
            raise self._too_large()
        return data

    def _too_large(self) -> _StreamLimit:
        return _StreamLimit("total_too_large", f"the tar stream expands to more than {_size(self._cap)}")


class _TarInfo(tarfile.TarInfo):
    """Refuses GNU sparse 1.0 members: tarfile parses their block map one number at a time,
    so a crafted map costs seconds of CPU per megabyte before the member is even returned."""

    def _proc_gnusparse_10(self, next: tarfile.TarInfo, pax_headers: dict[str, str], tarfile_: object) -> None:
        name = pax_headers.get("GNU.sparse.name", next.name)
        raise tarfile.ReadError(f"member {name!r} is a GNU sparse file, which is not supported")


def _tar_stream_cap(limits: IntakeLimits) -> int:
    return limits.total_bytes + limits.entries * _TAR_HEADER_ALLOWANCE + MiB


@contextmanager
def _open_tar(raw: IO[bytes], limits: IntakeLimits) -> Iterator[tarfile.TarFile]:
    """A TarFile over ``raw`` decompressed by us (not ``r:*``) so the stream can be capped."""
    head = _peek(raw, 6)
    with ExitStack() as stack:
        stream: IO[bytes] = raw
        if head.startswith(_GZIP_MAGIC):
            stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        elif _BZIP2_MAGIC.match(head):
            stream = stack.enter_context(bz2.BZ2File(raw))
        elif head.startswith(_XZ_MAGIC):
            stream = stack.enter_context(lzma.LZMAFile(raw))
        capped = _CappedStream(stream, _tar_stream_cap(limits))
        capped.budget_header()  # opening reads the first header
        tar = tarfile.open(fileobj=capped, mode="r:", tarinfo=_TarInfo)  # type: ignore[call-overload]
        yield stack.enter_context(tar)


def _next_tar_header(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    """``tar.next()`` with a fresh header read budget."""
    if isinstance(tar.fileobj, _CappedStream):
        tar.fileobj.budget_header()
    return tar.next()


def _tar_entries(tar: tarfile.TarFile) -> Iterator[_RawEntry]:
    """Members one by one, so each header is checked before tarfile seeks past its data."""
    while (info := _next_tar_header(tar)) is not None:
        if info.size < 0:
            raise _rejected("corrupt_archive", f"member {info.name!r} has a negative size", info.name)
        yield _RawEntry(info.name, _tar_kind(info), info.size if info.isreg() else 0, None, info)


def _tar_kind(info: tarfile.TarInfo) -> _Kind:
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.isdir():
        return "dir"
    if info.isreg():
        return "file"
    return "special"


def _tar_member(tar: tarfile.TarFile, member: _Planned) -> IO[bytes]:
    if isinstance(tar.fileobj, _CappedStream):
        tar.fileobj.unbudget()
    stream = tar.extractfile(member.ref)
    if stream is None:
        raise _rejected("corrupt_archive", f"member {member.name!r} cannot be read as a file", member.name)
    return stream


# directory -------------------------------------------------------------------------------------


def _directory_entries(source: Path, limits: IntakeLimits) -> Iterator[_RawEntry]:
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
                yield _RawEntry(name, "symlink")
            elif entry.is_dir(follow_symlinks=False):
                yield _RawEntry(f"{name}/", "dir", ref=entry.path)
                subfolders.append((f"{name}/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield _RawEntry(name, "file", entry.stat(follow_symlinks=False).st_size, ref=entry.path)
            else:
                yield _RawEntry(name, "special")
        pending.extend(reversed(subfolders))


def _open_source_file(member: _Planned) -> IO[bytes]:
    """Open a file of a directory submission, refusing it if it became a link or device."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(member.ref, flags)
    except OSError:
        if os.path.islink(member.ref):
            raise _rejected("symlink", f"member {member.name!r} is a symbolic link", member.name) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _rejected("special_file", f"member {member.name!r} is not a regular file", member.name)
    return open(fd, "rb")


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
            with _writing(path):
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(path).st_mode):
                        raise _rejected(
                            "duplicate_name", f"{'/'.join(parts[:depth])!r} is both a file and a folder"
                        ) from None
                os.chmod(path, 0o755)
            self._made.add(parts[:depth])

    def write_file(self, member: _Planned, source: IO[bytes]) -> None:
        self.make_dir(member.parts[:-1])
        path = self._target(member.parts)
        with _writing(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with _writing(path):
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

    def _copy(self, member: _Planned, source: IO[bytes], fd: int, path: str) -> tuple[int, str | None]:
        """Stream ``source`` into ``fd``, counting real bytes against the limits."""
        hasher = hashlib.sha256() if self._hash_files else None
        written = 0
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > self._limits.member_bytes:
                raise _rejected(
                    "member_too_large",
                    f"member {member.name!r} expands to more than {_size(self._limits.member_bytes)} "
                    f"(its header said {_size(member.size)}); the limit is {_size(self._limits.member_bytes)} per file",
                    member.name,
                )
            if self.bytes + written > self._limits.total_bytes:
                raise _rejected(
                    "total_too_large",
                    f"the files expand to more than {_size(self._limits.total_bytes)} at member {member.name!r}; "
                    f"the limit is {_size(self._limits.total_bytes)} in total",
                    member.name,
                )
            if hasher is not None:
                hasher.update(chunk)
            with _writing(path):
                _write_all(fd, chunk)
        return written, hasher.hexdigest() if hasher is not None else None

    def _target(self, parts: tuple[str, ...]) -> str:
        """The path for ``parts``, checked to resolve inside ``dest`` (defence in depth)."""
        path = os.path.join(self._root, *parts)
        resolved = os.path.realpath(path)
        if resolved == self._root or os.path.commonpath([self._root, resolved]) != self._root:
            name = "/".join(parts)
            raise _rejected("path_traversal", f"member {name!r} resolves outside the job directory", name)
        return path


def _extract(
    plan: _Plan,
    dest: Path,
    limits: IntakeLimits,
    opener: Callable[[_Planned], IO[bytes]],
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
            with _read_errors(f"member {member.name!r}", member.name), opener(member) as source:
                writer.write_file(member, source)
    except BaseException:
        _clear(dest, remove=created)
        raise
    return writer


def _check_nested(path: str, member: str, limits: IntakeLimits) -> None:
    """An extracted archive is kept as a file, but one that holds another archive is refused."""
    for inner in _inner_member_names(path, limits):
        if inner.casefold().endswith(_ARCHIVE_SUFFIXES):
            raise _rejected(
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
            kind = _archive_kind(raw)
            if kind == "zip":
                with zipfile.ZipFile(raw) as archive:
                    infos = itertools.islice(archive.infolist(), limits.entries)
                    names.extend(info.orig_filename for info in infos if not info.orig_filename.endswith("/"))
            elif kind == "tar":
                with _open_tar(raw, limits) as tar:
                    for _ in range(limits.entries):
                        info = _next_tar_header(tar)
                        if info is None or info.size < 0:
                            break
                        if not info.isdir():
                            names.append(info.name)
    except (*_READ_ERRORS, _StreamLimit):
        pass
    return names


# ---------------------------------------------------------------------------------------------
# Helpers


def _check_dest(dest: Path, source: Path) -> None:
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
    with _writing(str(dest)):
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
        shutil.rmtree(dest, ignore_errors=True)
        return
    with os.scandir(dest) as listing:
        for entry in list(listing):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass


@contextmanager
def _read_errors(what: str, member: str | None = None) -> Iterator[None]:
    """Translate what stdlib readers raise on malformed input into ``SubmissionRejected``."""
    try:
        yield
    except _StreamLimit as err:
        raise _rejected(err.reason, f"{what}: {err.message}", member) from None
    except _READ_ERRORS as err:
        raise _rejected("corrupt_archive", f"{what} cannot be read: {err}", member) from err


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """A failed write is the machine's problem (disk full, permissions), not the candidate's."""
    try:
        yield
    except OSError as err:
        raise InfrastructureError(
            f"cannot write {path!r}: {err.strerror or err}",
            hint="Check free disk space and permissions of the job directory.",
        ) from err


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sha256_stream(stream: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    while chunk := stream.read(MiB):
        hasher.update(chunk)
    stream.seek(0)
    return hasher.hexdigest()


def _peek(raw: IO[bytes], size: int) -> bytes:
    position = raw.tell()
    head = raw.read(size)
    raw.seek(position)
    return head


def _clip(text: str, keep: int = 60) -> str:
    """``repr`` of a possibly huge name, shortened for a message."""
    return repr(text) if len(text) <= keep else f"{text[:keep]!r}..."


def _size(count: float) -> str:
    if count >= MiB:
        return f"{count / MiB:.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{int(count)} bytes"


def _rejected(reason: str, message: str, member: str | None = None) -> SubmissionRejected:
    return SubmissionRejected(message, reason=reason, member=member, hint=_HINTS.get(reason, ""))
