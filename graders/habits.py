"""Engineering-habit signals read from a submission's files (as data, never executed).

Each check returns a :class:`Signal`: ``value`` 1.0 (habit present) or 0.0, and plain-text
``evidence`` saying why. Secrets are never echoed: evidence names the file, line and kind only.

- ``has_readme_run_instructions``: a README at the root that says how to run the code.
- ``has_tests``: a test file (``test_*.py``, ``*_test.py`` or under ``tests/``) with a test in it.
- ``deps_declared`` / ``deps_pinned``: a requirements file, ``pyproject.toml``, ``environment.yml``
  or ``Pipfile``; pinned means a lock file, or every requirement with ``==``. Code that imports
  only the standard library (and its own modules) and declares nothing has nothing to pin:
  both are not applicable (``None``).
- ``no_secrets``: no private keys, cloud/API tokens or hard-coded credentials in text files.
- ``no_large_files``: no file above the size limit (datasets, model weights, virtualenvs).
- ``notebook_hygiene``: every notebook's executed cells ran in order, no error outputs are
  left in, and outputs are not enormous. Without notebooks it is not applicable (``None``):
  neither a reward nor a penalty.

A signal whose ``value`` is ``None`` does not apply to the submission and is left out of the
``habits`` mean.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from graders.files import SubmissionFile, read_text
from graders.lint import cell_source, notebook_cells
from graders.secret_scan import (
    MAX_SECRET_HITS,
    MAX_SECRET_HITS_PER_FILE,
    MAX_SECRET_SCAN_BYTES,
    SECRET_FILES,
    SECRET_PATTERNS,
    TEXT_SUFFIXES,
    _env_has_values,
    find_secrets,
    redact,
)

__all__ = [  # the secret scan's names stay importable from here
    "MAX_SECRET_HITS",
    "MAX_SECRET_HITS_PER_FILE",
    "MAX_SECRET_SCAN_BYTES",
    "SECRET_PATTERNS",
    "Signal",
    "find_secrets",
    "redact",
    "secrets_signal",
]


@dataclass
class Signal:
    name: str
    value: float | None
    """1.0 present, 0.0 absent, None not applicable."""
    evidence: list[str] = field(default_factory=list)
    """Why, in plain text; the first item is the headline."""
    problems: list[str] = field(default_factory=list)
    """Files that did not fit (a ``pyproject.toml`` of another shape): said even when the habit
    does not apply, so the reviewer knows what was not read."""


README_NAMES = re.compile(r"^readme(\.(md|markdown|rst|txt))?$", re.IGNORECASE)
RUN_HINTS = re.compile(
    r"(\bpython3?\s+(-m\s+)?[\w./-]+|\bjupyter\s+(nbconvert|notebook|lab|execute|run)\b|\bpip\s+install\b|"
    r"\bmake\s+\w+|\bdocker\s+(run|build|compose)\b|\b(uv|poetry|pipenv|hatch|pdm)\s+(run|install|sync)\b|"
    r"\bconda\s+(env|create|activate)\b|\bpytest\b|\bnbclient\b|\bpapermill\b)",
    re.IGNORECASE,
)
TEST_DEF = re.compile(r"^\s*(async\s+)?def\s+test\w*\s*\(|unittest\.TestCase|^\s*class\s+Test\w*", re.MULTILINE)
LOCK_FILES = frozenset(
    {"poetry.lock", "uv.lock", "pipfile.lock", "pdm.lock", "conda-lock.yml", "conda-lock.yaml", "pylock.toml"}
)
REQUIREMENTS = re.compile(r"^requirements([-_.\w]*)\.(txt|in)$", re.IGNORECASE)
ENV_FILES = frozenset({"environment.yml", "environment.yaml"})
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def readme_signal(root: Path, files: list[SubmissionFile]) -> Signal:
    readmes = [f for f in files if len(f.parts) == 1 and README_NAMES.match(f.name)]
    if not readmes:
        return Signal("has_readme_run_instructions", 0.0, ["no README at the submission root"])
    for f in readmes:
        text = read_text(root, f.rel, 512 * 1024) or ""
        match = RUN_HINTS.search(text)
        if match:
            return Signal(
                "has_readme_run_instructions", 1.0, [f"{f.rel} says how to run it ({match.group(0).strip()[:60]!r})"]
            )
    return Signal(
        "has_readme_run_instructions", 0.0, [f"{readmes[0].rel} does not say how to run the code (no command found)"]
    )


def tests_signal(root: Path, files: list[SubmissionFile]) -> Signal:
    candidates = [
        f
        for f in files
        if f.suffix == ".py"
        and (
            f.name.startswith("test_")
            or f.name.endswith("_test.py")
            or "tests" in f.parts[:-1]
            or "test" in f.parts[:-1]
        )
    ]
    with_tests = [f.rel for f in candidates if TEST_DEF.search(read_text(root, f.rel, 1 * 2**20) or "")]
    if with_tests:
        return Signal("has_tests", 1.0, [f"{len(with_tests)} test file(s): {', '.join(with_tests[:3])}"])
    if candidates:
        return Signal("has_tests", 0.0, [f"{candidates[0].rel} looks like a test file but defines no test"])
    return Signal("has_tests", 0.0, ["no tests (no test_*.py or tests/ folder)"])


def _requirement_lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue  # comments, and options such as -r other.txt, -e ., --index-url
        out.append(line)
    return out


def _req_name(requirement: str) -> str:
    match = _REQ_NAME.match(requirement)
    return match.group(1) if match else requirement[:40]


def _pinned(requirement: str) -> bool:
    spec = requirement.split(";", 1)[0]
    return "==" in spec or "@" in spec  # name==1.2, or a direct reference pinned to a URL/commit


def deps_signals(root: Path, files: list[SubmissionFile]) -> tuple[Signal, Signal]:
    """``deps_declared`` and ``deps_pinned``."""
    shallow = [f for f in files if len(f.parts) <= 2]
    locks = [f.rel for f in shallow if f.name.lower() in LOCK_FILES]
    declared: list[str] = []
    unpinned: list[str] = []
    problems: list[str] = []
    for f in shallow:
        lower = f.name.lower()
        if REQUIREMENTS.match(f.name):
            reqs = _requirement_lines(read_text(root, f.rel, 512 * 1024) or "")
        elif lower == "pyproject.toml":
            found, problem = read_pyproject(read_text(root, f.rel, 512 * 1024) or "")
            if problem:
                problems.append(f"{f.rel}: {problem.removeprefix('pyproject.toml: ')}")
            if found is None:
                continue
            reqs = found
        elif lower in ENV_FILES:
            text = read_text(root, f.rel, 512 * 1024) or ""
            reqs = [m.group(1) for m in re.finditer(r"^\s*-\s+([A-Za-z0-9][^\s#]*)", text, re.MULTILINE)]
            unpinned += [f"{f.rel}: {r}" for r in reqs if not re.search(r"[=@]", r)]
            declared.append(f.rel)
            continue
        elif lower == "pipfile":
            declared.append(f.rel)
            continue
        else:
            continue
        declared.append(f.rel)
        unpinned += [f"{f.rel}: {_req_name(r)}" for r in reqs if not _pinned(r)]
    if not declared and not locks:
        third_party = third_party_imports(root, files)
        if not third_party:
            why = "only the standard library is imported: nothing to declare or pin"
            return (
                Signal("deps_declared", None, [why, *problems], problems),
                Signal("deps_pinned", None, [why, *problems], problems),
            )
        none = Signal(
            "deps_declared",
            0.0,
            [
                "dependencies not declared (no requirements.txt, pyproject.toml or environment.yml; "
                f"the code imports {', '.join(third_party[:5])})",
                *problems,
            ],
        )
        return none, Signal("deps_pinned", 0.0, ["dependencies not declared, so not pinned either", *problems])
    decl = Signal("deps_declared", 1.0, [f"dependencies declared in {', '.join((declared + locks)[:3])}", *problems])
    if locks:
        return decl, Signal("deps_pinned", 1.0, [f"lock file {locks[0]}", *problems])
    if unpinned:
        names = ", ".join(u.split(": ", 1)[1] for u in unpinned[:5])
        count = f"{len(unpinned)} dependenc{'y is' if len(unpinned) == 1 else 'ies are'}"
        return decl, Signal("deps_pinned", 0.0, [f"{count} not pinned with == ({names})", *problems])
    if any(f.name.lower() == "pipfile" for f in shallow):
        return decl, Signal("deps_pinned", 0.0, ["Pipfile without Pipfile.lock", *problems])
    return decl, Signal("deps_pinned", 1.0, ["every declared dependency is pinned with ==", *problems])


_IMPORT = re.compile(r"^[ \t]*(?:import[ \t]+([\w., \t]+)|from[ \t]+(\w+)[\w.]*[ \t]+import\b)", re.MULTILINE)
_SHELL_INSTALL = re.compile(r"^[ \t]*[!%]\s*(?:pip|uv|conda|mamba)\b", re.MULTILINE)
_STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


def third_party_imports(root: Path, files: list[SubmissionFile], *, max_bytes: int = 1 * 2**20) -> list[str]:
    """Top-level modules the code imports that are neither the standard library nor the
    submission's own modules (``.py`` files and notebook cells, read as text); ``["pip install"]``
    when a notebook installs packages itself."""
    own = {f.parts[0].removesuffix(".py") for f in files} | {f.name.removesuffix(".py") for f in files}
    found: dict[str, None] = {}
    for f in files:
        if f.suffix not in (".py", ".ipynb"):
            continue
        text = read_text(root, f.rel, max_bytes if f.suffix == ".py" else 16 * max_bytes) or ""
        if f.suffix == ".ipynb":
            text = "\n".join(cell_source(c) for c in notebook_cells(text) or [] if c.get("cell_type") == "code")
            if _SHELL_INSTALL.search(text):
                found["pip install"] = None
        for match in _IMPORT.finditer(text):
            names = [n.strip().split(" ")[0] for n in match.group(1).split(",")] if match.group(1) else [match.group(2)]
            for name in names:
                top = name.split(".")[0]
                if top and top.isidentifier() and top not in _STDLIB and top not in own:
                    found[top] = None
    return list(found)


def _pyproject_requirements(text: str) -> list[str] | None:
    """The requirement strings a ``pyproject.toml`` declares; None if it declares none (or is unreadable)."""
    return read_pyproject(text)[0]


def read_pyproject(text: str) -> tuple[list[str] | None, str]:
    """(requirement strings or None, what is wrong with the file, or ``""``).

    Total over any text: a candidate's pyproject may have any shape (``tool = "poetry"``,
    ``dependencies = 5``, a version that is a number); what does not fit is ignored and said."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # a nesting bomb is just an unreadable file
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:120]
        return None, f"pyproject.toml is not valid TOML ({why}); its dependencies were not read"
    return pyproject_requirements(data)


