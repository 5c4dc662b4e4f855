"""``grade kit``: the starter kit holds only public material, checked by scanning content.

Unit tests of the scan, a toy assignment end to end, and both built-in assignments with their
real prepared data (skipped without the raw data, unless REQUIRE_DATA=1)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.assignments import find_assignment
from harness.authoring.kit import KitLeakError, build_kit, scan_kit
from harness.authoring.leaks import HiddenFile, find_leaks
from harness.data import prepare_assignment
from harness.errors import ConfigError
from harness.settings import BUILTIN_ASSIGNMENTS, Settings

REPO = Path(__file__).resolve().parent.parent

# --- the scan ---------------------------------------------------------------------------------

LABELS = b"id,label\nm000e84be8f,spam\nm001117be2c,ham\n"


def test_a_hidden_label_row_inside_a_longer_line_is_found():
    kit = {"README.md": b"Example:\n\n    id,label,spam_probability\n    m000e84be8f,spam,0.93\n"}
    (leak,) = find_leaks(kit, [HiddenFile.of("hidden/test_labels.csv", LABELS)])
    assert leak.path == "README.md" and leak.hidden == "hidden/test_labels.csv"
    assert "m000e84be8f,spam" in leak.reason


def test_headers_and_public_lines_are_not_leaks():
    kit = {"README.md": b"Write id,label rows.\nm001117be2c,ham appears in the public inputs\n"}
    hidden = [HiddenFile.of("hidden/test_labels.csv", LABELS)]
    assert find_leaks(kit, hidden, public=[b"m001117be2c,ham\n"]) == []
    assert find_leaks({"x.json": b'{"rows": ["m000e84be8f,spam", "m001117be2c,ham"]}'}, hidden)


def test_identical_files_leak_whatever_their_name():
    blob = b'{"all_ham": {"f1": 0.0}, "naive_bayes": {"f1": 0.93}}' * 2
    (leak,) = find_leaks({"data/extra.bin": blob}, [HiddenFile.of("hidden/baselines.json", blob)])
    assert leak.reason == "identical to a hidden file"


REFERENCE = b"""
import os
from pathlib import Path
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
def build_model():
    features = make_union(TfidfVectorizer(analyzer="word", ngram_range=(1, 2)), TfidfVectorizer(analyzer="char_wb"))
    return make_pipeline(features, LogisticRegression(C=10.0, solver="liblinear"))
def main():
    cv_f1 = cross_val_score(model, train["text"], y, cv=folds, scoring="f1")
    print(f"5-fold CV F1 on train: {cv_f1.mean():.3f}")
"""
CRASHES = b"""
import os
from pathlib import Path
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
def main():
    messages = train["message"]  # bug
"""
STARTER = b"""
import os
from pathlib import Path
DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
def build_model():
    raise NotImplementedError
"""


def test_code_is_a_leak_when_most_of_its_own_lines_are_there_but_boilerplate_is_not():
    hidden = [
        HiddenFile.of("canaries/reference/predict.py", REFERENCE),
        HiddenFile.of("canaries/crashes/predict.py", CRASHES),
    ]
    assert find_leaks({"predict.py": STARTER}, hidden) == []
    (leak,) = find_leaks({"predict.py": STARTER + REFERENCE[200:]}, hidden)
    assert leak.hidden == "canaries/reference/predict.py" and "distinctive lines" in leak.reason


def test_a_single_hidden_test_function_is_a_leak():
    test = b"def test_model_handles_awkward_texts(fitted):\n    assert fitted.predict([''])\n"
    hidden = [HiddenFile.of("hidden_tests/test_contract.py", test)]
    (leak,) = find_leaks({"notes.md": b"We will run:\ndef test_model_handles_awkward_texts(fitted):\n"}, hidden)
    assert "hidden test" in leak.reason


# --- a toy assignment ---------------------------------------------------------------------------

SPEC = """
id = "toykit"
title = "Toy kit"

[[graders]]
use = "pytest"

[[canaries]]
name = "reference"
path = "canaries/reference"
"""

PREPARE = """
def prepare(sources, out, seed):
    (out.inputs / "train.csv").write_text("id,x,y\\nr1,1,2\\nr2,3,4\\n")
    (out.inputs / "test.csv").write_text("id,x\\nt1,5\\nt2,6\\n")
    (out.hidden / "test_labels.csv").write_text("id,y\\nt1,10.5\\nt2,12.25\\n")
    (out.kit / "train.csv").write_text("id,x,y\\nr1,1,2\\nr2,3,4\\n")
