"""How alike a round's submissions are: winnowing fingerprints (Schleimer, Wilkerson and Aiken,
"Winnowing: local algorithms for document fingerprinting", SIGMOD 2003 — MOSS's algorithm).

1. Normalise. Python is tokenised with :mod:`tokenize`; comments and layout are dropped, local
   identifiers become ``V``, numbers ``N`` and strings ``S`` (keywords, builtins and attribute
   names after ``.`` stay), so renaming variables or rewording comments changes nothing.
   Notebooks are reduced to their code cells (magics and shell lines dropped) first.
2. Hash every k-gram of tokens (``k = 12``) and keep, in every window of ``w = 8`` consecutive
   hashes, the smallest (the rightmost on ties): any match of ``w + k - 1 = 19`` tokens or more
   shares a fingerprint, and matches shorter than ``k`` never do.
3. Subtract the assignment's starter code (every k-gram of it) as boilerplate, and fingerprints
   that more than half of a round of four or more share (common idiom, not copying).
4. Score a pair by Dice's coefficient of their fingerprint sets, ``2|A∩B| / (|A|+|B|)``, and
   report the matching line spans.

Evidence for a person to look at, never a verdict and never a change to any score. Candidate
files are read as data with size caps; a file that does not tokenise falls back to a plain
regular-expression tokeniser.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

K = 12
WINDOW = 8
MIN_FINGERPRINTS = 4
MAX_FILE_BYTES = 1 * 2**20
MAX_SUBMISSION_BYTES = 8 * 2**20
MAX_FILES = 200
SIMILARITY_FILE = "similarity.json"
_KEEP = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"self", "cls"}
_FALLBACK = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|#[^\n]*|\S")
_SKIP_TYPES = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def _normal_name(prev: str, name: str) -> str:
    return name if name in _KEEP or prev == "." else "V"


def python_tokens(source: str) -> list[tuple[str, int]]:
    """(normalised token, line) for Python source; never raises on hostile or broken code."""
    out: list[tuple[str, int]] = []
    prev = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in _SKIP_TYPES:
                continue
            if tok.type == tokenize.NAME:
                text = _normal_name(prev, tok.string)
            elif tok.type == tokenize.NUMBER:
                text = "N"
            elif tok.type == tokenize.STRING or tok.type in _FSTRING_TYPES:
                text = "S"
            else:
                text = tok.string
            if text == "S" and out and out[-1][0] == "S":  # f-string parts and implicit concatenation
                continue
            out.append((text, tok.start[0]))
            prev = tok.string
        return out
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError):
        return _fallback_tokens(source)


_FSTRING_TYPES = frozenset(
    getattr(tokenize, name) for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, name)
)  # Python 3.12+ tokenises f-strings in parts


def _fallback_tokens(source: str) -> list[tuple[str, int]]:
    out, prev = [], ""
    for line_no, line in enumerate(source.splitlines(), start=1):
        for m in _FALLBACK.finditer(line):
            text = m.group()
            if text.startswith("#"):
                continue
            if text[0].isalpha() or text[0] == "_":
                norm = _normal_name(prev, text)
            elif text[0].isdigit():
                norm = "N"
            elif text[0] in "\"'":
                norm = "S"
            else:
                norm = text
            out.append((norm, line_no))
            prev = text
    return out


def notebook_code(text: str) -> str:
    """The code cells of a notebook, joined (magics and shell escapes dropped); "" if unreadable."""
    from harness.safeio import UntrustedDataError, loads_json

    try:
        nb = loads_json(text, what="notebook")  # depth-checked before parsing
    except UntrustedDataError:
        return ""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    parts = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source)
        parts.append("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    return "\n\n".join(parts)


@dataclass
class Document:
    """One submission's normalised code: tokens with (file, line), and its fingerprints."""

    name: str
    files: dict[str, list[str]] = field(default_factory=dict)
    """File name -> its lines as shown (notebooks: their code cells), for the span view."""
    tokens: list[str] = field(default_factory=list)
    where: list[tuple[str, int]] = field(default_factory=list)
    fingerprints: dict[int, int] = field(default_factory=dict)
    """hash -> token position of its first occurrence."""
    all_hashes: set[int] = field(default_factory=set)


def code_files(root: Path) -> dict[str, str]:
    """Python files and notebooks under ``root`` (relative name -> code), with size caps; no links."""
    from harness.safeio import UntrustedDataError, read_bounded, walk

    out, total = {}, 0
    for entry in walk(root, max_entries=20_000):  # iterative, no links followed
        if len(out) >= MAX_FILES or total >= MAX_SUBMISSION_BYTES:
            break
        if not entry.is_file or not entry.relpath.endswith((".py", ".ipynb")):
            continue
        if any(part.startswith(".") for part in entry.relpath.split("/")):  # .ipynb_checkpoints, .venv
            continue
        try:
            data = read_bounded(Path(root) / entry.relpath, MAX_FILE_BYTES, truncate=True)
        except UntrustedDataError:
            continue
        total += len(data)
        text = data.decode("utf-8", errors="replace")
        out[entry.relpath] = notebook_code(text) if entry.relpath.endswith(".ipynb") else text
    return out


