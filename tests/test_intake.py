"""Intake: every archive is built inside the test under ``tmp_path``."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import struct
import tarfile
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from harness.errors import ConfigError, SubmissionRejected
from harness.intake import (
    REASONS,
    IntakeLimits,
    UnpackedSubmission,
    sha256_file,
    unpack_submission,
)
from harness.intake import limits as intake_limits
from harness.intake import planner as intake_planner
from harness.intake import readers as intake_readers
from tests.hostile.builders import make_tar, make_zip, tar_member, zip_info

MiB = 2**20
ZipMember = tuple[str | zipfile.ZipInfo, bytes]


# -- builders ----------------------------------------------------------------------------------


def files(names: Iterable[str]) -> list[ZipMember]:
    return [(name, f"content of {name}\n".encode()) for name in names]


def patch_zip_headers(path: Path, *, flag_set: int = 0, flag_clear: int = 0, file_size: int | None = None) -> None:
    """Rewrite fields of every local and central header in place (test zips hold no look-alike bytes)."""
    data = bytearray(path.read_bytes())
    for signature, flag_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        start = data.find(signature)
        while start >= 0:
            (flags,) = struct.unpack_from("<H", data, start + flag_at)
            struct.pack_into("<H", data, start + flag_at, (flags | flag_set) & ~flag_clear)
            if file_size is not None:
                struct.pack_into("<I", data, start + size_at, file_size)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def reject(source: Path, dest: Path, limits: IntakeLimits = IntakeLimits()) -> SubmissionRejected:
    with pytest.raises(SubmissionRejected) as caught:
        unpack_submission(source, dest, limits)
    err = caught.value
    assert err.reason in REASONS
    assert_clean(dest)
    return err


def assert_clean(dest: Path) -> None:
    assert not dest.exists() or not any(dest.iterdir())


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "job"


# -- happy paths -------------------------------------------------------------------------------


def test_zip_is_unpacked_with_safe_modes(tmp_path: Path, dest: Path) -> None:
    setuid_script = (zip_info("sol/run.sh", 0o104755), b"#!/bin/sh\n")
    archive = make_zip(tmp_path / "s.zip", [*files(["sol/predict.py", "sol/data/x.csv"]), setuid_script])

    result = unpack_submission(archive, dest)

    assert result == UnpackedSubmission(
        root=dest / "sol", sha256=sha256_file(archive), kind="zip", files=3, bytes=result.bytes, skipped=()
    )
    assert result.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (dest / "sol/data/x.csv").read_text() == "content of sol/data/x.csv\n"
    assert result.bytes == sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / "sol/data").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "sol/run.sh").stat().st_mode) == 0o644


def test_tar_gz_is_unpacked_and_modes_are_reset(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "s.tgz",
        [
            tar_member("sol", kind=tarfile.DIRTYPE, mode=0o777),
            tar_member("sol/predict.py", b"print('hi')\n", mode=0o4777),
            tar_member("sol/empty", kind=tarfile.DIRTYPE),
        ],
    )

    result = unpack_submission(archive, dest)

    assert (result.kind, result.files, result.bytes, result.root) == ("tar", 1, 12, dest / "sol")
    assert (dest / "sol/empty").is_dir()
    assert stat.S_IMODE((dest / "sol/predict.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "sol").stat().st_mode) == 0o755


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_plain_and_other_compressed_tars(tmp_path: Path, dest: Path, mode: str) -> None:
    archive = make_tar(tmp_path / "s.tar", [tar_member("a.py", b"x"), tar_member("./b.py", b"yy")], mode=mode)

    result = unpack_submission(archive, dest)

    assert (result.kind, result.files, result.bytes, result.root) == ("tar", 2, 3, dest)


def test_format_is_detected_by_content_not_extension(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "looks-like.tar.gz", files(["a.py"]))

    assert unpack_submission(archive, dest).kind == "zip"


def test_directory_is_copied_and_hashed_deterministically(tmp_path: Path) -> None:
    def build(root: Path, order: list[str]) -> Path:
        for name in order:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(f"content of {name}")
        return root

    first = build(tmp_path / "one", ["b/model.py", "a.py", "b/__pycache__/m.cpython-311.pyc"])
    second = build(tmp_path / "two", ["a.py", "b/model.py"])

    one = unpack_submission(first, tmp_path / "job1")
    two = unpack_submission(second, tmp_path / "job2")

    assert one.kind == "directory"
    assert (one.files, one.bytes) == (2, len("content of a.py") + len("content of b/model.py"))
    assert one.sha256 == two.sha256  # junk is not part of the digest
    assert one.skipped == ("b/__pycache__/", "b/__pycache__/m.cpython-311.pyc")
    assert (tmp_path / "job1/b/model.py").read_text() == "content of b/model.py"
    (second / "a.py").write_text("changed")
    assert unpack_submission(second, tmp_path / "job3").sha256 != one.sha256


def test_existing_empty_dest_is_used(tmp_path: Path, dest: Path) -> None:
    dest.mkdir(mode=0o755)
    result = unpack_submission(make_zip(tmp_path / "s.zip", files(["a.py"])), dest)
    assert result.root == dest
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700


# -- single top folder, junk ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "root"),
    [
        (["my-solution/a.py", "my-solution/b/c.py"], "my-solution"),
        (["my-solution/a.py", "README.md"], ""),
        (["a.py", "b.py"], ""),
        (["my-solution/a.py", "__MACOSX/my-solution/._a.py", ".DS_Store"], "my-solution"),
        (["only-file.py"], ""),
    ],
)
def test_single_top_folder_rule(tmp_path: Path, dest: Path, names: list[str], root: str) -> None:
    result = unpack_submission(make_zip(tmp_path / "s.zip", files(names)), dest)
    assert result.root == dest / root if root else result.root == dest


def test_junk_is_skipped_and_listed(tmp_path: Path, dest: Path) -> None:
    junk = [
        "__MACOSX/sol/._predict.py",
        "sol/.DS_Store",
        "sol/Thumbs.db",
        "sol/desktop.ini",
        "sol/__pycache__/predict.cpython-311.pyc",
        "sol/old.pyc",
        "sol/.ipynb_checkpoints/solution-checkpoint.ipynb",
    ]
    archive = make_zip(tmp_path / "s.zip", [*files(["sol/predict.py"]), *files(junk), ("sol/__pycache__/", b"")])

    result = unpack_submission(archive, dest)

    assert set(result.skipped) == {*junk, "sol/__pycache__/"}
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == ["sol", "sol/predict.py"]
    assert result.files == 1


# -- reason codes --------------------------------------------------------------------------------


def test_not_found(tmp_path: Path, dest: Path) -> None:
    err = reject(tmp_path / "missing.zip", dest)
    assert err.reason == "not_found"
    assert "missing.zip" in str(err)


@pytest.mark.parametrize(
    ("content", "label"),
    [(b"just some text, not an archive\n", "not a zip or tar"), (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64), "7z")],
)
def test_unsupported_format(tmp_path: Path, dest: Path, content: bytes, label: str) -> None:
    source = tmp_path / "s.zip"
    source.write_bytes(content)
    err = reject(source, dest)
    assert err.reason == "unsupported_format"
    assert label in str(err)
    assert ".zip" in err.hint and ".tar.gz" in err.hint


def test_unsupported_zip_compression_method(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", files(["a.py"]), compression=zipfile.ZIP_BZIP2)
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("unsupported_format", "a.py")


def test_corrupt_truncated_zip(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", files(["a.py", "b.py"]))
    archive.write_bytes(archive.read_bytes()[:60])
    assert reject(archive, dest).reason == "corrupt_archive"


def test_corrupt_zip_crc_names_the_member(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("a.py", b"A" * 200), ("b.py", b"B" * 200)], zipfile.ZIP_STORED)
    archive.write_bytes(archive.read_bytes().replace(b"B" * 200, b"C" * 200))
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("corrupt_archive", "b.py")


def test_corrupt_truncated_tar_gz(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "s.tgz", [tar_member("a.bin", os.urandom(50_000))])
    archive.write_bytes(archive.read_bytes()[:20_000])
    assert reject(archive, dest).reason == "corrupt_archive"


def test_corrupt_gzip_that_is_not_a_tar(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "data.csv.gz"
    source.write_bytes(gzip.compress(b"a,b\n1,2\n" * 100))
    assert reject(source, dest).reason == "corrupt_archive"


def test_archive_too_large(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", files(["a.py"]))
    err = reject(archive, dest, IntakeLimits(archive_bytes=50))
    assert err.reason == "archive_too_large"
    assert "50 bytes" in str(err)


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_too_many_entries(tmp_path: Path, dest: Path, fmt: str) -> None:
    names = [f"f{i}.py" for i in range(6)]
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", files(names))
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, b"x") for name in names])
    err = reject(archive, dest, IntakeLimits(entries=5))
    assert err.reason == "too_many_entries"
    assert "5" in str(err)


def test_too_many_entries_counted_by_planner_when_end_record_lies(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", files([f"f{i}.py" for i in range(6)]))
    data = bytearray(archive.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # claim one entry; zipfile reads them all anyway
    archive.write_bytes(bytes(data))
    err = reject(archive, dest, IntakeLimits(entries=5))
    assert (err.reason, err.member) == ("too_many_entries", "f5.py")


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_total_too_large(tmp_path: Path, dest: Path, fmt: str) -> None:
    members = [(f"f{i}.bin", bytes(1000)) for i in range(3)]
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", members)
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, data) for name, data in members])
    err = reject(archive, dest, IntakeLimits(total_bytes=2500))
    assert (err.reason, err.member) == ("total_too_large", "f2.bin")
    assert "2.4 KiB" in str(err)


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_member_too_large(tmp_path: Path, dest: Path, fmt: str) -> None:
    members = [("small.py", b"x"), ("data/big.bin", os.urandom(5000))]
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", members)
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, data) for name, data in members])
    err = reject(archive, dest, IntakeLimits(member_bytes=4096))
    assert (err.reason, err.member) == ("member_too_large", "data/big.bin")
    assert str(err) == "member 'data/big.bin' is 4.9 KiB uncompressed; the limit is 4.0 KiB per file"
    assert not dest.exists()  # refused before anything was written


def test_member_too_large_message_in_mib() -> None:
    planner = intake_planner.Planner(IntakeLimits())
    with pytest.raises(SubmissionRejected) as caught:
        planner.add(intake_planner.RawEntry("data/big.bin", "file", 300 * MiB))
    assert str(caught.value) == "member 'data/big.bin' is 300.0 MiB uncompressed; the limit is 200.0 MiB per file"


def test_zip_bomb_is_refused_by_ratio(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [*files(["a.py"]), ("zeros.bin", bytes(4 * MiB))])
    assert archive.stat().st_size < 20_000  # > 200:1

    err = reject(archive, dest)

    assert (err.reason, err.member) == ("compression_ratio", "zeros.bin")
    assert "200:1" in str(err)
    assert not dest.exists()


def test_tar_gz_bomb_is_refused_by_ratio(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tgz", [tar_member("a.py", b"x"), tar_member("zeros.bin", bytes(4 * MiB))])
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("compression_ratio", "zeros.bin")


def test_small_members_are_not_checked_for_ratio(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("zeros.bin", bytes(MiB))])
    assert unpack_submission(archive, dest).bytes == MiB


def test_zip_declared_size_that_lies_is_caught_as_corrupt(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("a.py", b"x"), ("big.bin", os.urandom(200_000))], zipfile.ZIP_STORED)
    patch_zip_headers(archive, file_size=10)  # headers say 10 bytes, the data is 200 kB
    err = reject(archive, dest)
    assert err.reason == "corrupt_archive"


def test_zip_declared_size_that_lies_is_stopped_while_streaming(
    tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if a reader believed the data over the header, the streamed byte count stops at the limit."""
    true_size = 3 * MiB
    archive = make_zip(tmp_path / "s.zip", [("big.bin", bytes(true_size))])
    real_infolist, real_open = zipfile.ZipFile.infolist, zipfile.ZipFile.open
    served: list[int] = []

    def lying_infolist(self: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
        infos = real_infolist(self)
        for info in infos:
            info.file_size = 10
        return infos

    def open_with_true_size(self: zipfile.ZipFile, info: zipfile.ZipInfo, *args: object, **kwargs: object) -> object:
        info.file_size = true_size
        stream = real_open(self, info, *args, **kwargs)  # type: ignore[arg-type]
        real_read = stream.read

        def counting_read(size: int = -1) -> bytes:
            data = real_read(size)
            served.append(len(data))
            return data

        stream.read = counting_read  # type: ignore[method-assign]
        return stream

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying_infolist)
    monkeypatch.setattr(zipfile.ZipFile, "open", open_with_true_size)

    err = reject(archive, dest, IntakeLimits(member_bytes=MiB))

    assert (err.reason, err.member) == ("member_too_large", "big.bin")
    assert "10 bytes" in str(err)  # what the header claimed
    assert MiB < sum(served) <= MiB + intake_limits.CHUNK


