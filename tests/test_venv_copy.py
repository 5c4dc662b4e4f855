"""The host copy of the image's /opt/venv (sandbox/venv_copy.py), with a fake engine (fast).

The real engine is exercised by tests/test_venv_copy_docker.py and, for every protection, by
tests/test_sandbox_docker.py (which runs with the same mounts as grading).
"""

from __future__ import annotations

import io
import tarfile
import threading
import time
from pathlib import Path

import pytest

from harness.errors import ConfigError, InfrastructureError
from sandbox.venv_copy import (
    VENV_PATH,
    copy_dir,
    ensure_copy,
    prune_copies,
    venv_mounts,
    wanted,
)
from tests.hostile.builders import tar_member

IMAGE_ID = "sha256:" + "ab" * 32


def venv_tar(*, with_bin: bool = True) -> bytes:
    members = [tar_member("venv", kind=tarfile.DIRTYPE, mode=0o755)]
    if with_bin:
        members += [
            tar_member("venv/bin", kind=tarfile.DIRTYPE, mode=0o755),
            tar_member("venv/bin/python", kind=tarfile.SYMTYPE, linkname="/usr/bin/python3"),
            tar_member("venv/bin/tool", b"#!/bin/sh\n", mode=0o4755),
        ]  # setuid: must not survive
    members += [
        tar_member("venv/lib", kind=tarfile.DIRTYPE, mode=0o755),
        tar_member("venv/lib/mod.py", b"x = 1\n" * 5000),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


class FakeContainer:
    def __init__(self, engine):
        self.engine = engine

    def get_archive(self, path):
        assert path == VENV_PATH
        self.engine.archives += 1
        time.sleep(self.engine.delay)
        data = self.engine.tar
        sizes = (1, 7, 511, 4096, 100_000)  # odd chunk sizes, as a stream would deliver them
        chunks, i, k = [], 0, 0
        while i < len(data):
            chunks.append(data[i : i + sizes[k % len(sizes)]])
            i += sizes[k % len(sizes)]
            k += 1
        return iter(chunks), {}

    def remove(self, force=False):
        self.engine.removed += 1


class FakeEngine:
    def __init__(self, driver="fuse-overlayfs", tar: bytes | None = None, delay: float = 0.0, images=(IMAGE_ID,)):
        self.driver, self.tar, self.delay = driver, tar if tar is not None else venv_tar(), delay
        self.archives = self.created = self.removed = 0
        self.image_ids = list(images)
        engine = self

        class Containers:
            def create(self, image, **options):
                assert options["network_mode"] == "none"
                engine.created += 1
                return FakeContainer(engine)

        class Images:
            def list(self):
                return [type("Image", (), {"id": i})() for i in engine.image_ids]

        self.containers, self.images = Containers(), Images()

    def info(self):
        return {"Driver": self.driver}


class Image:
    id = IMAGE_ID


@pytest.mark.parametrize(
    ("driver", "mode", "expected"),
    [
        ("fuse-overlayfs", "auto", True),
        ("overlay2", "auto", False),
        ("overlay2", "host", True),
        ("fuse-overlayfs", "image", False),
    ],
)
def test_wanted_follows_the_mode_and_the_storage_driver(driver, mode, expected):
    assert wanted(FakeEngine(driver=driver), mode) is expected


def test_an_unknown_mode_is_a_config_error_that_names_the_choices():
    with pytest.raises(ConfigError) as err:
        wanted(FakeEngine(), "fast")
    assert "GRADE_SANDBOX_VENV='fast'" in str(err.value) and "auto, host, image" in str(err.value)


def test_copy_is_extracted_once_read_only_mounted_and_safe(tmp_path):
    engine = FakeEngine()
    (mount,) = venv_mounts(engine, Image(), tmp_path, "auto")
    assert mount.target == VENV_PATH and mount.read_only
    venv = Path(mount.source)
    assert venv == copy_dir(tmp_path, IMAGE_ID) / "venv"
    assert (venv / "lib" / "mod.py").read_bytes() == b"x = 1\n" * 5000
    assert (venv / "bin" / "python").is_symlink() and str((venv / "bin" / "python").readlink()) == "/usr/bin/python3"
    assert not (venv / "bin" / "tool").stat().st_mode & 0o6000, "setuid bit survived extraction"
    assert (venv.parent.stat().st_mode & 0o777) == 0o755  # the container's uid must reach it
    assert (engine.created, engine.archives, engine.removed) == (1, 1, 1)
    assert venv_mounts(engine, Image(), tmp_path, "auto") == (mount,)
    assert engine.archives == 1, "an existing copy was extracted again"
    assert [p.name for p in venv.parent.parent.iterdir() if not p.name.endswith(".lock")] == [venv.parent.name]


def test_no_copy_and_no_mount_where_it_is_not_wanted(tmp_path):
    engine = FakeEngine(driver="overlay2")
    assert venv_mounts(engine, Image(), tmp_path, "auto") == ()
    assert engine.created == 0 and not (tmp_path / "sandbox-venv").exists()


def test_concurrent_runs_extract_once_and_all_get_the_whole_copy(tmp_path):
    engine = FakeEngine(delay=0.2)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_copy(engine, Image(), tmp_path))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.archives == 1
    assert len(set(results)) == 1 and (results[0] / "lib" / "mod.py").is_file()


