"""Does a set of files contain hidden content? The scan behind ``grade kit`` (and ``grade check``).

Hidden material comes in two kinds, scanned by content, not by file name:

- **data** (labels, references, baselines: everything in the prepared ``hidden/`` folder): a
  leak is an identical file, or any *distinctive* hidden line found inside any line of a kit
  file (``m000e84be8f,spam`` inside ``m000e84be8f,spam,0.93`` counts). A line is distinctive
  when it is long enough to mean something (6+ characters with a digit, or 20+ characters) and
  is not also a line of the public inputs (what every candidate's code sees anyway).
- **code** (hidden tests, reference and other canary solutions): a leak is an identical file,
  half or more (and at least three) of the file's distinctive lines inside one kit file, or —
  for a hidden test module — any of its ``def test_…`` lines. Code lines are distinctive when
  they are 16+ characters, not comments, not public, and not boilerplate shared by two or more
  hidden files (imports, ``DATA_DIR = …``), so a starter template may look like a solution
  without tripping the scan.

Limits: binary or compressed kit files are compared by checksum only, and content that was
rewritten (re-encoded, re-ordered columns) is not recognised.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

CODE_SUFFIXES = frozenset({".py", ".ipynb", ".md", ".txt", ".toml", ".cfg", ".ini", ".sh", ".r", ".sql", ".rst"})
MIN_IDENTICAL_BYTES = 64
"""Smaller files (an empty ``__init__.py``, a one-line manifest) are not compared whole."""
CODE_SHARE = 0.5
CODE_MIN_LINES = 3
_TOKEN = re.compile(r"\w+")
_TEST_DEF = re.compile(r"^(async\s+)?def\s+test_\w*\s*\(")


@dataclass(frozen=True)
class HiddenFile:
    """One hidden file: ``label`` says where it lives (``hidden/test_labels.csv``)."""

    label: str
    data: bytes
    kind: Literal["data", "code"] = "data"

    @classmethod
    def of(cls, label: str, data: bytes) -> HiddenFile:
        suffix = "." + label.rsplit(".", 1)[-1].lower() if "." in label.rsplit("/", 1)[-1] else ""
        return cls(label, data, "code" if suffix in CODE_SUFFIXES else "data")


@dataclass(frozen=True)
class Leak:
    path: str
    """The kit file."""
    hidden: str
    """The hidden file it leaks."""
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason} (from {self.hidden})"


def _lines(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines()]


def _distinctive_data_line(line: str) -> bool:
    return (len(line) >= 6 and any(c.isdigit() for c in line)) or len(line) >= 20


def _distinctive_code_line(line: str) -> bool:
    if len(line) < 16 or line.startswith(("#", '"""', "'''")):
        return False
    return any(c.isalnum() for c in line)


def _key_token(line: str) -> str | None:
    """A word of ``line`` that is a whole word in any text containing ``line``: an inner one if
    there is one (the outer ones may be glued to neighbouring characters), the longest."""
    tokens = list(_TOKEN.finditer(line))
    if not tokens:
        return None
    inner = [t for t in tokens if t.start() > 0 and t.end() < len(line)]
    return max(inner or tokens, key=lambda t: len(t.group())).group()


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def find_leaks(kit: Mapping[str, bytes], hidden: Iterable[HiddenFile], public: Iterable[bytes] = ()) -> list[Leak]:
    """Every way a file in ``kit`` (path → bytes) carries hidden content; empty when clean."""
    hidden = list(hidden)
    public_lines = {line for blob in public for line in _lines(blob) if line}
    public_digests = {hashlib.sha256(blob).hexdigest() for blob in public}
    kit_lines = {path: _lines(data) for path, data in kit.items()}
    kit_digests = {
        hashlib.sha256(data).hexdigest(): path for path, data in kit.items() if len(data) >= MIN_IDENTICAL_BYTES
    }
    leaks: list[Leak] = []
    for item in hidden:
        digest = hashlib.sha256(item.data).hexdigest()
        if digest in public_digests:
            continue  # the same bytes are public inputs: nothing to hide
        if len(item.data) >= MIN_IDENTICAL_BYTES and digest in kit_digests:
            leaks.append(Leak(kit_digests[digest], item.label, "identical to a hidden file"))
    data_files = [h for h in hidden if h.kind == "data"]
    leaks += _data_leaks(kit_lines, data_files, public_lines)
    code_files = [h for h in hidden if h.kind == "code"]
    leaks += _code_leaks(kit_lines, code_files, public_lines)
    return _dedupe(leaks)


