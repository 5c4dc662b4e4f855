"""Does a report match a canary's declared outcome? (The core of ``grade check``.)"""

from __future__ import annotations

from harness.models import GradeReport
from harness.spec import CanarySpec


def canary_problems(report: GradeReport, canary: CanarySpec) -> list[str]:
    """Every way ``report`` misses ``canary``'s expectations; empty when it matches."""
    problems: list[str] = []
    if canary.status and report.status != canary.status:
        problems.append(f"status {report.status}, expected {canary.status}")
    score = report.score
    if canary.min_score is not None and (score is None or score < canary.min_score):
        problems.append(f"score {score}, expected >= {canary.min_score}")
    if canary.max_score is not None and (score is None or score > canary.max_score):
        problems.append(f"score {score}, expected <= {canary.max_score}")
    verdict = report.sandbox.verdict.value if report.sandbox else None
    if canary.verdict and verdict != canary.verdict:
        problems.append(f"verdict {verdict}, expected {canary.verdict}")
    codes = {m.code for m in report.messages} | {m.code for g in report.graders for m in g.messages}
    if canary.message and canary.message not in codes:
        problems.append(f"no message {canary.message!r} (got {', '.join(sorted(codes)) or 'none'})")
    for name, (low, high) in canary.metrics.items():
        value = report.metrics.get(name)
        if value is None or not low <= value <= high:
            problems.append(f"{name} = {value}, expected in [{low}, {high}]")
    return problems
