"""The smallest assignment there is, for tests of what happens around grading (batches,
workers, the server): one ``run`` grader and one rubric criterion, no data."""

from __future__ import annotations

RUN_ONLY = """
id = "{id}"
title = "{title}"
version = "{version}"
{limits}
[[graders]]
use = "run"
[[rubric.criteria]]
id = "clean"
title = "Runs cleanly"
weight = 1
measurement = "run.clean"
thresholds = [0.25, 0.5, 0.75, 1.0]
"""
CONTAINER_LIMITS = """
[sandbox]
timeout_s = 60
[dependencies]
enabled = false
"""


def run_only(aid: str, *, title: str | None = None, version: str = "1", in_docker: bool = False) -> str:
    """``assignment.toml`` of a run-only assignment; ``in_docker``: with a short time limit and
    no dependency installs, for tests that grade in real containers."""
    return RUN_ONLY.format(
        id=aid, title=title or f"Toy {aid}", version=version, limits=CONTAINER_LIMITS if in_docker else ""
    )
