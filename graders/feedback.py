"""Feedback helpers shared by graders that read a candidate's output file as text."""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from harness.models import Level, Message, Visibility

FIRST_FEW = 5
"""How many example values a message quotes."""

OUTPUT_CODES: dict[str, str] = {
    "missing": "missing_output",
    "not_regular_file": "not_regular_file",
    "symlink": "not_regular_file",
    "too_large": "output_too_large",
    "unreadable": "unreadable_output",
}
"""``graders.outputs.OutputError`` code → the message code a report shows."""


def msg(
    code: str, text: str, source: str, level: Level = Level.ERROR, visibility: Visibility = Visibility.CANDIDATE
) -> Message:
    return Message(code=code, text=text, level=level, source=source, visibility=visibility)


def quote(values: Sequence[object]) -> str:
    """The first few values, shortened and with control characters escaped."""
    shown = []
    for value in values[:FIRST_FEW]:
        text = str(value)
        shown.append(repr(text[:40] + "..." if len(text) > 40 else text))
    return ", ".join(shown) + (", ..." if len(values) > FIRST_FEW else "")


def decode_text(data: bytes, file: str, source: str, expected: str) -> tuple[str | None, list[Message]]:
    """UTF-8 text, or ``None`` with a ``not_text`` message; a BOM is dropped with a warning.

    ``expected`` names the format for the message, e.g. ``"a UTF-8 CSV text file"``.
    """
    messages: list[Message] = []
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        messages.append(
            msg(
                "bom",
                f"{file} starts with a UTF-8 byte-order mark; it was ignored, but write plain UTF-8 without one.",
                source,
                Level.WARNING,
            )
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        messages.append(msg("not_text", f"{file} contains NUL bytes (byte {nul}); expected {expected}.", source))
        return None, messages
    try:
        return data.decode("utf-8"), messages
    except UnicodeDecodeError as exc:
        messages.append(
            msg("not_text", f"{file} is not valid UTF-8 text (byte {exc.start}); expected {expected}.", source)
        )
        return None, messages
