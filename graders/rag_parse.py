"""Reading a RAG candidate's ``answers.jsonl``: parsing and alignment, with stated limits.

1. :func:`read_answer_file` streams the file (:class:`graders.outputs.OutputLines`): at most
   ``max_bytes`` are read, and an over-limit file still scores its complete lines; a line over
   ``max_line_bytes`` is skipped; each context's text is cut to ``max_context_chars``. Every
   limit that bites is a message naming it in the candidate's terms (``output_truncated``,
   ``long_lines``, ``long_contexts``).
2. :func:`parse_answer_lines` / :func:`parse_answers` read the lines strictly (UTF-8, one JSON
   object per line, types checked) and say what was wrong, with stable message codes.
3. :func:`align_answers` lines the answers up with the questions: missing ids score 0, unknown
   ids are ignored, only the first ``max_contexts`` contexts count.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.feedback import FIRST_FEW as _FIRST_FEW
from graders.feedback import msg as _msg
from graders.feedback import quote as _quote
from graders.outputs import OutputLines
from graders.rag_data import EvalItem, normalise_doc_id
from harness.models import Level, Message

STORED_CONTEXTS = 100
"""Contexts kept per answer (more are counted for the message, not stored): only the first
``max_contexts`` are scored anyway."""


def _lines(numbers: Sequence[int]) -> str:
    return ", ".join(map(str, numbers[:_FIRST_FEW])) + (", ..." if len(numbers) > _FIRST_FEW else "")


@dataclass(frozen=True)
class Context:
    doc_id: str
    text: str


@dataclass(frozen=True)
class AnswerRow:
    """One usable line of ``answers.jsonl`` (``answer`` is '' when it was not a string)."""

    line: int
    id: str
    answer: str
    contexts: tuple[Context, ...]
    n_contexts: int = -1
    """How many contexts the line listed (-1: ``len(contexts)``; more than are stored)."""

    @property
    def listed(self) -> int:
        return max(self.n_contexts, len(self.contexts))


@dataclass
class _Problems:
    """Line numbers per defect, turned into one message per kind at the end."""

    malformed: list[int] = field(default_factory=list)
    fields: list[tuple[int, str]] = field(default_factory=list)
    cut: list[int] = field(default_factory=list)
    """Line numbers of contexts cut to the per-context limit (one entry per context)."""
    max_context_chars: int | None = None


def _parse_contexts(value: Any, number: int, problems: _Problems) -> tuple[tuple[Context, ...], int]:
    if value is None:
        return (), 0
    if not isinstance(value, list):
        problems.fields.append((number, "'contexts' is not a list"))
        return (), 0
    contexts = []
    limit = problems.max_context_chars
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("doc_id"), str) and entry["doc_id"].strip():
            text = entry.get("text")
            if not isinstance(text, str):
                problems.fields.append((number, "a context has no string 'text'"))
                text = ""
            if limit is not None and len(text) > limit:
                problems.cut.append(number)
                text = text[:limit]
            if len(contexts) < STORED_CONTEXTS:
                contexts.append(Context(normalise_doc_id(entry["doc_id"][:1000]), text))
        else:
            problems.fields.append((number, "a context is not an object with a string 'doc_id'"))
    return tuple(contexts), len(value)


def _parse_line(line: str | bytes, number: int, problems: _Problems) -> AnswerRow | None:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        problems.malformed.append(number)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"].strip():
        problems.malformed.append(number)
        return None
    answer = record.get("answer")
    if not isinstance(answer, str):
        problems.fields.append((number, "'answer' is not a string"))
        answer = ""
    if "contexts" not in record:
        problems.fields.append((number, "no 'contexts'"))
    contexts, listed = _parse_contexts(record.get("contexts"), number, problems)
    return AnswerRow(number, record["id"].strip(), answer, contexts, listed)


def parse_answers(
    data: bytes,
    *,
    file: str = "answers.jsonl",
    source: str = "rag",
    max_lines: int = 100_000,
    max_context_chars: int | None = None,
) -> tuple[list[AnswerRow], list[Message]]:
    """:func:`parse_answer_lines` over bytes already read."""
    lines = enumerate(data.split(b"\n"), start=1)
    return parse_answer_lines(lines, file=file, source=source, max_lines=max_lines, max_context_chars=max_context_chars)


def _not_text(line: bytes, number: int, file: str, source: str) -> Message | None:
    expected = "expected UTF-8 JSON Lines text"
    if (nul := line.find(b"\x00")) >= 0:
        return _msg("not_text", f"{file} contains NUL bytes (line {number}, byte {nul + 1}); {expected}.", source)
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _msg(
            "not_text", f"{file} is not valid UTF-8 text (line {number}, byte {exc.start + 1}); {expected}.", source
        )
    return None


def parse_answer_lines(
    lines: Iterable[tuple[int, bytes]],
    *,
    file: str = "answers.jsonl",
    source: str = "rag",
    max_lines: int = 100_000,
    max_context_chars: int | None = None,
) -> tuple[list[AnswerRow], list[Message]]:
    """Parse the candidate's JSON Lines (``(number, bytes)`` each) into rows (first row per id)
    and feedback messages. A file that is not UTF-8 text scores nothing, as before streaming.

    Codes: ``bom``, ``not_text``, ``empty_file``, ``malformed_jsonl``, ``invalid_fields``,
    ``duplicate_ids``, ``too_many_rows`` (parsing stops after ``max_lines`` non-blank lines, so
    millions of tiny lines cannot stall the host), ``long_contexts`` (context texts cut to
    ``max_context_chars``). Blank lines are skipped.
    """
    messages: list[Message] = []
    problems = _Problems(max_context_chars=max_context_chars)
    rows: dict[str, AnswerRow] = {}
    duplicates: list[str] = []
    seen_lines = 0
    for number, line in lines:
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
            text = f"{file} starts with a UTF-8 byte-order mark; it was ignored, but write plain UTF-8 without one."
            messages.append(_msg("bom", text, source, Level.WARNING))
        if (bad := _not_text(line, number, file, source)) is not None:
            return [], [*messages, bad]
        if not line.strip():
            continue
        seen_lines += 1
        if seen_lines > max_lines:
            messages.append(
                _msg("too_many_rows", f"{file} has more than {max_lines:,} lines; the rest was not read.", source)
            )
            break
        row = _parse_line(line, number, problems)
        if row is None:
            continue
        if row.id in rows:
            duplicates.append(row.id)
        else:
            rows[row.id] = row
    if not seen_lines:
        messages.append(_msg("empty_file", f"{file} is empty; expected one JSON object per question.", source))
        return [], messages
    return list(rows.values()), messages + _problem_messages(problems, duplicates, file, source)


def _problem_messages(problems: _Problems, duplicates: list[str], file: str, source: str) -> list[Message]:
    messages = []
    if problems.malformed:
        n = len(problems.malformed)
        text = (
            f'{n} line{"s" if n != 1 else ""} of {file} {"are" if n != 1 else "is"} not a JSON object with a string "id" '
            f"and {'were' if n != 1 else 'was'} ignored (line {_lines(problems.malformed)}); write one JSON object per line."
        )
        messages.append(_msg("malformed_jsonl", text, source))
    if problems.fields:
        kinds = list(dict.fromkeys(kind for _, kind in problems.fields))
        numbers = list(dict.fromkeys(n for n, _ in problems.fields))
        text = (
            f"{len(numbers)} line(s) of {file} have fields of the wrong type ({'; '.join(kinds[:3])}; line {_lines(numbers)}); "
            'expected {"id": str, "answer": str, "contexts": [{"doc_id": str, "text": str}, ...]}.'
        )
        messages.append(_msg("invalid_fields", text, source))
    if problems.cut:
        numbers = list(dict.fromkeys(problems.cut))
        text = (
            f"{len(problems.cut):,} context(s) in {file} are longer than {problems.max_context_chars:,} characters, "
            f"the limit per context, and were cut to their first {problems.max_context_chars:,} (line {_lines(numbers)}). "
            "Retrieval is scored by doc_id, so the cut costs nothing there; return passages, not whole documents."
        )
        messages.append(_msg("long_contexts", text, source, Level.WARNING))
    if duplicates:
        unique = list(dict.fromkeys(duplicates))
        text = f"{len(unique)} id(s) appear more than once in {file}; only the first line of each was used ({_quote(unique)})."
        messages.append(_msg("duplicate_ids", text, source, Level.WARNING))
    return messages


def _mib(n: int) -> str:
    return f"{n / 2**20:,.4g} MiB"


def read_answer_file(
    output_dir: Path,
    file: str,
    *,
    max_bytes: int,
    max_line_bytes: int,
    max_lines: int,
    max_context_chars: int,
    source: str = "rag",
) -> tuple[list[AnswerRow], list[Message]]:
    """Stream ``output_dir/file``: the rows of its complete lines up to ``max_bytes``, and a
    message for each limit that applied (``output_truncated``, ``long_lines``, ``long_contexts``).
    Raises :class:`graders.outputs.OutputError` when the file cannot be opened at all."""
    with OutputLines(output_dir, file, max_bytes=max_bytes, max_line_bytes=max_line_bytes) as reader:
        rows, messages = parse_answer_lines(
            reader, file=file, source=source, max_lines=max_lines, max_context_chars=max_context_chars
        )
    if reader.long_lines:
        n = len(reader.long_lines)
        text = (
            f"{n} line(s) of {file} are longer than {_mib(max_line_bytes)}, the limit per line, and were skipped "
            f"(line {_lines(reader.long_lines)}); their questions count as unanswered. Cut the contexts' text."
        )
        messages.append(_msg("long_lines", text, source))
    if reader.truncated:
        last = max((r.line for r in rows), default=0)
        text = (
            f"{file} is {_mib(reader.size)}, over the {_mib(max_bytes)} limit for {file}: its first "
            f"{_mib(max_bytes)} were read and the {len(rows):,} answers on complete lines in them (up to line {last:,}) "
            "were scored; questions answered after that count as unanswered. Return passages, not whole documents, "
            "as contexts."
        )
        messages.insert(0, _msg("output_truncated", text, source))
    return rows, messages


@dataclass
class Aligned:
    """One entry per expected question: the candidate's row or None."""

    rows: list[AnswerRow | None]
    messages: list[Message]


