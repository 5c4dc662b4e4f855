"""Linting a submission with ruff, on the host, as data: the harness's rules, not the candidate's.

ruff runs as a subprocess over explicit file paths with ``--isolated`` (no ``ruff.toml``,
``pyproject.toml`` or user configuration is read, so a candidate cannot switch rules off),
``--ignore-noqa`` (``# noqa`` and ``# ruff: noqa`` comments do not hide findings) and
``--no-respect-gitignore`` (a ``.gitignore`` cannot hide files). Notebooks are linted natively
(ruff reads ``.ipynb``; a finding's ``cell`` is the 1-based index among all cells).

Complexity comes from the same run: the mccabe rule (C901) is run with a threshold of 0, so
ruff reports the cyclomatic complexity of *every* function; only functions above
:data:`MAX_COMPLEXITY` count as findings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import GraderError
from harness.safeio import UntrustedDataError, loads_json

RUFF_VERSION = "0.17.5"
"""The ruff release the rule selection below was chosen for (pinned in pyproject.toml)."""

SELECT = ("E", "W", "F", "B", "C90", "N", "S", "SIM", "PLE", "PLW", "BLE", "NPY")
"""pycodestyle, pyflakes, bugbear, mccabe, pep8-naming, bandit, simplify, pylint errors and
warnings, blind except, numpy: rules that point at real defects or habits, not taste."""

IGNORE = (
    "N803",
    "N806",
    "N816",  # ML convention: X, X_train are matrices
    "S101",  # assert is how tests are written
    "S311",  # random is fine for sampling and seeds, not cryptography
    "S603",
    "S607",  # subprocess without a shell is the safe form already
    "S108",  # /tmp paths are how the sandbox is meant to be used
    "SIM108",
    "SIM105",  # ternaries and contextlib.suppress are taste
    "PLW2901",  # rebinding a loop variable is common and harmless
    "B905",  # zip(strict=) is new and rarely matters here
)
LINE_LENGTH = 120
MAX_COMPLEXITY = 10
MIN_KLOC = 0.2
"""Density is findings per max(kLOC, 0.2): one finding in a 40-line script is not 25 per kLOC."""
UNSEEN_FINDINGS_PER_KLOC = 15.0
"""Code shorter than ``MIN_KLOC`` is topped up to it with lines at this density: too little code
shows nothing about its quality, so a 14-line script cannot earn the marks of 200 clean lines."""


def findings_density(findings: int, loc: int, *, unseen_per_kloc: float = UNSEEN_FINDINGS_PER_KLOC) -> float:
    """Findings per kLOC, counted over at least ``MIN_KLOC``; the lines short of it count at
    ``unseen_per_kloc`` (an empty submission scores exactly that)."""
    kloc = loc / 1000
    unseen = max(0.0, MIN_KLOC - kloc) * unseen_per_kloc
    return round((findings + unseen) / max(kloc, MIN_KLOC), 2)


CATEGORIES: dict[str, tuple[str, int]] = {
    # rule prefix -> (category, severity rank: higher is worse)
    "invalid-syntax": ("syntax", 6),
    "S": ("security", 5),
    "F": ("correctness", 4),
    "PLE": ("correctness", 4),
    "B": ("bug risk", 3),
    "PLW": ("bug risk", 3),
    "BLE": ("bug risk", 3),
    "NPY": ("bug risk", 3),
    "C90": ("complexity", 2),
    "N": ("naming", 1),
    "SIM": ("simplification", 1),
    "E": ("style", 0),
    "W": ("style", 0),
}
CATEGORY_ORDER = (
    "syntax",
    "security",
    "correctness",
    "bug risk",
    "complexity",
    "naming",
    "simplification",
    "style",
    "other",
)
_COMPLEXITY = re.compile(r"\((\d+) > \d+\)")


def category_of(code: str) -> tuple[str, int]:
    """(category, severity) of a ruff rule code; the longest matching prefix wins."""
    if code in CATEGORIES:
        return CATEGORIES[code]
    for prefix in sorted(CATEGORIES, key=len, reverse=True):
        if code.startswith(prefix) and code[len(prefix) : len(prefix) + 1].isdigit():
            return CATEGORIES[prefix]
    return ("other", 0)


@dataclass(frozen=True)
class Finding:
    """One ruff finding. ``line`` is 1-based within the file, or within ``cell`` for notebooks."""

    file: str
    line: int
    column: int
    code: str
    name: str
    message: str
    cell: int | None = None

    @property
    def category(self) -> str:
        return category_of(self.code)[0]

    @property
    def severity(self) -> int:
        return category_of(self.code)[1]


@dataclass
class LintRun:
    """What ruff found over the linted files; ``complexity`` maps ``file:function`` to its score."""

    findings: list[Finding] = field(default_factory=list)
    complexity: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def counts_by_category(self) -> dict[str, int]:
        counts = Counter(f.category for f in self.findings)
        return {c: counts[c] for c in CATEGORY_ORDER if counts[c]}


def ruff_binary() -> str:
    """The ruff executable installed with this environment (the ``ruff`` wheel), not whatever is on PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "ruff", Path(sys.executable).parent / "ruff"]
    try:
        from ruff.__main__ import find_ruff_bin

        candidates.insert(0, Path(find_ruff_bin()))
    except (ImportError, FileNotFoundError):
        pass
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise GraderError(
        "ruff is not installed in the harness's environment",
        hint=f"Install the pinned version: pip install ruff=={RUFF_VERSION} (it is a dependency of holdout).",
    )


