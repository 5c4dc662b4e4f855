"""Generate the committed split of the CMU QA S10 questions (run once; the id lists are the truth).

    python assignments/genai_rag/make_splits.py [DATA_DIR] [--check]

``DATA_DIR`` defaults to ``$GRADE_DATA_DIR`` (it must hold ``rag_eval/cmu_qa_s10/``). The 792
(article, question) pairs with an answer are stratified by topic (the six article sets) and the
questioner's difficulty; within each stratum a numpy Generator seeded with 20240611 orders the
questions, and the first ones go to the public dev set, the next ones to the hidden eval set, in
numbers proportional to the stratum's size (largest remainder, so the totals are exactly
``DEV_SIZE`` and ``EVAL_SIZE``). The remaining questions are held back, unused, for a future
version of the assignment. ``--check`` only compares with the committed lists.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from prepare import (
    DEV_IDS,
    EVAL_IDS,
    QA_SOURCE,
    SPLITS_DIR,
    Item,
    article_source,
    load_items,
)

SEED = 20240611
DEV_SIZE = 100
EVAL_SIZE = 300


def allocate(sizes: dict[tuple[str, str], int], total: int) -> dict[tuple[str, str], int]:
    """Split ``total`` over strata in proportion to ``sizes`` (largest remainder, ties by key)."""
    n = sum(sizes.values())
    exact = {k: total * v / n for k, v in sizes.items()}
    counts = {k: math.floor(x) for k, x in exact.items()}
    left = total - sum(counts.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - counts[k]), k))[:left]:
        counts[key] += 1
    return counts


def split_items(items: Sequence[Item], seed: int = SEED) -> tuple[list[str], list[str]]:
    """Stratified (topic, difficulty) draw of the dev and eval ids."""
    rng = np.random.default_rng(seed)
    strata: dict[tuple[str, str], list[Item]] = {}
    for item in sorted(items, key=lambda i: i.id):
        strata.setdefault((item.topic, item.difficulty), []).append(item)
    sizes = {k: len(v) for k, v in strata.items()}
    n_dev = allocate(sizes, DEV_SIZE)
    n_eval = allocate(sizes, EVAL_SIZE)
    dev: list[str] = []
    ev: list[str] = []
    for key in sorted(strata):
        members = strata[key]
        order = rng.permutation(len(members))
        chosen = [members[i].id for i in order]
        dev += chosen[: n_dev[key]]
        ev += chosen[n_dev[key] : n_dev[key] + n_eval[key]]
    return sorted(dev), sorted(ev)


def _summary(name: str, ids: Sequence[str], by_id: dict[str, Item]) -> str:
    chosen = [by_id[i] for i in ids]
    yes_no = sum(i.yes_no for i in chosen)
    topics = Counter(i.topic for i in chosen)
    return f"{name}: {len(chosen)} questions, {yes_no} yes/no, topics {dict(sorted(topics.items()))}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, help="the folder holding rag_eval/cmu_qa_s10/")
    parser.add_argument("--check", action="store_true", help="compare with the committed lists, write nothing")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or (Path(os.environ["GRADE_DATA_DIR"]) if os.environ.get("GRADE_DATA_DIR") else None)
    if data_dir is None:
        raise SystemExit("give the data folder, or set GRADE_DATA_DIR")
    names = [QA_SOURCE] + [article_source(s, a) for s in range(1, 7) for a in range(1, 11)]
    _, items = load_items({name: data_dir / name for name in names})
    dev, ev = split_items(items)
    by_id = {i.id: i for i in items}
    print(f"{len(items)} questions with an answer, {sum(i.yes_no for i in items)} yes/no")
    print(_summary("dev", dev, by_id))
    print(_summary("eval", ev, by_id))
    files = {SPLITS_DIR / DEV_IDS: dev, SPLITS_DIR / EVAL_IDS: ev}
    if args.check:
        stale = [p.name for p, ids in files.items() if not p.is_file() or p.read_text(encoding="utf-8").split() != ids]
        print("committed lists match" if not stale else f"differs from the committed: {', '.join(stale)}")
        return 1 if stale else 0
    SPLITS_DIR.mkdir(exist_ok=True)
    for path, ids in files.items():
        path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
