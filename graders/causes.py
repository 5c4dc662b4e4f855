"""The root cause of a failed run, in plain words: what stopped the candidate's code, and where.

Built from trusted facts first: the engine's verdict (time limit, memory kill), the host's
output-quota kill, and the in-container runner's record read from its trusted folder (a
notebook's cell errors, a cell past its limit, a dead kernel). For a script, the exception is
read from the tail of its stderr: that is the candidate's own text, so only a bounded tail is
read, line by line with capped lengths and simple patterns, and what a message quotes from it is
cut short with control characters removed. A cause is a message for people (the first one of the
report), never a number in the rubric.

Notebook cells are numbered from 1 over every cell of the notebook, Markdown cells included
(:mod:`harness.streams`): the numbering of ruff's findings, of the habits check and of every report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.models import SandboxRun, Verdict
from harness.streams import CELL_NUMBERING, cell_number, is_notebook_run
from sandbox.layout import LAYOUT

__all__ = ["CELL_NUMBERING", "Cause", "cell_errors", "exception_cause", "explain", "last_exception"]

TAIL_CHARS = 64 * 1024
"""How much of the end of stderr is searched for the exception that ended the run."""
LINE_CHARS = 1000
DETAIL_CHARS = 200
MAX_CELL_ERRORS = 20


@dataclass(frozen=True)
class Cause:
    """Why the run failed: a stable ``code``, the harness's plain sentence (``summary``: the
    exception's name, the file, cell and line, what it means) and the candidate's own error
    message (``quote``, cleaned and cut short), kept apart so that a report can frame it as the
    candidate's text; ``text`` is both, the quote in quotation marks."""

    code: str
    summary: str
    quote: str = ""

    @property
    def text(self) -> str:
        return self.summary + (f" The error says: “{self.quote}”" if self.quote else "")


@dataclass(frozen=True)
class Raised:
    """An exception seen in a run: its name, its message and where it was raised."""

    ename: str
    evalue: str
    where: str
    after: tuple[str, ...] = ()
    """The lines that followed the exception line (multi-line messages such as NLTK's)."""


def clean(text: object, limit: int = DETAIL_CHARS) -> str:
    """Untrusted text as one short line: control characters gone, whitespace collapsed, cut."""
    value = text if isinstance(text, str) else ""
    value = "".join(ch if ch.isprintable() else " " for ch in value[: limit * 4])
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def cell_errors(runner: object) -> list[dict]:
    """The runner record's cell errors (untrusted shape) as ``{cell, ename, evalue}``, renumbered."""
    errors = runner.get("cell_errors") if isinstance(runner, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        {
            "cell": cell_number(e.get("cell")),
            "ename": clean(e.get("ename"), 80),
            "evalue": clean(e.get("evalue")),
            "raw_cell": e.get("cell") if cell_number(e.get("cell")) is not None else None,
        }
        for e in errors[:MAX_CELL_ERRORS]
        if isinstance(e, dict)
    ]


# --- reading an exception out of stderr -------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,99}(?:\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}"
_EXCEPTION_LINE = re.compile(rf"^({_NAME})(?::(?: (.*))?)?$")
_EXCEPTION_SUFFIXES = ("Error", "Exception", "Exit", "Interrupt", "Iteration", "Warning")
_FRAME = re.compile(r'^\s*File "([^"]{1,500})", line (\d{1,9})')
_IPYTHON_CELL_FRAME = re.compile(r"^\s*Cell In\s?\[\d{0,9}\], line (\d{1,9})")
_HEADER = "Traceback (most recent call last):"
_NOT_CANDIDATE = ("/site-packages/", "/dist-packages/", "/usr/lib/python", "/usr/local/lib/python", "/opt/")
_SYNTAX = frozenset({"SyntaxError", "IndentationError", "TabError"})
_MIRROR_PREFIX = re.compile(r"^\[cell (\d{1,6})\] ")


def _is_exception(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.endswith(_EXCEPTION_SUFFIXES) or last in ("KeyboardInterrupt", "SystemExit", "GeneratorExit")


def _shown_path(path: str) -> str:
    """A path in the submission as the candidate knows it: relative to the submission's root,
    whether the code ran from the original or from its working copy."""
    for mount in (LAYOUT.submission_mount, LAYOUT.workspace_mount):
        if f"{mount}/" in path:
            return path.split(f"{mount}/", 1)[1]
    return path


def last_exception(text: str) -> Raised | None:
    """The last Python exception in ``text`` (a stderr capture) that follows a traceback or a
    ``File "...", line N`` frame, with the candidate's frame it was raised in; None if none."""
    lines = [line[:LINE_CHARS] for line in text[-TAIL_CHARS:].splitlines()]
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[index])
        if not match or not _is_exception(match.group(1)):
            continue
        frames = _frames_before(lines, index)
        if frames is None:
            continue
        ename, evalue = match.group(1), match.group(2) or ""
        syntax = ename.rsplit(".", 1)[-1] in _SYNTAX
        mine = [f for f in frames if not f[0].startswith("<") and not any(p in f[0] for p in _NOT_CANDIDATE)]
        frame = frames[-1] if syntax or not mine else mine[-1]
        where = f"{_shown_path(frame[0])} line {frame[1]}" if frame else ""
        return Raised(ename=ename, evalue=evalue, where=where, after=tuple(lines[index + 1 : index + 16]))
    return None


