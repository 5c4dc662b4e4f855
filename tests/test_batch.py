"""Batch grading: isolation, resumability, leaderboard, CI output (fake runner, fast)."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from harness.batch import discover, grade_batch, slug_for
from harness.cli import batch_exit_code
from harness.models import SandboxRun, Verdict
from harness.reports.leaderboard import _csv_safe, render_batch_junit
from harness.settings import Settings
from tests.toy_assignments import run_only


@pytest.fixture
def setup(tmp_path):
    root = tmp_path / "assignments" / "toyb"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(run_only("toyb", title="Toy batch"))
    (root / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, code in [("alice", "ok"), ("bob", "crash"), ("carol", "ok"), ("dave", "timeout")]:
        d = subs / name
        d.mkdir()
        (d / "predict.py").write_text(f"# {code}\n")
        (d / "submission.toml").write_text('assignment = "toyb"\n')
    with zipfile.ZipFile(subs / "mallory.zip", "w") as zf:
        zf.writestr("submission.toml", 'assignment = "toyb"\n')
        zf.writestr("../evil.py", "x")
    (subs / "nomanifest").mkdir()
    (subs / "nomanifest" / "predict.py").write_text("# ok\n")
    return root, settings, subs


def runner(calls):
    def run(request):
        code = next(m.source for m in request.mounts if m.target == "/submission").joinpath("predict.py").read_text()
        calls.append(code)
        if "crash" in code:
            return SandboxRun(verdict=Verdict.CRASHED, exit_code=1, timeout_s=10)
        if "timeout" in code:
            return SandboxRun(verdict=Verdict.TIMEOUT, exit_code=137, timeout_s=10, duration_s=10)
        return SandboxRun(verdict=Verdict.OK, exit_code=0, timeout_s=10, duration_s=1)

    return run


def test_one_failure_never_affects_the_others(setup, tmp_path):
    _, settings, subs = setup
    calls = []
    result = grade_batch([subs], tmp_path / "out", settings, jobs=3, runner=runner(calls))
    states = {i.source.name: i.state for i in result.items}
    assert states == {
        "alice": "graded",
        "bob": "graded",
        "carol": "graded",
        "dave": "graded",
        "mallory.zip": "rejected",
        "nomanifest": "error",
    }
    assert len(calls) == 4
    scores = {i.source.name: i.score for i in result.items}
    assert scores["alice"] == 100.0 and scores["bob"] == 0.0 and scores["mallory.zip"] == 0.0
    for name in ("alice", "bob", "carol", "dave", "mallory"):
        assert (tmp_path / "out" / name / "report.json").is_file()
    assert "cannot tell which assignment" in next(i.error for i in result.items if i.source.name == "nomanifest")
    assert batch_exit_code(result, None) == 2  # a submission could not be set up


def test_rerun_skips_graded_and_force_regrades(setup, tmp_path):
    root, settings, subs = setup
    out = tmp_path / "out"
    grade_batch([subs], out, settings, runner=runner([]))
    calls = []
    again = grade_batch([subs], out, settings, runner=runner(calls))
    assert calls == []
    assert {i.state for i in again.items if i.source.name != "nomanifest"} == {"skipped"}
    with open(out / "summary.csv") as fh:  # the leaderboard still tells graded from rejected
        status = {row["submission"]: row["status"] for row in csv.DictReader(fh)}
    assert status["alice"] == "graded" and status["mallory.zip"] == "rejected" and status["nomanifest"] == "error"
    assert grade_batch([subs], out, settings, runner=runner(calls), force=True) and len(calls) == 4
    (root / "assignment.toml").write_text(
        run_only("toyb", title="Toy batch", version="2")
    )  # a new assignment version regrades
    calls.clear()
    grade_batch([subs], out, settings, runner=runner(calls))
    assert len(calls) == 4


def test_leaderboard_is_sorted_and_links_reports(setup, tmp_path):
    _, settings, subs = setup
    out = tmp_path / "out"
    grade_batch([subs], out, settings, runner=runner([]))
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["submission"] for r in rows][:2] in (["alice", "carol"], ["carol", "alice"])
    assert rows[0]["score"] == "100.0" and rows[0]["report"].endswith(("report.html", "report.json"))
    assert rows[-1]["status"] == "error"
    page = (out / "summary.html").read_text()
    assert "Content-Security-Policy" in page and "<script" not in page


def test_batch_junit_parses_and_counts(setup, tmp_path):
    _, settings, subs = setup
    result = grade_batch([subs], tmp_path / "out", settings, runner=runner([]))
    root = ET.fromstring(render_batch_junit(result))
    suites = root.findall("testsuite")
    assert len(suites) == 6
    assert int(root.get("errors")) >= 1 and int(root.get("failures")) >= 2


def test_exit_code_fail_under(setup, tmp_path):
    _, settings, subs = setup
    (subs / "nomanifest" / "submission.toml").write_text('assignment = "toyb"\n')
    result = grade_batch([subs], tmp_path / "out", settings, runner=runner([]))
    assert batch_exit_code(result, None) == 0
    assert batch_exit_code(result, 50) == 1


def test_discover_and_slugs(tmp_path):
    sub = tmp_path / "one"
    sub.mkdir()
    (sub / "predict.py").write_text("")
    assert discover([sub]) == [sub]
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "a.zip").write_bytes(b"PK")
    (folder / "b").mkdir()
    (folder / ".hidden").mkdir()
    (folder / "notes.txt").write_text("")
    assert [p.name for p in discover([folder])] == ["a.zip", "b"]
    taken: set[str] = set()
    assert slug_for(Path("x/My Sub<1>.tar.gz"), taken) == "My_Sub_1"
    clash = slug_for(Path("y/My Sub<1>.zip"), taken)  # a clash: the name plus a hash of the path
    assert re.fullmatch(r"My_Sub_1-[0-9a-f]{8}", clash)
    assert clash == slug_for(Path("y/My Sub<1>.zip"), {"My_Sub_1"}) != slug_for(Path("z/My Sub<1>.zip"), {"My_Sub_1"})


def test_csv_cells_cannot_inject_formulas():
    assert _csv_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _csv_safe("-1.5") == "-1.5"


def _notebook_runner(request):
    """A fake run that leaves an executed notebook quoting the submission's notebook in the
    runner's trusted folder (a notebook run only: a script run's notebook is never kept or rendered)."""
    root = next(m.source for m in request.mounts if m.target == "/submission")
    logs = next(m.source for m in request.mounts if m.target == "/holdout/trusted")
    if (root / "solution.ipynb").is_file():
        code = (root / "solution.ipynb").read_text()
        cell = {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": code}
        (logs / "executed.ipynb").write_text(
            json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]})
        )
    return SandboxRun(verdict=Verdict.OK, exit_code=0, timeout_s=10, duration_s=1)


def _zip(path: Path, code: str) -> Path:
    """A script submission, or a notebook submission when ``code`` mentions a notebook."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("solution.ipynb" if "notebook" in code else "predict.py", code)
        zf.writestr("submission.toml", 'assignment = "toyb"\n')
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_a_new_name_that_slugs_the_same_never_takes_another_submissions_folder(setup, tmp_path, legacy):
    # issue 13, attack 9: alice.zip graded; on the rerun with "alice .zip" added, the newcomer
    # took the slug "alice", overwrote its report and linked alice's stale rendered notebook
    _, settings, _ = setup
    subs, out = tmp_path / "two", tmp_path / "out"
    subs.mkdir()
    _zip(subs / "alice.zip", "# notebook by ALICE\n")
    first = grade_batch([subs], out, settings, runner=_notebook_runner)
    assert [i.slug for i in first.items] == ["alice"]
    assert "ALICE" in (out / "alice" / "artifacts" / "notebook.html").read_text()
    if legacy:  # an out folder written before slugs.json existed
        (out / "slugs.json").unlink()
    _zip(subs / "alice .zip", "# plain script by MALLORY\n")
    second = grade_batch([subs], out, settings, runner=_notebook_runner)
    slugs = {i.source.name: i.slug for i in second.items}
    assert slugs["alice.zip"] == "alice"
    assert slugs["alice .zip"].startswith("alice-") and len(slugs["alice .zip"]) == len("alice-") + 8
    assert {i.source.name: i.state for i in second.items} == {"alice.zip": "skipped", "alice .zip": "graded"}
    assert json.loads((out / "alice" / "report.json").read_text())["submission"]["name"] == "alice.zip"
    newcomer = out / slugs["alice .zip"]
    assert json.loads((newcomer / "report.json").read_text())["submission"]["name"] == "alice .zip"
    page = (newcomer / "report.html").read_text()
    assert "notebook.html" not in page and "ALICE" not in page
    again = grade_batch([subs], out, settings, runner=_notebook_runner, force=True)  # stable on every rerun
    assert {i.source.name: i.slug for i in again.items} == slugs


def test_a_regrade_clears_the_submissions_old_artifacts(setup, tmp_path):
    _, settings, _ = setup
    subs, out = tmp_path / "one", tmp_path / "out"
    subs.mkdir()
    _zip(subs / "bob.zip", "# notebook v1\n")
    grade_batch([subs], out, settings, runner=_notebook_runner)
    assert (out / "bob" / "artifacts" / "notebook.html").is_file()
    _zip(subs / "bob.zip", "# a script now\n")  # new content: regraded into the same folder
    (item,) = grade_batch([subs], out, settings, runner=_notebook_runner).items
    assert (item.slug, item.state) == ("bob", "graded")
    left = sorted(p.name for p in (out / "bob" / "artifacts").iterdir())
    assert left == ["submission.sha256"], left
    assert "notebook.html" not in (out / "bob" / "report.html").read_text()
