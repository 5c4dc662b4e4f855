"""Parsing the candidate's ``predictions.csv`` (step 1 of the ``predictions`` grader).

:func:`parse_predictions` turns the file's bytes into rows, strictly (the ``csv`` module,
UTF-8, one header line, no guessing of types) and says what was wrong with the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from graders.feedback import FIRST_FEW as _FIRST_FEW
from graders.feedback import decode_text
from graders.feedback import msg as _msg
from graders.feedback import quote as _quote
from harness.models import Level, Message


@dataclass(frozen=True)
class PredictionRow:
    """One data row of the candidate's file (cells stripped). ``probability`` is None without that column."""

    line: int
    id: str
    value: str
    probability: str | None = None


_SINGULAR_VERBS = {"are": "is", "do": "does", "have": "has", "appear": "appears"}


def _count(n: int, noun: str, verb: str, between: str = "") -> str:
    """``"1 id is"`` / ``"3 ids are"``: a count, its noun, ``between`` and a verb (plural form) that agree."""
    middle = f" {between}" if between else ""
    return f"{n} {noun}s{middle} {verb}" if n != 1 else f"1 {noun}{middle} {_SINGULAR_VERBS.get(verb, verb)}"


def _header_problem(header: list[str], required: list[str], file: str, source: str) -> Message | None:
    absent = [c for c in required if c not in header]
    if not absent:
        return None
    expected = ",".join(required)
    if len(absent) == len(required):
        return _msg(
            "missing_header",
            f"The first line of {file} should be a header naming the columns {expected}; found {_quote([','.join(header)])}.",
            source,
        )
    return _msg(
        "missing_columns",
        f"{file} has no column {', '.join(repr(c) for c in absent)} (found columns {_quote(header)}); expected the columns {expected}.",
        source,
    )


def parse_predictions(
    data: bytes,
    *,
    file: str = "predictions.csv",
    id_column: str = "id",
    target_column: str = "label",
    probability_column: str | None = None,
    source: str = "predictions",
    max_lines: int | None = None,
) -> tuple[list[PredictionRow], list[Message]]:
    """Parse the candidate's CSV bytes into rows (first row per id) and feedback messages.

    Codes: ``bom``, ``not_text``, ``empty_file``, ``missing_header``, ``missing_columns``,
    ``extra_columns`` (warning), ``ragged_rows``, ``malformed_csv``, ``duplicate_ids``,
    ``too_many_rows`` (only the first ``max_lines`` lines are read: millions of tiny rows
    would otherwise cost the host minutes and gigabytes).
    Blank lines are skipped; cells are stripped of surrounding whitespace.
    """
    text, messages = decode_text(data, file, source, "a UTF-8 CSV text file")
    if text is None:
        return [], messages
    if not text.strip():
        messages.append(
            _msg(
                "empty_file",
                f"{file} is empty; expected a header line ({id_column},{target_column}) and one row per test id.",
                source,
            )
        )
        return [], messages
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    columns: dict[str, int] = {}
    prob_at: int | None = None
    rows: list[PredictionRow] = []
    ragged: list[int] = []
    try:
        for raw in reader:
            if max_lines is not None and reader.line_num > max_lines:
                messages.append(
                    _msg(
                        "too_many_rows",
                        f"{file} has more than {max_lines:,} lines; only the first {max_lines:,} were read.",
                        source,
                    )
                )
                break
            cells = [c.strip() for c in raw]
            if not any(cells):
                continue
            if header is None:
                header = cells
                problem = _header_problem(header, [id_column, target_column], file, source)
                if problem is not None:
                    return [], [*messages, problem]
                columns = {
                    name: header.index(name)
                    for name in (id_column, target_column, probability_column)
                    if name in header
                }
                prob_at = columns.get(probability_column) if probability_column else None
                extra = [c for c in header if c not in columns]
                if extra:
                    messages.append(
                        _msg(
                            "extra_columns",
                            f"{file} has columns the grader does not use: {_quote(extra)}; they were ignored.",
                            source,
                            Level.WARNING,
                        )
                    )
                continue
            if len(cells) != len(header):
                ragged.append(reader.line_num)
                continue
            rows.append(
                PredictionRow(
                    reader.line_num,
                    cells[columns[id_column]],
                    cells[columns[target_column]],
                    None if prob_at is None else cells[prob_at],
                )
            )
    except csv.Error as exc:
        messages.append(
            _msg(
                "malformed_csv",
                f"Line {reader.line_num} of {file} is not valid CSV ({exc}); it and the lines after it were ignored.",
                source,
            )
        )
    if header is None:  # only reachable if the first line itself is malformed
        return [], messages
    if ragged:
        lines = ", ".join(map(str, ragged[:_FIRST_FEW])) + (", ..." if len(ragged) > _FIRST_FEW else "")
        ignored = "was" if len(ragged) == 1 else "were"
        text = f"{_count(len(ragged), 'row', 'do')} not have {len(header)} fields like the header of {file} and {ignored} ignored (line {lines})."
        messages.append(_msg("ragged_rows", text, source))
    return _first_per_id(rows, file, source, messages)


def _first_per_id(
    rows: list[PredictionRow], file: str, source: str, messages: list[Message]
) -> tuple[list[PredictionRow], list[Message]]:
    kept: dict[str, PredictionRow] = {}
    duplicates: list[str] = []
    for row in rows:
        if row.id in kept:
            duplicates.append(row.id)
        else:
            kept[row.id] = row
    if duplicates:
        unique = list(dict.fromkeys(duplicates))
        messages.append(
            _msg(
                "duplicate_ids",
                f"{_count(len(unique), 'id', 'appear')} more than once in {file}; only the first row of each was used ({_quote(unique)}).",
                source,
                Level.WARNING,
            )
        )
    return list(kept.values()), messages
