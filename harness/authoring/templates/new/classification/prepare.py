"""Prepare hook for __TITLE__: a raw table -> public inputs, hidden labels, starter-kit data.

Called as ``prepare(sources, out, seed)`` by ``grade data prepare`` and ``grade check``:
``sources`` maps each ``[[data.sources]]`` name of assignment.toml to its verified file.

Add your data in one of two ways:
- declare the raw CSV in assignment.toml (``[[data.sources]]`` name + sha256, the file under
  GRADE_DATA_DIR) and set SOURCE and TARGET below; or
- rewrite :func:`load_table` (for example to load a dataset that scikit-learn ships).

Writes (rows sorted by an opaque id, so row order reveals nothing):
- ``inputs/train.csv``        id, features..., label    (the sandbox's /data)
- ``inputs/test.csv``         id, features...           (holdout features, no label)
- ``hidden/test_labels.csv``  id, label                 (host only: never in a container or kit)
- ``kit/train.csv``           the training table, for the starter kit
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

SOURCE = "__ASSIGNMENT_ID__/data.csv"
TARGET_IN_SOURCE = "label"
"""The column to predict, as the raw file names it (renamed to ``label``)."""
TEST_FRACTION = 0.25
ID_SALT = "__ASSIGNMENT_ID__"


def load_table(sources: dict[str, Path]) -> pd.DataFrame:
    """The whole raw table: feature columns plus the label column."""
    if SOURCE not in sources:
        raise ValueError(
            f"no data yet: declare {SOURCE!r} under [[data.sources]] in assignment.toml (name + sha256) "
            "and put the file under GRADE_DATA_DIR, or rewrite load_table() in prepare.py"
        )
    return pd.read_csv(sources[SOURCE])


def prepare(sources: dict[str, Path], out, seed: int) -> None:
    table = load_table(sources).reset_index(drop=True)
    if TARGET_IN_SOURCE not in table.columns:
        raise ValueError(f"the table has no column {TARGET_IN_SOURCE!r} (columns: {list(table.columns)})")
    table = table.rename(columns={TARGET_IN_SOURCE: "label"})
    table["label"] = table["label"].astype(str)
    table.insert(0, "id", ["r" + hashlib.sha256(f"{ID_SALT}:{i}".encode()).hexdigest()[:10] for i in range(len(table))])
    order = np.random.default_rng(seed).permutation(len(table))
    n_test = max(1, round(len(table) * TEST_FRACTION))
    test = table.iloc[order[:n_test]].sort_values("id")
    train = table.iloc[order[n_test:]].sort_values("id")
    train.to_csv(out.inputs / "train.csv", index=False)
    test.drop(columns=["label"]).to_csv(out.inputs / "test.csv", index=False)
    test[["id", "label"]].to_csv(out.hidden / "test_labels.csv", index=False)
    train.to_csv(out.kit / "train.csv", index=False)
