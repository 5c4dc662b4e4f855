"""Building the sandbox image with no container registry.

1. Base image: ``debootstrap --variant=minbase`` + ``python3 python3-venv`` from the host's own
   Debian mirror, slimmed, then ``docker import``. Or any existing image (``--base-image``).
2. Runtime image: ``sandbox/Dockerfile`` installs a host-downloaded, pinned wheelhouse with
   ``pip --no-index``; the build itself runs with no network.

Tags are content hashes of everything that goes into them, so a rebuild happens only when
something changed, and the grading path only ever *looks up* the image, never builds it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import ConfigError, ImageMissing, InfrastructureError
from sandbox import LABEL, PID_LABEL, PYTHON_LABEL
from sandbox.engine import docker_errors
from sandbox.layout import LAYOUT, ImageLayout

HERE = Path(__file__).resolve().parent
ENTRY_FILES = ("entry.py", "entry_uids.py", "entry_notebook.py", "entry_probe.py")
"""The in-container entry and its modules, copied side by side into the image's entry folder."""
RUNTIME_FILES = ("Dockerfile", *ENTRY_FILES, "requirements.txt")
BASE_REPO = "holdout-base"
RUNTIME_REPO = "holdout-sandbox"
BASE_PACKAGES = ("python3", "python3-venv")
BASE_RECIPE_VERSION = "1"
RUNTIME_RECIPE_VERSION = "2"
"""Bump when what :func:`_build` passes besides the files (build arguments, labels) changes:
the runtime tag hashes it, so an image built by the old recipe is not taken as current."""
SLIM_PATHS = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/log",
)

Log = Callable[[str], None]
_PYTHON_VERSION = re.compile(r"3\.\d{1,3}\.\d{1,3}")
"""A full Python version as the build probes and labels it (``3.11.2``)."""


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    id: str
    built: bool
    seconds: float


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def base_tag() -> str:
    recipe = f"{BASE_RECIPE_VERSION}|{' '.join(BASE_PACKAGES)}|{' '.join(SLIM_PATHS)}|{platform.machine()}"
    return f"{BASE_REPO}:{_digest(recipe.encode())}"


def runtime_tag(base: str | None = None) -> str:
    """The content-hashed tag of the runtime image built on ``base`` (default: our own base)."""
    parts = [(HERE / name).read_bytes() for name in RUNTIME_FILES]
    layout = f"{LAYOUT.venv}|{LAYOUT.entry_dir}|{LAYOUT.python_version}|{LAYOUT.candidate_uid}|{LAYOUT.runner_uid}"
    recipe = f"{RUNTIME_RECIPE_VERSION}|{LABEL}|{PYTHON_LABEL}"
    return f"{RUNTIME_REPO}:{_digest((base or base_tag()).encode(), layout.encode(), recipe.encode(), *parts)}"


def find_image(client, tag: str):
    """The image for ``tag``, or ``None``."""
    from docker.errors import ImageNotFound

    with docker_errors(f"looking up image {tag}"):
        try:
            return client.images.get(tag)
        except ImageNotFound:
            return None


def require_image(client, tag: str):
    """The image the grading path runs; never builds (that is `grade sandbox build`'s job)."""
    image = find_image(client, tag)
    if image is None:
        raise ImageMissing(
            f"the sandbox image {tag} is not built on this engine",
            hint="Run `grade sandbox build` (about 2 minutes, offline apart from Debian and PyPI packages).",
        )
    return image


def image_layout(image) -> ImageLayout:
    """The layout of a built runtime image (a docker-py ``Image``): :data:`LAYOUT` with the
    Python its build probed in the base (:data:`PYTHON_LABEL`), which the candidates'
    requirements are resolved for. An image without the label (built before it existed): LAYOUT."""
    version = (getattr(image, "labels", None) or {}).get(PYTHON_LABEL)
    if version is None:
        return LAYOUT
    if not isinstance(version, str) or not _PYTHON_VERSION.fullmatch(version):
        raise InfrastructureError(
            f"the sandbox image has a malformed {PYTHON_LABEL} label: {str(version)[:60]!r}",
            hint="Rebuild it with `grade sandbox build --force`.",
        )
    return _with_python(version)


