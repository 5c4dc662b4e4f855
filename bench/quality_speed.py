"""Quality grader speed: seconds per thousand lines of code on a generated corpus.

    python bench/quality_speed.py [--kloc 20] [--rounds 5]

Generates a submission of about ``--kloc`` thousand code lines (Python modules with a mix of
clean functions, lint findings and branchy functions, plus notebooks, a README, requirements and
tests), runs the whole ``quality`` grader over it (file walk, ruff, LOC, context excerpts,
habit signals) and prints the median seconds per kLOC. Target: <= 0.1 s per kLOC.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from graders.base import GradeContext
from graders.quality import QualityGrader
from harness.spec import AssignmentSpec

MODULE = '''"""Module {m}."""

import os, sys
from pathlib import Path


def load_{m}(path: Path) -> list[str]:
    """Read lines."""
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def Branchy_{m}(x, acc=[]):
{branches}    return acc


def score_{m}(values: list[float]) -> float:
    total = 0.0
    for v in values:
        if v == None:
            continue
        total += v
    return total / max(len(values), 1)

'''


def make_corpus(root: Path, kloc: float) -> int:
    """Write the corpus; return its code-line count (as the grader counts: non-blank, non-comment)."""
    branches = "".join(f"    if x == {i}:\n        acc.append({i})\n" for i in range(14))
    body = MODULE.replace("{branches}", branches)
    lines_per_module = sum(1 for line in body.splitlines() if line.strip() and not line.strip().startswith("#"))
    modules = max(1, round(kloc * 1000 * 0.9 / lines_per_module))
    pkg = root / "src"
    pkg.mkdir(parents=True)
    for m in range(modules):
        (pkg / f"mod_{m}.py").write_text(body.format(m=m), encoding="utf-8")
    cells = [
        {
            "cell_type": "code",
            "execution_count": i + 1,
            "metadata": {},
            "outputs": [],
            "source": body.format(m=f"nb{i}"),
        }
        for i in range(max(1, modules // 10))
    ]
    (root / "analysis.ipynb").write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    (root / "README.md").write_text("Run: `python -m src.mod_0`\n")
    (root / "requirements.txt").write_text("pandas==2.2.2\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_mod.py").write_text("def test_ok():\n    assert True\n")
    return lines_per_module * (modules + len(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kloc", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "submission"
        make_corpus(root, args.kloc)
        ctx = GradeContext(
            spec=AssignmentSpec(id="bench", title="bench"),
            assignment_dir=root,
            submission_dir=root,
            inputs_dir=root,
            hidden_dir=root,
            output_dir=root,
            logs_dir=root,
        )
        grader = QualityGrader()
        times, result = [], None
        for _ in range(args.rounds):
            started = time.perf_counter()
            result = grader.grade(ctx)
            times.append(time.perf_counter() - started)
        assert result is not None
        loc = result.measurements["loc"] or 1
        per_kloc = [t / (loc / 1000) for t in times]
        print(
            f"corpus: {loc:,.0f} code lines in {result.measurements['files_linted']:.0f} files, "
            f"{result.measurements['findings']:,.0f} findings, max complexity {result.measurements['complexity_max']:.0f}"
        )
        print(
            f"quality grader: median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}) "
            f"over {args.rounds} rounds"
        )
        print(f"seconds per kLOC: median {statistics.median(per_kloc):.4f} (target <= 0.1)")


if __name__ == "__main__":
    main()
