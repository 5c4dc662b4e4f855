"""From a finished :class:`~harness.pipeline.Job` to what the reviewer gets: the run's
artifacts kept (executed notebook, full logs; untrusted, no links followed) and the
:class:`~harness.models.GradeReport` with rubric, messages and provenance."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.data import assignment_data_digest
from harness.errors import InfrastructureError
from harness.models import (
    AssignmentRef,
    GradeReport,
    GraderResult,
    GraderStatus,
    Level,
    Message,
    ReportStatus,
    SubmissionRef,
    Visibility,
)
from harness.rubric import score_rubric
from harness.safeio import UntrustedDataError, read_bounded, rmtree
from sandbox.runner import open_regular

if TYPE_CHECKING:
    from harness.pipeline import Job

ARTIFACTS = {"executed.ipynb": 64 * 2**20, "stdout.txt": 8 * 2**20, "stderr.txt": 8 * 2**20}
"""The run's files kept for the reviewer, each with its size cap."""
RENDERED_NOTEBOOK = "notebook.html"
"""Written next to them when the report is rendered (:mod:`harness.reports.notebook`)."""


ARTIFACTS_STAMP = "submission.sha256"
"""Written into the artifacts folder: the sha256 of the submission the artifacts came from. A
report links the artifacts only when it records the same sha256 (:func:`artifacts_belong_to`)."""


def keep_artifacts(job: Job) -> None:
    """Copy the executed notebook and full logs (no links followed, capped) for the reviewer.

    The folder is emptied first: what an earlier grading (of this or another submission) left
    there is never kept beside this run's report. The executed notebook comes only from the
    runner's trusted folder, and only for a notebook run (a copy the candidate's code left in
    its logs is not the runner's); each log, from the runner's folder when it wrote one (a
    notebook's mirrored output), else the candidate's own capture."""
    target = job.options.artifacts_dir
    if target is None:
        return
    clear_artifacts(target)
    if job.logs_dir is None or job.unpacked is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    (target / ARTIFACTS_STAMP).write_text(job.unpacked.sha256 + "\n", encoding="ascii")
    notebook_run = job.entry is not None and job.entry.kind == "notebook"
    for name, cap in ARTIFACTS.items():
        if name == "executed.ipynb" and not notebook_run:
            continue  # a script run has no notebook of ours: whatever is there, the candidate wrote
        folders = [job.trusted_dir] if name == "executed.ipynb" else [job.trusted_dir, job.logs_dir]
        fd = None
        for folder in (f for f in folders if f is not None):
            fd = open_regular(folder / name)
            if fd is not None and os.fstat(fd).st_size == 0 and folder != folders[-1]:
                os.close(fd)
                fd = None
            if fd is not None:
                break
        if fd is None:
            continue
        with os.fdopen(fd, "rb") as src, open(target / name, "wb") as dst:
            shutil.copyfileobj(_capped(src, cap), dst)


def clear_artifacts(folder: Path) -> None:
    """Remove what a grading keeps in ``folder`` (the files it writes there, and nothing else:
    the folder may be a user's ``--out``), without following links."""
    for name in (ARTIFACTS_STAMP, *ARTIFACTS, RENDERED_NOTEBOOK):
        if not rmtree(folder / name):
            raise InfrastructureError(
                f"cannot remove {folder / name} left by an earlier grading",
                hint="Check its permissions, or grade into another --out folder.",
            )


def artifacts_belong_to(folder: Path, sha256: str) -> bool:
    """Whether ``folder`` holds the artifacts of the submission with ``sha256`` (its stamp says so)."""
    try:
        stamp = read_bounded(folder / ARTIFACTS_STAMP, 200).decode("ascii", "replace").strip()
    except UntrustedDataError:
        return False
    return bool(sha256) and stamp == sha256


class _capped:
    def __init__(self, fh, cap: int) -> None:
        self.fh, self.left = fh, cap

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data


