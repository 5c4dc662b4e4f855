"""All cases of the catalogue, in group order."""

from __future__ import annotations

import importlib

from .catalogue import GROUPS, Case

MODULES = (
    "cases_archive",
    "cases_notebook",
    "cases_output",
    "cases_runtime",
    "cases_report",
    "cases_harness",
    "cases_evidence",
    "cases_panel",
    "cases_bounds",
    "cases_trust",
    "cases_gateway",
)


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        cases.extend(module.CASES)
    return sorted(cases, key=lambda c: GROUPS.index(c.group))
