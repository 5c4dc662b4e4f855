"""Reviews as data, the panel block, the final score and the re-rendered report views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.models import CriterionScore, ReportStatus
from harness.panel.reviews import (
    Review,
    check_reviewer,
    export_csv,
    import_csv,
    load_reviews,
    review_path,
    write_review,
)
from harness.panel.scorecard import build_panel, refresh_panel
from harness.reports.write import write_reports
from tests.sample_reports import HOSTILE, realistic_report


def panel_report(panel_weight: float = 20):
    report = realistic_report()
    report.criteria = [c for c in report.criteria if c.kind == "automated"] + [
        CriterionScore(
            id="approach",
            title="Approach",
            kind="human",
            weight=panel_weight,
            guide={str(i): f"approach level {i}" for i in range(1, 6)},
        ),
        CriterionScore(id="communication", title="Communication", kind="human", weight=panel_weight / 2),
    ]
    return report


@pytest.mark.parametrize("name", ["../x", "a/b", ".", "..", "", "x" * 65, "-dash", "a b", "ann.json", "é"])
def test_unsafe_reviewer_names_are_refused(name):
    with pytest.raises(ConfigError, match="invalid reviewer name"):
        check_reviewer(name)


def test_a_re_review_replaces_only_that_reviewers_file(tmp_path):
    write_review(tmp_path, Review(reviewer="ann", levels={"approach": 2}))
    write_review(tmp_path, Review(reviewer="bob", levels={"approach": 4}))
    write_review(tmp_path, Review(reviewer="ann", levels={"approach": 3}, comments={"approach": "better"}))
    reviews, problems = load_reviews(tmp_path)
    assert problems == [] and [(r.reviewer, r.levels["approach"]) for r in reviews] == [("ann", 3), ("bob", 4)]
    data = json.loads(review_path(tmp_path, "ann").read_text())
    assert data["schema_version"] == "1" and data["comments"] == {"approach": "better"}
    assert sorted(p.name for p in (tmp_path / "reviews").iterdir()) == ["ann.json", "bob.json"]  # no temp files left


def test_broken_or_foreign_review_files_are_reported_not_fatal(tmp_path):
    write_review(tmp_path, Review(reviewer="ann", levels={"approach": 2}))
    (tmp_path / "reviews" / "eve.json").write_text('{"reviewer": "eve", "levels": {"approach": 9}}')
    (tmp_path / "reviews" / "mal.json").write_text('{"reviewer": "bob"}')
    (tmp_path / "reviews" / "big.json").write_text(" " * 300_000)
    reviews, problems = load_reviews(tmp_path)
    assert [r.reviewer for r in reviews] == ["ann"] and len(problems) == 3
    assert any("1..5" in p for p in problems) and any("names reviewer 'bob'" in p for p in problems)


def test_panel_awaits_then_combines_by_weight():
    report = panel_report()
    one = build_panel(report, [Review(reviewer="ann", levels={"approach": 5, "communication": 3})])
    assert one.status == "awaiting_panel" and one.final_score is None
    two = build_panel(
        report,
        [
            Review(reviewer="ann", levels={"approach": 5, "communication": 3}),
            Review(reviewer="bob", levels={"approach": 2, "communication": 3}),
        ],
    )
    approach = two.criteria[0]
    assert two.status == "complete" and approach.median == 3.5 and approach.spread == 3 and approach.disagreement
    assert not two.criteria[1].disagreement
    # panel = 100 * (20 * 2.5/4 + 10 * 2/4) / 30 = 58.33; automated weight 100 (70+14+8+8)
    assert two.panel_score == pytest.approx(58.33)
    assert two.final_score == pytest.approx(round((100 * report.score + 30 * 58.33) / 130, 2), abs=0.01)


def test_zero_weight_panel_informs_without_changing_the_score():
    report = panel_report(panel_weight=0)
    panel = build_panel(report, [Review(reviewer=r, levels={"approach": 1, "communication": 1}) for r in ("a", "b")])
    assert panel.status == "complete" and panel.final_score == report.score


def test_reviews_of_other_bytes_do_not_count():
    report = panel_report()
    stale = Review(reviewer="ann", levels={"approach": 4, "communication": 4}, submission_sha256="0" * 64)
    panel = build_panel(report, [stale])
    assert panel.reviewers == [] and "other submission bytes" in panel.notes[0]


def test_needs_review_keeps_its_status_and_gets_no_final_score(tmp_path):
    report = panel_report()
    report.status, report.score = ReportStatus.NEEDS_REVIEW, None
    write_reports(report, tmp_path)
    for name in ("a", "b"):
        write_review(tmp_path, Review(reviewer=name, levels={"approach": 3, "communication": 3}))
    updated = refresh_panel(tmp_path)
    assert updated.status == "needs_review" and updated.panel.status == "complete" and updated.panel.final_score is None


def test_every_view_is_rerendered_with_the_panel_and_escapes_comments(tmp_path):
    write_reports(panel_report(), tmp_path)
    write_review(
        tmp_path,
        Review(
            reviewer="ann",
            levels={"approach": 5, "communication": 2},
            comments={"approach": HOSTILE},
            recommendation="yes",
        ),
    )
    first = refresh_panel(tmp_path)
    assert first.status == "awaiting_panel"
    write_review(tmp_path, Review(reviewer="bob", levels={"approach": 2, "communication": 2}))
    refresh_panel(tmp_path)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["status"] == "graded" and saved["panel"]["final_score"] is not None
    page = (tmp_path / "report.html").read_text()
    assert 'id="panel"' in page and "disagree by 2+ levels" in page and "<script>alert" not in page
    assert "final" in page and "the harness" in page
    md = (tmp_path / "report.md").read_text()
    assert "## Panel" in md and "disagree by 2+ levels" in md and "<script>" not in md


def test_csv_round_trip_and_errors_name_the_line():
    criteria = ["approach", "communication"]
    reviews = [
        (
            "alice",
            Review(
                reviewer="ann",
                levels={"approach": 4},
                comments={"communication": "=HYPERLINK(1)"},
                recommendation="strong-yes",
            ),
        ),
        ("bob", None),
    ]
    text = export_csv(reviews, criteria)
    assert "'=HYPERLINK" in text  # formula injection guarded on the way out
    back = import_csv(text, criteria)
    assert len(back) == 1 and back[0][0] == "alice"
    assert back[0][1].levels == {"approach": 4} and back[0][1].comments == {"communication": "=HYPERLINK(1)"}
    with pytest.raises(ConfigError, match="line 2: level '7'"):
        import_csv("submission,reviewer,approach\nalice,ann,7\n", criteria)
    with pytest.raises(ConfigError, match="unknown column"):
        import_csv("submission,reviewer,style\nalice,ann,3\n", criteria)
    with pytest.raises(ConfigError, match="line 2: invalid reviewer"):
        import_csv("submission,reviewer,approach\nalice,../etc,3\n", criteria)


def test_panel_table_in_the_spec():
    from harness.errors import SpecError
    from harness.spec import parse_spec

    base = {
        "id": "t",
        "title": "T",
        "rubric": {
            "criteria": [
                {
                    "id": "approach",
                    "title": "Approach",
                    "kind": "human",
                    "weight": 20,
                    "guide": {"1": "none", "5": "great"},
                }
            ]
        },
    }
    spec = parse_spec(base)
    assert spec.panel.reviewers == 2 and spec.panel.target_hours == 48 and spec.rubric.criteria[0].weight == 20
    assert parse_spec({**base, "panel": {"reviewers": 3, "target_hours": 24}}).panel.reviewers == 3
    with pytest.raises(SpecError, match=r"panel\.reviewers"):
        parse_spec({**base, "panel": {"reviewers": 0}})
    with pytest.raises(SpecError, match=r"panel\.reviwers: unknown key; did you mean 'reviewers'"):
        parse_spec({**base, "panel": {"reviwers": 2}})
    bad = {**base, "rubric": {"criteria": [{"id": "a", "title": "A", "kind": "human", "guide": {"6": "x"}}]}}
    with pytest.raises(SpecError, match="keyed by level"):
        parse_spec(bad)
    bad = {**base, "rubric": {"criteria": [{"id": "a", "title": "A", "kind": "human", "measurement": "p.f1"}]}}
    with pytest.raises(SpecError, match="scored by reviewers"):
        parse_spec(bad)
    with pytest.raises(SpecError, match="greater than or equal to 0"):
        parse_spec({**base, "rubric": {"criteria": [{"id": "a", "title": "A", "kind": "human", "weight": -1}]}})


def test_builtin_assignments_still_load():
    from harness.spec import load_assignment

    for name in ("applied_ml", "genai_rag"):
        spec = load_assignment(Path(__file__).parents[1] / "assignments" / name).spec
        assert spec.panel.reviewers == 2
