"""The CLI's rough edges (issue 19): the leaderboard ranks only graded submissions and ties share
a rank; the terminal scorecard shows exact maxima, cuts evidence at a word with an ellipsis and
counts the messages it does not show; a batch error keeps its whole message and hint."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.console import Console

from harness.batch import BatchItem, BatchResult
from harness.errors import ConfigError
from harness.models import Level, Message
from harness.reports.leaderboard import competition_ranks, write_leaderboard
from harness.reports.write import print_summary
from harness.visible import clip, number
from tests.sample_reports import realistic_report, rejected_report


def _graded(score: float | None, status: str = "graded"):
    return realistic_report().model_copy(update={"score": score, "status": status})


def _round(tmp_path: Path) -> BatchResult:
    items = [
        BatchItem(Path("a"), "a", "graded", _graded(70.0)),
        BatchItem(Path("b"), "b", "graded", _graded(90.0)),
        BatchItem(Path("c"), "c", "graded", _graded(70.0)),
        BatchItem(Path("d"), "d", "graded", _graded(50.0)),
        BatchItem(Path("e"), "e", "rejected", rejected_report()),
        BatchItem(Path("f"), "f", "needs_review", _graded(None, "needs_review")),
        BatchItem(
            Path("g"),
            "g",
            "error",
            error=ConfigError(
                "cannot tell which assignment this submission is for, because its submission.toml names none "
                "and no --assignment was given to the batch",
                hint='Pass --assignment ID, or add submission.toml with `assignment = "ID"`.',
            ).describe(),
        ),
    ]
    return BatchResult(items=items, out_dir=tmp_path, counts={"graded": 4})


def _csv_rows(tmp_path: Path) -> dict[str, dict]:
    with open(tmp_path / "summary.csv", encoding="utf-8") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def test_failed_submissions_are_unranked_and_ties_share_a_rank(tmp_path):
    write_leaderboard(_round(tmp_path))
    rows = _csv_rows(tmp_path)
    assert {name: rows[name]["rank"] for name in "abcd"} == {"b": "1", "a": "2", "c": "2", "d": "4"}
    assert rows["e"]["rank"] == rows["f"]["rank"] == rows["g"]["rank"] == ""  # rejected, failed, error
    with open(tmp_path / "summary.csv", encoding="utf-8") as fh:
        order = [row["submission"] for row in csv.DictReader(fh)]
    assert order[:4] in (["b", "a", "c", "d"], ["b", "c", "a", "d"]) and set(order[4:]) == {"e", "f", "g"}
    page = (tmp_path / "summary.html").read_text()
    assert "<tr class='rejected'><td>–</td>" in page and "<tr class='graded'><td>2</td>" in page


def test_competition_ranking_on_the_shown_score():
    items = [BatchItem(Path(n), n, "graded", _graded(s)) for n, s in (("x", 81.004), ("y", 81.001), ("z", 80.0))]
    ranks = competition_ranks(items)
    assert [ranks[id(i)] for i in items] == [1, 1, 3]


def test_a_batch_error_keeps_its_whole_message_and_hint(tmp_path):
    write_leaderboard(_round(tmp_path))
    error = _csv_rows(tmp_path)["g"]["error"]
    assert error.endswith('hint: Pass --assignment ID, or add submission.toml with `assignment = "ID"`.')
    assert "no --assignment was given to the batch" in error


def test_the_batch_progress_prints_the_whole_error_and_hint(tmp_path, monkeypatch):
    from harness.cli.grading import _batch_progress

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None, force_terminal=False)
    item = _round(tmp_path).items[-1]
    with _batch_progress(console) as (on_event, on_total):
        on_total(1)
        on_event("done", item)
    text = buffer.getvalue()
    assert "no --assignment was given to the batch" in " ".join(text.split())
    assert "hint: Pass --assignment ID" in text


def _summary(report) -> str:
    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=300, color_system=None))
    return buffer.getvalue()


def test_the_scorecard_shows_exact_maxima():
    text = _summary(realistic_report())
    assert "1.85/7.4" in text and "3.7/7.4" in text and "48.6/64.8" in text and "13/13" in text
    assert "/7 " not in text and "/65" not in text


def test_a_score_is_shown_to_the_precision_of_its_maximum():
    """A full 12.96 reads 12.96/12.96, never 13.0/12.96 (more than the maximum)."""
    report = realistic_report()
    report.criteria[0].score = report.criteria[0].max_score = 12.96
    text = _summary(report)
    assert "12.96/12.96" in text and "13.0/12.96" not in text
    assert number(7.4) == "7.4" and number(7.0) == "7" and number(20 / 3) == "6.67" and number(100.0) == "100"


def test_evidence_is_cut_at_a_word_with_an_ellipsis():
    report = realistic_report()
    words = " ".join(f"word{i:03d}" for i in range(60))  # 479 characters
    report.criteria[0].evidence = [words]
    text = _summary(report)
    line = next(line for line in text.splitlines() if "word000" in line)
    shown = line[line.index("word000") :].rstrip()
    assert shown.endswith("…") and len(shown) <= 160
    assert shown[:-1].split()[-1] in words.split()  # the last word shown is whole
    assert clip("short", 10) == "short" and clip("aaaa bbbb cccc", 12) == "aaaa bbbb…"


def test_messages_past_the_eighth_are_counted_not_dropped():
    report = realistic_report()
    report.messages = [Message(code=f"m{i}", text=f"message number {i}", level=Level.WARNING) for i in range(11)]
    text = _summary(report)
    assert "message number 7" in text and "message number 8" not in text
    assert "3 more messages" in text
    report.messages = report.messages[:9]
    assert "1 more message " in _summary(report)