def _metrics(results: list[GraderResult]) -> dict[str, float | None]:
    """The first grader's measurements under bare names, the others as ``grader.name``."""
    metrics: dict[str, float | None] = {}
    for i, result in enumerate(results):
        for name, value in result.measurements.items():
            metrics[name if i == 0 else f"{result.grader}.{name}"] = value
    return metrics


def build_report(job: Job) -> GradeReport:
    assignment = (
        AssignmentRef(id=job.assignment.id, title=job.assignment.spec.title, version=job.assignment.spec.version)
        if job.assignment
        else AssignmentRef(id=str(job.options.assignment or "unknown"))
    )
    source_kind = "directory" if job.source.is_dir() else ("zip" if job.source.suffix == ".zip" else "tar")
    submission = SubmissionRef(
        name=job.source.name,
        sha256=job.unpacked.sha256 if job.unpacked else _sha256_or_empty(job.source),
        kind=job.unpacked.kind if job.unpacked else source_kind,
        files=job.unpacked.files if job.unpacked else 0,
        bytes=job.unpacked.bytes if job.unpacked else 0,
        entry_point=job.entry.path if job.entry else None,
    )
    if job.rejected is not None:
        return GradeReport(
            status=ReportStatus.REJECTED,
            score=0.0,
            assignment=assignment,
            submission=submission,
            messages=job.messages,
            provenance=_provenance(job),
            timings=job.timings,
        )
    assert job.assignment is not None
    measurements = {f"{r.grader}.{k}": v for r in job.results for k, v in r.measurements.items()}
    failed = {r.grader for r in job.results if r.status == GraderStatus.ERROR}
    evidence = {
        r.grader: [m.text for m in r.messages if m.visibility == Visibility.CANDIDATE and m.level != Level.INFO][:3]
        for r in job.results
    }
    for r in job.results:  # a grader may give evidence per measurement (details["evidence"])
        for name, lines in (r.details.get("evidence") or {}).items():
            evidence[f"{r.grader}.{name}"] = [str(line) for line in lines]
    criteria, score = score_rubric(job.assignment.spec.rubric, measurements, failed_graders=failed, evidence=evidence)
    messages = list(job.messages) + [m for r in job.results for m in r.messages if m.visibility == Visibility.CANDIDATE]
    baselines = {}
    for r in job.results:
        baselines.update(r.details.get("baselines") or {})
    needs_review = bool(failed) or score is None
    gateway_failed = any(m.code == "gateway_failed" for m in job.messages)  # model gateway (issue 14)
    if needs_review:
        messages.append(
            Message(
                code="needs_review",
                text="A grader failed (not the candidate's fault): a reviewer must look at this report.",
                level=Level.WARNING,
                source="pipeline",
            )
        )
    return GradeReport(
        status=ReportStatus.NEEDS_REVIEW if needs_review or gateway_failed else ReportStatus.GRADED,
        score=score,
        assignment=assignment,
        submission=submission,
        sandbox=job.run,
        metrics=_metrics(job.results),
        baselines=baselines,
        criteria=criteria,
        messages=messages,
        graders=job.results,
        provenance=_provenance(job),
        timings=job.timings,
        gateway=job.gateway,  # model gateway (issue 14)
    )


def _sha256_or_empty(path: Path) -> str:
    from harness.safeio import sha256_file

    try:
        return sha256_file(path) if path.is_file() else ""
    except OSError:
        return ""


def _provenance(job: Job) -> dict:
    prov: dict = {
        **job.provenance,
        "harness_version": __version__,
        "python": platform.python_version(),
        "image": job.run.image if job.run else job.options.image,
        "image_id": job.run.image_id if job.run else None,
        "entry_kind": job.entry.kind if job.entry else None,
    }
    if job.assignment is not None:
        prov["assignment_spec_sha256"] = _sha256_or_empty(job.assignment.root / "assignment.toml")
        prov["seed"] = job.assignment.spec.data.seed
    if job.prepared is not None:
        prov["data_sha256"] = assignment_data_digest(job.prepared)
    return prov
