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
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
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
    # read from the pristine submission; its kernel runs in the writable copy
    assert calls[0].command[2:4] == ["notebook", "/submission/solution.ipynb"]
    assert calls[0].workdir == "/workspace"
    mounts = {m.target: m.read_only for m in calls[0].mounts}
    assert mounts["/submission"] is True and mounts["/workspace"] is False


def test_an_entry_named_in_the_manifest_runs_from_the_working_copy(toy, tmp_path):
    _, settings = toy
    calls = []
    files = {
        "predict.py": "raise SystemExit('not me')\n",
        "src/run.py": "print('me')\n",
        "submission.toml": 'assignment = "toy"\nentry = "src/run.py"\n',
    }
    report = grade(submission(tmp_path, files), settings=settings, runner=fake_runner(perfect, calls=calls))
    assert calls[0].command[2:4] == ["script", "src/run.py"] and calls[0].workdir == "/workspace"
    assert report.submission.entry_point == "src/run.py"
    assert calls[0].quota_baseline[1] == 4  # the copy's files and folders count from the start


def test_a_wrong_entry_in_the_manifest_is_not_run(toy, tmp_path):
    _, settings = toy
    calls = []
    files = {"predict.py": "print(1)\n", "submission.toml": 'assignment = "toy"\nentry = "../predict.py"\n'}
    report = grade(submission(tmp_path, files), settings=settings, runner=fake_runner(perfect, calls=calls))
    assert not calls and report.status == "graded" and report.sandbox.verdict == "not_run"
    assert "not a path inside the submission" in {m.code: m.text for m in report.messages}["entry_invalid"]


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
        options.image = "x"  # type: ignore[misc]
    report = grade(submission(tmp_path), "toy", settings=settings, options=options, runner=fake_runner(perfect))
    assert report.score == 100.0
    assert options == GradeOptions(timeout_s=50)


SIDE_GRADER = """
from graders.base import Grader
from harness.models import GraderResult

class Side(Grader):
    PLUGIN_NAME = "side"

    def independent_of_run(self):
        return True

    def grade(self, ctx):
        run, _ = ctx.run_in_sandbox(["side-check"], name="side")
        result = GraderResult(grader=self.name)
        result.measurements["saw_run"] = float(ctx.sandbox is not None)
        return result
"""


def with_side_grader(root: Path) -> None:
    sha = hashlib.sha256(RAW.encode()).hexdigest()
    (root / "assignment.toml").write_text(SPEC.format(sha=sha, extra_grader='[[graders]]\nuse = "side"'))
    (root / "graders.py").write_text(SIDE_GRADER)


def test_checks_independent_of_the_run_run_beside_it(toy, tmp_path):
    """The side check's container starts while the candidate's run is still going (the fake
    main run waits for it), and its result keeps its place among the graders."""
    import threading

    root, settings = toy
    with_side_grader(root)
    side_started, overlapped = threading.Event(), []
    requests = []

    def run(request):
        requests.append(request)
        if request.command == ["side-check"]:
            side_started.set()
            return SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=0.1, timeout_s=request.limits.timeout_s)
        overlapped.append(side_started.wait(timeout=20))
        return fake_runner(perfect)(request)

    report = grade(submission(tmp_path), settings=settings, runner=run)
    assert overlapped == [True]
    assert [g.grader for g in report.graders] == ["predictions", "run", "side"]
    side = next(g for g in report.graders if g.grader == "side")
    assert side.measurements["saw_run"] == 0.0  # it was given no run record: it cannot read one
    background = {tuple(r.command): r.background for r in requests}
    assert background[("side-check",)] is True and not any(v for k, v in background.items() if k != ("side-check",))
    assert report.score == 100.0 and report.timings.get("early_graders") is not None


