"""Candidate dependencies: read ``requirements.txt`` as data, apply the assignment's policy,
resolve on the host into a wheelhouse of **binary wheels only**, cache by content.

Binary only, because building an sdist runs the candidate's ``setup.py`` — on the host. The
wheels are installed later inside a sandbox container with no network (``harness.provision``).
Every refusal is a message for the report; the run goes ahead with what could be resolved.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import (
    UndefinedComparison,
    UndefinedEnvironmentName,
    default_environment,
)
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness import safeio
from harness.models import Level, Message
from harness.spec import DependenciesSpec
from sandbox.image import HERE as SANDBOX_DIR
from sandbox.layout import LAYOUT
from sandbox.runner import open_regular

SOURCE = "dependencies"
MAX_REQUIREMENTS_BYTES = 64 * 1024
MAX_REQUIREMENTS = 100
_PY = LAYOUT.python_full_version  # the default ``python`` below: for an image that does not say its own
_DOWNLOADING = re.compile(r"Downloading \S+ \(([\d.]+) (kB|MB|GB)\)")
_UNIT = {"kB": 1e3, "MB": 1e6, "GB": 1e9}


def _msg(code: str, text: str, level: Level = Level.WARNING) -> Message:
    return Message(code=code, text=text, level=level, source=SOURCE)


# --- reading ---------------------------------------------------------------------------------


def read_requirements(root: Path, python: str = _PY) -> tuple[list[Requirement], list[Message], str | None]:
    """The submission's requirements (``requirements.txt``, else ``pyproject.toml``), each line
    checked; returns (requirements that apply to the image, messages, file name or None).
    ``python``, here and below: the image's Python, full version (:func:`sandbox.image.image_layout`)."""
    for name in ("requirements.txt", "pyproject.toml"):
        fd = open_regular(root / name)
        if fd is None:
            continue
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_REQUIREMENTS_BYTES + 1)
        if len(raw) > MAX_REQUIREMENTS_BYTES:
            return [], [_msg("dep_file_too_large", f"{name} is larger than 64 KiB; it was ignored.")], name
        text = raw.decode("utf-8", "replace")
        if name == "pyproject.toml":
            lines, messages = _pyproject_lines(text)
            if lines is None:
                continue
        else:
            lines, messages = _requirements_lines(text), []
        reqs, more = parse_lines(lines, name, python)
        return reqs, messages + more, name
    return [], [], None


def _requirements_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _pyproject_lines(text: str) -> tuple[list[str] | None, list[Message]]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        return [], [_msg("dep_invalid", f"pyproject.toml is not valid TOML ({why}); its dependencies were ignored.")]
    deps = data.get("project", {}).get("dependencies") if isinstance(data.get("project"), dict) else None
    if deps is None:
        return None, []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        return [], [_msg("dep_invalid", "pyproject.toml [project] dependencies must be a list of strings.")]
    return list(deps), []


def parse_lines(lines: list[str], source: str, python: str = _PY) -> tuple[list[Requirement], list[Message]]:
    """Environment markers are evaluated for Linux and the image's Python, ``python`` (full version)."""
    reqs: list[Requirement] = []
    messages: list[Message] = []
    env = {
        **default_environment(),
        "python_version": _minor(python),
        "python_full_version": python,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": platform.machine(),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
    }
    for line in lines[: MAX_REQUIREMENTS + 1]:
        if len(reqs) >= MAX_REQUIREMENTS:
            messages.append(
                _msg(
                    "dep_too_many", f"{source} lists more than {MAX_REQUIREMENTS} requirements; the rest were ignored."
                )
            )
            break
        if line.startswith("-"):
            messages.append(
                _msg(
                    "dep_unsupported",
                    f"{source}: {line!r} was ignored: options (-r, -e, --index-url, ...) are not allowed; list packages by name.",
                )
            )
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            messages.append(
                _msg("dep_invalid", f"{source}: {line[:200]!r} is not a valid requirement ({str(exc)[:300]}).")
            )
            continue
        if req.url:
            messages.append(
                _msg(
                    "dep_unsupported",
                    f"{source}: {req.name} comes from a URL or path ({req.url}); only packages from the index are installed.",
                )
            )
            continue
        if req.marker is not None:
            try:
                applies = req.marker.evaluate(env)
            except (UndefinedComparison, UndefinedEnvironmentName, ValueError) as exc:
                messages.append(
                    _msg("dep_invalid", f"{source}: {line[:200]!r} has a marker that cannot be evaluated ({exc}).")
                )
                continue
            if not applies:
                continue
        reqs.append(req)
    return reqs, messages


# --- policy ----------------------------------------------------------------------------------