def _with_python(version: str) -> ImageLayout:
    """:data:`LAYOUT` for an image whose Python is ``version`` (full: ``3.12.4``)."""
    return replace(LAYOUT, python_version=version.rpartition(".")[0], python_full_version=version)


def build_image(
    client,
    cache_dir: Path,
    *,
    base_image: str | None = None,
    force: bool = False,
    log: Log = lambda line: None,
) -> ImageInfo:
    """Build (or find) the runtime image; a no-op when the content-hashed tag exists."""
    started = time.monotonic()
    tag = runtime_tag(base_image)
    if not force:
        existing = find_image(client, tag)
        if existing is not None:
            python = image_layout(existing).python_full_version
            log(f"image {tag} is current ({existing.short_id}, Python {python}); nothing to build")
            return ImageInfo(tag, existing.id, False, time.monotonic() - started)
    base = base_image or ensure_base_image(client, log=log, force=force)
    if base_image and find_image(client, base_image) is None:
        raise ImageMissing(
            f"base image {base_image} is not on this engine and cannot be pulled here",
            hint="Load it first (`docker load` / `docker pull` where a registry is reachable), or omit --base-image.",
        )
    python = _probe_python(client, base)
    log(f"{base} has Python {python}: the image records it, and candidates' requirements will be resolved for it")
    wheelhouse = download_wheelhouse(cache_dir, _with_python(python).python_tag, log=log)
    log(f"building {tag} on {base} (no network inside the build)")
    with tempfile.TemporaryDirectory(prefix="holdout-build-") as ctx:
        ctx_dir = Path(ctx)
        for name in RUNTIME_FILES:
            shutil.copy2(HERE / name, ctx_dir / name)
        shutil.copytree(wheelhouse, ctx_dir / "wheelhouse")
        with docker_errors("building the sandbox image"):
            image, _ = _build(client, ctx_dir, tag, base, python)
    log(f"built {tag} in {time.monotonic() - started:.0f} s")
    return ImageInfo(tag, image.id, True, time.monotonic() - started)


def _build(client, ctx_dir: Path, tag: str, base: str, python: str):
    from docker.errors import BuildError

    try:
        return client.images.build(
            path=str(ctx_dir),
            tag=tag,
            buildargs={
                "BASE": base,
                "VENV": LAYOUT.venv,
                "ENTRY_DIR": LAYOUT.entry_dir,
                "CANDIDATE_UID": str(LAYOUT.candidate_uid),
                "RUNNER_UID": str(LAYOUT.runner_uid),
            },
            labels={LABEL: "1", "io.holdout.base": base, PYTHON_LABEL: python},
            network_mode="none",
            rm=True,
            forcerm=True,
            pull=False,
        )
    except BuildError as exc:
        tail = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)[-2000:]
        raise InfrastructureError(
            f"the sandbox image build failed: {exc.msg}\n{tail}",
            hint="Check the wheelhouse matches the base image's Python (`grade sandbox build --force`).",
        ) from None


