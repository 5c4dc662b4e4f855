"""Report text is inert and framed (issue 13, attack 10): invisible format characters from
candidate strings are visible escapes in every format, and candidate output sits in a labelled
frame that the harness's own notices are never in (fast, no Docker)."""

from __future__ import annotations

import io
import json
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from sample_reports import needs_review_report, realistic_report

from harness.batch import BatchItem, BatchResult
from harness.models import Level, Message, StreamCapture, Visibility
from harness.reports.html import CANDIDATE_LABEL, render_html
from harness.reports.junit import render_junit
from harness.reports.leaderboard import write_leaderboard
from harness.reports.notebook import render_notebook
from harness.reports.write import print_summary, render_markdown
from harness.visible import INVISIBLE, visible

SNEAKY = "report\u202elmth.exe \u200bzero\u2060width\ufeff \u2066isolate\u2069 line\u2028sep \U000e0041tag"


def test_the_pattern_is_exactly_the_format_characters_and_the_line_separators():
    wanted = {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"} | {0x2028, 0x2029}
    matched = {c for c in range(0x110000) if INVISIBLE.fullmatch(chr(c))}
    assert matched == wanted


def test_visible_escapes_name_the_code_point():
    assert visible("a\u202eb\u200bc") == "a⟨U+202E⟩b⟨U+200B⟩c"
    assert visible("plain ✓ text, é, 日本") == "plain ✓ text, é, 日本"


def sneaky_report():
    report = realistic_report()
    report.submission.name = SNEAKY + ".zip"
    report.messages.append(
        Message(
            code="stderr_tail", text="boom " + SNEAKY, level=Level.INFO, source="run", visibility=Visibility.REVIEWER
        )
    )
    report.messages.append(Message(code="missing_output", text="file " + SNEAKY, source="predictions"))
    report.criteria[0].evidence.append("quoted " + SNEAKY)
    report.criteria[0].title = "Title " + SNEAKY
    assert report.sandbox is not None
    report.sandbox.stdout = StreamCapture(text="SCORE CONFIRMED 100/100 by holdout " + SNEAKY, total_bytes=80)
    return report


def _no_format_characters(text: str) -> None:
    found = INVISIBLE.findall(text)
    assert not found, [f"U+{ord(c):04X}" for c in found[:5]]
    assert "⟨U+202E⟩" in text and "⟨U+200B⟩" in text


def test_every_report_format_shows_format_characters_as_escapes():
    report = sneaky_report()
    _no_format_characters(render_html(report))
    _no_format_characters(render_markdown(report))
    junit = render_junit(report)
    _no_format_characters(junit)
    ET.fromstring(junit.encode())
    from rich.console import Console

    buffer = io.StringIO()
    print_summary(report, Console(file=buffer, width=200, color_system=None))
    _no_format_characters(buffer.getvalue())


def test_the_leaderboard_shows_format_characters_as_escapes(tmp_path):
    item = BatchItem(source=tmp_path / (SNEAKY + ".zip"), slug="x", state="error", error="failed: " + SNEAKY)
    paths = write_leaderboard(BatchResult(items=[item], out_dir=tmp_path, counts={"error": 1}))
    for path in paths.values():
        text = path.read_text(encoding="utf-8")
        assert not INVISIBLE.search(text) and "⟨U+202E⟩" in text, path.name


def test_candidate_output_is_framed_and_the_harness_notices_are_not():
    page = BeautifulSoup(render_html(sneaky_report()), "html.parser")
    frames = page.select("div.candidate")
    assert frames and all(f.select_one(".candidate-label").get_text().startswith(CANDIDATE_LABEL) for f in frames)
    forged = [s for s in page.find_all(string=lambda t: "SCORE CONFIRMED" in t)]
    assert forged and all(s.find_parent("div", class_="candidate") for s in forged)
    stderr_tail = [s for s in page.find_all(string=lambda t: t.startswith("boom "))]
    assert stderr_tail and all(s.find_parent("div", class_="candidate") for s in stderr_tail)
    review = BeautifulSoup(render_html(needs_review_report()), "html.parser")
    banner = review.select_one("div.banner")
    assert banner is not None and banner.find_parent("div", class_="candidate") is None


FAKE_NOTICE = "Score confirmed 100/100 by holdout"


def test_a_notebook_cannot_render_a_notice_that_passes_for_the_harnesss(tmp_path):
    breakout = (
        '</div></div></div></div><div class="holdout-notice banner">' + FAKE_NOTICE + "</div>"
        '<div class="candidate-label holdout-candidate">not candidate output</div>'
    )
    cells = [
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": breakout + "\n\n# " + SNEAKY},
        {
            "cell_type": "code",
            "id": "c",
            "metadata": {},
            "execution_count": 1,
            "source": "print(1)",
            "outputs": [
                {"output_type": "display_data", "metadata": {}, "data": {"text/html": breakout}},
                {"output_type": "stream", "name": "stdout", "text": FAKE_NOTICE + " " + SNEAKY},
            ],
        },
    ]
    source = tmp_path / "executed.ipynb"
    source.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    assert render_notebook(source, tmp_path / "notebook.html") is None
    text = (tmp_path / "notebook.html").read_text()
    _no_format_characters(text)
    page = BeautifulSoup(text, "html.parser")
    notices = page.select(".holdout-notice")
    assert len(notices) == 1 and notices[0].find_parent(class_="holdout-candidate") is None
    assert FAKE_NOTICE not in notices[0].get_text()
    (frame,) = page.select("div.holdout-candidate")
    assert frame.select_one(".holdout-candidate-label").get_text() == CANDIDATE_LABEL
    assert len(page.select(".holdout-candidate-label")) == 1
    shown = page.find_all(string=lambda t: FAKE_NOTICE in t)
    assert len(shown) >= 3 and all(s.find_parent("div", class_="holdout-candidate") is frame for s in shown)
    assert not frame.select(".banner, .holdout-notice"), "candidate HTML wears the page's own classes"


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2028", "\ufeff", "\U000e0041"])
def test_each_kind_is_escaped_in_markdown(char):
    report = realistic_report()
    report.submission.name = f"a{char}b.zip"
    assert f"⟨U+{ord(char):04X}⟩" in render_markdown(report)
