"""The panel's commands on a hand-built round (no Docker): recording reviews, CSV import and
export, calibration, alpha for a sheet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.batch import BatchItem, BatchResult
from harness.cli import main
from harness.models import CriterionScore
from harness.reports.leaderboard import write_leaderboard
from harness.reports.write import write_reports
from tests.sample_reports import realistic_report

CRITERIA = ("approach", "communication")


def make_round(root: Path, n: int = 6, started_at: float = 1_000_000.0) -> Path:
    items = []
    for i in range(n):
        report = realistic_report()
        report.score = 40.0 + 10 * i
        report.submission.sha256 = f"{i:064x}"
        report.submission.name = f"cand{i}.zip"
        report.timings = {"started_at": started_at, "total_s": 10.0}
        report.criteria = [c for c in report.criteria if c.kind == "automated"] + [
            CriterionScore(
                id=cid,
                title=cid.title(),
                kind="human",
                weight=10,
                guide={str(k): f"{cid} level {k}" for k in range(1, 6)},
            )
            for cid in CRITERIA
        ]
        slug = f"cand{i}"
        write_reports(report, root / slug)
        items.append(BatchItem(source=Path(f"{slug}.zip"), slug=slug, state="graded", report=report))
    write_leaderboard(BatchResult(items=items, out_dir=root, wall_s=1.0, counts={"graded": n}))
    return root


def grade(*args: str) -> None:
    main(list(args))


def leaderboard(root: Path) -> dict[str, dict]:
    with open(root / "summary.csv") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def test_review_cli_records_rerenders_and_updates_the_leaderboard(tmp_path, capsys):
    root = make_round(tmp_path / "round")
    grade(
        "review",
        str(root / "cand1"),
        "--reviewer",
        "ann",
        "--level",
        "approach=4",
        "--level",
        "communication=2",
        "--comment",
        "approach=solid CV",
        "--recommendation",
        "yes",
    )
    saved = json.loads((root / "cand1" / "report.json").read_text())
    assert saved["status"] == "awaiting_panel" and saved["panel"]["criteria"][0]["levels"] == {"ann": 4}
    assert leaderboard(root)["cand1.zip"]["panel"] == "1/2 reviews"
    grade("review", str(root / "cand1"), "--reviewer", "bob", "--level", "approach=2", "--level", "communication=2")
    saved = json.loads((root / "cand1" / "report.json").read_text())
    assert saved["status"] == "graded" and saved["panel"]["status"] == "complete"
    row = leaderboard(root)["cand1.zip"]
    assert row["panel"] == "complete" and float(row["final_score"]) == saved["panel"]["final_score"]
    assert "disagree by 2+ levels" in (root / "cand1" / "report.html").read_text()


def test_missing_levels_without_a_terminal_is_a_clear_error(tmp_path, capsys):
    root = make_round(tmp_path / "round", n=1)
    with pytest.raises(SystemExit) as exc:
        grade("review", str(root / "cand0"), "--reviewer", "ann", "--level", "approach=4")
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no level for communication" in err and "--level communication=N" in err
    assert not (root / "cand0" / "reviews").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (("--reviewer", "../x", "--level", "approach=3", "--level", "communication=3"), "invalid reviewer name"),
        (("--reviewer", "ann", "--level", "approach=6", "--level", "communication=3"), "1..5"),
        (
            ("--reviewer", "ann", "--level", "approach=3", "--level", "communication=3", "--level", "style=3"),
            "unknown panel criterion 'style'",
        ),
        (("--reviewer", "ann", "--level", "approach"), "not CRITERION=VALUE"),
    ],
)
def test_bad_reviews_are_refused(tmp_path, capsys, args, message):
    root = make_round(tmp_path / "round", n=1)
    with pytest.raises(SystemExit) as exc:
        grade("review", str(root / "cand0"), *args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_import_export_round_trip_and_calibration(tmp_path, capsys):
    root = make_round(tmp_path / "round", n=6)
    grade("review", "export", str(root), "-o", str(root / "sheet.csv"))
    blank = list(csv.DictReader((root / "sheet.csv").read_text().splitlines()))
    assert [r["submission"] for r in blank] == [f"cand{i}" for i in range(6)] and not any(r["reviewer"] for r in blank)
    lines = ["submission,reviewer,recommendation,approach,communication,approach_comment,communication_comment"]
    for i in range(6):
        lines.append(f"cand{i},ann,yes,{1 + (i * 4) // 5},{1 + (i * 4) // 5},,")
        lines.append(f"cand{i},bob,no,{min(5, 2 + (i * 4) // 5)},{1 + (i * 4) // 5},,")  # bob is one level more lenient
    (root / "sheet.csv").write_text("\n".join(lines) + "\n")
    grade("review", "import", str(root / "sheet.csv"))
    capsys.readouterr()
    grade("review", "export", str(root))
    exported = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(exported) == 12 and {r["reviewer"] for r in exported} == {"ann", "bob"}
    assert all(row["panel"] == "complete" for row in leaderboard(root).values())

    grade("panel", str(root), "--json", "--min-candidates", "5", "--target-hours", "1")
    data = json.loads(capsys.readouterr().out)
    crit = {c["id"]: c for c in data["criteria"]}
    assert crit["communication"]["alpha"] == 1.0 and crit["communication"]["candidates"] == 6
    assert 0 < crit["approach"]["alpha"] < 1 and crit["approach"]["ci_low"] is not None
    assert data["leniency"]["bob"]["offset"] > 0 > data["leniency"]["ann"]["offset"]
    assert data["pairs"][0]["shared"] == 12 and data["automated_vs_panel"]["candidates"] == 6
    assert data["automated_vs_panel"]["spearman"] > 0.5  # higher automated scores got higher levels here
    assert data["waiting"] == []  # every candidate is decided
    assert all(t["decision_h"] is not None for t in data["turnaround"])
    assert "Krippendorff" in (root / "panel.html").read_text()


def test_calibration_says_not_enough_data_and_lists_who_waits(tmp_path, capsys):
    root = make_round(tmp_path / "round", n=3)
    grade("review", str(root / "cand0"), "--reviewer", "ann", "--level", "approach=3", "--level", "communication=3")
    capsys.readouterr()
    grade("panel", str(root), "--json", "--min-candidates", "5")
    data = json.loads(capsys.readouterr().out)
    assert data["criteria"][0]["verdict"].startswith("not enough data yet")
    assert {w["submission"] for w in data["waiting"]} == {"cand0", "cand1", "cand2"}  # graded long ago
    assert data["waiting"][0]["target_h"] == 48


def test_import_refuses_unknown_submissions_before_writing(tmp_path, capsys):
    root = make_round(tmp_path / "round", n=2)
    (root / "sheet.csv").write_text("submission,reviewer,approach\ncand0,ann,3\nnobody,ann,3\n")
    with pytest.raises(SystemExit):
        grade("review", "import", str(root / "sheet.csv"))
    assert "no submission 'nobody'" in capsys.readouterr().err
    assert not (root / "cand0" / "reviews").exists()


def test_alpha_for_a_sheet(tmp_path, capsys):
    sheet = tmp_path / "m.csv"
    sheet.write_text(
        "reviewer,u1,u2,u3,u4,u5,u6,u7,u8,u9,u10,u11,u12\nA,1,2,3,3,2,1,4,1,2,,,\n"
        "B,1,2,3,3,2,2,4,1,2,5,,3\nC,,3,3,3,2,3,4,2,2,5,1,\nD,1,2,3,3,2,4,4,1,2,5,1,\n"
    )
    for level, expected in (("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)):
        grade("panel", "alpha", str(sheet), "--level", level, "--json")
        assert round(json.loads(capsys.readouterr().out)["alpha"], 3) == expected
    (tmp_path / "bad.csv").write_text("r,u1\nA,good\n")
    with pytest.raises(SystemExit):
        grade("panel", "alpha", str(tmp_path / "bad.csv"), "--level", "ordinal")
    assert "not a number" in capsys.readouterr().err


class _Tty:
    def __init__(self, text: str) -> None:
        import io

        self._buf = io.StringIO(text)

    def isatty(self) -> bool:
        return True

    def readline(self, *a):
        return self._buf.readline(*a)

    def read(self, *a):
        return self._buf.read(*a)


def test_a_terminal_is_asked_for_missing_levels_with_the_guide(tmp_path, capsys, monkeypatch):
    root = make_round(tmp_path / "round", n=1)
    monkeypatch.setattr("sys.stdin", _Tty("7\n4\nclear write-up\nstrong-yes\n"))  # 7 is refused and asked again
    grade("review", str(root / "cand0"), "--reviewer", "ann", "--level", "approach=3")
    out = capsys.readouterr().out
    assert "communication level 5" in out  # the level guide was shown
    saved = json.loads((root / "cand0" / "reviews" / "ann.json").read_text())
    assert saved["levels"] == {"approach": 3, "communication": 4}
    assert saved["comments"] == {"communication": "clear write-up"} and saved["recommendation"] == "strong-yes"
