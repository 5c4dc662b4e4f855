"""A real batch in real Docker: parallel, a timeout and a crash among them, killed halfway,
rerun to finish the rest without regrading."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

SPEC = """
id = "batchdemo"
title = "Batch demo"
[sandbox]
timeout_s = 6
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 1
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""


def build(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    assignments = tmp_path / "assignments"
    (assignments / "batchdemo").mkdir(parents=True)
    (assignments / "batchdemo" / "assignment.toml").write_text(SPEC)
    (assignments / "batchdemo" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    programs = {f"ok{i}": "import time; time.sleep(1.5); print('done')\n" for i in range(6)}
    programs["crash"] = "raise SystemExit(3)\n"
    programs["sleepy"] = "import time; time.sleep(60)\n"
    for name, code in programs.items():
        (subs / name).mkdir()
        (subs / name / "predict.py").write_text(code)
        (subs / name / "submission.toml").write_text('assignment = "batchdemo"\n')
    with zipfile.ZipFile(subs / "evil.zip", "w") as zf:
        zf.writestr("../../x.py", "")
    env = {**os.environ, "GRADE_ASSIGNMENTS_PATH": str(assignments), "GRADE_CACHE_DIR": str(tmp_path / "cache")}
    return subs, env


def statuses(out: Path) -> dict[str, str]:
    with open(out / "summary.csv") as fh:
        return {row["submission"]: row["status"] for row in csv.DictReader(fh)}


def our_containers(docker_client, pid: int) -> list:
    return docker_client.containers.list(all=True, sparse=True, filters={"label": f"io.holdout.pid={pid}"})


def test_batch_killed_halfway_then_resumed(tmp_path, docker_client, sandbox_image):
    subs, env = build(tmp_path)
    env["GRADE_IMAGE"] = sandbox_image
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness", "batch", str(subs), "-j", "2", "--out", str(out), "--junit"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/report.json"))) < 3:
        time.sleep(0.2)
    assert our_containers(docker_client, proc.pid), "the batch should be running containers now"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert our_containers(docker_client, proc.pid) == []
    finished = {p.parent.name for p in out.glob("*/report.json")}
    assert 3 <= len(finished) < 9, finished
    before = {name: (out / name / "report.json").read_bytes() for name in finished}
    for path in out.glob("*/report.json"):
        json.loads(path.read_text())  # every report on disk is complete
    leftover = [
        p for p in Path(tempfile.gettempdir()).glob("holdout-job-*/owner.pid") if p.read_text() == str(proc.pid)
    ]
    assert leftover == [], "an interrupted batch left job directories behind"

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    final = statuses(out)
    assert len(final) == 9
    assert {name: (out / name / "report.json").read_bytes() for name in finished} == before, (
        "a finished report was regraded"
    )
    assert sum(line.startswith("skipped") for line in rerun.stdout.splitlines()) == len(finished), rerun.stdout
    assert len(finished) < len(list(out.glob("*/report.json"))), "the rerun graded what was left"
    assert final["evil.zip"] == "rejected" and "skipped" not in final.values()
    reports = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/report.json")}
    assert reports["sleepy"]["sandbox"]["verdict"] == "timeout"
    assert reports["crash"]["sandbox"]["verdict"] == "crashed"
    assert reports["ok0"]["score"] == 100.0
    assert (out / "summary.html").is_file() and (out / "junit.xml").is_file()


NOTEBOOK_SPEC = """
id = "slugdemo"
title = "Slug demo"
[entry]
script = "predict.py"
notebook = "solution.ipynb"
[sandbox]
timeout_s = 60
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 1
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""


def _submission_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in {**files, "submission.toml": 'assignment = "slugdemo"\n'}.items():
            zf.writestr(name, text)
    return path


def test_a_rerun_with_a_name_that_slugs_the_same_keeps_each_submissions_evidence(
    tmp_path, docker_client, sandbox_image
):
    """Issue 13, attack 9, in real Docker: alice.zip (a notebook) is graded; the rerun adds
    "alice .zip" (a script), whose name slugs to "alice" too. The newcomer must get its own
    folder, alice's report must stay alice's, and no report may link the other's notebook."""
    from harness.batch import grade_batch
    from harness.settings import Settings

    assignments = tmp_path / "assignments"
    (assignments / "slugdemo").mkdir(parents=True)
    (assignments / "slugdemo" / "assignment.toml").write_text(NOTEBOOK_SPEC)
    (assignments / "slugdemo" / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(assignments,),
        allow_download=False,
        image=sandbox_image,
    )
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    cell = {
        "cell_type": "code",
        "id": "c1",
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": "print('notebook of ALICE-ONLY')",
    }
    _submission_zip(
        subs / "alice.zip",
        {
            "solution.ipynb": json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "cells": [cell],
                    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                }
            )
        },
    )
    first = grade_batch([subs], out, settings, image=sandbox_image)
    assert [(i.slug, i.state) for i in first.items] == [("alice", "graded")], [i.error for i in first.items]
    assert "ALICE-ONLY" in (out / "alice" / "artifacts" / "notebook.html").read_text()

    _submission_zip(subs / "alice .zip", {"predict.py": "print('script of the newcomer')\n"})
    second = grade_batch([subs], out, settings, image=sandbox_image)
    slugs = {i.source.name: i.slug for i in second.items}
    states = {i.source.name: i.state for i in second.items}
    assert states == {"alice.zip": "skipped", "alice .zip": "graded"}, [i.error for i in second.items]
    assert slugs["alice.zip"] == "alice" and slugs["alice .zip"] != "alice"
    alice = json.loads((out / "alice" / "report.json").read_text())
    assert alice["submission"]["name"] == "alice.zip"
    newcomer = out / slugs["alice .zip"]
    assert json.loads((newcomer / "report.json").read_text())["submission"]["name"] == "alice .zip"
    page = (newcomer / "report.html").read_text()
    assert "notebook.html" not in page and "ALICE-ONLY" not in page
    assert not (newcomer / "artifacts" / "notebook.html").exists()
    assert 'href="artifacts/notebook.html"' in (out / "alice" / "report.html").read_text()

    # the newcomer replaces its script by a notebook of its own: regraded in its own folder,
    # and alice's is untouched
    _submission_zip(
        subs / "alice .zip",
        {
            "solution.ipynb": json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "cells": [{**cell, "source": "print('notebook of the NEWCOMER')"}],
                    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                }
            )
        },
    )
    third = grade_batch([subs], out, settings, image=sandbox_image)
    assert {i.source.name: i.slug for i in third.items} == slugs
    assert "NEWCOMER" in (newcomer / "artifacts" / "notebook.html").read_text()
    assert "ALICE-ONLY" in (out / "alice" / "artifacts" / "notebook.html").read_text()