def _table(data: object, key: str) -> dict:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _nested(data: dict, keys: tuple[str, ...]) -> list[tuple[str, object]]:
    """(dotted key, value) for each of ``keys`` present in ``data`` under tables."""
    found = []
    for dotted in keys:
        node: object = data
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if node is not None:
            found.append((dotted, node))
    return found


def pyproject_requirements(data: dict) -> tuple[list[str] | None, str]:
    """:func:`read_pyproject` for an already parsed document."""
    problems = [
        f"[{key}] is not a table"
        for key, value in _nested(data, ("project", "tool", "tool.poetry", "tool.poetry.dependencies"))
        if not isinstance(value, dict)
    ]
    project = _table(data, "project")
    listed = project.get("dependencies", [])
    if not isinstance(listed, list):
        problems.append("[project] dependencies is not a list")
        listed = []
    reqs = [r for r in listed if isinstance(r, str)]
    if len(reqs) < len(listed):
        problems.append("[project] dependencies holds entries that are not strings")
    tool = _table(data, "tool")
    poetry = _table(_table(tool, "poetry"), "dependencies")
    for name, spec in poetry.items():
        if name.lower() == "python":
            continue
        version = spec.get("version", "") if isinstance(spec, dict) else spec
        if isinstance(version, (int, float)) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str):
            problems.append(f"[tool.poetry.dependencies] {name[:40]!r} has no version string")
            version = ""
        reqs.append(f"{name}=={version}" if re.fullmatch(r"\d[\w.]*", version) else f"{name}{version}")
    problem = ("pyproject.toml: " + "; ".join(problems[:3])) if problems else ""
    if not reqs and not project and not poetry:
        return None, problem
    return reqs, problem


