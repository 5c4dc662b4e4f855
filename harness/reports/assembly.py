"""From a finished grading (:class:`~harness.job.Grading`) to what the reviewer gets: the run's
artifacts kept (executed notebook, full logs; untrusted, no links followed) and the
:class:`~harness.models.GradeReport` with rubric, messages and provenance.

The report's messages start with the root cause of a failed run (the run grader names it), and
its ``sandbox`` record shows the candidate's streams as reports show them
(:func:`harness.streams.shown_run`: the kernel's own noise left out, cells numbered from 1); the
full logs kept with the artifacts are the raw captures."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from harness import __version__
from harness.data import assignment_data_digest
from harness.errors import InfrastructureError
from harness.job import Grading
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
from harness.streams import shown_run
from sandbox.runner import open_regular

ARTIFACTS = {"executed.ipynb": 64 * 2**20, "stdout.txt": 8 * 2**20, "stderr.txt": 8 * 2**20}
"""The run's files kept for the reviewer, each with its size cap."""
RENDERED_NOTEBOOK = "notebook.html"
"""Written next to them when the report is rendered (:mod:`harness.reports.notebook`)."""


ARTIFACTS_STAMP = "submission.sha256"
"""Written into the artifacts folder: the sha256 of the submission the artifacts came from. A
report links the artifacts only when it records the same sha256 (:func:`artifacts_belong_to`)."""


def keep_artifacts(record: Grading) -> None:
    """Copy the executed notebook and full logs of a grading's run for the reviewer (into
    ``--out``'s artifacts folder, when the grading has one): :func:`copy_artifacts`."""
    target = record.job.options.artifacts_dir
    if target is None:
        return
    outcome, entry = record.outcome, record.entry
    copy_artifacts(
        target,
        sha256=record.unpacked.sha256 if record.unpacked else None,
        notebook_run=entry is not None and entry.kind == "notebook",
        logs_dir=outcome.logs_dir if outcome else None,
        trusted_dir=outcome.trusted_dir if outcome else None,
    )


def copy_artifacts(
    target: Path, *, sha256: str | None, notebook_run: bool, logs_dir: Path | None, trusted_dir: Path | None
) -> None:
    """Copy the executed notebook and full logs (no links followed, capped) into ``target``.

    The folder is emptied first: what an earlier grading (of this or another submission) left
    there is never kept beside this run's report. The executed notebook comes only from the
    runner's trusted folder, and only for a notebook run (a copy the candidate's code left in
    its logs is not the runner's); each log, from the runner's folder when it wrote one (a
    notebook's mirrored output), else the candidate's own capture."""
    clear_artifacts(target)
    if logs_dir is None or sha256 is None:
        return
    target.mkdir(parents=True, exist_ok=True)
    (target / ARTIFACTS_STAMP).write_text(sha256 + "\n", encoding="ascii")
    for name, cap in ARTIFACTS.items():
        if name == "executed.ipynb" and not notebook_run:
            continue  # a script run has no notebook of ours: whatever is there, the candidate wrote
        folders = [trusted_dir] if name == "executed.ipynb" else [trusted_dir, logs_dir]
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


def build_report(record: Grading) -> GradeReport:
    job, assignment_used = record.job, record.assignment
    assignment = (
        AssignmentRef(id=assignment_used.id, title=assignment_used.spec.title, version=assignment_used.spec.version)
        if assignment_used
        else AssignmentRef(id="unknown")
    )
    unpacked = record.unpacked
    source_kind = "directory" if job.source.is_dir() else ("zip" if job.source.suffix == ".zip" else "tar")
    submission = SubmissionRef(
        name=job.source.name,
        sha256=unpacked.sha256 if unpacked else _sha256_or_empty(job.source),
        kind=unpacked.kind if unpacked else source_kind,
        files=unpacked.files if unpacked else 0,
        bytes=unpacked.bytes if unpacked else 0,
        entry_point=record.entry.path if record.entry else None,
    )
    if record.rejected is not None or assignment_used is None:
        return GradeReport(
            status=ReportStatus.REJECTED,
            score=0.0,
            assignment=assignment,
            submission=submission,
            messages=record.messages,
            provenance=_provenance(record),
            timings=record.timings,
        )
    results = record.results
    measurements = {f"{r.grader}.{k}": v for r in results for k, v in r.measurements.items()}
    failed = {r.grader for r in results if r.status == GraderStatus.ERROR}
    evidence = {
        r.grader: [m.text for m in r.messages if m.visibility == Visibility.CANDIDATE and m.level != Level.INFO][:3]
        for r in results
    }
    for r in results:  # a grader may give evidence per measurement (details["evidence"])
        for name, lines in (r.details.get("evidence") or {}).items():
            evidence[f"{r.grader}.{name}"] = [str(line) for line in lines]
    criteria, score = score_rubric(assignment_used.spec.rubric, measurements, failed_graders=failed, evidence=evidence)
    messages = _cause_first(
        list(record.messages) + [m for r in results for m in r.messages if m.visibility == Visibility.CANDIDATE],
        results,
    )
    baselines = {}
    for r in results:
        baselines.update(r.details.get("baselines") or {})
    needs_review = bool(failed) or score is None
    gateway_failed = any(m.code == "gateway_failed" for m in record.messages)  # model gateway (issue 14)
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
        sandbox=shown_run(record.run),
        metrics=_metrics(results),
        baselines=baselines,
        criteria=criteria,
        messages=messages,
        graders=results,
        provenance=_provenance(record),
        timings=record.timings,
        gateway=record.outcome.gateway if record.outcome else None,  # model gateway (issue 14)
    )


def _cause_first(messages: list[Message], results: list[GraderResult]) -> list[Message]:
    """The root cause a grader named (``details["cause"]``, the run grader's) first, then the rest
    in their order: a SyntaxError leads, not "wrote none of the expected output files"."""
    codes = [r.details["cause"].get("code") for r in results if isinstance(r.details.get("cause"), dict)]
    first = [m for code in codes[:1] for m in messages if m.code == code][:1]
    return first + [m for m in messages if not any(m is f for f in first)]


def _sha256_or_empty(path: Path) -> str:
    from harness.safeio import sha256_file

    try:
        return sha256_file(path) if path.is_file() else ""
    except OSError:
        return ""


def _provenance(record: Grading) -> dict:
    run, entry = record.run, record.entry
    prov: dict = {
        **record.provenance,
        "harness_version": __version__,
        "python": platform.python_version(),
        "image": run.image if run else record.job.options.image,
        "image_id": run.image_id if run else None,
        "entry_kind": entry.kind if entry else None,
    }
    if record.assignment is not None:
        prov["assignment_spec_sha256"] = _sha256_or_empty(record.assignment.root / "assignment.toml")
        prov["seed"] = record.assignment.spec.data.seed
    if record.staged is not None:
        prov["data_sha256"] = assignment_data_digest(record.staged.prepared)
    return prov