def test_no_free_container_slot_means_the_checks_wait_for_the_run(toy, tmp_path):
    """In a batch (-j counts containers), with every slot taken the side check runs after the run."""
    import threading

    from harness.pipeline import GradeOptions

    root, settings = toy
    with_side_grader(root)
    slots = threading.BoundedSemaphore(1)
    order = []

    def run(request):
        order.append("side" if request.command == ["side-check"] else "main")
        return fake_runner(perfect)(request)

    with slots:  # the batch worker's own slot
        report = grade(submission(tmp_path), settings=settings, runner=run, options=GradeOptions(container_slots=slots))
    assert order == ["main", "side"] and "early_graders" not in report.timings
    assert slots.acquire(blocking=False)  # nothing leaked a slot


def test_batch_never_runs_more_containers_than_jobs(toy, tmp_path):
    import threading
    import time

    from harness.batch import grade_batch

    root, settings = toy
    with_side_grader(root)
    subs = tmp_path / "subs"
    for i in range(4):
        sub = subs / f"s{i}"
        sub.mkdir(parents=True)
        (sub / "predict.py").write_text(f"print({i})\n")
        (sub / "submission.toml").write_text('assignment = "toy"\n')
    lock, live, peak, early = threading.Lock(), [0], [0], []

    def run(request):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
            early.append(request.background)
        try:
            time.sleep(0.2)
            return fake_runner(perfect)(request)
        finally:
            with lock:
                live[0] -= 1

    result = grade_batch([subs], tmp_path / "out", settings, jobs=2, runner=run)
    assert result.counts == {"awaiting_panel": 4}  # graded; the toy rubric has a human criterion
    assert peak[0] <= 2 and len(early) == 8


# --- the steps alone (typed pipeline state) ---------------------------------------------------


def staged_toy(toy, tmp_path, files=None):
    """The toy submission staged by :func:`harness.pipeline.stage`, with a fake runner."""
    from harness.assignments import find_assignment
    from harness.pipeline import GradeOptions, Job, stage

    root, settings = toy
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    job = Job(
        source=submission(tmp_path, files),
        settings=settings,
        options=GradeOptions(),
        job_dir=job_dir,
        runner=fake_runner(perfect),
        assignment=find_assignment(root, settings),
    )
    return stage(job)


def test_staging_returns_a_frozen_ready_to_run_submission(toy, tmp_path):
    import dataclasses

    record = staged_toy(toy, tmp_path)
    staged = record.staged
    assert staged is not None and record.rejected is None
    assert staged.entry.kind == "script" and staged.entry.path == "predict.py"
    assert staged.assignment.id == "toy" and [g.name for g in staged.graders] == ["predictions", "run"]
    assert set(record.timings) >= {"unpack", "load_graders", "prepare_data", "install_dependencies"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        staged.entry = None  # type: ignore[misc]


def test_each_step_takes_what_it_needs_and_returns_what_it_made(toy, tmp_path):
    from harness.models import Message
    from harness.pipeline import check_outputs, find_entry_point, run_graders, run_sandbox

    staged = staged_toy(toy, tmp_path).staged
    missing = find_entry_point(staged.assignment, tmp_path / "job")  # a folder with no entry point
    assert isinstance(missing, Message) and missing.code == "no_entry_point"
    outcome = run_sandbox(staged)
    assert outcome.run.verdict == Verdict.OK and (outcome.output_dir / "predictions.csv").is_file()
    (outcome.output_dir / "predictions.csv").unlink()
    checked = check_outputs(staged, outcome)
    assert checked.run.verdict == Verdict.NO_OUTPUT and outcome.run.verdict == Verdict.OK  # a new value
    results = run_graders(staged, checked)
    assert [r.grader for r in results] == ["predictions", "run"]


def test_a_rejected_archive_is_recorded_and_not_staged(toy, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.py", "x")
        zf.writestr("submission.toml", 'assignment = "toy"\n')
    from harness.pipeline import GradeOptions, Job, stage

    _, settings = toy
    (tmp_path / "job").mkdir()
    record = stage(Job(evil, settings, GradeOptions(), tmp_path / "job", fake_runner(perfect)))
    assert record.rejected is not None and record.staged is None and record.unpacked is None
    assert record.messages[0].code.startswith("rejected_")