def _probe_python(client, image: str) -> str:
    """The full version (``3.11.2``) of the base image's python3: the wheelhouse is fetched for
    it and the image records it (:data:`PYTHON_LABEL`)."""
    with docker_errors(f"probing python3 in {image}"):
        out = client.containers.run(
            image,
            ["python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            network_mode="none",
            remove=True,
            labels={LABEL: "1", PID_LABEL: str(os.getpid())},
        )
    version = out.decode(errors="replace").strip()
    if not _PYTHON_VERSION.fullmatch(version):
        raise InfrastructureError(
            f"python3 in {image} printed {version[:80]!r}, not a Python 3 version",
            hint="The base image needs a working python3 (with venv) on its PATH.",
        )
    return version


def download_wheelhouse(cache_dir: Path, python_tag: str, *, log: Log = lambda line: None) -> Path:
    """Pinned wheels for the image, downloaded on the host (binary only), cached by content."""
    requirements = (HERE / "requirements.txt").read_bytes()
    key = _digest(requirements, python_tag.encode(), platform.machine().encode())
    target = cache_dir / "wheelhouses" / f"image-{key}"
    if (target / ".complete").exists():
        return target
    version = python_tag.removeprefix("cp")
    log(f"downloading the pinned wheelhouse for {python_tag} ({len(requirements.splitlines())} lines)")
    tmp = Path(tempfile.mkdtemp(prefix=".wh-", dir=_mkdir(target.parent)))
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--no-deps", "--dest", str(tmp),
        *LAYOUT.pip_target_args(f"{version[0]}.{version[1:]}"), "-r", str(HERE / "requirements.txt"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InfrastructureError(
            f"pip could not download the sandbox wheelhouse:\n{proc.stderr[-1500:]}",
            hint="Check that pip on this host can reach the package index (`pip download numpy`).",
        )
    (tmp / ".complete").write_text("")
    try:
        os.replace(tmp, target)
    except OSError:  # another build won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the base image -------------------------------------------------------------------------


def ensure_base_image(client, *, log: Log = lambda line: None, force: bool = False) -> str:
    tag = base_tag()
    if not force and find_image(client, tag) is not None:
        return tag
    if os.geteuid() != 0:
        raise ConfigError(
            "building the base image needs root (debootstrap and chroot)",
            hint="Run `sudo grade sandbox build` once, or use `grade sandbox build --base-image IMAGE`.",
        )
    if shutil.which("debootstrap") is None:
        raise ConfigError(
            "debootstrap is not installed",
            hint="Install it with `apt-get install -y debootstrap`, or use --base-image IMAGE.",
        )
    mirror, suite, sources = host_debian_sources()
    with tempfile.TemporaryDirectory(prefix="holdout-rootfs-", dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap --variant=minbase {suite} (from the host's Debian mirror)")
        _run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror], "debootstrap")
        _install_python(rootfs, sources, log)
        _slim(rootfs)
        tarball = Path(tmp) / "rootfs.tar"
        log("importing the base image")
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], "tar")
        with docker_errors("importing the base image"):
            repo, _, version = tag.partition(":")
            client.api.import_image_from_file(str(tarball), repository=repo, tag=version)
    return tag


def host_debian_sources() -> tuple[str, str, list[Path]]:
    """The host's first Debian mirror URI and suite, and the source files to copy in."""
    override = os.environ.get("GRADE_DEBIAN_MIRROR")
    files = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for file in files:
        fields = _deb822_first(file.read_text(encoding="utf-8", errors="replace"))
        if fields.get("uris") and fields.get("suites"):
            return override or fields["uris"].split()[0], fields["suites"].split()[0], files
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and not parts[1].startswith("["):
                return override or parts[1], parts[2], [legacy]
    raise ConfigError(
        "cannot find a Debian mirror in the host's apt sources",
        hint="Set GRADE_DEBIAN_MIRROR to a Debian mirror URL, or use --base-image IMAGE.",
    )


def _deb822_first(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields.get("uris"):
                return fields
            fields = {}
            continue
        if line.startswith("#") or line[0].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def _install_python(rootfs: Path, sources: list[Path], log: Log) -> None:
    log(f"installing {' '.join(BASE_PACKAGES)} in the chroot")
    apt_dir = rootfs / "etc/apt"
    (apt_dir / "sources.list").unlink(missing_ok=True)
    for file in sources:
        dest = apt_dir / ("sources.list" if file.name == "sources.list" else f"sources.list.d/{file.name}")
        shutil.copy2(file, dest)
    env = ["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive"]
    script = (
        "apt-get update -qq && apt-get -y -qq upgrade && "
        f"apt-get install -y -qq --no-install-recommends {' '.join(BASE_PACKAGES)} && apt-get clean"
    )
    _run(["chroot", str(rootfs), *env, "sh", "-c", script], "apt-get in the chroot")


def _slim(rootfs: Path) -> None:
    for rel in SLIM_PATHS:
        target = rootfs / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    for mount_point in ("submission", "data", "output", "holdout/logs"):
        (rootfs / mount_point).mkdir(parents=True, exist_ok=True)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InfrastructureError(
            f"{what} failed (exit {proc.returncode}):\n{(proc.stderr or proc.stdout)[-1500:]}",
            hint="See the output above; `grade sandbox build --base-image IMAGE` skips this step.",
        )