def align_answers(
    rows: Sequence[AnswerRow],
    items: Sequence[EvalItem],
    *,
    known_doc_ids: set[str] | None,
    max_contexts: int,
    max_answer_words: int,
    file: str,
    source: str,
) -> Aligned:
    """Line rows up with the questions; report unknown/missing ids and per-answer defects."""
    by_id = {row.id: row for row in rows}
    expected = {item.id for item in items}
    messages: list[Message] = []
    if unknown := [row.id for row in rows if row.id not in expected]:
        messages.append(
            _msg(
                "unknown_ids",
                f"{len(unknown)} id(s) in {file} are not in questions.jsonl and were ignored ({_quote(unknown)}).",
                source,
            )
        )
    if missing := [item.id for item in items if item.id not in by_id]:
        messages.append(
            _msg(
                "missing_ids",
                f"{len(missing)} of the {len(items)} questions have no line in {file} ({_quote(missing)}); each scores 0.",
                source,
            )
        )
    aligned = [by_id.get(item.id) for item in items]
    present = [r for r in aligned if r is not None]
    if empty := [r.id for r in present if not r.answer.strip()]:
        messages.append(
            _msg(
                "empty_answer",
                f"{len(empty)} answer(s) in {file} are empty ({_quote(empty)}); their answer metrics are 0.",
                source,
            )
        )
    if no_ctx := [r.id for r in present if not r.contexts]:
        text = f"{len(no_ctx)} answer(s) in {file} list no retrieved contexts ({_quote(no_ctx)}); their retrieval metrics are 0."
        messages.append(_msg("empty_contexts", text, source))
    if many := [r.id for r in present if r.listed > max_contexts]:
        text = f"{len(many)} answer(s) list more than {max_contexts} contexts ({_quote(many)}); only the first {max_contexts} were scored."
        messages.append(_msg("too_many_contexts", text, source, Level.WARNING))
    if known_doc_ids is not None:
        strangers = list(
            dict.fromkeys(c.doc_id for r in present for c in r.contexts[:max_contexts] if c.doc_id not in known_doc_ids)
        )
        if strangers:
            text = (
                f"{len(strangers)} doc_id value(s) in {file} name no corpus document ({_quote(strangers)}); "
                "use the path under corpus/ without .txt, e.g. 'set4/a10'. They count as misses."
            )
            messages.append(_msg("unknown_doc_ids", text, source, Level.WARNING))
    if long := [r.id for r in present if len(r.answer.split()) > max_answer_words]:
        text = (
            f"{len(long)} answer(s) are longer than {max_answer_words} words ({_quote(long)}); "
            f"only their first {max_answer_words} words were matched against the references."
        )
        messages.append(_msg("long_answer", text, source, Level.WARNING))
    return Aligned(aligned, messages)