def _data_leaks(kit_lines: Mapping[str, list[str]], hidden: list[HiddenFile], public: set[str]) -> list[Leak]:
    index: dict[str, list[tuple[str, str]]] = {}
    for item in hidden:
        for line in dict.fromkeys(_lines(item.data)):
            if line and line not in public and _distinctive_data_line(line):
                key = _key_token(line)
                if key is not None:
                    index.setdefault(key, []).append((line, item.label))
    found: dict[tuple[str, str], list[str]] = {}
    for path, lines in kit_lines.items():
        for text in lines:
            for token in set(_TOKEN.findall(text)) & index.keys():
                for line, label in index[token]:
                    if line in text:
                        found.setdefault((path, label), []).append(line)
    return [
        Leak(path, label, f"{len(set(lines))} hidden line(s), e.g. {_short(lines[0])!r}")
        for (path, label), lines in found.items()
    ]


def _code_leaks(kit_lines: Mapping[str, list[str]], hidden: list[HiddenFile], public: set[str]) -> list[Leak]:
    per_file = {
        item.label: {line for line in _lines(item.data) if line not in public and _distinctive_code_line(line)}
        for item in hidden
    }
    shared = Counter(line for lines in per_file.values() for line in lines)
    leaks = []
    for item in hidden:
        own = {line for line in per_file[item.label] if shared[line] == 1}
        is_test = item.label.rsplit("/", 1)[-1].startswith("test_") or item.label.endswith("_test.py")
        test_defs = {line for line in _lines(item.data) if _TEST_DEF.match(line)} if is_test else set()
        if not own and not test_defs:
            continue
        for path, lines in kit_lines.items():
            present = set(lines)
            common = own & present
            if own and len(common) >= CODE_MIN_LINES and len(common) >= CODE_SHARE * len(own):
                leaks.append(Leak(path, item.label, f"{len(common)} of its {len(own)} distinctive lines"))
            elif test_defs & present:
                leaks.append(Leak(path, item.label, f"hidden test {_short(sorted(test_defs & present)[0])!r}"))
    return leaks


def _dedupe(leaks: list[Leak]) -> list[Leak]:
    seen, out = set(), []
    for leak in leaks:
        key = (leak.path, leak.hidden)
        if key not in seen:
            seen.add(key)
            out.append(leak)
    return out


def id_leaks(kit: Mapping[str, bytes], id_column: str, hidden: Iterable[HiddenFile], under: str) -> list[Leak]:
    """Rows of the kit's CSV files under ``under`` (the dev split) whose ``id_column`` value is an
    id of a hidden CSV file (a hidden test row), whatever the other columns say: a dev row must
    never be a hidden one, even rewritten (columns re-ordered, labels re-encoded), which the line
    scan of :func:`find_leaks` would not recognise."""
    hidden_ids: dict[str, str] = {}
    for item in hidden:
        if item.kind == "data" and item.label.lower().endswith(".csv"):
            for value in _column(item.data, id_column):
                hidden_ids.setdefault(value, item.label)
    leaks = []
    for path, data in kit.items():
        if not path.startswith(under.rstrip("/") + "/") or not path.lower().endswith(".csv"):
            continue
        shared = [value for value in _column(data, id_column) if value in hidden_ids]
        if shared:
            leaks.append(
                Leak(path, hidden_ids[shared[0]], f"{len(shared)} row(s) with a hidden id, e.g. {_short(shared[0])!r}")
            )
    return leaks


def _column(data: bytes, name: str) -> list[str]:
    """The values of column ``name`` of a CSV file (none when it has no such column)."""
    import csv
    import io

    reader = csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline=""))
    header = next(reader, None) or []
    if name not in header:
        return []
    at = header.index(name)
    return [row[at] for row in reader if len(row) > at and row[at]]
