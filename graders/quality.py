"""The ``quality`` grader: lint density, complexity and engineering habits, read on the host.

The submission's files are data here: ruff parses them (see :mod:`graders.lint` for the pinned
rules and why candidate configuration and ``# noqa`` comments cannot switch them off), and
:mod:`graders.habits` reads READMEs, requirement files and notebooks as text. Nothing the
candidate wrote is imported or run.

Measurements:

- ``loc`` (code lines in ``.py`` files and notebook code cells), ``files_linted``, ``findings``;
- ``findings_per_kloc``: findings per thousand lines, counted over at least 200 lines (lower is
  better); the lines a shorter submission lacks count at ``unseen_findings_per_kloc`` (15), so
  a 14-line script cannot reach the marks of 200 clean lines;
- ``complexity_max`` (highest cyclomatic complexity of any function) and ``complex_functions``
  (how many exceed ``max_complexity``; each is also a finding);
- habit signals, each 0 or 1, or None where the habit does not apply (``deps_*`` for code that
  imports only the standard library, ``notebook_hygiene`` without notebooks):
  ``has_readme_run_instructions``, ``has_tests``, ``deps_declared``, ``deps_pinned``,
  ``no_secrets``, ``no_large_files``, ``notebook_hygiene``;
- ``habits``: the mean of the six habit signals that apply (``deps_declared`` is implied by
  ``deps_pinned``): a habit that does not apply is neither a reward nor a penalty.

Details: ``lint`` (counts by category and rule, the worst findings with a few lines of code
around them, stored as plain text and escaped by whoever renders them), ``habits`` (each
signal's value and evidence), ``notebooks`` and ``evidence`` (rubric evidence per measurement).
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field

from graders import habits as habit_checks
from graders.base import GradeContext, Grader, GraderConfig
from graders.files import SubmissionFile, list_files, read_text
from graders.lint import (
    IGNORE,
    LINE_LENGTH,
    MIN_KLOC,
    RUFF_VERSION,
    SELECT,
    UNSEEN_FINDINGS_PER_KLOC,
    Finding,
    LintRun,
    code_lines,
    context,
    findings_density,
    notebook_cells,
    notebook_code,
    ruff_binary,
    run_ruff,
)
from harness.models import GraderResult, Level, Message

HABITS = ("has_readme_run_instructions", "has_tests", "deps_pinned", "no_secrets", "no_large_files", "notebook_hygiene")
HABIT_TITLES = {
    "has_readme_run_instructions": "README says how to run it",
    "has_tests": "tests present",
    "deps_declared": "dependencies declared",
    "deps_pinned": "dependencies pinned",
    "no_secrets": "no secrets committed",
    "no_large_files": "no huge files committed",
    "notebook_hygiene": "notebook hygiene",
}
HABIT_CODES = {
    "has_readme_run_instructions": "no_run_instructions",
    "has_tests": "no_tests",
    "deps_pinned": "deps_not_pinned",
    "no_secrets": "possible_secret",
    "no_large_files": "large_files",
    "notebook_hygiene": "notebook_hygiene",
}


class QualityConfig(GraderConfig):
    max_complexity: int = Field(default=10, ge=1)
    """Functions above this cyclomatic complexity count as findings."""
    large_file_mb: float = Field(default=5.0, gt=0)
    notebook_output_kb: int = Field(default=2048, ge=1)
    """Notebook outputs (all cells together) above this are 'enormous'."""
    worst: int = Field(default=8, ge=0, le=50)
    """How many findings to keep with code context."""
    context_lines: int = Field(default=2, ge=0, le=10)
    max_files: int = Field(default=500, ge=1)
    max_file_kb: int = Field(default=1024, ge=1)
    """Python files larger than this are treated as generated and not linted."""
    timeout_s: float = Field(default=60.0, gt=0)
    unseen_findings_per_kloc: float = Field(default=UNSEEN_FINDINGS_PER_KLOC, ge=0)
    """Density assumed for the lines a submission has fewer than 200 of."""


class QualityGrader(Grader):
    """Lint findings per kLOC by category, complexity and engineering-habit signals (host, read-only)."""

    PLUGIN_NAME = "quality"
    Config = QualityConfig
    DESCRIPTION = "Code quality: ruff findings per kLOC (harness rules), complexity, engineering habits."

    @property
    def cfg(self) -> QualityConfig:
        assert isinstance(self.config, QualityConfig)
        return self.config

    def independent_of_run(self) -> bool:
        return True  # the submission's files only

    def grade(self, ctx: GradeContext) -> GraderResult:
        started = time.perf_counter()
        root = ctx.submission_dir
        files = list_files(root)
        result = GraderResult(grader=self.name)
        lint, lint_details = self._lint(root, files)
        lint_details["duration_s"] = round(time.perf_counter() - started, 4)
        signals = self._habits(root, files, result)
        result.measurements.update(lint)
        result.measurements.update({s.name: s.value for s in signals.values()})
        applicable = [signals[h].value for h in HABITS if signals[h].value is not None]
        result.measurements["habits"] = round(sum(applicable) / len(applicable), 4)
        result.details.update(
            lint=lint_details,
            habits={
                name: {"value": s.value, "title": HABIT_TITLES[name], "evidence": s.evidence}
                for name, s in signals.items()
            },
            evidence={
                "findings_per_kloc": self._lint_evidence(lint, lint_details),
                "habits": [_mark(signals[h].value) + f"{HABIT_TITLES[h]}: {signals[h].evidence[0]}" for h in HABITS],
            },
        )
        result.messages.insert(
            0,
            Message(
                code="lint_summary",
                level=Level.INFO,
                source=self.name,
                text=self._lint_evidence(lint, lint_details)[0],
            ),
        )
        return result

    # --- lint ---------------------------------------------------------------------------

    def _lint(self, root: Path, files: list[SubmissionFile]) -> tuple[dict[str, float | None], dict[str, Any]]:
        cfg = self.cfg
        candidates = [f for f in files if f.suffix in (".py", ".ipynb")]
        notes: list[str] = []
        too_big = [f.rel for f in candidates if f.suffix == ".py" and f.size > cfg.max_file_kb * 1024]
        if too_big:
            notes.append(f"not linted (over {cfg.max_file_kb} KB, likely generated): {', '.join(too_big[:3])}")
        lintable = [f for f in candidates if f.rel not in set(too_big)]
        if len(lintable) > cfg.max_files:
            notes.append(f"only the first {cfg.max_files} of {len(lintable)} Python files and notebooks were linted")
            lintable = lintable[: cfg.max_files]
        sources: dict[str, str | list[str]] = {}
        loc = 0
        for f in lintable:
            text = read_text(root, f.rel, 64 * 2**20 if f.suffix == ".ipynb" else cfg.max_file_kb * 1024) or ""
            if f.suffix == ".ipynb":
                cells = notebook_cells(text) or []
                sources[f.rel] = [habit_checks.cell_source(c) for c in cells]
                loc += code_lines(notebook_code(cells))
            else:
                sources[f.rel] = text
                loc += code_lines(text)
        run = LintRun()
        if lintable:
            run = run_ruff(root, [f.rel for f in lintable], max_complexity=cfg.max_complexity, timeout_s=cfg.timeout_s)
        complexity_max = max(run.complexity.values(), default=None)
        by_rule = Counter(f.code if f.name in ("", f.code) else f"{f.code} {f.name}" for f in run.findings)
        details: dict[str, Any] = {
            "tool": "ruff",
            "ruff_version": _ruff_version(),
            "pinned_ruff_version": RUFF_VERSION,
            "select": list(SELECT),
            "ignore": list(IGNORE),
            "line_length": LINE_LENGTH,
            "max_complexity": cfg.max_complexity,
            "candidate_config_ignored": True,
            "noqa_ignored": True,
            "files": len(lintable),
            "loc": loc,
            "min_loc": int(MIN_KLOC * 1000),
            "unseen_findings_per_kloc": cfg.unseen_findings_per_kloc,
            "findings": len(run.findings),
            "by_category": run.counts_by_category(),
            "by_rule": dict(by_rule.most_common(10)),
            "by_file": dict(Counter(f.file for f in run.findings).most_common(5)),
            "complexity_top": [
                {"function": name, "complexity": score}
                for name, score in sorted(run.complexity.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            ],
            "worst": [self._excerpt(f, sources) for f in worst_findings(run.findings, cfg.worst)],
            "notes": notes,
        }
        measurements: dict[str, float | None] = {
            "loc": float(loc),
            "files_linted": float(len(lintable)),
            "findings": float(len(run.findings)),
            "findings_per_kloc": findings_density(len(run.findings), loc, unseen_per_kloc=cfg.unseen_findings_per_kloc),
            "complexity_max": float(complexity_max) if complexity_max is not None else None,
            "complex_functions": float(sum(1 for s in run.complexity.values() if s > cfg.max_complexity)),
            "syntax_errors": float(sum(1 for f in run.findings if f.category == "syntax")),
        }
        return measurements, details

    def _excerpt(self, finding: Finding, sources: dict[str, str | list[str]]) -> dict[str, Any]:
        source = sources.get(finding.file, "")
        if isinstance(source, list):
            source = source[finding.cell - 1] if finding.cell and 0 < finding.cell <= len(source) else ""
        return {
            "file": finding.file,
            "cell": finding.cell,
            "line": finding.line,
            "column": finding.column,
            "code": finding.code,
            "name": finding.name,
            "category": finding.category,
            "message": finding.message,
            "context": [
                {**line, "text": habit_checks.redact(line["text"])}
                for line in (context(source, finding.line, self.cfg.context_lines) if source else [])
            ],
        }

    @staticmethod
    def _lint_evidence(lint: dict[str, float | None], details: dict[str, Any]) -> list[str]:
        cats = ", ".join(f"{name} {count}" for name, count in details["by_category"].items()) or "none"
        lines = [
            f"{details['findings']} ruff finding(s) in {details['loc']} lines of code "
            f"({lint['findings_per_kloc']:g} per kLOC; by category: {cats})",
        ]
        if details["by_rule"]:
            lines.append(
                "most frequent: " + ", ".join(f"{rule} ×{n}" for rule, n in list(details["by_rule"].items())[:3])
            )
        if details["complexity_top"]:
            top = details["complexity_top"][0]
            lines.append(
                f"most complex function: {top['function'].split('@')[0]} (cyclomatic complexity {top['complexity']})"
            )
        if details["loc"] < details["min_loc"]:
            lines.append(
                f"only {details['loc']} lines of code: counted as {details['min_loc']}, the missing lines at "
                f"{details['unseen_findings_per_kloc']:g} findings per kLOC (too little code to show its quality)"
            )
        lines.append("harness rule set; the candidate's ruff/pyproject config and # noqa comments are ignored")
        return lines

    # --- habits -------------------------------------------------------------------------

    def _habits(self, root: Path, files: list[SubmissionFile], result: GraderResult) -> dict[str, habit_checks.Signal]:
        cfg = self.cfg
        declared, pinned = habit_checks.deps_signals(root, files)
        notebook, checks = habit_checks.notebook_signal(root, files, max_output_kb=cfg.notebook_output_kb)
        signals = {
            "has_readme_run_instructions": habit_checks.readme_signal(root, files),
            "has_tests": habit_checks.tests_signal(root, files),
            "deps_declared": declared,
            "deps_pinned": pinned,
            "no_secrets": habit_checks.secrets_signal(root, files),
            "no_large_files": habit_checks.large_files_signal(files, limit_mb=cfg.large_file_mb),
            "notebook_hygiene": notebook,
        }
        result.details["notebooks"] = [
            {
                "file": c.rel,
                "readable": c.readable,
                "in_order": c.in_order,
                "error_cells": c.error_cells,
                "output_kb": round(c.output_bytes / 1024, 1),
                "executed_cells": c.executed,
                "code_cells": c.code_cells,
            }
            for c in checks
        ]
        for name in HABITS:
            signal = signals[name]
            if signal.value == 0:
                level = Level.ERROR if name == "no_secrets" else Level.WARNING
                result.messages.append(
                    Message(code=HABIT_CODES[name], text="; ".join(signal.evidence), level=level, source=self.name)
                )
        unread = dict.fromkeys(p for name in HABITS if signals[name].value is None for p in signals[name].problems)
        if unread:  # a habit that does not apply still says which file it could not read
            result.messages.append(
                Message(code="unread_project_file", text="; ".join(unread), level=Level.INFO, source=self.name)
            )
        return signals


def _mark(value: float | None) -> str:
    return "– " if value is None else "✓ " if value else "✗ "


def worst_findings(findings: list[Finding], n: int) -> list[Finding]:
    """The ``n`` findings a reviewer should see: most severe first, one per rule before repeats."""
    ranked = sorted(findings, key=lambda f: (-f.severity, f.file, f.cell or 0, f.line, f.column))
    chosen: list[Finding] = []
    seen: set[str] = set()
    for f in ranked:
        if len(chosen) >= n:
            break
        if f.code not in seen:
            chosen.append(f)
            seen.add(f.code)
    for f in ranked:
        if len(chosen) >= n:
            break
        if f not in chosen:
            chosen.append(f)
    return sorted(chosen, key=lambda f: (-f.severity, f.file, f.cell or 0, f.line))


@functools.lru_cache(maxsize=1)
def _ruff_version() -> str:
    try:
        out = subprocess.run([ruff_binary(), "--version"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip().removeprefix("ruff ").strip() or "unknown"
