"""Property tests: whatever archive a candidate sends, intake either unpacks it safely inside
``dest`` or refuses it with a known reason code; no other exception ever escapes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.errors import SubmissionRejected
from harness.intake import REASONS, IntakeLimits, unpack_submission

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Member:
    name: str
    kind: str  # file | dir | symlink | hardlink | fifo
    data: bytes = b""
    target: str = ""


_TRICKY = [
    "a",
    "A",
    "b",
    "sol",
    "..",
    ".",
    "",
    "é",
    "e\u0301",
    "C:",
    "x" * 300,
    "__MACOSX",
    "__pycache__",
    ".DS_Store",
    "m.pyc",
    "in.zip",
    "a\\b",
    "\x01",
    "\u202e",
    " ",
    "Thumbs.db",
    "data.tar.gz",
]
_component = st.one_of(
    st.sampled_from(_TRICKY),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), min_size=1, max_size=6),
)
_tricky_names = st.builds(
    lambda lead, parts, trail: lead + "/".join(parts) + trail,
    st.sampled_from(["", "", "", "/", "./", "\\", "../"]),
    st.lists(_component, min_size=1, max_size=5),
    st.sampled_from(["", "", "/"]),
)
_plain_names = st.lists(
    st.sampled_from(["sol", "Sol", "data", "a.py", "b.csv", "model.zip", "notes.md"]), min_size=1, max_size=3
).map("/".join)
names = st.one_of(_plain_names, _plain_names, _plain_names, _tricky_names)
"""Mostly ordinary names (so some archives get through and the tree is checked), some hostile."""


def _inner_zip(inner_names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in inner_names:
            archive.writestr(name, b"inner")
    return buffer.getvalue()


_contents = st.one_of(
    st.binary(max_size=64),
    st.lists(st.sampled_from(["a.py", "deep.zip", "x/y.tgz", "z.csv"]), max_size=3, unique=True).map(_inner_zip),
    st.builds(bytes, st.integers(0, 40_000)),  # zeros: compress well
)
members = st.builds(
    Member,
    name=names,
    kind=st.sampled_from(["file"] * 6 + ["dir"] * 2 + ["symlink", "hardlink", "fifo"]),
    data=_contents,
    target=st.sampled_from(["/etc/passwd", "../outside", "a", "sol/a"]),
)
limits = st.one_of(
    st.just(IntakeLimits()),
    st.just(IntakeLimits()),
    st.builds(
        IntakeLimits,
        entries=st.integers(1, 12),
        total_bytes=st.integers(1, 60_000),
        member_bytes=st.integers(1, 30_000),
        ratio=st.floats(1.0, 500.0),
        depth=st.integers(1, 6),
        path_length=st.integers(1, 400),
        name_length=st.integers(1, 300),
    ),
)


def _build_zip(path: Path, entries: list[Member]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in entries:
            slash = "/" if member.kind == "dir" and not member.name.endswith("/") else ""
            info = zipfile.ZipInfo(member.name + slash)
            info.create_system = 3
            mode = {"symlink": stat.S_IFLNK, "fifo": stat.S_IFIFO, "dir": stat.S_IFDIR}.get(member.kind, stat.S_IFREG)
            info.external_attr = (mode | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.target.encode() if member.kind == "symlink" else member.data)


def _build_tar(path: Path, entries: list[Member], mode: str) -> None:
    types = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as archive:
        for member in entries:
            info = tarfile.TarInfo(member.name)
            info.type = types[member.kind]
            if member.kind == "file":
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                info.linkname = member.target
                archive.addfile(info)


def _build(path: Path, fmt: str, entries: list[Member]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate zip names are generated on purpose
        if fmt == "zip":
            _build_zip(path, entries)
        else:
            _build_tar(path, entries, "w:gz" if fmt == "tar.gz" else "w")


def _assert_safe_outcome(source: Path, dest: Path, chosen: IntakeLimits) -> None:
    """The property: a safe tree inside ``dest``, or a known refusal that leaves ``dest`` empty."""
    try:
        result = unpack_submission(source, dest, chosen)
    except SubmissionRejected as err:
        event(f"refused: {err.reason}")
        assert err.reason in REASONS, err.reason
        assert not dest.exists() or not any(dest.iterdir())
        return
    event("unpacked")
    real_dest = os.path.realpath(dest)
    assert os.path.commonpath([real_dest, os.path.realpath(result.root)]) == real_dest
    count = 0
    for folder, dirs, file_names in os.walk(dest, followlinks=False):
        for name in dirs + file_names:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            assert os.path.commonpath([real_dest, os.path.realpath(path)]) == real_dest
            assert stat.S_ISDIR(mode) if name in dirs else stat.S_ISREG(mode), path
            assert stat.S_IMODE(mode) == (0o755 if name in dirs else 0o644)
            count += name in file_names
    assert count == result.files >= 1


@SETTINGS
@given(
    fmt=st.sampled_from(["zip", "tar", "tar.gz"]),
    entries=st.lists(members, min_size=0, max_size=6),
    chosen=limits,
)
def test_any_archive_is_unpacked_safely_or_refused(fmt: str, entries: list[Member], chosen: IntakeLimits) -> None:
    if fmt == "zip":  # zip has no hard links; a tar-only member type becomes a plain file
        entries = [Member(m.name, "file", m.data) if m.kind == "hardlink" else m for m in entries]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "submission.bin"
        _build(source, fmt, entries)
        _assert_safe_outcome(source, Path(tmp) / "job", chosen)
        assert {path.name for path in Path(tmp).iterdir()} <= {"submission.bin", "job"}  # nothing written outside


_sound_members = st.builds(Member, name=_plain_names, kind=st.sampled_from(["file", "file", "dir"]), data=_contents)


@SETTINGS
@given(
    fmt=st.sampled_from(["zip", "tar", "tar.gz"]),
    entries=st.lists(_sound_members, min_size=1, max_size=4, unique_by=lambda m: m.name.casefold()),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.none(), st.floats(0.05, 1)),
)
def test_corrupted_bytes_never_escape_as_other_errors(
    fmt: str, entries: list[Member], edits: list[tuple[float, int]], cut: float | None
) -> None:
    """Random byte edits and truncation (past the magic bytes) of an otherwise fine archive."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "submission.bin"
        _build(source, fmt, entries)
        data = bytearray(source.read_bytes())
        for where, value in edits:
            data[6 + int(where * (len(data) - 6))] = value
        if cut is not None:
            del data[max(6, int(cut * len(data))) :]
        source.write_bytes(bytes(data))
        _assert_safe_outcome(source, Path(tmp) / "job", IntakeLimits())
