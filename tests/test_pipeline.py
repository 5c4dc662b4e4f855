"""The pipeline with a fake runner (fast). Every behaviour faked here also runs for real in
``test_applied_ml_docker.py``."""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from harness.api import grade
from harness.errors import ConfigError
from harness.models import SandboxRun, Verdict
from harness.reports.write import stable_view
from harness.settings import Settings

RAW = "".join(f"{'spam' if i % 3 == 0 else 'ham'}\tmessage number {i}\n" for i in range(40))

SPEC = """
id = "toy"
title = "Toy classifier"
kind = "classification"

[[data.sources]]
name = "toy/raw.tsv"
sha256 = "{sha}"

[sandbox]
timeout_s = 30

[[graders]]
use = "predictions"
[graders.config]
labels = ["ham", "spam"]
positive_label = "spam"
primary_metric = "f1"
metrics = ["f1", "accuracy"]
bootstrap = 200

[[graders]]
use = "run"
{extra_grader}

[[rubric.criteria]]
id = "perf"
title = "Holdout performance"
weight = 80
measurement = "predictions.f1"
thresholds = [0.4, 0.65, 0.8, 0.9]

[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 20
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]

[[rubric.criteria]]
id = "approach"
title = "Approach"
kind = "human"
"""

PREPARE = """
import csv

def prepare(sources, out, seed):
    rows = [line.split("\\t", 1) for line in sources["toy/raw.tsv"].read_text().splitlines()]
    test = [(f"t{i}", label, text) for i, (label, text) in enumerate(rows) if i % 2]
    train = [(f"r{i}", label, text) for i, (label, text) in enumerate(rows) if not i % 2]
    for path, header, data in [
        (out.inputs / "train.csv", ["id", "text", "label"], [(i, t, l) for i, l, t in train]),
        (out.inputs / "test.csv", ["id", "text"], [(i, t) for i, l, t in test]),
        (out.hidden / "test_labels.csv", ["id", "label"], [(i, l) for i, l, t in test]),
    ]:
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(data)
"""

BROKEN_GRADER = """
from graders.base import Grader

class Exploding(Grader):
    PLUGIN_NAME = "exploding"

    def grade(self, ctx):
        raise RuntimeError("bug in a grader")
"""


@pytest.fixture
def toy(tmp_path) -> tuple[Path, Settings]:
    data = tmp_path / "data" / "toy"
    data.mkdir(parents=True)
    (data / "raw.tsv").write_text(RAW)
    root = tmp_path / "assignments" / "toy"
    root.mkdir(parents=True)
    sha = hashlib.sha256(RAW.encode()).hexdigest()
    (root / "assignment.toml").write_text(SPEC.format(sha=sha, extra_grader=""))
    (root / "prepare.py").write_text(PREPARE)
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    return root, settings


def submission(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    for name, text in (files or {"predict.py": "print('hi')\n", "submission.toml": 'assignment = "toy"\n'}).items():
        (sub / name).write_text(text)
    return sub


def mount(request, target: str) -> Path:
    return next(Path(m.source) for m in request.mounts if m.target == target)


def labels_of(request) -> dict[str, str]:
    """The fake candidate cheats: it reads the hidden labels next to the inputs (host only)."""
    hidden = mount(request, "/data").parent / "hidden" / "test_labels.csv"
    with open(hidden) as fh:
        return {r["id"]: r["label"] for r in csv.DictReader(fh)}


def fake_runner(write=None, verdict=Verdict.OK, exit_code=0, calls=None):
    def run(request):
        if calls is not None:
            calls.append(request)
        if write is not None:
            write(request, mount(request, "/output"))
        return SandboxRun(verdict=verdict, exit_code=exit_code, duration_s=1.0, timeout_s=request.limits.timeout_s)

    return run


def perfect(request, out: Path) -> None:
    rows = labels_of(request)
    (out / "predictions.csv").write_text("id,label\n" + "".join(f"{i},{l}\n" for i, l in rows.items()))


def test_perfect_submission_scores_100(toy, tmp_path):
    _, settings = toy
    calls = []
    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(perfect, calls=calls))
    assert report.status == "graded" and report.score == 100.0
    assert report.metrics["f1"] == 1.0
    assert [c.level for c in report.criteria] == [5, 5, None]
    (request,) = calls
    assert request.command[-2:] == ["script", "predict.py"]
    mounts = {m.target: m for m in request.mounts}
    assert mounts["/submission"].read_only and mounts["/data"].read_only
    assert not mounts["/output"].read_only
    assert not (mounts["/data"].source / "test_labels.csv").exists()


def test_assignment_comes_from_manifest_or_option(toy, tmp_path):
    _, settings = toy
    sub = submission(tmp_path, {"predict.py": "pass\n"})
    with pytest.raises(ConfigError, match="cannot tell which assignment"):
        grade(sub, settings=settings, runner=fake_runner(perfect))
    assert grade(sub, "toy", settings=settings, runner=fake_runner(perfect)).score == 100.0