def secrets_signal(
    root: Path, files: list[SubmissionFile], *, max_bytes: int = 2 * 2**20, max_total_bytes: int = MAX_SECRET_SCAN_BYTES
) -> Signal:
    hits: list[str] = []
    capped = False
    budget = max_total_bytes
    for f in files:
        if len(hits) >= MAX_SECRET_HITS or budget <= 0:
            capped = True
            break
        if SECRET_FILES.match(f.name) and f.name not in {".env.example", ".env.sample", ".env.template"}:
            text = read_text(root, f.rel, 64 * 1024) or ""
            if (
                f.suffix in {".pem", ".p12", ".pfx"}
                or f.name.startswith("id_")
                or _env_has_values(text)
                or f.name in {".netrc", ".pypirc"}
            ):
                hits.append(f"{f.rel}: a credentials file ({f.name}) is committed")
                continue
        if f.suffix not in TEXT_SUFFIXES or f.size > max_bytes:
            continue
        text = read_text(root, f.rel, min(max_bytes, budget))
        if not text:
            continue
        budget -= f.size
        limit = min(MAX_SECRET_HITS_PER_FILE, MAX_SECRET_HITS - len(hits))
        found = find_secrets(text, limit=limit)
        capped = capped or len(found) >= limit
        hits += [f"{f.rel} line {line}: possible {kind}" for line, kind in found]
    if hits:
        count = f"{len(hits)}{' or more' if capped else ''}"
        return Signal("no_secrets", 0.0, [f"{count} possible secret(s) committed: " + "; ".join(hits[:3])])
    note = f" (scan stopped after {max_total_bytes / 2**20:.3g} MB of text)" if capped else ""
    return Signal("no_secrets", 1.0, ["no keys, tokens or passwords found" + note])


