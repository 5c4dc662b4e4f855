"""Fixtures for the hidden tests. They run inside the sandbox: /submission is the candidate's
code (read-only, first on sys.path), /data the public inputs, /output a scratch folder."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

SUBMISSION = Path("/submission")
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def solution():
    """The candidate's predict.py, imported once (a failure is cached for every test)."""
    path = SUBMISSION / "predict.py"
    if not path.is_file():
        pytest.fail("predict.py not found at the submission root")
    spec = importlib.util.spec_from_file_location("predict", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["predict"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def train() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "train.csv")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    return OUTPUT_DIR
