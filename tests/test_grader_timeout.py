"""The per-grader wall-clock limit: a grader past it is the candidate's ``grader_timeout``
result (not ``needs_review``), the pipeline stops waiting for it, and the late work can
neither reach the report nor start sandbox runs. Fake runner, fast; the grader is held on a
flag file that the test releases only after ``grade()`` has returned, so nothing here is timed."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace

import pytest

from harness.api import grade
from harness.errors import ConfigError
from harness.models import GraderStatus
from harness.settings import Settings
from tests.test_pipeline import PREPARE, RAW, SPEC, fake_runner, perfect, submission

STUCK_GRADER = '''
import json
import time
from pathlib import Path

from graders.base import Grader, GraderConfig
from harness.models import GraderResult, Message


class StuckConfig(GraderConfig):
    release: str
    record: str


class Stuck(Grader):
    """Blocks until the test creates the release file, then tries to leave traces."""

    PLUGIN_NAME = "stuck"
    Config = StuckConfig

    def grade(self, ctx):
        while not Path(self.config.release).exists():
            time.sleep(0.01)
        seen = {}
        ctx.extras["late"] = True
        ctx.sandbox.runner["late"] = True
        try:
            ctx.run_in_sandbox(["true"])
            seen["sandbox"] = "ran"
        except Exception as exc:
            seen["sandbox"] = f"{type(exc).__name__}: {exc}"
        Path(self.config.record).write_text(json.dumps(seen))
        return GraderResult(grader=self.name, measurements={"value": 1.0},
                            messages=[Message(code="late_message", text="written after the timeout", source=self.name)])
'''

CRITERION = """
[[rubric.criteria]]
id = "stuck"
title = "Stuck check"
weight = 10
measurement = "stuck.value"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""


@pytest.fixture
def stuck(tmp_path):
    root = tmp_path / "assignments" / "toy"
    root.mkdir(parents=True)
    sha = hashlib.sha256(RAW.encode()).hexdigest()
    release, record = tmp_path / "release", tmp_path / "record.json"
    grader = f'[[graders]]\nuse = "stuck"\n[graders.config]\nrelease = "{release}"\nrecord = "{record}"\n'
    (root / "assignment.toml").write_text(SPEC.format(sha=sha, extra_grader=grader) + CRITERION)
    (root / "prepare.py").write_text(PREPARE)
    (root / "graders.py").write_text(STUCK_GRADER)
    (tmp_path / "data" / "toy").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "raw.tsv").write_text(RAW)
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
        grader_timeout_s=0.5,
    )
    return settings, release, record


def test_a_grader_past_its_limit_is_a_candidate_result_and_cannot_write_late(stuck, tmp_path):
    settings, release, record = stuck
    calls = []
    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(perfect, calls=calls))
    assert not release.exists()  # grade() returned while the grader was still blocked
    result = next(g for g in report.graders if g.grader == "stuck")
    assert result.status == GraderStatus.TIMEOUT and result.measurements == {}
    (message,) = [m for m in report.messages if m.code == "grader_timeout"]
    assert "0.5 s limit" in message.text and message.visibility == "candidate"
    assert report.status == "graded" and report.score is not None  # not needs_review: the candidate's result
    row = next(c for c in report.criteria if c.id == "stuck")
    assert row.level == 1 and row.score == 0.0
    others = {g.grader: g.status for g in report.graders if g.grader != "stuck"}
    assert set(others.values()) == {GraderStatus.OK}  # the graders after it still ran
    before = json.dumps(report.model_dump(mode="json"), sort_keys=True)

    release.write_text("go")  # now let the late work try to leave traces
    deadline = time.monotonic() + 60
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = json.loads(record.read_text())
    assert seen["sandbox"].startswith("HoldoutError") and "past its time limit" in seen["sandbox"]
    assert len(calls) == 1  # only the candidate's own run
    assert json.dumps(report.model_dump(mode="json"), sort_keys=True) == before
    assert "late" not in report.sandbox.runner


def test_grader_timeout_comes_from_the_environment():
    assert Settings.from_env({}).grader_timeout_s == 600.0
    assert Settings.from_env({"GRADE_GRADER_TIMEOUT_S": "42.5"}).grader_timeout_s == 42.5
    for bad in ("0", "-3", "soon", "inf", "nan"):
        with pytest.raises(ConfigError, match="GRADE_GRADER_TIMEOUT_S"):
            Settings.from_env({"GRADE_GRADER_TIMEOUT_S": bad})


def test_a_grader_within_its_limit_is_untouched(stuck, tmp_path):
    settings, release, _ = stuck
    release.write_text("go")
    report = grade(submission(tmp_path), settings=replace(settings, grader_timeout_s=120), runner=fake_runner(perfect))
    result = next(g for g in report.graders if g.grader == "stuck")
    assert result.status == GraderStatus.OK and result.measurements == {"value": 1.0}
    assert report.score == 100.0
