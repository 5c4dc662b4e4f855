"""The host copy of /opt/venv on the real engine: same bytes as the image, read-only, and the
one grading runs use (real Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.settings import Settings
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs, run_container
from sandbox.venv_copy import VENV_PATH, copy_dir, venv_mounts

pytestmark = pytest.mark.docker

LISTING = """
import hashlib, json, os, sysconfig
root = "/opt/venv"
files = []
for base, dirs, names in os.walk(root):
    dirs.sort()
    for name in sorted(names):
        path = os.path.join(base, name)
        st = os.lstat(path)
        files.append([os.path.relpath(path, root), st.st_mode, st.st_size,
                      os.readlink(path) if os.path.islink(path) else ""])
mount = [line.split()[5] for line in open("/proc/self/mountinfo") if line.split()[4] == root]
try:
    open(os.path.join(sysconfig.get_paths()["purelib"], "evil.pth"), "w")
    write = "written"
except OSError as exc:
    write = exc.strerror
import sklearn, pandas  # the environment works from the copy
digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()
json.dump({"files": len(files), "digest": digest, "mount": mount, "write": write},
          open("/holdout/logs/listing.json", "w"))
"""


def list_venv(client, image: str, tmp_path: Path, extra: tuple) -> dict:
    dirs = make_job_dirs(tmp_path)
    request = RunRequest(
        image=image,
        command=["/opt/venv/bin/python", "-c", LISTING],
        workdir="/tmp",
        mounts=(Mount(dirs.logs, LOGS_MOUNT, read_only=False), *extra),
    )
    run = run_container(client, request)
    assert run.verdict == Verdict.OK, run.stderr.text
    return json.loads((dirs.logs / "listing.json").read_text())


def test_the_copy_holds_the_images_environment_read_only(docker_client, sandbox_image, tmp_path, no_containers_left):
    image = docker_client.images.get(sandbox_image)
    extra = venv_mounts(docker_client, image, tmp_path / "cache", "host")
    assert extra and extra[0].source == copy_dir(tmp_path / "cache", image.id) / "venv"
    own = list_venv(docker_client, sandbox_image, tmp_path / "own", ())
    copied = list_venv(docker_client, sandbox_image, tmp_path / "copied", extra)
    assert own["files"] > 1000
    assert (copied["files"], copied["digest"]) == (own["files"], own["digest"]), "the copy differs from the image"
    assert own["mount"] == [] and copied["mount"] and copied["mount"][0].startswith("ro")
    assert own["write"] == copied["write"] == "Read-only file system"


def test_grading_runs_get_the_copy_where_the_engine_needs_it(docker_client, sandbox_image, monkeypatch):
    from dataclasses import replace

    import sandbox.runner
    from harness.api import docker_runner

    settings = Settings.from_env()
    driver = docker_client.info().get("Driver")
    seen: list[RunRequest] = []
    monkeypatch.setattr(sandbox.runner, "run_container", lambda client, request: seen.append(request))
    for mode, expected in (("auto", driver == "fuse-overlayfs"), ("image", False), ("host", True)):
        run, _, _ = docker_runner(sandbox_image, replace(settings, sandbox_venv=mode))
        run(RunRequest(image="", command=["true"], mounts=(Mount(Path("/nonexistent"), "/submission"),)))
        targets = [m.target for m in seen[-1].mounts]
        assert targets[0] == "/submission", "the run's own mounts come first"
        assert (VENV_PATH in targets) is expected, (mode, driver, targets)