def load_code(source: Path) -> dict[str, str]:
    """The code of one submission (zip, tarball or folder), unpacked with the intake's checks."""
    from harness.errors import HoldoutError
    from harness.intake import unpack_submission

    with tempfile.TemporaryDirectory(prefix="holdout-similar-") as tmp:
        try:
            unpacked = unpack_submission(Path(source), Path(tmp) / "s")
        except HoldoutError:
            return {}
        return code_files(unpacked.root)


class _Vocabulary:
    """Token -> small int, shared by every document of a comparison (deterministic hashing)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, tokens: list[str]) -> np.ndarray:
        ids = self.ids
        return np.fromiter((ids.setdefault(t, len(ids) + 1) for t in tokens), dtype=np.uint64, count=len(tokens))


def kgram_hashes(codes: np.ndarray, k: int = K) -> np.ndarray:
    """A polynomial hash of every k-gram (mod 2**64, by numpy's wrap-around)."""
    if len(codes) < k:
        return np.zeros(0, dtype=np.uint64)
    base = np.uint64(1_000_003)
    h = np.zeros(len(codes) - k + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(k):
            h = h * base + codes[i : len(codes) - k + 1 + i]
    return h


def winnow(hashes: np.ndarray, window: int = WINDOW) -> dict[int, int]:
    """The minimum of every window (rightmost on ties): hash -> first position selected."""
    if len(hashes) == 0:
        return {}
    if len(hashes) < window:
        pos = len(hashes) - 1 - int(np.argmin(hashes[::-1]))
        return {int(hashes[pos]): pos}
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    positions = np.unique(np.arange(len(windows)) + rightmost)
    out: dict[int, int] = {}
    for pos in positions.tolist():
        out.setdefault(int(hashes[pos]), pos)
    return out


def make_document(name: str, files: dict[str, str], vocab: _Vocabulary) -> Document:
    doc = Document(name=name)
    for fname, code in files.items():
        doc.files[fname] = code.splitlines()
        for text, line in python_tokens(code):
            doc.tokens.append(text)
            doc.where.append((fname, line))
    hashes = kgram_hashes(vocab.encode(doc.tokens))
    doc.fingerprints = winnow(hashes)
    doc.all_hashes = set(hashes.tolist())
    return doc


def _spans(a: Document, b: Document, shared: set[int]) -> list[dict]:
    """Matching regions as line ranges on both sides, merged where consecutive."""
    hits = sorted((a.fingerprints[h], b.fingerprints[h]) for h in shared)
    runs: list[list[int]] = []
    for pa, pb in hits:
        if runs and pa - runs[-1][1] <= WINDOW + K and 0 <= pb - runs[-1][3] <= WINDOW + K:
            runs[-1][1], runs[-1][3] = pa, pb
        else:
            runs.append([pa, pa, pb, pb])
    out = []
    for a0, a1, b0, b1 in runs:
        a_end, b_end = min(a1 + K - 1, len(a.where) - 1), min(b1 + K - 1, len(b.where) - 1)
        (fa, la0), (_, la1) = a.where[a0], a.where[a_end]
        (fb, lb0), (_, lb1) = b.where[b0], b.where[b_end]
        if a.where[a_end][0] != fa:  # the k-gram ran into the next file: up to this file's end
            la1 = len(a.files[fa])
        if b.where[b_end][0] != fb:
            lb1 = len(b.files[fb])
        out.append({"a_file": fa, "a_lines": [la0, max(la0, la1)], "b_file": fb, "b_lines": [lb0, max(lb0, lb1)]})
    return out


def compare(documents: list[Document], boilerplate: set[int] | None = None, *, top: int | None = None) -> list[dict]:
    """Every pair with something in common, ranked by score (Dice over fingerprints)."""
    boilerplate = boilerplate or set()
    counts: dict[int, int] = {}
    for doc in documents:
        for h in doc.fingerprints:
            counts[h] = counts.get(h, 0) + 1
    common = {h for h, c in counts.items() if c > len(documents) / 2} if len(documents) >= 4 else set()
    ignored = boilerplate | common
    kept = [set(doc.fingerprints) - ignored for doc in documents]
    pairs = []
    for i in range(len(documents)):
        for j in range(i + 1, len(documents)):
            a, b = kept[i], kept[j]
            if len(a) < MIN_FINGERPRINTS or len(b) < MIN_FINGERPRINTS:
                continue
            shared = a & b
            if not shared:
                continue
            pairs.append((2 * len(shared) / (len(a) + len(b)), i, j, shared))
    pairs.sort(key=lambda p: (-p[0], documents[p[1]].name, documents[p[2]].name))
    out = []
    for score, i, j, shared in pairs[:top] if top else pairs:  # spans only for the pairs kept
        a, b = documents[i], documents[j]
        out.append(
            {
                "a": a.name,
                "b": b.name,
                "score": round(score, 4),
                "shared": len(shared),
                "a_in_b": round(len(shared) / len(kept[i]), 4),
                "b_in_a": round(len(shared) / len(kept[j]), 4),
                "spans": _spans(a, b, shared),
            }
        )
    return out


def similarity(
    sources: dict[str, dict[str, str]], starter: dict[str, str] | None = None, *, top: int | None = None
) -> tuple[list[dict], dict[str, Document]]:
    """Rank every pair of ``sources`` (name -> {file: code}); ``starter`` code is boilerplate."""
    vocab = _Vocabulary()
    docs = {name: make_document(name, files, vocab) for name, files in sources.items()}
    boilerplate = make_document("starter", starter, vocab).all_hashes if starter else set()
    return compare(list(docs.values()), boilerplate, top=top), docs


# --- a round ----------------------------------------------------------------------------------


def starter_code(assignment_id: str | None) -> dict[str, str]:
    """The assignment's starter folder's code (its ``starter/``), or nothing."""
    if not assignment_id:
        return {}
    from harness.assignments import find_assignment
    from harness.errors import HoldoutError
    from harness.settings import Settings

    try:
        root = find_assignment(assignment_id, Settings.from_env()).root
    except HoldoutError:
        return {}
    return code_files(root / "starter") if (root / "starter").is_dir() else {}


def most_similar_by_slug(round_dir: Path) -> dict[str, str]:
    """slug -> "most similar: X, 0.83" from the round's ``similarity.json``."""
    from harness.safeio import UntrustedDataError, read_json

    try:
        data = read_json(Path(round_dir) / SIMILARITY_FILE, max_bytes=32 * 2**20)
    except UntrustedDataError:
        return {}
    best: dict[str, tuple[float, str]] = {}
    pairs = data.get("pairs") if isinstance(data, dict) else None
    for pair in pairs if isinstance(pairs, list) else []:
        if not isinstance(pair, dict) or not isinstance(pair.get("score"), (int, float)):
            continue
        score, a, b = float(pair["score"]), str(pair.get("a")), str(pair.get("b"))
        for x, y in ((a, b), (b, a)):
            if x not in best or score > best[x][0]:
                best[x] = (score, y)
    return {slug: f"most similar: {other}, {score:.2f}" for slug, (score, other) in best.items()}


def render_similarity_html(data: dict, docs: dict[str, Document], *, pairs: int = 30, context: int = 2) -> str:
    """The ranked pairs with their matching spans side by side (all code escaped; no scripts)."""
    from harness.reports.html import CSP, CSS
    from harness.reports.svg import esc

    def block(doc: Document | None, fname: str, lines: list[int]) -> str:
        if doc is None or fname not in doc.files:
            return "<pre>(not available)</pre>"
        src = doc.files[fname]
        lo, hi = max(1, lines[0] - context), min(len(src), lines[1] + context)
        body = "".join(f'<span class="ln">{n}</span>{esc(src[n - 1])}\n' for n in range(lo, hi + 1))
        return f"<figcaption>{esc(fname)} lines {lines[0]}–{lines[1]}</figcaption><pre>{body}</pre>"

    rows = "".join(
        f"<tr><td class='num'>{i}</td><td>{esc(p['a'])}</td><td>{esc(p['b'])}</td>"
        f"<td class='num'>{p['score']:.2f}</td><td class='num'>{len(p['spans'])}</td></tr>"
        for i, p in enumerate(data["pairs"], 1)
    )
    sections = []
    for i, p in enumerate(data["pairs"][:pairs], 1):
        spans = "".join(
            '<div class="grid"><figure style="flex:1;min-width:0">'
            + block(docs.get(p["a"]), s["a_file"], s["a_lines"])
            + '</figure><figure style="flex:1;min-width:0">'
            + block(docs.get(p["b"]), s["b_file"], s["b_lines"])
            + "</figure></div>"
            for s in p["spans"][:20]
        )
        sections.append(
            f'<section id="pair-{i}"><h2>{i}. {esc(p["a"])} ↔ {esc(p["b"])}: {p["score"]:.2f}</h2>{spans}</section>'
        )
    missing = "".join(f"<li>{esc(m)}</li>" for m in data.get("missing", []))
    body = (
        "<main><h1>Similarity across the round</h1>"
        f"<p>{data['submissions']} submissions; winnowing fingerprints (k = {data['k']} tokens, window {data['window']}),"
        " identifiers and literals normalised, starter code subtracted. Evidence for a person to look at: "
        "never a verdict and never a score change.</p>"
        + (f"<p>Sources not found:</p><ul>{missing}</ul>" if missing else "")
        + "<section><table><thead><tr><th>#</th><th>a</th><th>b</th><th class='num'>score</th><th class='num'>spans</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></section>{''.join(sections)}</main>"
    )
    from harness.visible import visible

    return visible(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        f"<title>holdout similarity</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )
