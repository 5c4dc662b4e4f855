"""Render the catalogue section of ``docs/security.md`` from the cases themselves.

    python -m tests.hostile.render_docs          # rewrite the section in place
    python -m tests.hostile.render_docs --check  # exit 1 if it is out of date

``tests/hostile/test_catalogue_docs.py`` fails when the section and the cases disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cases import all_cases
from .catalogue import GROUPS, TEST_ID, Case

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"

GROUP_TITLES = {
    "archive": "Archive intake",
    "notebook": "Notebook intake",
    "output": "Output intake",
    "runtime": "Runtime",
    "report": "Reports as an attack surface",
    "harness": "Harness robustness",
}


def _cell(text: str) -> str:
    shown = text.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 for c in text) else text
    return shown.replace("|", "\\|").replace("\n", " ")


def _variant(case: Case) -> str:
    if case.drive is not None:
        return "`grade` CLI"
    if case.assignment is None:
        return "its manifest's"
    return {
        "lean": "applied_ml (lean)",
        "real": "applied_ml + hidden tests",
        "short_cells": "cell limit 4 s",
        "small_intake": "small `[intake]` limits",
    }.get(case.assignment, case.assignment)


def catalogue_section(cases: list[Case]) -> str:
    counts = {g: sum(1 for c in cases if c.group == g) for g in GROUPS}
    lines = [START, "", f"{len(cases)} cases: " + ", ".join(f"{g} {counts[g]}" for g in GROUPS) + ".", ""]
    for group in GROUPS:
        mine = [c for c in cases if c.group == group]
        lines += [
            f"### {GROUP_TITLES[group]} ({len(mine)})",
            "",
            "| Case | Attack | Expected outcome | Graded with | Test |",
            "|---|---|---|---|---|",
        ]
        for case in mine:
            test = TEST_ID.format(id=case.id).rsplit("::", 1)[1]
            lines.append(
                f"| `{case.id}` | {_cell(case.attack)} | {_cell(case.expect.describe())} | "
                f"{_variant(case)} | `{test}` |"
            )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def current_section(text: str) -> str:
    start, end = text.index(START), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    wanted = catalogue_section(all_cases())
    if "--check" in argv:
        return 0 if current_section(text) == wanted else 1
    DOC.write_text(text.replace(current_section(text), wanted), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
