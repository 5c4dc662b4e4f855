"""Fixtures for the hidden tests. They run in the sandbox as the runner's uid, in a pytest process
that never imports the candidate's code: ``candidate`` (provided by the harness) reaches it in a
process of its own, as data (docs/authoring.md). /data is the public inputs, /output the folder
the candidate's code may write."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def predict_module(candidate):
    """``predict.py``, imported once in the candidate's process (a failure is cached for every test)."""
    return candidate.module("predict")


@pytest.fixture(scope="session")
def train_rows() -> list[dict[str, str]]:
    with open(DATA_DIR / "train.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def output_dir() -> Path:
    return OUTPUT_DIR