def ruff_command(paths: list[Path], *, max_complexity_probe: int = 0) -> list[str]:
    return [
        ruff_binary(),
        "check",
        "--isolated",
        "--no-cache",
        "--ignore-noqa",
        "--no-respect-gitignore",
        "--no-fix",
        "--exit-zero",
        "--output-format",
        "json",
        "--target-version",
        "py311",
        "--line-length",
        str(LINE_LENGTH),
        "--select",
        ",".join(SELECT),
        "--ignore",
        ",".join(IGNORE),
        "--config",
        f"lint.mccabe.max-complexity = {max_complexity_probe}",
        "--",
        *map(str, paths),
    ]


def run_ruff(
    root: Path, rel_paths: list[str], *, max_complexity: int = MAX_COMPLEXITY, timeout_s: float = 60.0, batch: int = 200
) -> LintRun:
    """Lint ``rel_paths`` under ``root``. ruff failing to run is our problem (:class:`GraderError`)."""
    run = LintRun(files=list(rel_paths))
    root = root.resolve()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1", "HOME": str(root)}
    given = {str(root / rel): rel for rel in rel_paths}
    for start in range(0, len(rel_paths), batch):
        chunk = [root / rel for rel in rel_paths[start : start + batch]]
        rows = _ruff_rows(chunk, root, env, timeout_s)
        if rows is None:  # ruff crashed on a file of the chunk: lint one file at a time to find it
            rows = []
            for path in chunk:
                one = _ruff_rows([path], root, env, timeout_s)
                rows.extend(one if one is not None else [_crashed_row(path)])
        for row in rows:
            _add(run, row, root, max_complexity, given)
    run.findings.sort(key=lambda f: (f.file, f.cell or 0, f.line, f.column, f.code))
    return run


def _ruff_rows(paths: list[Path], root: Path, env: dict[str, str], timeout_s: float) -> list[dict[str, Any]] | None:
    """ruff's JSON rows for ``paths``; None when ruff was killed by a signal (it crashed, e.g. a
    stack overflow on a file nested thousands of levels deep: candidate input, not our bug)."""
    try:
        proc = subprocess.run(
            ruff_command(paths), cwd=root, env=env, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise GraderError(
            f"ruff took longer than {timeout_s:.0f} s", hint="Raise the quality grader's timeout_s."
        ) from None
    if proc.returncode < 0:
        return None
    if proc.returncode != 0:
        raise GraderError(f"ruff exited with {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    try:
        return json.loads(proc.stdout or b"[]")
    except json.JSONDecodeError as exc:
        raise GraderError(f"ruff printed output that is not JSON: {exc}") from None


def _crashed_row(path: Path) -> dict[str, Any]:
    """A syntax finding for a file ruff cannot parse without crashing (CPython refuses such nesting too)."""
    return {
        "filename": str(path),
        "code": "invalid-syntax",
        "name": "",
        "message": "ruff crashed parsing this file (nested too deeply?); Python would refuse it too",
        "location": {"row": 1, "column": 1},
    }


def _add(run: LintRun, row: dict[str, Any], root: Path, max_complexity: int, given: dict[str, str]) -> None:
    rel = given.get(str(row.get("filename")))
    if rel is None:
        try:
            rel = Path(row["filename"]).resolve().relative_to(root).as_posix()
        except ValueError:
            rel = Path(row["filename"]).name
    location = row.get("location") or {}
    finding = Finding(
        file=rel,
        line=int(location.get("row") or 1),
        column=int(location.get("column") or 1),
        code=str(row.get("code") or "invalid-syntax"),
        name=str(row.get("name") or ""),
        message=str(row.get("message") or ""),
        cell=row.get("cell"),
    )
    if finding.code == "C901":
        match = _COMPLEXITY.search(finding.message)
        score = int(match.group(1)) if match else 0
        function = finding.message.split("`")[1] if finding.message.count("`") >= 2 else "?"
        where = f"{rel}:{function}" + (f"@cell{finding.cell}" if finding.cell else f"@{finding.line}")
        run.complexity[where] = score
        if score <= max_complexity:
            return
        finding = Finding(
            file=finding.file,
            line=finding.line,
            column=finding.column,
            code="C901",
            name=finding.name,
            message=f"`{function}` is too complex (cyclomatic complexity {score} > {max_complexity})",
            cell=finding.cell,
        )
    run.findings.append(finding)


# --- lines of code and context -------------------------------------------------------------


def code_lines(source: str) -> int:
    """Non-blank lines that are not only a comment."""
    return sum(1 for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))


NOTEBOOK_MAX_DEPTH = 100
"""Widget state and plot JSON nest a few dozen levels at most."""


def notebook_cells(text: str) -> list[dict[str, Any]] | None:
    """The cells of a notebook's JSON text, or None if it is not a notebook."""
    try:  # depth-checked: a cell source nested 900 deep would otherwise overflow str() later
        data = loads_json(text, max_depth=NOTEBOOK_MAX_DEPTH, what="notebook")
    except UntrustedDataError:
        return None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return None
    return [c for c in cells if isinstance(c, dict)]


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return str(source)


def notebook_code(cells: list[dict[str, Any]]) -> str:
    return "\n".join(cell_source(c) for c in cells if c.get("cell_type") == "code")


def context(source: str, line: int, around: int = 2, width: int = 160) -> list[dict[str, Any]]:
    """Lines ``line - around`` .. ``line + around`` of ``source`` as ``{"line", "text", "hit"}`` (plain text)."""
    lines = source.splitlines()
    first, last = max(1, line - around), min(len(lines), line + around)
    return [{"line": n, "text": lines[n - 1][:width].expandtabs(4), "hit": n == line} for n in range(first, last + 1)]