def test_an_image_without_the_environment_leaves_nothing_half_made(tmp_path):
    engine = FakeEngine(tar=venv_tar(with_bin=False))
    with pytest.raises(ConfigError, match="has no /opt/venv"):
        ensure_copy(engine, Image(), tmp_path)
    assert engine.removed == 1, "the helper container was left behind"
    leftovers = [p for p in (tmp_path / "sandbox-venv").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


@pytest.mark.parametrize("cut", [3000, 3072, 2048 + 512 + 100])  # mid-header, at a member boundary, mid-data
def test_a_cut_stream_leaves_nothing_and_the_next_run_retries(tmp_path, cut):
    engine = FakeEngine(tar=venv_tar()[:cut])
    with pytest.raises((InfrastructureError, tarfile.TarError)):
        ensure_copy(engine, Image(), tmp_path)
    assert not copy_dir(tmp_path, IMAGE_ID).exists() and engine.removed == 1
    engine.tar = venv_tar()
    assert (ensure_copy(engine, Image(), tmp_path) / "lib" / "mod.py").is_file()


def test_prune_removes_copies_of_images_no_longer_on_the_engine(tmp_path):
    engine = FakeEngine()
    ensure_copy(engine, Image(), tmp_path)
    gone = "sha256:" + "cd" * 32
    copy_dir(tmp_path, gone).mkdir()
    assert prune_copies(engine, tmp_path) == [copy_dir(tmp_path, gone).name]
    assert copy_dir(tmp_path, IMAGE_ID).is_dir()
    engine.image_ids = []
    assert prune_copies(engine, tmp_path) == [copy_dir(tmp_path, IMAGE_ID).name]
    assert prune_copies(engine, tmp_path / "nothing-here") == []


def test_settings_read_the_mode_from_the_environment():
    from harness.settings import Settings

    assert Settings.from_env({}).sandbox_venv == "auto"
    assert Settings.from_env({"GRADE_SANDBOX_VENV": "image"}).sandbox_venv == "image"


@pytest.mark.parametrize("mode", ["auto", "host"])
def test_a_cache_that_cannot_hold_the_copy(tmp_path, mode, capsys):
    """Under auto the copy is only a speed-up: grading goes on with the image's own environment."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")  # mkdir below it fails like a read-only or full cache would
    engine = FakeEngine()
    if mode == "host":
        with pytest.raises(ConfigError, match="cannot copy the sandbox's /opt/venv"):
            venv_mounts(engine, Image(), blocked, mode)
    else:
        assert venv_mounts(engine, Image(), blocked, mode) == ()
        assert "grading with the image's own" in capsys.readouterr().err
    assert engine.created == 0
