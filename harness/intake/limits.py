"""The intake's policy in numbers and words: the limits an assignment may override, the reason
codes a rejection carries, and the hint that goes with each."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, SubmissionRejected

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
CHUNK = 64 * 1024
"""Bytes read per streaming step; a member never overshoots its limit by more than this."""
RATIO_MIN_BYTES = MiB
"""Members (zip) or streams (tar) smaller than this are never rejected for their ratio."""
FS_NAME_BYTES = 255
"""File systems cap one path component at 255 *bytes*, whatever the character limit says."""
FS_PATH_BYTES = 3072
"""Encoded member path cap that keeps ``dest`` + member well below ``PATH_MAX`` (4096)."""
TAR_HEADER_ALLOWANCE = 16 * 1024
"""Tar stream bytes allowed per entry on top of its data: header, pax/long-name blocks, padding."""
TAR_HEADER_BYTES = MiB
"""Most bytes tarfile may read for one member's headers (pax, long names, sparse maps)."""

SUPPORTED = "Submit a .zip, .tar or .tar.gz/.tgz archive, or a directory."

HINTS = {
    "not_found": "Check the path to the submission.",
    "unsupported_format": SUPPORTED,
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


def clip(text: str, keep: int = 60) -> str:
    """``repr`` of a possibly huge name, shortened for a message."""
    return repr(text) if len(text) <= keep else f"{text[:keep]!r}..."


def human_size(count: float) -> str:
    if count >= MiB:
        return f"{count / MiB:.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{int(count)} bytes"


def rejected(reason: str, message: str, member: str | None = None) -> SubmissionRejected:
    return SubmissionRejected(message, reason=reason, member=member, hint=HINTS.get(reason, ""))
