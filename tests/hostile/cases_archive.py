"""Archive intake: unsafe or unreadable zips, tars and folders are rejected before anything runs.

Each case goes through ``harness.api.grade`` (status ``rejected``, message ``rejected_<reason>``
naming the member, no container started); ``tests/test_intake.py`` covers every reason code
unit by unit and ``tests/test_intake_property.py`` fuzzes random archives.
"""

from __future__ import annotations

import os
import stat
import struct
import tarfile
import unicodedata
import zipfile
from pathlib import Path

from harness.errors import ConfigError

from .builders import (
    MANIFEST,
    make_tar,
    make_zip,
    ok_members,
    script,
    tar_member,
    write_tree,
    zip_bytes,
    zip_info,
)
from .catalogue import Case, Env, Expect

MiB = 2**20


def rejected(reason: str, names: str | None = None, **kw) -> Expect:
    return Expect(status="rejected", reason=reason, names=names, runs=0, max_score=0, **kw)


def _zip(env: Env, extra: list, name: str = "submission.zip") -> Path:
    return make_zip(env.tmp / name, [*ok_members(), *extra])


def _tar(env: Env, extra: list, name: str = "submission.tar.gz", **options) -> Path:
    members = [tar_member(n, d.encode() if isinstance(d, str) else d) for n, d in ok_members()]
    return make_tar(env.tmp / name, [*members, *extra], **options)


def _nothing_escaped(outcome, env: Env) -> None:
    planted = [p for p in env.tmp.parent.rglob("escaped.txt")]
    assert not planted, f"a member was written outside the job dir: {planted}"


def _encrypted(env: Env) -> Path:
    """Set the "encrypted" flag bit on secret.py's local and central headers (zipfile clears it on write)."""
    path = _zip(env, [("secret.py", b"print('hidden')\n")])
    data = bytearray(path.read_bytes())
    for signature, flags_at, length_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        start = data.find(signature)
        while start >= 0:
            (length,) = struct.unpack_from("<H", data, start + length_at)
            if data[start + name_at : start + name_at + length] == b"secret.py":
                (flags,) = struct.unpack_from("<H", data, start + flags_at)
                struct.pack_into("<H", data, start + flags_at, flags | 0x1)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    return path


def _bomb_zip(env: Env) -> Path:
    return _zip(env, [("data/zeros.bin", b"\0" * (8 * MiB))])  # 8 MiB -> ~8 KiB: ratio ~1000


def _bomb_tar(env: Env) -> Path:
    return _tar(env, [tar_member("data/zeros.bin", b"\0" * (8 * MiB))])


def _many_entries(env: Env) -> Path:
    return _zip(env, [(f"many/{i}.txt", b"") for i in range(5001)])


def _lying_end_record(env: Env) -> Path:
    """20,000 members, and an end record that claims there is one."""
    path = _zip(env, [(f"many/{i}", b"") for i in range(20000)])
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)
    path.write_bytes(bytes(data))
    return path


def _cheap(outcome, env: Env) -> None:
    assert outcome.rss_growth_mb < 50 and outcome.duration_s < 10, (outcome.rss_growth_mb, outcome.duration_s)


def _nested(env: Env) -> Path:
    deepest = zip_bytes([("deep.py", "print('three levels down')\n")])
    inner = zip_bytes([("inner/deeper.zip", deepest)])
    return _zip(env, [("vendor/bundle.zip", inner)])


def _corrupt(env: Env) -> Path:
    path = _zip(env, [("model.py", "x = 1\n" * 2000)])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _seven_zip(env: Env) -> Path:
    path = env.tmp / "submission.zip"
    path.write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(256))
    return path


def _empty(env: Env) -> Path:
    return make_zip(env.tmp / "submission.zip", [])


def _dir_with_symlink(env: Env) -> Path:
    root = write_tree(env.tmp / "submission", dict(ok_members()))
    (root / "labels.csv").symlink_to(env.hidden_labels)
    return root


def _dir_with_fifo(env: Env) -> Path:
    root = write_tree(env.tmp / "submission", dict(ok_members()))
    os.mkfifo(root / "pipe")
    return root


def _own_assignment(env: Env) -> Path:
    """A folder that is both a submission and an assignment whose prepare hook and graders.py
    would run on the host, named by path in its own manifest."""
    root = env.tmp / "candidate"
    marker = env.host_target / "pwned.txt"
    payload = f"open({str(marker)!r}, 'w').write('host code execution')\n"
    write_tree(
        root,
        {
            "predict.py": script("write_all_ham()"),
            "submission.toml": f"assignment = {str(root)!r}\n",
            "assignment.toml": 'id = "evil"\ntitle = "evil"\n[data]\nprepare = "prepare.py"\n[[graders]]\nuse = "run"\n',
            "prepare.py": payload + "def prepare(sources, out, seed):\n    pass\n",
            "graders.py": payload,
        },
    )
    return root