def large_files_signal(files: list[SubmissionFile], *, limit_mb: float) -> Signal:
    limit = int(limit_mb * 2**20)
    big = sorted((f for f in files if f.size > limit), key=lambda f: -f.size)
    if big:
        shown = ", ".join(f"{f.rel} ({f.size / 2**20:.1f} MB)" for f in big[:3])
        return Signal("no_large_files", 0.0, [f"{len(big)} file(s) over {limit_mb:g} MB committed: {shown}"])
    total = sum(f.size for f in files)
    return Signal(
        "no_large_files", 1.0, [f"no file over {limit_mb:g} MB ({len(files)} files, {total / 2**20:.1f} MB in all)"]
    )


@dataclass
class NotebookCheck:
    """One notebook's hygiene: ran top to bottom, no error outputs left, outputs not enormous."""

    rel: str
    in_order: bool = True
    error_cells: list[int] = field(default_factory=list)
    output_bytes: int = 0
    executed: int = 0
    code_cells: int = 0
    readable: bool = True


def check_notebook(rel: str, text: str | None) -> NotebookCheck:
    check = NotebookCheck(rel)
    cells = notebook_cells(text) if text else None
    if cells is None:
        check.readable = False
        return check
    last = 0
    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        check.code_cells += 1
        count = cell.get("execution_count")
        if isinstance(count, int):
            check.executed += 1
            if count <= last:
                check.in_order = False
            last = count
        outputs = cell.get("outputs") or []
        if isinstance(outputs, list):
            check.output_bytes += len(json.dumps(outputs))
            if any(isinstance(o, dict) and o.get("output_type") == "error" for o in outputs):
                check.error_cells.append(index)
    return check


def notebook_signal(
    root: Path, files: list[SubmissionFile], *, max_output_kb: int
) -> tuple[Signal, list[NotebookCheck]]:
    notebooks = [f for f in files if f.suffix == ".ipynb"]
    if not notebooks:
        return Signal("notebook_hygiene", None, ["no notebooks: not applicable"]), []
    checks = [check_notebook(f.rel, read_text(root, f.rel, 64 * 2**20)) for f in notebooks]
    problems = []
    for c in checks:
        if not c.readable:
            problems.append(f"{c.rel} is not a valid notebook")
            continue
        if not c.in_order:
            problems.append(f"{c.rel}: cells were executed out of order")
        if c.error_cells:
            problems.append(f"{c.rel}: error output left in cell(s) {', '.join(map(str, c.error_cells[:5]))}")
        if c.output_bytes > max_output_kb * 1024:
            problems.append(f"{c.rel}: outputs take {c.output_bytes / 1024:,.0f} KB (limit {max_output_kb:,} KB)")
    if problems:
        return Signal("notebook_hygiene", 0.0, problems), checks
    return Signal(
        "notebook_hygiene", 1.0, [f"{len(checks)} notebook(s): executed in order, no error outputs, outputs small"]
    ), checks


def cells_with_source(text: str) -> list[str]:
    """Sources of every cell (for context lines of notebook findings); empty if unreadable."""
    cells = notebook_cells(text)
    return [cell_source(c) for c in cells] if cells else []
