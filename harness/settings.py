"""Run-time settings: where data, caches and assignments live. Read from the environment once,
at the CLI or API boundary, and passed down explicitly (no module-level state)."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from harness.errors import ConfigError

BUILTIN_ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    """Raw data files, by the names the assignments declare (``GRADE_DATA_DIR``)."""
    cache_dir: Path
    """Prepared splits, wheelhouses, downloads (``GRADE_CACHE_DIR``)."""
    assignment_paths: tuple[Path, ...] = field(default_factory=tuple)
    """Extra folders to look for assignments in (``GRADE_ASSIGNMENTS_PATH``, ``os.pathsep``-separated)."""
    image: str | None = None
    """Override the sandbox image tag (``GRADE_IMAGE``); default: the content-hashed tag."""
    allow_download: bool = True
    pip_args: tuple[str, ...] = ()
    """Extra arguments for the host's ``pip download`` of candidate dependencies
    (``GRADE_PIP_ARGS``, shell-split), e.g. ``--index-url`` of a mirror."""
    grader_timeout_s: float = 600.0
    """Wall-clock limit for each grader (``GRADE_GRADER_TIMEOUT_S``). A grader past it ends as a
    ``grader_timeout`` result (see :func:`harness.pipeline.run_graders`). Honest gradings take
    seconds; a grader that runs hidden tests in the sandbox needs more than their time limit."""
    sandbox_venv: str = "auto"
    """Serve the image's ``/opt/venv`` from a read-only host copy: ``auto`` (on a fuse-overlayfs
    engine), ``host`` or ``image`` (``GRADE_SANDBOX_VENV``; see :mod:`sandbox.venv_copy`)."""
    sandbox_root: str = "auto"
    """Clear the group bits of each container's ``/`` before it starts, so non-root lookups skip
    a FUSE ACL fetch: ``auto`` (on a fuse-overlayfs engine this host can reach), ``narrow`` or
    ``image`` (``GRADE_SANDBOX_ROOT``; see :mod:`sandbox.root_mode`)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        cache = Path(env.get("GRADE_CACHE_DIR") or platformdirs.user_cache_dir("holdout"))
        data = Path(env.get("GRADE_DATA_DIR") or cache / "data")
        paths = tuple(Path(p) for p in env.get("GRADE_ASSIGNMENTS_PATH", "").split(os.pathsep) if p)
        return cls(
            data_dir=data.expanduser(),
            cache_dir=cache.expanduser(),
            assignment_paths=paths,
            image=env.get("GRADE_IMAGE") or None,
            allow_download=env.get("GRADE_OFFLINE", "") not in ("1", "true", "yes"),
            pip_args=tuple(shlex.split(env.get("GRADE_PIP_ARGS", ""))),
            sandbox_venv=env.get("GRADE_SANDBOX_VENV") or "auto",
            sandbox_root=env.get("GRADE_SANDBOX_ROOT") or "auto",
            grader_timeout_s=_positive_float(env, "GRADE_GRADER_TIMEOUT_S", 600.0),
        )

    @property
    def prepared_dir(self) -> Path:
        return self.cache_dir / "prepared"


def _positive_float(env, name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} is not a positive number of seconds", hint=f"Unset {name} or give e.g. 600.")
    return value
