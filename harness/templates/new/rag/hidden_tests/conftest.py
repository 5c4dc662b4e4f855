"""Fixtures for the hidden tests. They run inside the sandbox: /submission is the candidate's
code (read-only, first on sys.path), /data the public inputs, /output a scratch folder."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

SUBMISSION = Path("/submission")
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def solution():
    """The candidate's rag.py, imported once (a failure is cached for every test)."""
    path = SUBMISSION / "rag.py"
    if not path.is_file():
        pytest.fail("rag.py not found at the submission root")
    spec = importlib.util.spec_from_file_location("rag", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rag"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def questions() -> list[dict]:
    lines = (DATA_DIR / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def doc_ids() -> set[str]:
    corpus = DATA_DIR / "corpus"
    return {p.relative_to(corpus).as_posix().removesuffix(".txt") for p in corpus.rglob("*.txt")}


@pytest.fixture(scope="session")
def output_dir() -> Path:
    return OUTPUT_DIR