def test_total_limit_is_enforced_while_streaming(tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "s.zip", [("a.bin", os.urandom(3000)), ("b.bin", os.urandom(3000))])
    monkeypatch.setattr(intake_planner.Planner, "_check_size", lambda self, raw: None)  # as if sizes were declared 0
    err = reject(archive, dest, IntakeLimits(total_bytes=5000))
    assert (err.reason, err.member) == ("total_too_large", "b.bin")


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("zip", "/etc/passwd"), ("zip", "C:/Windows/evil.py"), ("zip", "\\evil.py"), ("tar", "/abs/evil.py")],
)
def test_absolute_path(tmp_path: Path, dest: Path, fmt: str, name: str) -> None:
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", [*files(["ok.py"]), (name, b"x")])
    else:
        archive = make_tar(tmp_path / "s.tar", [tar_member("ok.py", b"x"), tar_member(name, b"x")], mode="w")
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("absolute_path", name)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("zip", "../evil.py"), ("zip", "sol/../../evil.py"), ("zip", "sol\\..\\..\\evil.py"), ("tar", "a/../../evil.py")],
)
def test_path_traversal(tmp_path: Path, dest: Path, fmt: str, name: str) -> None:
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", [(name, b"x")])
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, b"x")])
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("path_traversal", name)
    assert not (tmp_path / "evil.py").exists()


