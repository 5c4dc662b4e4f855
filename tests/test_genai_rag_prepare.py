"""The genai_rag assignment's prepared data, built from the real CMU Question-Answer Dataset (S10).

The raw files are never in the repository: they are found under ``GRADE_DATA_DIR`` or
``<repo>/../shared/data``. Without them these tests skip, unless ``REQUIRE_DATA=1`` (CI).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import PreparedPaths, load_manifest, prepare_assignment
from harness.settings import Settings
from harness.spec import load_assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = REPO / "assignments" / "genai_rag"
RAW = Path("rag_eval") / "cmu_qa_s10" / "question_answer_pairs.txt"


@pytest.fixture(scope="module")
def raw_data_dir() -> Path:
    env = os.environ.get("GRADE_DATA_DIR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    found = next((c for c in candidates if (c / RAW).is_file()), None)
    if found is None:
        reason = f"the raw CMU QA data ({RAW.parent}) is not available: set GRADE_DATA_DIR to a folder that holds it"
        if os.environ.get("REQUIRE_DATA", "") in ("1", "true", "yes"):
            pytest.fail(f"{reason} (REQUIRE_DATA=1, so this is a failure, not a skip)")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def prepared(raw_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedPaths:
    settings = Settings(data_dir=raw_data_dir, cache_dir=tmp_path_factory.mktemp("rag-cache"), allow_download=False)
    return prepare_assignment(load_assignment(ASSIGNMENT), settings)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_counts_and_slices(prepared):
    stats = json.loads((prepared.hidden / "stats.json").read_text())
    assert stats["all"]["questions"] == 792
    assert stats["dev"]["questions"] == 100 and stats["eval"]["questions"] == 300
    assert stats["dev"]["yes_no"] == 45 and stats["eval"]["yes_no"] == 140
    assert set(stats["eval"]["by_topic"]) == {"animals", "instruments", "cities", "scientists", "languages", "painters"}
    assert len(read_jsonl(prepared.inputs / "questions.jsonl")) == 300
    assert len(read_jsonl(prepared.kit / "dev.jsonl")) == 100


def test_corpus_has_every_article_with_its_bytes(prepared, raw_data_dir):
    files = sorted(
        p.relative_to(prepared.inputs / "corpus").as_posix() for p in (prepared.inputs / "corpus").rglob("*.txt")
    )
    assert len(files) == 60 and "set4/a10.txt" in files
    original = raw_data_dir / "rag_eval/cmu_qa_s10/data/set4/a10.txt.clean"
    assert (prepared.inputs / "corpus/set4/a10.txt").read_bytes() == original.read_bytes()
    docs = {d["doc_id"]: d["title"] for d in read_jsonl(prepared.inputs / "documents.jsonl")}
    assert docs["set4/a10"] == "Alessandro Volta" and len(docs) == 60


def test_no_reference_leaves_the_host(prepared):
    """Questions in /data carry no answers; eval questions are in neither the kit nor the dev set."""
    questions = read_jsonl(prepared.inputs / "questions.jsonl")
    assert all(set(q) == {"id", "question"} for q in questions)
    hidden = {r["id"]: r for r in read_jsonl(prepared.hidden / "eval.jsonl")}
    assert [q["id"] for q in questions] == sorted(hidden)
    dev_ids = {r["id"] for r in read_jsonl(prepared.kit / "dev.jsonl")}
    assert not dev_ids & set(hidden)
    public = b"".join(p.read_bytes() for root in (prepared.inputs, prepared.kit) for p in root.rglob("*.jsonl"))
    assert b"reference_contexts" not in public
    for item in list(hidden.values())[:50]:
        assert f'"id": "{item["id"]}", "question"'.encode() not in (prepared.kit / "dev.jsonl").read_bytes()
    assert oct(prepared.hidden.stat().st_mode & 0o777) == "0o700"


def test_references_are_grouped_repaired_and_located(prepared):
    items = read_jsonl(prepared.hidden / "eval.jsonl") + read_jsonl(prepared.kit / "dev.jsonl")
    text = json.dumps(items, ensure_ascii=False)
    assert "Ã" not in text and "&#" not in text and "\x01" not in text, "mojibake and entities are repaired"
    assert all(item["answers"] and all(a.strip() for a in item["answers"]) for item in items)
    assert any(len(item["answers"]) == 2 for item in items), "both answerers' answers are kept"
    hidden = read_jsonl(prepared.hidden / "eval.jsonl")
    located = [h for h in hidden if h["reference_contexts"]]
    assert len(located) > 100

    def words(text: str) -> str:
        return " " + " ".join(re.findall(r"\w+", text.lower())) + " "

    for h in located:  # each passage holds one of the answers, word for word
        assert all(any(words(a) in words(p) for a in h["answers"]) for p in h["reference_contexts"])
    assert sum(h["yes_no"] for h in hidden) == 140


def test_manifest_and_determinism(prepared, raw_data_dir, tmp_path):
    again = prepare_assignment(
        load_assignment(ASSIGNMENT), Settings(data_dir=raw_data_dir, cache_dir=tmp_path, allow_download=False)
    )
    assert load_manifest(again)["files"] == load_manifest(prepared)["files"]


def test_committed_split_is_reproduced(raw_data_dir):
    proc = subprocess.run(
        [sys.executable, "make_splits.py", str(raw_data_dir), "--check"], cwd=ASSIGNMENT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "committed lists match" in proc.stdout


def test_readme_names_no_eval_question(prepared):
    readme = (ASSIGNMENT / "README.md").read_text(encoding="utf-8") + (ASSIGNMENT / "NOTICE").read_text(
        encoding="utf-8"
    )
    leaked = [h["question"] for h in read_jsonl(prepared.hidden / "eval.jsonl") if h["question"] in readme]
    assert leaked == []
