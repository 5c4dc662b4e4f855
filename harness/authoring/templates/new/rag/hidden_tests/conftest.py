"""Fixtures for the hidden tests. They run inside the sandbox in a pytest process that never
imports the candidate's code: the ``candidate`` fixture (provided by the harness) reaches it in a
process of its own, and what crosses is data (docs/authoring.md). /data is the public inputs,
/output the folder the candidate's code may write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


@pytest.fixture(scope="session")
def solution(candidate):
    """The candidate's rag.py, imported once in its own process (a failure is cached for every test)."""
    return candidate.module("rag")


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
