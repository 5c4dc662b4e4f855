"""Serve the image's Python environment (``/opt/venv``) from the host's filesystem, read-only.

With the ``fuse-overlayfs`` storage driver (rootless or nested engines, this project's CI
machines), every file a container opens from its image goes through FUSE: importing pandas and
scikit-learn takes about twice as long as on the host, and a notebook run pays it once for the
runner and once for the kernel. So, on such an engine, the image's ``/opt/venv`` is copied once
per image ID into the cache and bind-mounted read-only over ``/opt/venv`` in every sandbox
container: the same bytes at native speed. Nothing else about the container changes; the mount
is read-only like the root filesystem it shadows.

``GRADE_SANDBOX_VENV`` picks: ``auto`` (the default: a host copy only on a FUSE storage driver),
``host`` (always) or ``image`` (never).
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.errors import ConfigError, InfrastructureError
from sandbox import LABEL, PID_LABEL
from sandbox.engine import docker_errors

VENV_PATH = "/opt/venv"
MODES = ("auto", "host", "image")
SLOW_DRIVERS = frozenset({"fuse-overlayfs"})
"""Storage drivers that serve image files through a slow path."""
COPIES_DIR = "sandbox-venv"


def wanted(client, mode: str) -> bool:
    """Whether to serve ``/opt/venv`` from a host copy on this engine."""
    if mode not in MODES:
        raise ConfigError(
            f"GRADE_SANDBOX_VENV={mode!r} is not one of {', '.join(MODES)}",
            hint="Unset it (auto: a host copy only on a fuse-overlayfs engine), or set host or image.",
        )
    if mode != "auto":
        return mode == "host"
    with docker_errors("reading the engine's storage driver"):
        return client.info().get("Driver") in SLOW_DRIVERS


def copy_dir(cache_dir: Path, image_id: str) -> Path:
    """Where the copy of one image's environment lives (the environment is ``<dir>/venv``)."""
    return cache_dir / COPIES_DIR / image_id.removeprefix("sha256:")[:24]


def ensure_copy(client, image, cache_dir: Path) -> Path:
    """The host copy of ``image``'s ``/opt/venv``, made if missing; returns the folder to mount.

    Made in a temp dir and renamed into place, under a lock, so a concurrent run (a batch's
    other worker, a second ``grade``) either waits for it or finds it whole — never half-made.
    """
    target = copy_dir(cache_dir, image.id)
    venv = target / "venv"
    if venv.is_dir():
        return venv
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if venv.is_dir():
            return venv
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            _extract(client, image.id, tmp)
            if not (tmp / "venv" / "bin").is_dir():
                raise ConfigError(
                    f"the image {image.id[:19]} has no {VENV_PATH}",
                    hint="Set GRADE_SANDBOX_VENV=image, or rebuild with `grade sandbox build`.",
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return venv


def _extract(client, image_id: str, dest: Path) -> None:
    """Stream ``/opt/venv`` out of a created (never started) container into ``dest``."""
    with docker_errors("copying the sandbox image's Python environment"):
        container = client.containers.create(
            image_id,
            command=["true"],
            network_mode="none",
            labels={LABEL: "1", PID_LABEL: str(os.getpid())},
        )
        try:
            chunks, _ = container.get_archive(VENV_PATH)
            raw = _ChunkReader(chunks)
            stream = io.BufferedReader(raw, 1 << 20)
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                # our own image, but no setuid bits, no absolute or escaping member paths
                archive.extractall(dest, filter="tar")
            stream.read()  # to the end: a stream cut at a member boundary looks like a short archive
            if not raw.ended_with_end_marker():
                raise InfrastructureError(
                    "the engine's archive of the sandbox image's /opt/venv ended early",
                    hint="Run the command again; if it persists, set GRADE_SANDBOX_VENV=image.",
                )
        finally:
            container.remove(force=True)


class _ChunkReader(io.RawIOBase):
    """A file-like view of the engine's archive stream (an iterator of byte chunks)."""

    END_MARKER = bytes(1024)  # a tar archive ends with two zero blocks

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = memoryview(b"")
        self._tail = b""

    def ended_with_end_marker(self) -> bool:
        """After the stream is exhausted: did it end the way a whole archive does?"""
        return self._tail.endswith(self.END_MARKER)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._chunk:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._chunk = memoryview(chunk)
            self._tail = (self._tail + chunk)[-len(self.END_MARKER) :]
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n


def venv_mounts(client, image, cache_dir: Path, mode: str) -> tuple:
    """The extra mount every sandbox container of ``image`` gets: the host copy over
    ``/opt/venv`` (read-only) when :func:`wanted`, else nothing.

    The copy only saves time: under ``auto``, a cache that cannot hold it (full disk,
    read-only home) means grading with the image's own environment, with a warning on stderr.
    Asked for explicitly (``host``), that is an error.
    """
    from sandbox.runner import Mount

    if not wanted(client, mode):
        return ()
    try:
        return (Mount(ensure_copy(client, image, cache_dir), VENV_PATH, read_only=True),)
    except OSError as exc:
        if mode == "host":
            raise ConfigError(
                f"cannot copy the sandbox's /opt/venv into {cache_dir}: {exc}",
                hint="Free space or set GRADE_CACHE_DIR to a writable folder, or set GRADE_SANDBOX_VENV=image.",
            ) from None
        print(
            f"holdout: warning: cannot copy the sandbox's /opt/venv into {cache_dir} ({exc}); "
            "grading with the image's own, which is slower on this engine",
            file=sys.stderr,
        )
        return ()


def prune_copies(client, cache_dir: Path) -> list[str]:
    """Remove copies whose image is no longer on this engine; returns their folder names."""
    root = cache_dir / COPIES_DIR
    if not root.is_dir():
        return []
    with docker_errors("listing images"):
        present = {copy_dir(cache_dir, image.id).name for image in client.images.list()}
    removed = []
    for path in root.iterdir():
        if path.is_dir() and not path.is_symlink() and not path.name.startswith(".") and path.name not in present:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
