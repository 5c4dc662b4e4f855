"""Small pieces shared by the sections of ``report.html`` and the views beside it (the notebook
page, ``report.md``, the terminal)."""

from __future__ import annotations

import math
from typing import Any

from harness.models import GradeReport

CANDIDATE_LABEL = "Candidate output — not from holdout"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def fmt(value: Any, digits: int = 3) -> str:
    """A number for the page: ``–`` for missing or non-finite values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def root_cause(report: GradeReport) -> str | None:
    """The root cause of a failed run as a grader named it (``details["cause"]``), or None."""
    for result in report.graders:
        cause = result.details.get("cause")
        if isinstance(cause, dict) and isinstance(cause.get("text"), str) and cause["text"].strip():
            return cause["text"]
    return None