def test_notebook_is_the_fallback_entry_point(toy, tmp_path):
    _, settings = toy
    calls = []
    sub = submission(tmp_path, {"solution.ipynb": "{}", "submission.toml": 'assignment = "toy"\n'})
    grade(sub, settings=settings, runner=fake_runner(perfect, calls=calls))
    assert calls[0].command[2:4] == ["notebook", "solution.ipynb"]


def test_no_entry_point_is_not_run(toy, tmp_path):
    _, settings = toy
    calls = []
    sub = submission(tmp_path, {"main.py": "pass\n", "submission.toml": 'assignment = "toy"\n'})
    report = grade(sub, settings=settings, runner=fake_runner(perfect, calls=calls))
    assert not calls
    assert report.sandbox.verdict == Verdict.NOT_RUN
    assert "no_entry_point" in {m.code for m in report.messages}
    assert report.score == 0.0


def test_timeout_scores_low_with_message(toy, tmp_path):
    _, settings = toy
    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(verdict=Verdict.TIMEOUT, exit_code=137))
    assert report.score == 0.0
    assert {"timeout", "missing_output"} <= {m.code for m in report.messages}


def test_exit_zero_without_output_is_no_output(toy, tmp_path):
    _, settings = toy
    report = grade(submission(tmp_path), settings=settings, runner=fake_runner())
    assert report.sandbox.verdict == Verdict.NO_OUTPUT
    assert report.score == 0.0


def test_symlinked_output_is_invalid_and_never_read(toy, tmp_path):
    _, settings = toy

    def link(request, out):
        os.symlink(mount(request, "/data").parent / "hidden" / "test_labels.csv", out / "predictions.csv")

    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(link))
    assert report.sandbox.verdict == Verdict.INVALID_OUTPUT
    assert report.metrics["f1"] == 0.0


def test_grader_bug_marks_needs_review_not_zero(toy, tmp_path):
    root, settings = toy
    sha = hashlib.sha256(RAW.encode()).hexdigest()
    (root / "assignment.toml").write_text(SPEC.format(sha=sha, extra_grader='[[graders]]\nuse = "exploding"'))
    (root / "graders.py").write_text(BROKEN_GRADER)
    report = grade(submission(tmp_path), settings=settings, runner=fake_runner(perfect))
    assert report.status == "needs_review"
    errors = [g for g in report.graders if g.status == "error"]
    assert errors and "bug in a grader" in errors[0].error
    assert report.metrics["f1"] == 1.0  # the other graders still ran


def test_unsafe_archive_is_rejected_and_not_run(toy, tmp_path):
    _, settings = toy
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("submission.toml", 'assignment = "toy"\n')
        zf.writestr("../../escape.py", "print('owned')\n")
    calls = []
    report = grade(bad, settings=settings, runner=fake_runner(perfect, calls=calls))
    assert report.status == "rejected" and not calls
    assert any(m.code.startswith("rejected_") and "escape.py" in m.text for m in report.messages)
    assert not (tmp_path.parent / "escape.py").exists()


def test_same_submission_twice_gives_the_same_report(toy, tmp_path):
    _, settings = toy
    sub = submission(tmp_path)
    a = stable_view(grade(sub, settings=settings, runner=fake_runner(perfect)))
    b = stable_view(grade(sub, settings=settings, runner=fake_runner(perfect)))
    assert a == b and "timings" not in a


def test_job_dirs_are_removed(toy, tmp_path, monkeypatch):
    _, settings = toy
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    grade(submission(tmp_path), settings=settings, runner=fake_runner(perfect))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_manifest_cannot_point_at_an_assignment_folder_in_the_submission(toy, tmp_path):
    _, settings = toy
    marker = tmp_path / "PREPARE_RAN"
    sub = submission(tmp_path, {"predict.py": "pass\n"})
    evil = sub / "evil"
    evil.mkdir()
    (evil / "assignment.toml").write_text('id = "evil"\ntitle = "x"\n')
    (evil / "prepare.py").write_text(f"open({str(marker)!r}, 'w').write('ran on the host')\n")
    for ref in (str(evil), "evil/", "../toy"):
        (sub / "submission.toml").write_text(f"assignment = {ref!r}\n")
        with pytest.raises(ConfigError, match="not an assignment id|unknown assignment"):
            grade(sub, settings=settings, runner=fake_runner(perfect))
    assert not marker.exists()


def test_grade_never_changes_the_callers_options(toy, tmp_path):
    """GradeOptions is frozen, and api.grade works on its own copy."""
    import dataclasses

    from harness.pipeline import GradeOptions

    _, settings = toy
    options = GradeOptions(timeout_s=50)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.assignment = "x"  # type: ignore[misc]
    report = grade(submission(tmp_path), "toy", settings=settings, options=options, runner=fake_runner(perfect))
    assert report.score == 100.0
    assert options == GradeOptions(timeout_s=50)
