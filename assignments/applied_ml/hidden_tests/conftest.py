"""Fixtures for the hidden tests. Runs inside the sandbox: /submission is the candidate's code
(read-only, first on sys.path), /data the public inputs, /output a scratch folder."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path

# pandas and scikit-learn are imported here, outside any test's time limit, so that importing the
# candidate's predict.py (which needs them too) is quick even on a busy machine.
import pandas  # noqa: F401
import pytest
import sklearn.feature_extraction.text  # noqa: F401
import sklearn.linear_model  # noqa: F401
import sklearn.naive_bayes  # noqa: F401
import sklearn.pipeline  # noqa: F401

SUBMISSION = Path("/submission")
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def predict_module():
    """``predict.py`` imported once under its own name (a failure is cached for every test)."""
    path = SUBMISSION / "predict.py"
    if not path.is_file():
        pytest.fail("predict.py not found at the submission root (a notebook-only submission cannot be imported)")
    spec = importlib.util.spec_from_file_location("predict", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["predict"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def train_rows() -> list[dict[str, str]]:
    with open(DATA_DIR / "train.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def output_dir() -> Path:
    return OUTPUT_DIR
