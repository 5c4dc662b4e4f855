"""One interview question (text, priority, topic): what every question bank proposes
(:mod:`harness.reports.interview`, :mod:`harness.reports.interview_rag`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    text: str
    priority: int
    topic: str
