"""Scan: the policy, applied member by member before anything is written (names, kinds, sizes,
ratios, duplicates after case folding and Unicode normalization, the entry count)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from harness.intake.limits import (
    FS_NAME_BYTES,
    FS_PATH_BYTES,
    RATIO_MIN_BYTES,
    IntakeLimits,
    clip,
    human_size,
    rejected,
)

_JUNK_DIRS = frozenset({"__macosx", "__pycache__", ".ipynb_checkpoints"})
_JUNK_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".7z", ".rar")
_DRIVE = re.compile(r"[A-Za-z]:")

Kind = Literal["file", "dir", "symlink", "hardlink", "special"]


@dataclass(frozen=True)
class RawEntry:
    """One member as its format reports it, before any check."""

    name: str
    kind: Kind
    size: int = 0
    compressed: int | None = None
    """Compressed size (zip only), for the per-member ratio."""
    ref: Any = None
    """ZipInfo, TarInfo or source path, handed back at extraction."""


@dataclass(frozen=True)
class Planned:
    """A member that passed every check and will be extracted."""

    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int
    ref: Any


@dataclass(frozen=True)
class Plan:
    members: tuple[Planned, ...]
    skipped: tuple[str, ...]


class Planner:
    """Applies every cheap check to members one at a time, so a bad archive is refused as soon
    as its first bad header is seen (for tar, before the stream is read any further)."""

    def __init__(self, limits: IntakeLimits, stream_bytes: int | None = None) -> None:
        self._limits = limits
        self._stream_bytes = stream_bytes
        self._count = 0
        self._total = 0
        self._members: list[Planned] = []
        self._skipped: list[str] = []
        self._claimed: dict[str, tuple[str, bool]] = {}

    def add(self, raw: RawEntry) -> None:
        self._count += 1
        if self._count > self._limits.entries:
            raise rejected(
                "too_many_entries",
                f"the archive has more than {self._limits.entries} entries (at member {clip(raw.name)}); "
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
            raise rejected("bad_name", f"member {raw.name!r} has no file name", raw.name)
        path = "/".join(parts)
        if _is_junk(parts):
            self._skipped.append(f"{path}/" if is_dir else path)
            return
        self._claim(parts, is_dir, raw.name)
        self._members.append(Planned(raw.name, parts, is_dir, 0 if is_dir else raw.size, raw.ref))

    def finish(self, what: str) -> Plan:
        if not any(not member.is_dir for member in self._members):
            junk = " (only junk that is skipped)" if self._skipped else ""
            raise rejected("empty", f"{what} contains no files{junk}")
        return Plan(tuple(self._members), tuple(self._skipped))

    def _check_size(self, raw: RawEntry) -> None:
        limits = self._limits
        if raw.size > limits.member_bytes:
            raise rejected(
                "member_too_large",
                f"member {raw.name!r} is {human_size(raw.size)} uncompressed; "
                f"the limit is {human_size(limits.member_bytes)} per file",
                raw.name,
            )
        self._total += raw.size
        if self._total > limits.total_bytes:
            raise rejected(
                "total_too_large",
                f"the files add up to {human_size(self._total)} uncompressed at member {raw.name!r}; "
                f"the limit is {human_size(limits.total_bytes)} in total",
                raw.name,
            )
        if raw.compressed is not None and raw.size > RATIO_MIN_BYTES:
            ratio = raw.size / max(raw.compressed, 1)
            if ratio > limits.ratio:
                raise rejected(
                    "compression_ratio",
                    f"member {raw.name!r} expands {ratio:.0f}:1 ({human_size(raw.compressed)} to "
                    f"{human_size(raw.size)}); the limit is {limits.ratio:g}:1",
                    raw.name,
                )
        if self._stream_bytes and self._total > RATIO_MIN_BYTES:
            ratio = self._total / self._stream_bytes
            if ratio > limits.ratio:
                raise rejected(
                    "compression_ratio",
                    f"the archive expands {ratio:.0f}:1 ({human_size(self._stream_bytes)} to at least "
                    f"{human_size(self._total)}, at member {raw.name!r}); the limit is {limits.ratio:g}:1",
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
        raise rejected("duplicate_name", f"member {member!r}: the path {path!r} {what}", member)


def _check_name(name: str, limits: IntakeLimits) -> tuple[str, ...]:
    """Validate a member name; return its components with ``.`` removed (empty for the root)."""
    if len(name) > limits.path_length:
        raise rejected(
            "path_too_long",
            f"member {clip(name)} has a {len(name)}-character path; the limit is {limits.path_length}",
            name,
        )
    if not name:
        raise rejected("bad_name", "a member has an empty name", name)
    bad = next((char for char in name if not char.isprintable()), None)
    if bad is not None:
        what = "is not valid UTF-8" if "\ud800" <= bad <= "\udfff" else f"contains the character U+{ord(bad):04X}"
        raise rejected("bad_name", f"the name of member {name!r} {what}; names must be printable text", name)
    if name[0] in "/\\" or _DRIVE.match(name):
        raise rejected("absolute_path", f"member {name!r} has an absolute path; paths must be relative", name)
    pieces = re.split(r"[/\\]", name)
    if ".." in pieces:
        raise rejected("path_traversal", f"member {name!r} has a '..' component; it would escape the folder", name)
    if "\\" in name:
        raise rejected("bad_name", f"member {name!r} contains a backslash; use '/' to separate folders", name)
    if pieces[-1] == "":  # a trailing slash marks a directory
        pieces.pop()
    parts = tuple(piece for piece in pieces if piece != ".")
    if "" in parts:
        raise rejected("bad_name", f"member {name!r} has an empty path component ('//')", name)
    if len(parts) > limits.depth:
        raise rejected(
            "path_too_deep",
            f"member {name!r} is {len(parts)} folders deep; the limit is {limits.depth}",
            name,
        )
    for part in parts:
        if len(part) > limits.name_length or len(part.encode()) > FS_NAME_BYTES:
            raise rejected(
                "path_too_long",
                f"member {clip(name)} has a {len(part)}-character component {clip(part)}; "
                f"the limit is {min(limits.name_length, FS_NAME_BYTES)} characters",
                name,
            )
    if len(name.encode()) > FS_PATH_BYTES:
        raise rejected(
            "path_too_long",
            f"member {clip(name)} is {len(name.encode())} bytes long in UTF-8; the limit is {FS_PATH_BYTES}",
            name,
        )
    return parts


def _check_kind(raw: RawEntry) -> bool:
    """Refuse links and special files; return whether the member is a directory."""
    if raw.kind == "symlink":
        raise rejected("symlink", f"member {raw.name!r} is a symbolic link; links are not accepted", raw.name)
    if raw.kind == "hardlink":
        raise rejected("hardlink", f"member {raw.name!r} is a hard link; links are not accepted", raw.name)
    if raw.kind == "special":
        raise rejected(
            "special_file",
            f"member {raw.name!r} is a device, FIFO, socket or other special file; only files and folders are accepted",
            raw.name,
        )
    return raw.kind == "dir"


def _is_junk(parts: tuple[str, ...]) -> bool:
    folded = [part.casefold() for part in parts]
    return any(part in _JUNK_DIRS for part in folded) or folded[-1] in _JUNK_FILES or folded[-1].endswith(".pyc")


def scan(entries: Iterator[RawEntry], planner: Planner, what: str) -> Plan:
    for entry in entries:
        planner.add(entry)
    return planner.finish(what)
