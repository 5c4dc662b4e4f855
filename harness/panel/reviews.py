"""Reviews as data: one file per reviewer beside a report, ``<report dir>/reviews/<reviewer>.json``.

A review gives a level 1–5 per panel criterion (the rubric's ``kind = "human"`` rows), an
optional comment per criterion and a recommendation. Files are schema-versioned and written
atomically; recording a review replaces that reviewer's own file and nothing else. Reviewer
names become file names, so they are restricted to a safe alphabet.

Spreadsheet round trip: :func:`export_csv` writes one row per (submission, reviewer) with a
level column and a ``<criterion>_comment`` column per criterion; :func:`import_csv` reads the
same shape back (empty cell = no level).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import ConfigError

REVIEW_SCHEMA_VERSION = "1"
REVIEWS_DIR = "reviews"
RECOMMENDATIONS = ("strong-no", "no", "yes", "strong-yes")
MAX_REVIEW_BYTES = 256 * 1024
MAX_COMMENT_CHARS = 4000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

Recommendation = Literal["strong-no", "no", "yes", "strong-yes"]


def check_reviewer(name: str) -> str:
    """``name`` if it is a safe file name (letters, digits, ``. _ -``; 64 characters at most)."""
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".json") or set(name) <= {"."}:
        raise ConfigError(
            f"invalid reviewer name {name!r}",
            hint="Use letters, digits, '.', '_' or '-' (at most 64 characters, starting with a letter or digit).",
        )
    return name


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Review(BaseModel):
    """One reviewer's scorecard for one submission."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = REVIEW_SCHEMA_VERSION
    reviewer: str
    levels: dict[str, int] = Field(default_factory=dict)
    """Panel criterion id -> level 1..5. A criterion the reviewer did not score is absent."""
    comments: dict[str, str] = Field(default_factory=dict)
    recommendation: Recommendation | None = None
    submission_sha256: str = ""
    """The report this review was given for: a regraded submission keeps reviews of the same bytes."""
    recorded_at: str = Field(default_factory=now_iso)

    @field_validator("reviewer")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_reviewer(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for key, level in value.items():
            if isinstance(level, bool) or not 1 <= int(level) <= 5:
                raise ValueError(f"level for {key!r} must be 1..5, got {level!r}")
        return value

    @field_validator("comments")
    @classmethod
    def _comments(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: v[:MAX_COMMENT_CHARS] for k, v in value.items() if v}

    @property
    def recorded_ts(self) -> float | None:
        try:
            return datetime.fromisoformat(self.recorded_at).timestamp()
        except ValueError:
            return None


def check_review(review: Review, criteria: dict[str, str]) -> None:
    """Every level and comment names a panel criterion (``criteria``: id -> title)."""
    unknown = sorted((set(review.levels) | set(review.comments)) - set(criteria))
    if unknown:
        raise ConfigError(
            f"unknown panel criterion {', '.join(map(repr, unknown))}",
            hint=f"The panel criteria of this assignment are: {', '.join(criteria) or '(none)'}.",
        )


def review_path(report_dir: Path, reviewer: str) -> Path:
    return Path(report_dir) / REVIEWS_DIR / f"{check_reviewer(reviewer)}.json"


def write_review(report_dir: Path, review: Review) -> Path:
    """Write (or replace) ``review.reviewer``'s file atomically; other reviewers' files are untouched."""
    from harness.reports.write import write_atomic

    path = review_path(report_dir, review.reviewer)
    write_atomic(path, json.dumps(review.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
    return path


def read_review(path: Path) -> Review:
    """One review file, read with a size cap; :class:`ConfigError` when it is not a valid review."""
    from harness.safeio import UntrustedDataError, read_bounded

    try:
        data = read_bounded(path, MAX_REVIEW_BYTES)  # no links followed, regular files only
    except UntrustedDataError as exc:
        raise ConfigError(f"cannot read review: {exc.message}") from None
    try:
        review = Review.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            f"review {path} is invalid: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            hint="Record it again with `grade review`.",
        ) from None
    if review.schema_version != REVIEW_SCHEMA_VERSION:
        raise ConfigError(
            f"review {path} has schema version {review.schema_version!r}; expected {REVIEW_SCHEMA_VERSION!r}"
        )
    if path.stem != review.reviewer:
        raise ConfigError(f"review {path} names reviewer {review.reviewer!r}, not {path.stem!r}")
    return review


def load_reviews(report_dir: Path) -> tuple[list[Review], list[str]]:
    """Every review beside a report (sorted by reviewer) and a note per unreadable file."""
    folder = Path(report_dir) / REVIEWS_DIR
    reviews, problems = [], []
    if not folder.is_dir():
        return [], []
    for path in sorted(folder.glob("*.json")):
        try:
            reviews.append(read_review(path))
        except ConfigError as exc:
            problems.append(exc.message)
    return reviews, problems


# --- spreadsheets ------------------------------------------------------------------------------

BASE_COLUMNS = ("submission", "reviewer", "recommendation")


def csv_columns(criteria: list[str]) -> list[str]:
    return [*BASE_COLUMNS, *criteria, *(f"{c}_comment" for c in criteria)]


def _csv_safe(value) -> str:
    from harness.reports.leaderboard import _csv_safe as safe

    return safe(value)


def export_csv(rows: list[tuple[str, Review | None]], criteria: list[str]) -> str:
    """``rows``: (submission id, review or ``None`` for a blank row to fill in)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(csv_columns(criteria))
    for submission, review in rows:
        if review is None:
            writer.writerow([_csv_safe(submission)] + [""] * (len(csv_columns(criteria)) - 1))
            continue
        writer.writerow(
            [
                _csv_safe(v)
                for v in (
                    submission,
                    review.reviewer,
                    review.recommendation or "",
                    *(review.levels.get(c, "") for c in criteria),
                    *(review.comments.get(c, "") for c in criteria),
                )
            ]
        )
    return buf.getvalue()


def _unquote(text: str) -> str:
    """Undo the formula-injection guard of the export (a leading ``'`` before ``= + - @``)."""
    text = text.strip()
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text


def import_csv(text: str, criteria: list[str]) -> list[tuple[str, Review]]:
    """Parse a sheet in the :func:`export_csv` shape into (submission id, review) pairs.

    Rows without a reviewer are blank template rows and skipped. Errors name the line.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ("submission", "reviewer") if c not in header]
    if missing:
        raise ConfigError(
            f"the sheet has no {' or '.join(missing)} column",
            hint=f"Start from `grade review export`; columns: {', '.join(csv_columns(criteria))}.",
        )
    unknown = [c for c in header if c not in csv_columns(criteria) and c]
    if unknown:
        raise ConfigError(
            f"unknown column(s) {', '.join(map(repr, unknown))}", hint=f"The panel criteria are: {', '.join(criteria)}."
        )
    out = []
    for line, row in enumerate(reader, start=2):
        reviewer = _unquote(row.get("reviewer") or "")
        submission = _unquote(row.get("submission") or "")
        if not reviewer:
            continue
        levels, comments = {}, {}
        for c in criteria:
            cell = _unquote(row.get(c) or "")
            if cell:
                try:
                    levels[c] = int(float(cell))
                except ValueError:
                    raise ConfigError(f"line {line}: level {cell!r} for {c!r} is not a number 1..5") from None
                if levels[c] != float(cell) or not 1 <= levels[c] <= 5:
                    raise ConfigError(f"line {line}: level {cell!r} for {c!r} must be a whole number 1..5")
            comment = _unquote(row.get(f"{c}_comment") or "")
            if comment:
                comments[c] = comment
        recommendation = _unquote(row.get("recommendation") or "") or None
        if recommendation is not None and recommendation not in RECOMMENDATIONS:
            raise ConfigError(
                f"line {line}: recommendation {recommendation!r} is not one of {', '.join(RECOMMENDATIONS)}"
            )
        try:
            review = Review(
                reviewer=check_reviewer(reviewer), levels=levels, comments=comments, recommendation=recommendation
            )
        except ConfigError as exc:
            raise ConfigError(f"line {line}: {exc.message}", hint=exc.hint) from None
        out.append((submission, review))
    return out
