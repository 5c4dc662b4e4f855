"""The container root's group bits on the real engine (sandbox/root_mode.py): cleared before the
start where the engine is fuse-overlayfs and on this host, as the engine made them otherwise,
and every run still works as the candidate's and the runner's uids (real Docker)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.settings import Settings
from sandbox.runner import LOGS_MOUNT, Mount, RunRequest, make_job_dirs, run_container

pytestmark = pytest.mark.docker

LOOK = """
import json, os, stat
st = os.stat("/")
try:
    open("/holdout-probe", "w")
    write = "written"
except OSError as exc:
    write = exc.strerror
json.dump({"uid": os.getuid(), "mode": stat.S_IMODE(st.st_mode), "listing": sorted(os.listdir("/"))[:3],
           "write": write}, open("/holdout/logs/root.json", "w"))
"""


def look_at_root(client, image: str, tmp_path: Path, mode: str) -> dict:
    dirs = make_job_dirs(tmp_path)
    request = RunRequest(
        image=image,
        command=["/opt/venv/bin/python", "-c", LOOK],
        workdir="/tmp",
        mounts=(Mount(dirs.logs, LOGS_MOUNT, read_only=False),),
        root_mode=mode,
    )
    run = run_container(client, request)
    assert run.verdict == Verdict.OK, run.stderr.text
    return json.loads((dirs.logs / "root.json").read_text())


def test_the_root_loses_only_its_group_bits_where_the_engine_needs_it(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    fuse_here = docker_client.info().get("Driver") == "fuse-overlayfs" and os.geteuid() == 0
    auto = look_at_root(docker_client, sandbox_image, tmp_path / "auto", "auto")
    plain = look_at_root(docker_client, sandbox_image, tmp_path / "image", "image")
    assert plain["mode"] == 0o755
    assert auto["mode"] == (0o705 if fuse_here else 0o755)
    for seen in (auto, plain):  # the candidate's uid still lists and walks /, and still cannot write it
        assert seen["uid"] == 10001 and seen["listing"] and seen["write"] == "Read-only file system"


def test_narrow_works_where_the_layer_is_reachable_and_fails_before_the_start_elsewhere(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    from harness.errors import ConfigError

    overlay = docker_client.info().get("Driver") in ("fuse-overlayfs", "overlay2")  # drivers with an upper layer
    if overlay and os.geteuid() == 0:  # the local engine's layer is reachable: narrow applies
        assert look_at_root(docker_client, sandbox_image, tmp_path, "narrow")["mode"] == 0o705
        return
    with pytest.raises(ConfigError, match="GRADE_SANDBOX_ROOT=narrow"):
        look_at_root(docker_client, sandbox_image, tmp_path, "narrow")


def test_grading_runs_take_the_mode_from_the_settings(docker_client, sandbox_image, monkeypatch):
    import sandbox.runner
    from harness.api import docker_runner

    seen: list[RunRequest] = []
    monkeypatch.setattr(sandbox.runner, "run_container", lambda client, request: seen.append(request))
    for mode in ("auto", "narrow", "image"):
        run, _, _ = docker_runner(sandbox_image, replace(Settings.from_env(), sandbox_root=mode))
        run(RunRequest(image="", command=["true"]))
        assert seen[-1].root_mode == mode
