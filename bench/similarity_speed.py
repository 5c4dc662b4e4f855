"""Similarity speed: ``grade similarity`` over a generated round.

    python bench/similarity_speed.py [--submissions 100] [--lines 300] [--rounds 3]

Generates ``--submissions`` submission folders of about ``--lines`` lines of Python each
(varied functions built from a shared vocabulary, so pairs share idioms but not code; one pair
is a copy with renamed variables), then runs the whole round comparison as the command does:
safe unpacking, tokenising, fingerprinting, every pair, spans, and the HTML page. Prints the
median wall time. Target: under 30 s for 100 submissions of 300 lines.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from harness.panel.similarity import (
    code_files,
    load_code,
    render_similarity_html,
    similarity,
)

OPS = ["+", "-", "*", "//", "%"]
CALLS = ["sorted({v})", "len({v})", "sum({v})", "max({v}, default=0)", "list(reversed({v}))", "set({v})"]


def function(rng: random.Random, n: int) -> list[str]:
    args = [f"a{rng.randrange(100)}", f"b{rng.randrange(100)}"]
    lines = [f"def step_{n}_{rng.randrange(10**6)}({', '.join(args)}):", f'    """Step {n}."""', "    acc = []"]
    for _ in range(rng.randrange(4, 10)):
        v = rng.choice([*args, "acc"])
        kind = rng.randrange(4)
        if kind == 0:
            lines.append(f"    for i in range({rng.randrange(2, 50)}):")
            lines.append(f"        acc.append(i {rng.choice(OPS)} {rng.randrange(1, 9)})")
        elif kind == 1:
            lines.append(f"    if {v} {rng.choice(['>', '<', '=='])} {rng.randrange(100)}:")
            lines.append(f"        {v} = {rng.choice(CALLS).format(v='acc')}")
        elif kind == 2:
            lines.append(f"    x{rng.randrange(9)} = {rng.choice(CALLS).format(v=v)}")
        else:
            lines.append(f"    acc.extend([{', '.join(str(rng.randrange(99)) for _ in range(rng.randrange(1, 6)))}])")
    lines.append(f"    return acc {rng.choice(OPS)} [{rng.randrange(9)}]")
    return [*lines, ""]


def submission(rng: random.Random, lines: int) -> str:
    out = ['"""A generated submission."""', "import os", "import sys", ""]
    n = 0
    while len(out) < lines:
        out += function(rng, n)
        n += 1
    return "\n".join(out) + "\n"


def generate(root: Path, count: int, lines: int) -> dict[str, Path]:
    rng = random.Random(0)
    sources = {}
    for i in range(count):
        folder = root / f"cand{i:03d}"
        folder.mkdir(parents=True)
        code = submission(rng, lines)
        if i == count - 1:  # a copy of cand000 with every local name changed
            code = re.sub(
                r"\b(acc|a\d+|b\d+|x\d)\b",
                lambda m: "renamed_" + m.group(1),
                (root / "cand000" / "predict.py").read_text(),
            )
        (folder / "predict.py").write_text(code)
        sources[folder.name] = folder
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory(prefix="holdout-bench-sim-") as tmp:
        sources = generate(Path(tmp), args.submissions, args.lines)
        total_lines = sum(len(code_files(p)["predict.py"].splitlines()) for p in sources.values())
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            codes = {name: load_code(path) for name, path in sources.items()}
            pairs, docs = similarity(codes, top=200)  # as `grade similarity` (--top 200)
            render_similarity_html({"submissions": len(codes), "k": 12, "window": 8, "pairs": pairs}, docs)
            times.append(time.perf_counter() - t0)
    top = pairs[0]
    print(f"{args.submissions} submissions, {total_lines} lines, top {len(pairs)} pairs kept")
    print(f"top pair: {top['a']} ↔ {top['b']} score {top['score']:.2f}")
    print(
        f"similarity over the round: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}; target < 30 s)"
    )


if __name__ == "__main__":
    main()