def _relative_own_assignment(env: Env) -> Path:
    root = _own_assignment(env)
    (root / "submission.toml").write_text('assignment = "."\n')
    return root


def _toml_bomb(env: Env) -> Path:
    bomb = MANIFEST + "x = " + "[" * 20000 + "]" * 20000 + "\n"
    return write_tree(env.tmp / "submission", {"predict.py": script("write_all_ham()"), "submission.toml": bomb})


def _small_intake_from_manifest(env: Env) -> Path:
    return write_tree(
        env.tmp / "submission",
        {
            "predict.py": script("write_all_ham()"),
            "submission.toml": 'assignment = "small_intake"\n',
            "weights.bin": os.urandom(100 * 1024),
        },
    )


CASES = [
    Case(
        "zip_path_traversal",
        "archive",
        "a zip member named ../../escaped.txt (zip-slip)",
        lambda env: _zip(env, [("../../escaped.txt", "owned\n")]),
        rejected("path_traversal", "../../escaped.txt", check=_nothing_escaped),
    ),
    Case(
        "tar_path_traversal",
        "archive",
        "a tar member named sol/../../escaped.txt",
        lambda env: _tar(env, [tar_member("sol/../../escaped.txt", b"owned\n")]),
        rejected("path_traversal", "sol/../../escaped.txt", check=_nothing_escaped),
    ),
    Case(
        "zip_absolute_path",
        "archive",
        "a zip member with an absolute name inside the host folder under attack",
        lambda env: _zip(env, [(str(env.host_target / "planted.py"), "owned\n")]),
        rejected("absolute_path", "planted.py"),
    ),
    Case(
        "zip_windows_drive_path",
        "archive",
        "a zip member named C:/Windows/evil.py (a Windows drive letter)",
        lambda env: _zip(env, [("C:/Windows/evil.py", "owned\n")]),
        rejected("absolute_path", "evil.py"),
    ),
    Case(
        "zip_symlink_to_hidden_labels",
        "archive",
        "a zip symlink member pointing at the hidden labels on the host",
        lambda env: _zip(env, [(zip_info("labels.csv", stat.S_IFLNK | 0o777), str(env.hidden_labels))]),
        rejected("symlink", "labels.csv"),
    ),
    Case(
        "tar_symlink_then_write_through",
        "archive",
        "a tar symlink to the host folder, then a file written 'through' it",
        lambda env: _tar(
            env,
            [
                tar_member("link", kind=tarfile.SYMTYPE, linkname=str(env.host_target)),
                tar_member("link/planted.py", b"owned\n"),
            ],
        ),
        rejected("symlink", "link"),
    ),
    Case(
        "tar_hardlink_to_host_file",
        "archive",
        "a tar hard link to /etc/passwd",
        lambda env: _tar(env, [tar_member("passwd", kind=tarfile.LNKTYPE, linkname="/etc/passwd")]),
        rejected("hardlink", "passwd"),
    ),
    Case(
        "tar_device_node",
        "archive",
        "a tar character device (like /dev/mem)",
        lambda env: _tar(env, [tar_member("mem", kind=tarfile.CHRTYPE)]),
        rejected("special_file", "mem"),
    ),
    Case(
        "tar_fifo",
        "archive",
        "a tar fifo (a reader would block forever)",
        lambda env: _tar(env, [tar_member("pipe", kind=tarfile.FIFOTYPE)]),
        rejected("special_file", "pipe"),
    ),
    Case(
        "zip_encrypted_member",
        "archive",
        "a password-protected zip member",
        _encrypted,
        rejected("encrypted", "secret.py"),
    ),
    Case(
        "duplicate_after_unicode_normalisation",
        "archive",
        "two members 'café.py' in NFC and NFD (one would overwrite the other)",
        lambda env: _zip(
            env,
            [
                (unicodedata.normalize("NFC", "café.py"), "a = 1\n"),
                (unicodedata.normalize("NFD", "café.py"), "a = 2\n"),
            ],
        ),
        rejected("duplicate_name"),
    ),
    Case(
        "duplicate_after_case_folding",
        "archive",
        "predict.py and PREDICT.PY (same file on a case-insensitive disk)",
        lambda env: _zip(env, [("PREDICT.PY", "print('the other one')\n")]),
        rejected("duplicate_name", "PREDICT.PY"),
    ),
    Case(
        "name_not_utf8",
        "archive",
        "a tar member whose name is not valid UTF-8",
        lambda env: _tar(
            env,
            [tar_member("bad\udcff.py", b"x = 1\n")],
            name="submission.tar",
            mode="w",
            format=tarfile.GNU_FORMAT,
            errors="surrogateescape",
        ),
        rejected("bad_name", "not valid UTF-8"),
    ),
    Case(
        "name_with_control_characters",
        "archive",
        "a member name with an ANSI escape and a right-to-left override",
        lambda env: _zip(env, [("evil\x1b[31m\u202egnp.py", "x = 1\n")]),
        rejected("bad_name", "evil"),
    ),
    Case(
        "zip_bomb",
        "archive",
        "8 MiB of zeros compressed to a few KiB (ratio ~1000)",
        _bomb_zip,
        rejected("compression_ratio", "data/zeros.bin"),
    ),
    Case("tar_gz_bomb", "archive", "a .tar.gz whose stream inflates ~1000x", _bomb_tar, rejected("compression_ratio")),
    Case(
        "too_many_entries",
        "archive",
        "5,001 empty members (inode / entry-count exhaustion)",
        _many_entries,
        rejected("too_many_entries", "5000"),
    ),
    Case(
        "zip_end_record_lies_about_entries",
        "archive",
        "20,000 members behind an end record that claims one (zipfile would build them all in memory)",
        _lying_end_record,
        rejected("too_many_entries", "many/4998", check=_cheap),
    ),
    Case(
        "nested_archive_two_levels",
        "archive",
        "a zip inside a zip inside the submission",
        _nested,
        rejected("nested_archive", "vendor/bundle.zip"),
    ),
    Case(
        "path_too_deep",
        "archive",
        "a member 40 folders deep",
        lambda env: _zip(env, [("/".join(["d"] * 40) + "/x.py", "x = 1\n")]),
        rejected("path_too_deep"),
    ),
    Case(
        "path_component_too_long",
        "archive",
        "a member name component of 300 characters",
        lambda env: _zip(env, [("x" * 300 + ".py", "x = 1\n")]),
        rejected("path_too_long"),
    ),
    Case("truncated_zip", "archive", "a zip cut in half", _corrupt, rejected("corrupt_archive")),
    Case(
        "unsupported_format",
        "archive",
        "a 7z archive renamed to .zip",
        _seven_zip,
        rejected("unsupported_format", "7z"),
    ),
    Case("empty_archive", "archive", "a zip with no members", _empty, rejected("empty")),
    Case(
        "member_over_assignment_limit",
        "archive",
        "a 100 KiB member where the assignment allows 64 KiB",
        lambda env: _zip(env, [("weights.bin", os.urandom(100 * 1024))]),
        rejected("member_too_large", "weights.bin"),
        assignment="small_intake",
    ),
    Case(
        "total_over_assignment_limit",
        "archive",
        "five 60 KiB members where the assignment allows 256 KiB in all",
        lambda env: _zip(env, [(f"part{i}.bin", os.urandom(60 * 1024)) for i in range(5)]),
        rejected("total_too_large"),
        assignment="small_intake",
    ),
    Case(
        "archive_over_assignment_limit",
        "archive",
        "a 600 KiB archive where the assignment allows 512 KiB",
        lambda env: make_zip(
            env.tmp / "submission.zip",
            [*ok_members(), ("blob.bin", os.urandom(600 * 1024))],
            compression=zipfile.ZIP_STORED,
        ),
        rejected("archive_too_large"),
        assignment="small_intake",
    ),
    Case(
        "limits_of_assignment_named_in_manifest",
        "archive",
        "a folder whose manifest names an assignment with small limits; a 100 KiB file",
        _small_intake_from_manifest,
        rejected("member_too_large", "weights.bin"),
        assignment=None,
    ),
    Case(
        "folder_with_symlink_to_hidden_labels",
        "archive",
        "a plain folder holding a symlink to the hidden labels",
        _dir_with_symlink,
        rejected("symlink", "labels.csv"),
    ),
    Case(
        "folder_with_fifo", "archive", "a plain folder holding a fifo", _dir_with_fifo, rejected("special_file", "pipe")
    ),
    Case(
        "manifest_names_own_assignment_path",
        "archive",
        "submission.toml names the submission's own folder as the assignment (its prepare.py/graders.py would run on the host)",
        _own_assignment,
        Expect(status=None, raises=ConfigError, names="not an assignment id", runs=0),
        assignment=None,
    ),
    Case(
        "manifest_names_cwd_assignment",
        "archive",
        'submission.toml says assignment = "." (the reviewer\'s working folder)',
        _relative_own_assignment,
        Expect(status=None, raises=ConfigError, names="not an assignment id", runs=0),
        assignment=None,
    ),
    Case(
        "manifest_toml_nesting_bomb",
        "archive",
        "submission.toml with 20,000 nested arrays (recursion bomb for the TOML parser)",
        _toml_bomb,
        Expect(status=None, raises=ConfigError, names="nested too deeply", runs=0),
        assignment=None,
    ),
]
