"""Blind rounds (fake runner, fast): ids everywhere, names only in the map, `grade unblind`;
and a batch round opens the panel for assignments with human criteria."""

from __future__ import annotations

import csv
import json
import os

import pytest

from harness.batch import grade_batch
from harness.cli import main
from harness.settings import Settings
from tests.test_batch import runner
from tests.toy_assignments import run_only

PANEL_SPEC = (
    run_only("toyb", title="Toy batch")
    + """
[[rubric.criteria]]
id = "approach"
title = "Approach (reviewer)"
kind = "human"
weight = 1

[panel]
reviewers = 1
target_hours = 1
"""
)


@pytest.fixture
def round_setup(tmp_path):
    root = tmp_path / "assignments" / "toyb"
    root.mkdir(parents=True)
    (root / "assignment.toml").write_text(PANEL_SPEC)
    (root / "prepare.py").write_text("def prepare(sources, out, seed):\n    pass\n")
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        assignment_paths=(tmp_path / "assignments",),
        allow_download=False,
    )
    subs = tmp_path / "subs"
    for name in ("alice_smith", "bob_jones"):
        (subs / name).mkdir(parents=True)
        (subs / name / "predict.py").write_text("# ok\n")
        (subs / name / "submission.toml").write_text('assignment = "toyb"\n')
    return settings, subs


def everything_written(out):
    texts = []
    for dirpath, _, files in os.walk(out):
        for name in files:
            if name != "blind-map.json":
                with open(os.path.join(dirpath, name), errors="replace") as fh:
                    texts.append(fh.read())
    return "\n".join(texts) + "\n".join(os.listdir(out))


def test_blind_round_hides_names_until_unblind(round_setup, tmp_path, capsys, monkeypatch):
    settings, subs = round_setup
    out = tmp_path / "round"
    result = grade_batch([subs], out, settings, runner=runner([]), blind=True)
    ids = sorted(i.slug for i in result.items)
    assert all(i.startswith("cand-") for i in ids) and len(set(ids)) == 2
    written = everything_written(out)
    assert "alice" not in written and "bob_jones" not in written and str(subs) not in written
    mapping = json.loads((out / "blind-map.json").read_text())["candidates"]
    assert {v["name"] for v in mapping.values()} == {"alice_smith", "bob_jones"}
    assert oct((out / "blind-map.json").stat().st_mode & 0o777) == "0o600"
    # a resumed blind round keeps each candidate's id
    again = grade_batch([subs], out, settings, runner=runner([]), blind=True)
    assert sorted(i.slug for i in again.items) == ids and {i.state for i in again.items} == {"skipped"}

    # the panel opened at grading; one reviewer is enough for this assignment
    first = json.loads((out / ids[0] / "report.json").read_text())
    assert first["status"] == "awaiting_panel" and first["panel"]["required_reviewers"] == 1
    monkeypatch.setattr("harness.settings.Settings.from_env", classmethod(lambda cls: settings))
    main(["review", str(out / ids[0]), "--reviewer", "ann", "--level", "approach=4"])
    assert json.loads((out / ids[0] / "report.json").read_text())["status"] == "graded"

    main(["unblind", str(out)])
    with open(out / "summary.csv") as fh:
        rows = {row["submission"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"alice_smith", "bob_jones"}
    names = {json.loads((out / i / "report.json").read_text())["submission"]["name"] for i in ids}
    assert names == {"alice_smith", "bob_jones"}
    assert {r["panel"] for r in rows.values()} == {"complete", "0/1 reviews"}


def test_unblind_without_a_map_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["unblind", str(tmp_path / "r")])
    assert exc.value.code == 2 and "no blind map" in capsys.readouterr().err