def image_pins() -> dict[str, str]:
    """Preinstalled package → version, from the image's pinned requirements."""
    pins = {}
    for line in (SANDBOX_DIR / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


@dataclass
class Plan:
    """What will be resolved, and why the rest will not."""

    to_resolve: list[Requirement] = field(default_factory=list)
    satisfied: list[str] = field(default_factory=list)
    repins: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def apply_policy(reqs: list[Requirement], policy: DependenciesSpec, pins: dict[str, str]) -> Plan:
    plan = Plan()
    allow = {canonicalize_name(n) for n in policy.allow}
    deny = {canonicalize_name(n) for n in policy.deny}
    seen: set[str] = set()
    for req in reqs:
        name = canonicalize_name(req.name)
        if name in seen:
            plan.messages.append(_msg("dep_duplicate", f"{req.name} is listed twice; the first line was used."))
            continue
        seen.add(name)
        if name in deny or (allow and name not in allow):
            plan.messages.append(
                _msg("dep_denied", f"{req.name} is not allowed by this assignment's dependency policy.")
            )
            continue
        if name in pins:
            if req.specifier.contains(pins[name], prereleases=True):
                plan.satisfied.append(f"{name}=={pins[name]}")
                continue
            if not policy.allow_repin:
                plan.messages.append(
                    _msg(
                        "dep_conflicts_with_image",
                        f"{req} conflicts with the preinstalled {name}=={pins[name]}, which this assignment does not "
                        f"let submissions replace; the run used {pins[name]}.",
                    )
                )
                continue
            plan.repins.append(name)
        plan.to_resolve.append(req)
    return plan


def _minor(python: str) -> str:
    """``3.12`` for ``3.12.4``."""
    return ".".join(python.split(".")[:2])


def cache_key(plan: Plan, policy: DependenciesSpec, image: str, pip_args: tuple[str, ...], python: str = _PY) -> str:
    payload = json.dumps(
        {
            "reqs": sorted(str(r) for r in plan.to_resolve),
            "policy": policy.model_dump(),
            "image": image,
            "pip": list(pip_args),
            "python": python,
            "machine": platform.machine(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


# --- resolving -------------------------------------------------------------------------------


@dataclass
class Resolution:
    """A wheelhouse (``wheels/``) and what went into it."""

    root: Path
    resolved: list[str]
    refused: list[dict]
    download_bytes: int
    seconds: float
    cache_hit: bool = False

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    def messages(self) -> list[Message]:
        return [_msg(r["code"], r["text"]) for r in self.refused]


class _PipFailed(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _pip(args: list[str], *, max_bytes: int | None = None, watch: Path | None = None, timeout_s: float = 600) -> str:
    """Run the host's pip; stop it when the announced or written downloads pass ``max_bytes``."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    announced, lines, too_large = 0.0, [], threading.Event()

    def watchdog() -> None:
        while proc.poll() is None and not too_large.is_set():
            if watch is not None and max_bytes is not None and _tree_bytes(watch) > max_bytes:
                too_large.set()
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.2)

    threading.Thread(target=watchdog, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        match = _DOWNLOADING.search(line)
        if match and max_bytes is not None:
            announced += float(match.group(1)) * _UNIT[match.group(2)]
            if announced > max_bytes and not too_large.is_set():
                too_large.set()
                os.killpg(proc.pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    output = "".join(lines)
    if too_large.is_set():
        raise _PipFailed("dep_too_large", f"over {max_bytes / 1e6:.0f} MB ({max(announced, 0) / 1e6:.0f} MB announced)")
    if proc.returncode != 0:
        raise _PipFailed("pip_failed", output[-3000:])
    return output


def _tree_bytes(root: Path) -> int:
    """Bytes of the regular files under ``root`` (an installed prefix: pip wrote it in a
    container), walked iteratively and within limits."""
    return sum(e.stat.st_size for e in safeio.walk(root, max_entries=1_000_000) if e.is_file)


def _download_args(dest: Path, pip_args: tuple[str, ...], constraints: Path | None, python: str) -> list[str]:
    args = [
        "download",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--dest",
        str(dest),
        "--progress-bar",
        "off",
        *LAYOUT.pip_target_args(python),
        *pip_args,
    ]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    return args


def _classify(req: Requirement, output: str, pip_args: tuple[str, ...], python: str) -> tuple[str, str]:
    """Why pip could not resolve ``req`` alone: not found, no wheel (sdist only), or conflict."""
    if "ResolutionImpossible" in output or "conflict" in output.lower():
        return "dep_conflict", f"{req} conflicts with the preinstalled packages or its own dependencies."
    if "No matching distribution" in output or "Could not find a version" in output:
        # Does the index know the project at all? Listing versions reads index pages only:
        # it never downloads or builds a distribution.
        try:
            listing = _pip(["index", "versions", req.name, *pip_args], timeout_s=120)
        except _PipFailed:
            listing = ""
        if "Available versions" in listing or re.search(
            rf"^{re.escape(req.name)} \(", listing, re.IGNORECASE | re.MULTILINE
        ):
            return "dep_sdist_only", (
                f"{req} has no binary wheel for Linux/Python {_minor(python)} (only a source distribution); "
                "building it would run its setup code, so it was not installed."
            )
        return "dep_not_found", f"{req} was not found on the package index."
    return (
        "dep_failed",
        f"{req} could not be resolved: {output.strip().splitlines()[-1][:300] if output.strip() else 'pip failed'}",
    )


def resolve(
    plan: Plan, policy: DependenciesSpec, cache_dir: Path, image: str, pip_args: tuple[str, ...] = (), python: str = _PY
) -> Resolution | None:
    """Resolve ``plan.to_resolve`` into a cached wheelhouse of wheels for ``python`` (the
    image's, full version); ``None`` if there is nothing to do."""
    if not plan.to_resolve:
        return None
    key = cache_key(plan, policy, image, pip_args, python)
    target = cache_dir / "deps" / key
    meta = target / "resolution.json"
    if meta.is_file():
        data = json.loads(meta.read_text())
        os.utime(target)  # for age-based pruning
        return Resolution(root=target, cache_hit=True, **data)
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        resolution = _resolve_into(tmp, plan, policy, pip_args, python)
        resolution.seconds = round(time.monotonic() - started, 2)
        (tmp / "resolution.json").write_text(
            json.dumps(
                {k: getattr(resolution, k) for k in ("resolved", "refused", "download_bytes", "seconds")}, indent=1
            )
        )
        try:
            os.replace(tmp, target)
        except OSError:  # a concurrent grade published the same key first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
        resolution.root = target
        return resolution
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _resolve_into(root: Path, plan: Plan, policy: DependenciesSpec, pip_args: tuple[str, ...], python) -> Resolution:
    max_bytes = policy.max_download_mb * 1_000_000
    constraints = root / "constraints.txt"
    pins = image_pins()
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items()) if n not in plan.repins))
    wheels = root / "wheels"
    wanted = list(plan.to_resolve)
    refused: list[dict] = []
    while wanted:
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir()
        (wheels / "requirements.txt").write_text("".join(f"{r}\n" for r in wanted))
        try:
            _pip(
                [*_download_args(wheels, pip_args, constraints, python), "-r", str(wheels / "requirements.txt")],
                max_bytes=max_bytes,
                watch=wheels,
            )
            break
        except _PipFailed as whole:
            # Find the culprits one by one, keep the rest.
            culprits = _culprits(wanted, whole, root, pip_args, constraints, max_bytes, python)
            refused += culprits
            bad = {c["name"] for c in culprits}
            if not bad:  # each resolves alone but not together
                refused.append(
                    {
                        "name": "*",
                        "code": "dep_conflict",
                        "text": f"{', '.join(map(str, wanted))} cannot be installed together.",
                    }
                )
                wanted = []
            else:
                wanted = [r for r in wanted if canonicalize_name(r.name) not in bad]
    if not wanted:
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir()
    resolved = sorted(p.name for p in wheels.glob("*.whl"))
    return Resolution(root=root, resolved=resolved, refused=refused, download_bytes=_tree_bytes(wheels), seconds=0.0)


def _culprits(wanted, whole: _PipFailed, root: Path, pip_args, constraints, max_bytes, python) -> list[dict]:
    out = []
    for req in wanted:
        probe = root / f"probe-{canonicalize_name(req.name)}"
        probe.mkdir()
        try:
            _pip([*_download_args(probe, pip_args, constraints, python), str(req)], max_bytes=max_bytes, watch=probe)
        except _PipFailed as exc:
            if exc.code == "dep_too_large":
                code, text = (
                    "dep_too_large",
                    (
                        f"{req} is too large: its wheels are {exc.text}; this assignment allows "
                        f"{max_bytes / 1e6:.0f} MB per submission (a bare torch pulls GBs of CUDA libraries)."
                    ),
                )
            else:
                code, text = _classify(req, exc.text, pip_args, python)
            out.append({"name": canonicalize_name(req.name), "code": code, "text": text})
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    if not out and whole.code == "dep_too_large":
        out.append(
            {"name": "*", "code": "dep_too_large", "text": f"together the requirements are too large ({whole.text})."}
        )
        for req in wanted:
            out.append(
                {
                    "name": canonicalize_name(req.name),
                    "code": "dep_too_large",
                    "text": f"{req}: part of a set over the size limit.",
                }
            )
    return out


def installed_distributions(site: Path) -> list[str]:
    """``name==version`` for every ``*.dist-info`` folder (names read as data)."""
    out = []
    for info in sorted(site.glob("*.dist-info")):
        stem = info.name[: -len(".dist-info")]
        name, _, version = stem.partition("-")
        out.append(f"{canonicalize_name(name)}=={version}")
    return out


def prune_cache(cache_dir: Path, *, max_age_days: float = 30, max_total_mb: float = 5000) -> list[Path]:
    """Drop dependency caches not used for ``max_age_days``, then the oldest until under the size."""
    root = cache_dir / "deps"
    if not root.is_dir():
        return []
    entries = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    removed, now = [], time.time()
    sizes = {p: _tree_bytes(p) for p in entries}
    total = sum(sizes.values())
    for path in entries:
        old = now - path.stat().st_mtime > max_age_days * 86400
        if old or total > max_total_mb * 1e6 or path.name.startswith("."):
            safeio.rmtree(path)
            total -= sizes[path]
            removed.append(path)
    return removed
