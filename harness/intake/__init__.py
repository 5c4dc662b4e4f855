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

import hashlib
import os
import stat
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from harness.intake.limits import REASONS, IntakeLimits, human_size, rejected
from harness.intake.planner import Planned, Planner, scan
from harness.intake.readers import (
    check_zip_entry_count,
    detect_format,
    directory_entries,
    open_source_file,
    open_tar,
    open_zip,
    read_errors,
    sha256_stream,
    tar_entries,
    tar_member,
    zip_entries,
)
from harness.intake.writer import check_dest, extract
from harness.safeio import sha256_file

__all__ = ["REASONS", "IntakeLimits", "UnpackedSubmission", "sha256_file", "unpack_submission"]


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
        raise rejected("not_found", f"submission {str(source)!r} cannot be read: {err.strerror}") from None
    check_dest(dest, source)
    if stat.S_ISDIR(info.st_mode):
        return _unpack_directory(source, dest, limits)
    if not stat.S_ISREG(info.st_mode):
        raise rejected("unsupported_format", f"submission {str(source)!r} is neither a file nor a directory")
    return _unpack_archive(source, dest, limits)


def _unpack_archive(source: Path, dest: Path, limits: IntakeLimits) -> UnpackedSubmission:
    with open(source, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        if size > limits.archive_bytes:
            raise rejected(
                "archive_too_large",
                f"the archive {source.name!r} is {human_size(size)}; the limit is {human_size(limits.archive_bytes)}",
            )
        digest = sha256_stream(raw)
        kind = detect_format(raw, source)
        what = f"the {kind} archive {source.name!r}"
        with ExitStack() as stack, read_errors(what):
            if kind == "zip":
                check_zip_entry_count(raw, size, limits)
                archive = stack.enter_context(open_zip(raw))
                plan = scan(zip_entries(archive), Planner(limits), what)

                def opener(member: Planned, archive=archive) -> IO[bytes]:
                    return archive.open(member.ref)
            else:
                tar = stack.enter_context(open_tar(raw, limits))
                plan = scan(tar_entries(tar), Planner(limits, stream_bytes=size), what)

                def opener(member: Planned, tar=tar) -> IO[bytes]:
                    return tar_member(tar, member)

            writer = extract(plan, dest, limits, opener, hash_files=False)
    return UnpackedSubmission(writer.root_dir(), digest, kind, writer.files, writer.bytes, plan.skipped)


def _unpack_directory(source: Path, dest: Path, limits: IntakeLimits) -> UnpackedSubmission:
    what = f"the directory {str(source)!r}"
    with read_errors(what):
        plan = scan(directory_entries(source, limits), Planner(limits), what)
        writer = extract(plan, dest, limits, open_source_file, hash_files=True)
    pairs = "".join(f"{path}\0{digest}\n" for path, digest in sorted(writer.digests.items()))
    digest = hashlib.sha256(pairs.encode()).hexdigest()
    return UnpackedSubmission(writer.root_dir(), digest, "directory", writer.files, writer.bytes, plan.skipped)
