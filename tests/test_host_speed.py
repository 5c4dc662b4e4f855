"""What keeps the host's share of `grade` small, with a fake runner (fast).

The speed itself is measured by ``bench/grading_speed.py``; these tests pin the behaviour it
relies on: loading graders imports no scikit-learn/pandas, the warm-up (``Grader.warm_up``,
``harness.reports.notebook.warm_up``) runs *while* the container runs, in another thread, and
has finished before any grader grades; a warm-up that fails changes nothing in the report; and
the ``grade`` process skips the collector's last passes at exit without skipping exit handlers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.api import grade
from harness.models import SandboxRun, Verdict
from harness.settings import Settings

SPEC = """
id = "warm"
title = "Warm-up"

[[graders]]
use = "recorder"

[[rubric.criteria]]
id = "done"
title = "warm-up finished before grading"
weight = 100
measurement = "recorder.warm_done_before_grade"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""

PREPARE = """
def prepare(sources, out, seed):
    (out.inputs / "test.csv").write_text("id\\n")
"""

GRADERS = """
import threading
import time
from pathlib import Path

from graders.base import Grader
from harness.models import GraderResult

SIGNALS = Path({signals!r})


class Recorder(Grader):
    PLUGIN_NAME = "recorder"

    def warm_up(self):
        (SIGNALS / "warm_started").write_text(threading.current_thread().name)
        if {fail!r}:
            raise ImportError("no module named 'heavy'")
        time.sleep(0.3)
        (SIGNALS / "warm_done").write_text("")

    def grade(self, ctx):
        done = (SIGNALS / "warm_done").exists()
        return GraderResult(grader=self.name, measurements={{"warm_done_before_grade": float(done)}})
"""


def setup_assignment(tmp_path: Path, *, fail: bool) -> tuple[Path, Settings, Path]:
    signals = tmp_path / "signals"
    signals.mkdir()
    root = tmp_path / "assignments" / "warm"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(SPEC)
    (root / "prepare.py").write_text(PREPARE)
    (root / "graders.py").write_text(GRADERS.format(signals=str(signals), fail=fail))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predict.py").write_text("print('hi')\n")
    (sub / "submission.toml").write_text('assignment = "warm"\n')
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    return sub, settings, signals


def waiting_runner(signals: Path, seen: dict):
    """A fake sandbox run that lasts until the warm-up has started (at most 5 s)."""

    def run(request):
        import time

        deadline = time.monotonic() + 5
        while not (signals / "warm_started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["warm_started_during_run"] = (signals / "warm_started").exists()
        return SandboxRun(verdict=Verdict.OK, exit_code=0, duration_s=1.0, timeout_s=request.limits.timeout_s)

    return run


def test_warm_up_overlaps_the_run_and_ends_before_grading(tmp_path):
    sub, settings, signals = setup_assignment(tmp_path, fail=False)
    seen: dict = {}
    report = grade(sub, settings=settings, runner=waiting_runner(signals, seen))
    assert seen["warm_started_during_run"], "warm_up did not start while the sandbox was running"
    assert (signals / "warm_started").read_text() != "MainThread"
    assert report.metrics["warm_done_before_grade"] == 1.0
    assert report.status == "graded" and report.score == 100.0


def test_a_failing_warm_up_changes_nothing(tmp_path):
    sub, settings, signals = setup_assignment(tmp_path, fail=True)
    report = grade(sub, settings=settings, runner=waiting_runner(signals, {}))
    assert report.status == "graded"
    assert report.metrics["warm_done_before_grade"] == 0.0
    assert not [m for m in report.messages if m.code == "grader_error"]


def test_no_warm_up_without_a_run(tmp_path):
    sub, settings, signals = setup_assignment(tmp_path, fail=False)
    (sub / "predict.py").unlink()  # no entry point: nothing runs, nothing to overlap
    report = grade(sub, settings=settings, runner=waiting_runner(signals, {}))
    assert report.sandbox.verdict == Verdict.NOT_RUN
    assert not (signals / "warm_started").exists()


@pytest.mark.parametrize("grader", ["predictions"])
def test_loading_graders_imports_neither_sklearn_nor_pandas(grader):
    """Loading graders (before the run) stays cheap; warm_up pulls the heavy modules in."""
    code = textwrap.dedent(f"""
        import sys
        import harness.api, harness.cli, harness.pipeline
        from graders.registry import default_registry
        from harness.spec import GraderSpec

        config = {{"labels": ["ham", "spam"], "positive_label": "spam", "metrics": ["f1", "roc_auc"]}}
        g = default_registry().instantiate(GraderSpec(use={grader!r}, config=config), 0)
        heavy = ("sklearn", "pandas", "scipy", "nbconvert")
        print(sorted(m for m in heavy if m in sys.modules))
        g.warm_up()
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["[]", "['pandas', 'scipy', 'sklearn']"]


@pytest.mark.parametrize(
    ("entry", "artifacts", "expected"),
    [
        ("solution.ipynb", True, True),  # the report will render the executed notebook
        ("solution.ipynb", False, False),  # library use without reports: nothing to render
        ("predict.py", True, False),  # a script leaves no notebook to render
    ],
)
def test_report_renderer_is_warmed_only_when_a_notebook_will_be_rendered(
    tmp_path, monkeypatch, entry, artifacts, expected
):
    import harness.reports.notebook
    from harness.pipeline import GradeOptions

    calls = []
    monkeypatch.setattr(harness.reports.notebook, "warm_up", lambda: calls.append(1))
    sub, settings, signals = setup_assignment(tmp_path, fail=False)
    (sub / "predict.py").unlink()
    (sub / entry).write_text("{}" if entry.endswith(".ipynb") else "pass\n")
    options = GradeOptions(artifacts_dir=tmp_path / "artifacts" if artifacts else None)
    grade(sub, settings=settings, options=options, runner=waiting_runner(signals, {}))
    assert bool(calls) is expected


def test_report_warm_up_leaves_nothing_behind(tmp_path, monkeypatch):
    import tempfile

    from harness.reports.notebook import warm_up

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(real_mkdtemp(*a, **k)) or made[-1])
    warm_up.__wrapped__()  # bypass the once-per-process cache
    assert made and list(tmp_path.iterdir()) == []


def test_the_cli_process_exits_without_final_gc_passes_but_runs_exit_handlers(tmp_path):
    code = textwrap.dedent("""
        import atexit, gc, sys
        atexit.register(lambda: print("frozen" if gc.get_freeze_count() else "not frozen", flush=True))
        sys.argv = ["grade", "sandbox", "tag"]
        from harness.cli import main
        main()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    *_, tag, last = proc.stdout.splitlines()
    assert tag.startswith("holdout-sandbox:") and last == "frozen"


def test_in_process_callers_keep_their_collector():
    import gc

    from harness.cli import main

    before = gc.get_freeze_count()
    main(["sandbox", "tag"])
    assert gc.get_freeze_count() == before