"""


@pytest.fixture
def toy(tmp_path) -> tuple[Path, Settings]:
    root = tmp_path / "toykit"
    (root / "canaries" / "reference").mkdir(parents=True)
    (root / "hidden_tests").mkdir()
    (root / "assignment.toml").write_text(SPEC)
    (root / "prepare.py").write_text(PREPARE)
    (root / "README.md").write_text("# Toy\n\nPredict y. Example row: `t9,1.0`.\n")
    (root / "NOTICE").write_text("Toy data, CC0.\n")
    (root / "hidden_tests" / "test_secret.py").write_text("def test_secret_behaviour():\n    assert True\n")
    (root / "canaries" / "reference" / "predict.py").write_text("print('the reference solution is here')\n" * 3)
    (root / "canaries" / "reference" / "submission.toml").write_text('assignment = "toykit"\n')
    return root, Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)


def test_kit_zip_holds_the_public_files_only(toy, tmp_path):
    root, settings = toy
    out = tmp_path / "out" / "kit.zip"
    kit = build_kit(find_assignment(root, settings), settings, out)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        texts = {n: zf.read(n) for n in names}
    assert names == [
        "toykit/NOTICE",
        "toykit/README.md",
        "toykit/data/train.csv",
        "toykit/predict.py",
        "toykit/submission.toml",
    ]
    assert texts["toykit/submission.toml"].endswith(b'assignment = "toykit"\n')
    assert b"NotImplementedError" in texts["toykit/predict.py"]  # the generated template entry point
    assert kit.hidden_files == 3  # hidden labels, the hidden test, the reference canary
    again = tmp_path / "again.zip"
    build_kit(find_assignment(root, settings), settings, again)
    assert again.read_bytes() == out.read_bytes(), "the kit zip is deterministic"


def test_kit_with_a_hidden_label_is_refused_and_nothing_is_written(toy, tmp_path):
    root, settings = toy
    (root / "README.md").write_text("# Toy\n\nFor example the first holdout row is t1,10.5 exactly.\n")
    out = tmp_path / "kit.zip"
    with pytest.raises(KitLeakError) as err:
        build_kit(find_assignment(root, settings), settings, out)
    assert "README.md" in str(err.value) and "hidden/test_labels.csv" in str(err.value)
    assert err.value.exit_code == 2 and not out.exists()


def test_starter_folder_replaces_the_template_and_is_scanned_too(toy, tmp_path):
    root, settings = toy
    (root / "starter").mkdir()
    (root / "starter" / "predict.py").write_text("def main():\n    pass\n")
    (root / "starter" / "tests").mkdir()
    (root / "starter" / "tests" / "test_mine.py").write_text("def test_secret_behaviour():\n    assert True\n")
    with pytest.raises(KitLeakError, match=r"tests/test_mine.py: .*hidden_tests/test_secret.py"):
        build_kit(find_assignment(root, settings), settings, tmp_path / "kit.zip")
    (root / "starter" / "tests" / "test_mine.py").unlink()
    os.symlink("/etc/passwd", root / "starter" / "passwd")
    with pytest.raises(ConfigError, match="link or special file"):
        build_kit(find_assignment(root, settings), settings, tmp_path / "kit.zip")


def test_cli_kit_refusal_exits_2(toy, tmp_path):
    root, settings = toy
    (root / "README.md").write_text("t2,12.25 is the answer\n")
    env = {**os.environ, "GRADE_CACHE_DIR": str(settings.cache_dir), "GRADE_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "kit", str(root), "-o", str(tmp_path / "k.zip")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "refusing to build the starter kit" in proc.stderr and "hint:" in proc.stderr


def test_cli_kit_warns_about_placeholders_left_in_notice_and_readme(toy, tmp_path):
    root, settings = toy
    (root / "NOTICE").write_text(
        "Toy\n\nThe data is derived from: <name the dataset, its authors, where it is\npublished and its licence>.\n"
    )
    (root / "README.md").write_text(
        "# Toy\n\nTODO: say how predictions are scored.\nSee <https://example.org/licence>.\n"
    )
    env = {**os.environ, "GRADE_CACHE_DIR": str(settings.cache_dir), "GRADE_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "kit", str(root), "-o", str(tmp_path / "k.zip")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "k.zip").is_file()
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: README.md:3: placeholder 'TODO' was never filled in",
        "warning: NOTICE:3: placeholder '<name the dataset, its authors, where it is published and its licence>' "
        "was never filled in",
    ]
    assert "hint: candidates read these files" in proc.stderr
    root.joinpath("NOTICE").write_text("Toy data, CC0.\n")
    root.joinpath("README.md").write_text("# Toy\n\nPredict y. See <https://example.org/licence>.\n")
    assert scan_kit(find_assignment(root, settings), settings).warnings == []


# --- the built-in assignments, with real data -------------------------------------------------


@pytest.fixture(scope="module")
def real_settings(data_dir, session_cache) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=session_cache, allow_download=False)


def kit_texts(assignment, settings, tmp_path) -> dict[str, str]:
    out = tmp_path / f"{assignment.id}.zip"
    build_kit(assignment, settings, out)
    with zipfile.ZipFile(out) as zf:
        return {n: zf.read(n).decode("utf-8", "replace") for n in zf.namelist()}


def test_applied_ml_kit_holds_no_hidden_label_reference_or_test(real_settings, tmp_path):
    assignment = find_assignment(BUILTIN_ASSIGNMENTS / "applied_ml", real_settings)
    texts = kit_texts(assignment, real_settings, tmp_path)
    assert {
        "applied_ml/README.md",
        "applied_ml/NOTICE",
        "applied_ml/data/train.csv",
        "applied_ml/predict.py",
        "applied_ml/submission.toml",
        "applied_ml/dev/data/train.csv",  # the public dev split ([kit.dev]) and its contract
        "applied_ml/dev/data/test.csv",
        "applied_ml/dev/labels.csv",
        "applied_ml/dev/contract.json",
    } == set(texts)
    everything = "\n".join(texts.values())
    hidden = prepare_assignment(assignment, real_settings).hidden
    with open(hidden / "test_labels.csv", encoding="utf-8", newline="") as fh:
        holdout = list(csv.DictReader(fh))
    assert len(holdout) > 500
    assert not [r for r in holdout if r["id"] in everything], "no holdout id (with or without its label) is in the kit"
    reference = (assignment.root / "canaries" / "reference" / "predict.py").read_text()
    assert "LogisticRegression(C=10.0" in reference and "LogisticRegression(C=10.0" not in everything
    for test in (assignment.root / "hidden_tests").glob("test_*.py"):
        for line in test.read_text().splitlines():
            if line.startswith("def test_"):
                assert line not in everything


def test_genai_rag_kit_holds_no_hidden_question_or_reference(real_settings, tmp_path):
    if not (real_settings.data_dir / "rag_eval").is_dir():
        pytest.skip("the RAG raw data is not available")
    assignment = find_assignment(BUILTIN_ASSIGNMENTS / "genai_rag", real_settings)
    texts = kit_texts(assignment, real_settings, tmp_path)
    everything = "\n".join(texts.values())
    hidden = prepare_assignment(assignment, real_settings).hidden
    items = [
        json.loads(line) for line in (hidden / "eval.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    assert len(items) > 100
    assert not [i for i in items if i["id"] in everything], "no hidden question id is in the kit"
    lines = everything.splitlines()
    paired = [i for i in items if any(i["question"] in line and i["answers"][0] in line for line in lines)]
    assert not paired, "no hidden question appears with its reference answer"
    reference = (assignment.root / "canaries" / "reference" / "rag.py").read_text()
    distinctive = [line.strip() for line in reference.splitlines() if len(line.strip()) > 40 and "_DIR = " not in line]
    assert distinctive and not [line for line in distinctive if line in everything]


def test_scan_finds_the_leak_the_applied_ml_readme_once_had(real_settings):
    """The README's example rows once used two real holdout ids with their true labels."""
    assignment = find_assignment(BUILTIN_ASSIGNMENTS / "applied_ml", real_settings)
    prepared = prepare_assignment(assignment, real_settings)
    first = (prepared.hidden / "test_labels.csv").read_text().splitlines()[1]
    kit = scan_kit(assignment, real_settings)
    kit.files["README.md"] += f"\n```\n{first},0.93\n```\n".encode()
    from harness.authoring.kit import hidden_material, public_material

    leaks = find_leaks(kit.files, hidden_material(assignment, prepared), public_material(prepared))
    assert [(leak.path, leak.hidden) for leak in leaks] == [("README.md", "hidden/test_labels.csv")]
