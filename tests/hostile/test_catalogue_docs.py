"""The catalogue's shape, and docs/security.md in step with it (fast: no Docker)."""

from __future__ import annotations

import re

from .cases import all_cases
from .catalogue import GROUPS
from .render_docs import DOC, catalogue_section, current_section

MIN_CASES = 40


def test_catalogue_has_enough_cases_in_every_group() -> None:
    cases = all_cases()
    assert len(cases) >= MIN_CASES, len(cases)
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    assert all(re.fullmatch(r"[a-z0-9_]+", i) for i in ids), "case ids are plain snake_case (stable test ids)"
    counts = {g: sum(1 for c in cases if c.group == g) for g in GROUPS}
    assert all(counts.values()), counts


def test_every_case_says_what_it_attacks_and_expects() -> None:
    for case in all_cases():
        assert case.attack.strip(), case.id
        assert case.expect.describe(), case.id


def test_security_doc_lists_every_case_with_its_test() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert current_section(text) == catalogue_section(all_cases()), (
        "docs/security.md is out of date with tests/hostile: run `python -m tests.hostile.render_docs`"
    )
    for case in all_cases():
        assert f"`test_case[{case.id}]`" in text, case.id
