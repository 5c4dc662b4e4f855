"""The sandbox image's layout, in one place: where its Python is and which version, where the
in-container entry lives, the environment's ``PATH``, the mounts the entry relies on, and the
two uids of a two-uid run.

A leaf module (standard library only): the host's pipeline, dependency resolver and graders
ask it instead of hard-coding ``/opt/venv/bin/python`` or Python 3.11, and the image build
passes the same facts to the Dockerfile (build arguments, checked there), so the two cannot
drift apart silently.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageLayout:
    venv: str = "/opt/venv"
    """The image's Python environment (the runtime packages, the ``python3`` kernel)."""
    python_version: str = "3.11"
    """``major.minor`` of the image's Python (Debian bookworm's python3; the build checks it)."""
    python_full_version: str = "3.11.2"
    """For environment markers (``python_full_version``) of the candidate's requirements."""
    entry_dir: str = "/opt/holdout"
    """The in-container entry and its modules (read-only, never the candidate's)."""
    entry_name: str = "entry.py"
    system_path: str = "/usr/local/bin:/usr/bin:/bin"
    submission_mount: str = "/submission"
    """The candidate's files as submitted (read-only)."""
    workspace_mount: str = "/workspace"
    """The candidate's writable working copy of them, its working directory (harness/workcopy.py)."""
    logs_mount: str = "/holdout/logs"
    trusted_mount: str = "/holdout/trusted"
    candidate_uid: int = 10001
    runner_uid: int = 10002
    """The runner's uid when the host can chown its trusted folder (else the host's own uid)."""
    candidate_pythonpath_var: str = "HOLDOUT_CANDIDATE_PYTHONPATH"
    """Where the candidate's requirements are, set instead of ``PYTHONPATH``: the entry hands it
    to the candidate's processes only (sandbox/entry_uids.py), never to the trusted runner's."""

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"

    @property
    def entry_path(self) -> str:
        return f"{self.entry_dir}/{self.entry_name}"

    @property
    def entry(self) -> list[str]:
        """The command prefix that runs the in-container entry."""
        return [self.python, self.entry_path]

    def path(self, *first: str) -> str:
        """The sandbox's ``PATH``, with ``first`` folders ahead of the image's own."""
        return ":".join((*first, f"{self.venv}/bin", self.system_path))

    @property
    def python_tag(self) -> str:
        """``cp311``: the wheel tag of the image's interpreter."""
        return "cp" + self.python_version.replace(".", "")

    def pip_target_args(self, python_version: str | None = None) -> list[str]:
        """``pip download`` arguments that fetch wheels for the image (its Python, or
        ``python_version``; Linux; this machine's architecture) rather than for the host."""
        arch = platform.machine()
        tags = [f"manylinux_2_{minor}_{arch}" for minor in range(36, 4, -1)]
        tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
        return [
            "--python-version",
            python_version or self.python_version,
            "--implementation",
            "cp",
            *(arg for tag in tags for arg in ("--platform", tag)),
        ]


LAYOUT = ImageLayout()