def test_dot_components_are_resolved(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "s.tgz", [tar_member(".", kind=tarfile.DIRTYPE), tar_member("./sol/./a.py", b"x")])
    result = unpack_submission(archive, dest)
    assert (dest / "sol/a.py").read_bytes() == b"x"
    assert result.root == dest / "sol"


@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_path_too_deep(tmp_path: Path, dest: Path, fmt: str) -> None:
    name = "a/b/c/d.py"
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", [(name, b"x")])
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, b"x")])
    err = reject(archive, dest, IntakeLimits(depth=3))
    assert (err.reason, err.member) == ("path_too_deep", name)
    assert "4 folders deep; the limit is 3" in str(err)


@pytest.mark.parametrize(
    ("name", "limits"),
    [
        ("d/" + "x" * 60 + ".py", IntakeLimits(path_length=50)),
        ("d/" + "x" * 20 + ".py", IntakeLimits(name_length=10)),
        ("d/" + "é" * 200, IntakeLimits()),  # 200 characters but 400 bytes: more than a file system takes
    ],
)
@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_path_too_long(tmp_path: Path, dest: Path, name: str, limits: IntakeLimits, fmt: str) -> None:
    if fmt == "zip":
        archive = make_zip(tmp_path / "s.zip", [(name, b"x")])
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, b"x")])
    err = reject(archive, dest, limits)
    assert (err.reason, err.member) == ("path_too_long", name)
    assert "limit" in str(err)


