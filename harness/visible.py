"""Invisible characters in candidate text, made visible for every report format.

Bidi controls (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) reorder what a reviewer sees
(``report`` U+202E ``lmth.exe`` displays as ``reportexe.html``); zero-width and other format characters
(Unicode category Cf: U+200B, U+2060, U+FEFF, tag characters ...) hide text or split words a
reviewer searches for; U+2028/U+2029 break lines where no newline is. A report shows each of
them as a visible escape, ``⟨U+202E⟩``, so candidate text reads as the bytes it is.

A leaf module (standard library only): reports, graders and the leaderboard may all use it.
Applied at render time: ``report.json`` keeps the candidate's text as it was.
"""

from __future__ import annotations

import re

INVISIBLE = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
"""Every character of Unicode category Cf (format; Unicode 14, Python 3.11), plus U+2028 LINE
SEPARATOR and U+2029 PARAGRAPH SEPARATOR. ``tests/test_visible.py`` checks the list against
:mod:`unicodedata`."""


def escape_char(char: str) -> str:
    """``⟨U+202E⟩`` for one character."""
    return f"⟨U+{ord(char):04X}⟩"


def visible(text: object) -> str:
    """``text`` with every invisible format character replaced by its visible escape."""
    return INVISIBLE.sub(lambda m: escape_char(m.group(0)), str(text))


def clip(text: object, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis when cut
    (never mid-word, unless a single word is longer than half the limit)."""
    text = str(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" \t\n,;:") + "…"


def number(value: float, digits: int = 2) -> str:
    """``value`` exactly as far as ``digits`` decimals go, without trailing zeros: 7 → ``7``,
    7.4 → ``7.4``, 6.666… → ``6.67`` (a maximum of 7.4 never shows as ``7``)."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
