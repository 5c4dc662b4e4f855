"""docs/ci/: the GitHub Actions and GitLab CI examples' own commands, run as written (minus
`pip install` and the CI's checkout/artifact steps): submitting to a live server (fake
grader), and grading locally with Docker."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
yaml = pytest.importorskip("yaml")

from tests.test_server_support import database, live_server, postgres, seeded_db  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
CI = REPO / "docs" / "ci"


def commands(example: str, job: str) -> tuple[list[str], dict[str, str]]:
    """The job's shell lines (without `pip install`) and its literal variables."""
    doc = yaml.safe_load((CI / example).read_text())
    if example.startswith("github"):
        lines = [step["run"] for step in doc["jobs"][job]["steps"] if "run" in step]
        variables = doc["jobs"][job].get("env", {})
    else:
        lines, variables = list(doc[job]["script"]), doc.get("variables", {})
    found = [line for line in lines if not line.strip().startswith("pip install")]
    assert found, f"no commands in {example}:{job}"
    return found, {k: str(v) for k, v in variables.items() if "${{" not in str(v)}


def workspace(tmp_path: Path) -> tuple[Path, dict]:
    """A checkout with `submission/` and a `grade` on PATH that runs this tree."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "assignments/applied_ml/canaries/reference", work / "submission")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "grade"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m harness "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "python").symlink_to(sys.executable)
    env = dict(
        os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO), SUBMISSION="unset"
    )  # the example sets it
    return work, env


def run_all(job: tuple[list[str], dict[str, str]], work: Path, env: dict) -> subprocess.CompletedProcess:
    lines, variables = job
    script = "set -e\n" + "\n".join(lines)
    return subprocess.run(
        ["bash", "-c", script], cwd=work, env={**env, **variables}, capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize(
    "example,job", [("github-actions.yml", "grade-on-server"), ("gitlab-ci.yml", "grade-on-server")]
)
def test_submitting_to_a_server(example, job, tmp_path, seeded_db):
    import httpx

    db_path, people = seeded_db
    shutil.copy(db_path, tmp_path / "server.db")
    work, env = workspace(tmp_path)
    with live_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "data", workers=1) as (base, app):
        rid = httpx.post(
            f"{base}/api/rounds",
            json={"assignment": "applied_ml", "name": "ci", "reviewers": ["alice"]},
            headers={"Authorization": f"Bearer {people.admin_token}"},
        ).json()["id"]
        env.update(GRADE_SERVER_URL=base, GRADE_ROUND=str(rid), GRADE_TOKEN=people.alice_token)
        done = run_all(commands(example, job), work, env)
    assert (work / "report.json").stat().st_size, done.stdout + done.stderr
    report = json.loads((work / "report.json").read_text())
    assert report["submission"]["sha256"] and report["score"] is not None
    assert done.returncode == (0 if report["score"] >= 60 else 1), done.stderr


@pytest.mark.docker
@pytest.mark.parametrize("example,job", [("github-actions.yml", "grade-locally"), ("gitlab-ci.yml", "grade-locally")])
def test_grading_locally_with_docker(example, job, tmp_path, sandbox_image):
    work, env = workspace(tmp_path)
    env["GRADE_IMAGE"] = sandbox_image
    done = run_all(commands(example, job), work, env)  # `grade sandbox build` is a no-op when the image exists
    assert (work / "grade-report" / "report.json").is_file(), done.stdout + done.stderr
    report = json.loads((work / "grade-report" / "report.json").read_text())
    assert done.returncode == (0 if (report["score"] or 0) >= 60 else 1), done.stdout + done.stderr