def test_zip_symlink_target_is_never_created(tmp_path: Path, dest: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_zip(
        tmp_path / "s.zip",
        [
            *files(["sol/a.py"]),
            (zip_info("sol/evil", stat.S_IFLNK | 0o777), str(outside).encode()),
            ("sol/evil/pwned.py", b"x"),
        ],
    )
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("symlink", "sol/evil")
    assert list(outside.iterdir()) == []
    assert not dest.exists()


def test_tar_symlink_target_is_never_created(tmp_path: Path, dest: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_tar(
        tmp_path / "s.tgz",
        [tar_member("evil", kind=tarfile.SYMTYPE, linkname=str(outside)), tar_member("evil/pwned.py", b"x")],
    )
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("symlink", "evil")
    assert list(outside.iterdir()) == []


def test_directory_with_symlink_is_refused(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "src"
    (source / "sol").mkdir(parents=True)
    (source / "sol/a.py").write_text("x")
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden labels")
    (source / "sol/labels.txt").symlink_to(secret)
    err = reject(source, dest)
    assert (err.reason, err.member) == ("symlink", "sol/labels.txt")


def test_directory_symlink_swapped_in_after_scan_is_refused(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.py").write_text("x")
    plan = intake_planner.Planned("a.py", ("a.py",), False, 1, os.fspath(source / "a.py"))
    (source / "a.py").unlink()
    (source / "a.py").symlink_to(tmp_path / "secret")
    with pytest.raises(SubmissionRejected) as caught:
        intake_readers.open_source_file(plan)
    assert caught.value.reason == "symlink"


def test_tar_hardlink(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "s.tgz", [tar_member("a.py", b"x"), tar_member("b.py", kind=tarfile.LNKTYPE, linkname="a.py")]
    )
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("hardlink", "b.py")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_special_file(tmp_path: Path, dest: Path, kind: bytes) -> None:
    archive = make_tar(tmp_path / "s.tgz", [tar_member("a.py", b"x"), tar_member("dev", kind=kind)])
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("special_file", "dev")


@pytest.mark.parametrize("mode", [stat.S_IFCHR | 0o644, stat.S_IFIFO | 0o644, stat.S_IFSOCK | 0o644])
def test_zip_special_file(tmp_path: Path, dest: Path, mode: int) -> None:
    archive = make_zip(tmp_path / "s.zip", [*files(["a.py"]), (zip_info("dev", mode), b"")])
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("special_file", "dev")


def test_directory_with_fifo_is_refused(tmp_path: Path, dest: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.py").write_text("x")
    os.mkfifo(source / "pipe")
    err = reject(source, dest)
    assert (err.reason, err.member) == ("special_file", "pipe")


def test_encrypted_zip_member(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", files(["secret.py"]))
    patch_zip_headers(archive, flag_set=0x1)
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("encrypted", "secret.py")


@pytest.mark.parametrize(
    ("names", "member"),
    [
        (["a.py", "a.py"], "a.py"),
        (["sol/Model.py", "sol/model.py"], "sol/model.py"),
        (["SOL/a.py", "sol/b.py"], "sol/b.py"),
        ([unicodedata.normalize("NFC", "café.py"), unicodedata.normalize("NFD", "café.py")], None),
        (["data", "data/x.csv"], "data/x.csv"),
        (["data/x.csv", "data"], "data"),
        (["a/b.py", "./a/./b.py"], "./a/./b.py"),
    ],
)
def test_duplicate_names_in_zip(tmp_path: Path, dest: Path, names: list[str], member: str | None) -> None:
    err = reject(make_zip(tmp_path / "s.zip", files(names)), dest)
    assert err.reason == "duplicate_name"
    assert err.member == (member or names[1])


def test_duplicate_names_in_tar(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(tmp_path / "s.tgz", [tar_member("a.py", b"1"), tar_member("A.PY", b"2")])
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("duplicate_name", "A.PY")
    assert "'a.py'" in str(err)


def test_repeated_directory_entries_are_fine(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "s.tgz",
        [
            tar_member("sol", kind=tarfile.DIRTYPE),
            tar_member("sol/a.py", b"x"),
            tar_member("sol/", kind=tarfile.DIRTYPE),
        ],
    )
    assert unpack_submission(archive, dest).files == 1


@pytest.mark.parametrize(
    "name",
    ["sol/a\x01.py", "sol/tab\there.py", "sol\\a.py", "sol//a.py", "sol/\u202egnp.py", "sol/a\x7f.py"],
)
def test_bad_name_in_zip(tmp_path: Path, dest: Path, name: str) -> None:
    err = reject(make_zip(tmp_path / "s.zip", [*files(["ok.py"]), (name, b"x")]), dest)
    assert (err.reason, err.member) == ("bad_name", name)


def test_bad_name_nul_byte_in_zip(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("evil.py#.txt", b"x")])
    archive.write_bytes(archive.read_bytes().replace(b"evil.py#.txt", b"evil.py\x00.txt"))
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("bad_name", "evil.py\x00.txt")


def test_bad_name_invalid_utf8_in_zip(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("caf\u00e9.py", b"x")])  # sets the UTF-8 flag
    archive.write_bytes(archive.read_bytes().replace("caf\u00e9".encode(), b"caf\xff\xfe"))
    err = reject(archive, dest)
    assert err.reason == "bad_name"
    assert err.member is not None and err.member.startswith("caf")


def test_bad_name_invalid_utf8_in_tar(tmp_path: Path, dest: Path) -> None:
    archive = make_tar(
        tmp_path / "s.tar",
        [tar_member("bad\udcff.py", b"x")],
        mode="w",
        format=tarfile.GNU_FORMAT,
        errors="surrogateescape",
    )
    err = reject(archive, dest)
    assert (err.reason, err.member) == ("bad_name", "bad\udcff.py")
    assert "not valid UTF-8" in str(err)


def test_bad_name_empty_in_tar(tmp_path: Path, dest: Path) -> None:
    err = reject(make_tar(tmp_path / "s.tgz", [tar_member("", b"x")]), dest)
    assert err.reason == "bad_name"


def test_utf8_name_without_flag_is_decoded(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("café.py", b"x")])
    patch_zip_headers(archive, flag_clear=0x800)  # as many zip tools write it
    unpack_submission(archive, dest)
    assert (dest / "café.py").read_bytes() == b"x"


def test_cp437_name_is_kept_when_not_utf8(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(tmp_path / "s.zip", [("caf#.py", b"x")])
    archive.write_bytes(archive.read_bytes().replace(b"caf#.py", b"caf\x82.py"))  # cp437 for é
    unpack_submission(archive, dest)
    assert (dest / "café.py").exists()


def _inner_zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"data")
    return buffer.getvalue()


def _inner_tar_gz(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in names:
            info, data = tar_member(name, b"data")
            archive.addfile(info, io.BytesIO(data or b""))
    return buffer.getvalue()


def test_one_level_of_nesting_is_kept_as_a_file(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(
        tmp_path / "s.zip",
        [("sol/model.zip", _inner_zip(["weights.json"])), ("sol/data.tgz", _inner_tar_gz(["x.csv"]))],
    )
    result = unpack_submission(archive, dest)
    assert result.files == 2
    assert zipfile.is_zipfile(dest / "sol/model.zip")
    assert not (dest / "sol/weights.json").exists()


@pytest.mark.parametrize(
    ("outer", "inner_name", "inner", "deep"),
    [
        ("zip", "sol/inner.zip", _inner_zip(["a.py", "deep.tar.gz"]), "deep.tar.gz"),
        ("tar", "inner.tgz", _inner_tar_gz(["x/deep.7z"]), "x/deep.7z"),
        ("zip", "sol/renamed.bin", _inner_zip(["deep.RAR"]), "deep.RAR"),
    ],
)
def test_nested_archive(tmp_path: Path, dest: Path, outer: str, inner_name: str, inner: bytes, deep: str) -> None:
    members = [("sol/a.py", b"x"), ("sol/b.py", b"y"), (inner_name, inner)]
    if outer == "zip":
        archive = make_zip(tmp_path / "s.zip", members)
    else:
        archive = make_tar(tmp_path / "s.tgz", [tar_member(name, data) for name, data in members])
    err = reject(archive, dest)  # a.py and b.py were written first; reject() checks they are gone
    assert (err.reason, err.member) == ("nested_archive", inner_name)
    assert repr(deep) in str(err)


def test_corrupt_inner_archive_is_just_a_file(tmp_path: Path, dest: Path) -> None:
    archive = make_zip(
        tmp_path / "s.zip",
        [("a.zip", b"PK\x03\x04" + os.urandom(300)), ("b.tar.gz", b"\x1f\x8b" + os.urandom(300))],
    )
    assert unpack_submission(archive, dest).files == 2


def test_partial_output_is_removed_from_an_existing_dest(tmp_path: Path, dest: Path) -> None:
    dest.mkdir()
    archive = make_zip(tmp_path / "s.zip", [*files(["sol/a.py", "sol/b/c.py"]), ("sol/z.zip", _inner_zip(["x.zip"]))])
    err = reject(archive, dest)
    assert err.reason == "nested_archive"
    assert dest.is_dir() and list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "members",
    [[("sol/", b""), ("sol/sub/", b"")], [("__MACOSX/._a.py", b"x"), (".DS_Store", b"x")], []],
    ids=["only-dirs", "only-junk", "no-members"],
)
def test_empty_zip(tmp_path: Path, dest: Path, members: list[ZipMember]) -> None:
    err = reject(make_zip(tmp_path / "s.zip", members), dest)
    assert err.reason == "empty"


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_empty_tar(tmp_path: Path, dest: Path, mode: str) -> None:
    archive = make_tar(tmp_path / "s.tar", [tar_member("sol", kind=tarfile.DIRTYPE)], mode=mode)
    assert reject(archive, dest).reason == "empty"
    assert reject(make_tar(tmp_path / "none.tar", [], mode=mode), dest).reason == "empty"


def test_empty_directory(tmp_path: Path, dest: Path) -> None:
    (tmp_path / "src/sub").mkdir(parents=True)
    assert reject(tmp_path / "src", dest).reason == "empty"


# -- crafted tar headers cannot make tarfile read or loop without bound ------------------------


def test_tar_pax_header_with_huge_size_is_refused(tmp_path: Path, dest: Path) -> None:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 2**33 - 1  # tarfile would read 8 GiB into memory
    source = tmp_path / "s.tgz"
    source.write_bytes(gzip.compress(header.tobuf(tarfile.USTAR_FORMAT) + bytes(4096)))
    assert reject(source, dest).reason == "corrupt_archive"


def test_tar_member_with_negative_size_is_refused(tmp_path: Path, dest: Path) -> None:
    info = tarfile.TarInfo("a.py")
    info.size = -4096
    source = tmp_path / "s.tar"
    headers = tarfile.TarInfo("ok.py").tobuf(tarfile.GNU_FORMAT) + info.tobuf(tarfile.GNU_FORMAT)
    source.write_bytes(headers + bytes(2048))
    err = reject(source, dest)
    assert (err.reason, err.member) == ("corrupt_archive", "a.py")


def test_tar_stream_is_capped(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "s.tar", [tar_member("a.bin", bytes(200_000))], mode="w")
    with open(archive, "rb") as raw:
        stream = intake_readers.CappedStream(raw, cap=100_000)
        with pytest.raises(intake_readers.StreamLimit) as caught:
            while stream.read(65536):
                pass
        assert caught.value.reason == "total_too_large"
        assert stream.tell() <= 100_000
        with pytest.raises(intake_readers.StreamLimit):
            stream.seek(100_001)


def test_tar_header_reads_are_budgeted() -> None:
    stream = intake_readers.CappedStream(io.BytesIO(bytes(3 * intake_readers.TAR_HEADER_BYTES)), cap=10**9)
    stream.budget_header()
    stream.read(intake_readers.TAR_HEADER_BYTES - 512)
    with pytest.raises(intake_readers.StreamLimit) as caught:
        stream.read(1024)
    assert caught.value.reason == "corrupt_archive"
    stream.unbudget()
    assert len(stream.read(intake_readers.TAR_HEADER_BYTES)) == intake_readers.TAR_HEADER_BYTES


def test_tar_sparse_map_bomb_is_refused(tmp_path: Path, dest: Path) -> None:
    """tarfile reads a GNU sparse 1.0 map number by number; such members are refused up front."""
    sparse_map = b"999999999\n" + b"0\n" * (intake_readers.TAR_HEADER_BYTES // 2 + 1000)
    info = tarfile.TarInfo("data.bin")
    info.size = len(sparse_map)
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "data.bin",
        "GNU.sparse.realsize": "10",
    }
    archive = make_tar(tmp_path / "s.tgz", [(info, sparse_map)], format=tarfile.PAX_FORMAT)
    err = reject(archive, dest)
    assert err.reason == "corrupt_archive"
    assert "sparse" in str(err)


# -- dest and limits -----------------------------------------------------------------------------


def test_dest_must_be_empty(tmp_path: Path, dest: Path) -> None:
    dest.mkdir()
    (dest / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        unpack_submission(make_zip(tmp_path / "s.zip", files(["a.py"])), dest)
    assert (dest / "old.txt").exists()


def test_dest_inside_a_directory_submission(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.py").write_text("x")
    with pytest.raises(ConfigError, match="inside the submission"):
        unpack_submission(tmp_path / "src", tmp_path / "src/job")


def test_limits_from_mapping() -> None:
    limits = IntakeLimits.from_mapping({"entries": 10, "ratio": 50})
    assert (limits.entries, limits.ratio, limits.depth) == (10, 50, 32)


def test_limits_from_mapping_unknown_key() -> None:
    with pytest.raises(ConfigError, match="'entires'") as caught:
        IntakeLimits.from_mapping({"entires": 10})
    assert "entries" in caught.value.hint


@pytest.mark.parametrize("value", [0, -1, "10", True, 1.5])
def test_limits_reject_bad_values(value: object) -> None:
    with pytest.raises(ConfigError, match="member_bytes"):
        IntakeLimits.from_mapping({"member_bytes": value})


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 100_000)
    assert sha256_file(path) == hashlib.sha256(b"abc" * 100_000).hexdigest()


def test_every_reason_code_is_exercised() -> None:
    """Keep REASONS and this file in step: each code appears quoted in an assertion above."""
    text = Path(__file__).read_text()
    assert [reason for reason in REASONS if f'"{reason}"' not in text] == []
