"""harness.safeio: bounded, no-follow reads; depth-limited JSON; iterative walks and removal."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from harness import safeio
from harness.errors import HoldoutError


def _deep_chain(root, depth: int) -> None:
    """``root/d/d/.../d/leaf.txt``, ``depth`` folders deep: longer than PATH_MAX, so built
    relative to directory descriptors (as a candidate's code would with chdir)."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


def test_rmtree_removes_a_chain_deeper_than_the_recursion_limit(tmp_path):
    top = tmp_path / "job"
    _deep_chain(top, 3000)
    assert safeio.rmtree(top) is True
    assert not top.exists()


def test_rmtree_opens_up_folders_without_permissions_and_never_follows_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    top = tmp_path / "job"
    locked = top / "a" / "locked"
    locked.mkdir(parents=True)
    (locked / "f").write_text("x")
    (top / "a" / "link").symlink_to(outside)
    locked.chmod(0)
    assert safeio.rmtree(top)
    assert (outside / "keep.txt").read_text() == "keep"


def test_rmtree_of_missing_path_or_file(tmp_path):
    assert safeio.rmtree(tmp_path / "nothing")
    f = tmp_path / "f"
    f.write_text("x")
    assert safeio.rmtree(f) and not f.exists()


def test_walk_is_iterative_bounded_and_does_not_follow_links(tmp_path):
    _deep_chain(tmp_path / "t", 3000)
    (tmp_path / "t" / "ln").symlink_to("/")
    entries = list(safeio.walk(tmp_path / "t", max_depth=100))
    assert len(entries) == 101  # the link and 100 levels of folders
    assert [e.relpath for e in entries if e.depth == 1] == ["d", "ln"]
    assert not any(e.relpath.startswith("ln/") for e in entries)
    assert len(list(safeio.walk(tmp_path / "t", max_entries=5))) == 5
    assert max(e.depth for e in safeio.walk(tmp_path / "t", max_depth=7)) == 7
    assert len(list(safeio.walk(tmp_path / "t", max_depth=10_000))) == safeio.MAX_WALK_DEPTH + 1
    assert safeio.rmtree(tmp_path / "t")  # pytest's own clean-up of old temp dirs recurses


def test_rmtree_never_holds_more_descriptors_than_the_flatten_depth(tmp_path):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        _deep_chain(tmp_path / "job", 3000)
        assert safeio.rmtree(tmp_path / "job")
        assert not (tmp_path / "job").exists()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("depth", [100_000, 65])
def test_loads_json_refuses_deep_nesting_without_recursing(depth):
    with pytest.raises(safeio.UntrustedDataError) as err:
        safeio.loads_json("[" * depth + "]" * depth)
    assert err.value.code == "too_deep"
    assert isinstance(err.value, HoldoutError)


def test_loads_json_ignores_brackets_inside_strings_and_reports_invalid_json():
    value = {"a": "[[[[" * 1000, "b": [1, {"c": ']\\"}'}]}
    assert safeio.loads_json(json.dumps(value)) == value
    with pytest.raises(safeio.UntrustedDataError) as err:
        safeio.loads_json(b"\xff{")
    assert err.value.code == "invalid_json"


def test_read_bounded_refuses_links_fifos_and_large_files(tmp_path):
    target = tmp_path / "secret"
    target.write_text("s")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * 100)
    for name, code in (("link", "symlink"), ("fifo", "not_regular_file"), ("big", "too_large"), ("none", "missing")):
        with pytest.raises(safeio.UntrustedDataError) as err:
            safeio.read_bounded(tmp_path / name, 10)
        assert err.value.code == code
    assert safeio.read_bounded(tmp_path / "big", 10, truncate=True) == b"x" * 10


def test_read_json_and_sha256(tmp_path):
    (tmp_path / "r.json").write_text('{"a": [1, 2]}')
    assert safeio.read_json(tmp_path / "r.json", max_bytes=100) == {"a": [1, 2]}
    assert safeio.sha256_file(tmp_path / "r.json") == hashlib.sha256(b'{"a": [1, 2]}').hexdigest()
