"""Fixtures for the hidden tests. They run inside the sandbox in a pytest process that never
imports the candidate's code: the ``candidate`` fixture (provided by the harness) reaches it in a
process of its own, and what crosses is data (docs/authoring.md). /data is the public inputs,
/output the folder the candidate's code may write."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def solution(candidate):
    """The candidate's predict.py, imported once in its own process (a failure is cached for every test)."""
    return candidate.module("predict")


@pytest.fixture(scope="session")
def train() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "train.csv")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    return OUTPUT_DIR