def _frames_before(lines: list[str], index: int) -> list[tuple[str, int]] | None:
    """The frames of the traceback that ends at ``lines[index]``; None when it is not one."""
    frames: list[tuple[str, int]] = []
    seen_header = False
    for line in reversed(lines[max(0, index - 200) : index]):
        if line.startswith(_HEADER) or line.startswith("During handling") or line.startswith("The above exception"):
            seen_header = line.startswith(_HEADER)
            break
        match = _FRAME.match(line)
        if match:
            frames.append((match.group(1), int(match.group(2))))
    if not frames and not seen_header:
        return None
    return frames[::-1]


def _notebook_line(stderr: str, raw_cell: object, evalue: str) -> int | None:
    """The line within a notebook cell: from a SyntaxError's message, else from the last
    ``Cell In[n], line N`` frame of that cell's traceback in the runner's mirrored log."""
    match = re.search(r", line (\d{1,9})\)$", evalue)
    if match:
        return int(match.group(1))
    if not isinstance(raw_cell, int):
        return None
    line_no, inside = None, False
    for line in stderr[-TAIL_CHARS * 4 :].splitlines():
        prefix = _MIRROR_PREFIX.match(line[:40])
        if prefix:
            inside = int(prefix.group(1)) == raw_cell
            line = line[prefix.end() :]
        frame = _IPYTHON_CELL_FRAME.match(line[:LINE_CHARS]) if inside else None
        if frame:
            line_no = int(frame.group(1))
    return line_no


def notebook_exception(run: SandboxRun) -> Raised | None:
    """The first cell error in the runner's record (later ones usually follow from it)."""
    errors = cell_errors(run.runner)
    if not errors:
        return None
    first = errors[0]
    evalue = first["evalue"]
    line = _notebook_line(run.stderr.text, first["raw_cell"], evalue)
    evalue = re.sub(r" \([^()]{0,200}, line \d{1,9}\)$", "", evalue)  # "(3012.py, line 2)": IPython's file
    where = "the notebook" if first["cell"] is None else f"notebook cell {first['cell']}"
    return Raised(ename=first["ename"], evalue=evalue, where=where + (f", line {line}" if line else ""))


# --- plain words --------------------------------------------------------------------------------


_NETWORK = (
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Failed to establish a new connection",
    "urlopen error",
)
_NLTK_RESOURCE = re.compile(r"Resource (?:\x1b\[\d+m)?'?([\w./-]{1,100}?)'?(?:\x1b\[0m)? not found")


def explain(raised: Raised, *, notebook: bool) -> Cause:
    """The harness's plain sentence for an exception, by kind, and the candidate's message."""
    name = raised.ename.rsplit(".", 1)[-1]
    evalue = clean(raised.evalue)
    at = f"{raised.ename} at {raised.where}" if raised.where else raised.ename
    what = "that cell" if notebook else "the file"
    resource = _NLTK_RESOURCE.search(" ".join(line[:300] for line in (raised.evalue, *raised.after)))
    if name in _SYNTAX:
        summary = ("syntax_error", f"{at}: Python could not read {what}, so none of it ran.")
        evalue = evalue or "invalid syntax"
    elif name == "ModuleNotFoundError":
        summary = (
            "module_missing",
            f"{at}: the code imports a module that is not installed in the sandbox. List its package in "
            "requirements.txt (the README says which packages are allowed).",
        )
    elif name == "ImportError":
        summary = ("import_error", f"{at}: an import failed.")
    elif name == "LookupError" and resource:
        summary = (
            "resource_missing",
            f"{at}: an NLTK resource is not installed in the sandbox (a missing resource, not a network failure: "
            "with no network, nltk.download() cannot fetch it). Ship the data with the submission, or use a "
            "resource the assignment provides (see its README).",
        )
        evalue = f"Resource '{resource.group(1)}' not found."
    elif name == "FileNotFoundError":
        summary = ("file_missing", f"{at}: the code tried to open a file that does not exist in the sandbox.")
    elif "[Errno 30]" in evalue or "Read-only file system" in evalue:
        summary = ("read_only", f"{at}: the code tried to write to a read-only place. Write outputs under /output.")
    elif "[Errno 27]" in evalue or "File too large" in evalue:
        summary = ("file_size_limit", f"{at}: a file the code wrote reached the sandbox's file-size limit.")
    elif name == "MemoryError":
        summary = ("memory_error", f"{at}: the code ran out of memory.")
    elif any(sign in raised.evalue for sign in _NETWORK) or name in ("URLError", "ConnectionError", "gaierror"):
        summary = (
            "network_unavailable",
            f"{at}: the code tried to reach the network, and the sandbox has none. Ship what it downloads "
            "with the submission.",
        )
    elif "[Errno 11]" in evalue and name == "BlockingIOError":
        summary = ("process_limit", f"{at}: the code started more processes than the sandbox allows.")
    else:
        summary = ("exception", f"{at} stopped the code.")
    return Cause(*summary, quote=evalue)


def exception_cause(run: SandboxRun) -> Cause | None:
    """The exception that stopped a run that did not end well, in plain words: a notebook's
    first cell error (later ones usually follow from it), a script's last exception on stderr;
    None for a good run or when there is none to find."""
    if run.verdict == Verdict.OK:
        return None
    notebook = is_notebook_run(run)
    raised = notebook_exception(run) if notebook else None
    if raised is None:
        raised = last_exception(run.stderr.text)
    return explain(raised, notebook=notebook and raised.where.startswith("notebook")) if raised else None
