"""Winnowing similarity: renamed copies match, starter code does not, notebooks are their code,
candidate files cannot break it, and the round's pages and leaderboard show it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.panel.similarity import (
    WINDOW,
    K,
    code_files,
    kgram_hashes,
    notebook_code,
    python_tokens,
    render_similarity_html,
    similarity,
    winnow,
)
from tests.sample_reports import HOSTILE

ROOT = Path(__file__).parents[1] / "assignments" / "applied_ml"


def canary(name: str) -> dict[str, str]:
    return code_files(ROOT / "canaries" / name)


def renamed(files: dict[str, str]) -> dict[str, str]:
    """Every local name changed, comments reworded, blank lines added."""
    out = {}
    for name, code in files.items():
        code = re.sub(r"\b(model|train|test|texts|labels|frame|probs)\b", lambda m: "my_" + m.group(1)[::-1], code)
        code = code.replace("# ", "# NOTE: ").replace("\n\n", "\n\n\n")
        out[name] = code
    return out


def test_a_copy_with_renamed_variables_is_the_top_pair():
    starter = code_files(ROOT / "starter")
    sources = {
        "reference": canary("reference"),
        "weak": canary("weak"),
        "notebook": canary("notebook"),
        "copy": renamed(canary("reference")),
    }
    pairs, _ = similarity(sources, starter)
    top = pairs[0]
    assert {top["a"], top["b"]} == {"reference", "copy"} and top["score"] == 1.0
    assert all(p["score"] < 0.5 for p in pairs[1:])
    assert top["spans"] and top["spans"][0]["a_file"] == "predict.py"


def test_identifiers_and_literals_are_placeholders_but_attributes_stay():
    a = [t for t, _ in python_tokens("total = np.sum(values) + 3  # add\n")]
    b = [t for t, _ in python_tokens("s = np.sum(xs) + 42\n")]
    assert a == b == ["V", "=", "V", ".", "sum", "(", "V", ")", "+", "N"]
    assert [t for t, _ in python_tokens("x = np.mean(xs)\n")] != a


def test_starter_code_is_boilerplate():
    starter = code_files(ROOT / "starter")
    pairs, _ = similarity({"a": dict(starter), "b": dict(starter)}, starter)
    assert pairs == []  # nothing left but the kit itself
    pairs, _ = similarity({"a": dict(starter), "b": dict(starter)})
    assert pairs and pairs[0]["score"] == 1.0


def test_notebooks_are_reduced_to_their_code_cells(tmp_path):
    code = (ROOT / "canaries" / "reference" / "predict.py").read_text()
    cells = [
        {"cell_type": "markdown", "source": ["# My analysis\n", "Lots of prose."]},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip install foo\n"]},
        {"cell_type": "code", "source": code.splitlines(keepends=True)},
    ]
    (tmp_path / "solution.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4}))
    assert "Lots of prose" not in notebook_code((tmp_path / "solution.ipynb").read_text())
    pairs, _ = similarity({"script": canary("reference"), "nb": code_files(tmp_path)})
    assert pairs[0]["score"] == 1.0


def test_winnowing_guarantee_and_noise_threshold():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(1, 50, size=300).astype(np.uint64)
        b = rng.integers(1, 50, size=300).astype(np.uint64)
        start = int(rng.integers(0, 300 - (WINDOW + K - 1)))
        b[100 : 100 + WINDOW + K - 1] = a[start : start + WINDOW + K - 1]  # one shared run of the guaranteed length
        assert set(winnow(kgram_hashes(a))) & set(winnow(kgram_hashes(b)))
    short = np.arange(1, K, dtype=np.uint64)  # shorter than k: no k-gram at all
    assert len(kgram_hashes(short)) == 0


@pytest.mark.parametrize(
    "text",
    [
        "def f(:\n  return ((((\n",
        "'''unterminated",
        "\x00\x01\x02" * 100,
        "(" * 5000,
        "x = 1\n\tif y:\n  z\n",
    ],
)
def test_broken_or_hostile_python_never_raises(text):
    tokens = python_tokens(text)
    assert isinstance(tokens, list)


@pytest.mark.parametrize(
    "text",
    ["not json", "[" * 100_000 + "]" * 100_000, '{"cells": 5}', '{"cells": [1, {"cell_type": "code", "source": 7}]}'],
)
def test_broken_notebooks_are_empty_or_plain(text):
    assert isinstance(notebook_code(text), str)


def test_code_files_skip_links_hidden_folders_and_other_files(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "b.py").write_text("y = 2\n")
    (tmp_path / "data.csv").write_text("1,2\n")
    (tmp_path / "link.py").symlink_to("/etc/passwd")
    assert list(code_files(tmp_path)) == ["a.py"]


def test_the_page_escapes_code_and_forbids_scripts():
    lines = (ROOT / "canaries" / "reference" / "predict.py").read_text().splitlines()
    code = "\n".join([*lines[:30], f"payload = '{HOSTILE}'", *lines[30:]]) + "\n"
    pairs, docs = similarity({"<b>a</b>": {"x.py": code}, "b": {"x.py": code}})
    page = render_similarity_html({"submissions": 2, "k": K, "window": WINDOW, "pairs": pairs}, docs)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;a&lt;/b&gt;" in page
    assert "Content-Security-Policy" in page and "default-src &#x27;none&#x27;" in page


def test_grade_similarity_on_a_round_writes_json_html_and_the_leaderboard_column(tmp_path, capsys):
    from harness.batch import BatchItem, BatchResult
    from harness.reports.leaderboard import write_leaderboard
    from harness.reports.write import write_reports
    from tests.sample_reports import realistic_report

    subs, out = tmp_path / "subs", tmp_path / "round"
    items = []
    for name, files in (
        ("alice", canary("reference")),
        ("bob", canary("weak")),
        ("carol", renamed(canary("reference"))),
    ):
        for fname, code in files.items():
            (subs / name).mkdir(parents=True, exist_ok=True)
            (subs / name / fname).write_text(code)
        report = realistic_report()
        write_reports(report, out / name)
        items.append(BatchItem(source=subs / name, slug=name, state="graded", report=report))
    write_leaderboard(BatchResult(items=items, out_dir=out, wall_s=1.0, counts={"graded": 3}))
    main(["similarity", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert [data["pairs"][0]["a"], data["pairs"][0]["b"]] == ["alice", "carol"]
    assert set(data["pairs"][0]) >= {"a", "b", "score", "spans"} and data["pairs"][0]["score"] == 1.0
    assert (out / "similarity.html").is_file() and json.loads((out / "similarity.json").read_text()) == data
    with open(out / "summary.csv") as fh:
        column = {row["submission"]: row["most_similar"] for row in csv.DictReader(fh)}
    assert column["alice"] == "most similar: carol, 1.00" and column["carol"] == "most similar: alice, 1.00"
    assert "most similar: carol, 1.00" in (out / "summary.html").read_text()
    before = (out / "alice" / "report.json").read_text()
    assert json.loads(before)["score"] == realistic_report().score  # evidence only: no score changed


def test_invisible_characters_in_code_are_shown_on_the_page():
    code = (ROOT / "canaries" / "reference" / "predict.py").read_text().replace("def main", "def \u202emain", 1)
    pairs, docs = similarity({"a": {"x.py": code}, "b": {"x.py": code}})
    page = render_similarity_html({"submissions": 2, "k": K, "window": WINDOW, "pairs": pairs}, docs)
    assert "\u202e" not in page and "⟨U+202E⟩" in page


@pytest.mark.parametrize(
    "content", ['{"pairs": 5}', '{"pairs": [1, {"score": "x"}, {"a": "p"}]}', "[" * 10_000, "nope"]
)
def test_a_broken_similarity_file_is_no_column(tmp_path, content):
    from harness.panel.similarity import most_similar_by_slug

    (tmp_path / "similarity.json").write_text(content)
    assert most_similar_by_slug(tmp_path) == {}
