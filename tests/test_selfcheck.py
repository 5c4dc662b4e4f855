"""The kit's public dev split and ``grade selfcheck``: the dev split is sampled from public kit
data only (and scanned by line and by id), the kit's documented local run works, and selfcheck
runs a submission on it in the real sandbox and checks the output's shape."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.assignments import find_assignment
from harness.authoring.kit import KitLeakError, build_kit, scan_kit
from harness.authoring.leaks import HiddenFile, id_leaks
from harness.errors import ConfigError
from harness.settings import BUILTIN_ASSIGNMENTS, Settings

REPO = Path(__file__).resolve().parent.parent

SPEC = """
id = "toydev"
title = "Toy with a dev split"

[[graders]]
use = "predictions"

[graders.config]
task = "classification"
labels = ["a", "b"]
target_column = "y"

[kit.dev]
source = "{source}"
label_columns = ["y"]
train_rows = 20
test_rows = 10
"""

PREPARE = """
def prepare(sources, out, seed):
    rows = "".join(f"r{i:03d},{i},{'ab'[i % 2]}\\n" for i in range(60))
    (out.inputs / "train.csv").write_text("id,x,y\\n" + rows)
    (out.inputs / "test.csv").write_text("id,x\\nt001,5\\nt002,6\\n")
    (out.hidden / "test_labels.csv").write_text("id,y\\nt001,a\\nt002,b\\n")
    (out.kit / "train.csv").write_text("id,x,y\\n" + rows)
    (out.kit / "sneaky.csv").write_text("y,x,id\\nb,6,t002\\na,5,t001\\n" + "a,1,r900\\n" * 10)
"""


def toy(tmp_path: Path, source: str = "train.csv") -> tuple[Path, Settings]:
    root = tmp_path / "toydev"
    root.mkdir()
    (root / "assignment.toml").write_text(SPEC.format(source=source))
    (root / "prepare.py").write_text(PREPARE)
    (root / "README.md").write_text("# Toy\n\nPredict y.\n")
    return root, Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", allow_download=False)


def _csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(data.decode().splitlines()))


def test_the_dev_split_is_sampled_from_public_kit_data_and_laid_out_like_data(tmp_path):
    root, settings = toy(tmp_path)
    kit = scan_kit(find_assignment(root, settings), settings)
    assert kit.leaks == []
    train, test = _csv(kit.files["dev/data/train.csv"]), _csv(kit.files["dev/data/test.csv"])
    labels = _csv(kit.files["dev/labels.csv"])
    assert len(train) == 20 and len(test) == 10 and set(test[0]) == {"id", "x"}  # labels removed
    assert [r["id"] for r in labels] == [r["id"] for r in test] and set(labels[0]) == {"id", "y"}
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    assert all(r["id"].startswith("r") for r in train + test)  # from kit/train.csv, never a hidden row
    contract = json.loads(kit.files["dev/contract.json"])
    (out,) = contract["outputs"]
    assert out["file"] == "predictions.csv" and out["target_column"] == "y" and out["labels"] == ["a", "b"]
    assert "test_labels" not in kit.files["dev/contract.json"].decode()  # no hidden file name
    again = scan_kit(find_assignment(root, settings), settings)
    assert again.files["dev/data/test.csv"] == kit.files["dev/data/test.csv"]  # seeded: the same every build


def test_a_dev_split_that_carries_hidden_rows_is_refused_even_rewritten(tmp_path):
    root, settings = toy(tmp_path, source="sneaky.csv")  # hidden ids, columns re-ordered
    with pytest.raises(KitLeakError) as err:
        build_kit(find_assignment(root, settings), settings, tmp_path / "kit.zip")
    assert "hidden id" in str(err.value) and "dev/" in str(err.value)
    assert not (tmp_path / "kit.zip").exists()


def test_id_leaks_finds_hidden_ids_whatever_the_columns():
    hidden = [HiddenFile.of("hidden/test_labels.csv", b"id,label\nm1,spam\nm2,ham\n")]
    kit = {"dev/labels.csv": b"label,id\nSPAM,m2\n", "data/train.csv": b"id,label\nm2,x\n"}
    (leak,) = id_leaks(kit, "id", hidden, "dev")
    assert leak.path == "dev/labels.csv" and leak.hidden == "hidden/test_labels.csv" and "'m2'" in leak.reason
    assert id_leaks({"dev/data/test.csv": b"id,text\nm3,hi\n"}, "id", hidden, "dev") == []


def test_a_dev_source_outside_the_kit_folder_is_refused(tmp_path):
    root, settings = toy(tmp_path, source="../hidden/test_labels.csv")
    with pytest.raises(ConfigError, match="not a file of the prepared kit/ folder"):
        scan_kit(find_assignment(root, settings), settings)


def grade(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=900,
    )


@pytest.fixture
def toy_kit(tmp_path) -> Path:
    root, settings = toy(tmp_path)
    build_kit(find_assignment(root, settings), settings, tmp_path / "kit.zip")
    with zipfile.ZipFile(tmp_path / "kit.zip") as zf:
        zf.extractall(tmp_path / "unzipped")
    return tmp_path / "unzipped" / "toydev"


def _write_predictions(kit: Path, out: Path, rows) -> None:
    out.mkdir()
    ids = [r["id"] for r in csv.DictReader((kit / "dev/data/test.csv").read_text().splitlines())]
    lines = ["id,y", *(row for row in rows(ids))]
    (out / "predictions.csv").write_text("\n".join(lines) + "\n")


def test_selfcheck_outputs_passes_a_good_output_and_names_each_problem(toy_kit, tmp_path):
    _write_predictions(toy_kit, tmp_path / "good", lambda ids: [f"{i},a" for i in ids])
    proc = grade("selfcheck", "--outputs", str(tmp_path / "good"), cwd=toy_kit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   predictions.csv ids: one row for each of the 10 ids" in proc.stdout
    _write_predictions(toy_kit, tmp_path / "bad", lambda ids: [f"{i},c" for i in ids[1:]] + [f"{ids[1]},a", "zz,a"])
    proc = grade("selfcheck", ".", "--outputs", str(tmp_path / "bad"), cwd=toy_kit)
    assert proc.returncode == 1
    assert "FAIL predictions.csv ids: 1 id(s) of test.csv missing" in proc.stdout
    assert "1 id(s) not in test.csv (e.g. zz)" in proc.stdout and "1 id(s) repeated" in proc.stdout
    assert "FAIL predictions.csv y: unknown label(s) 'c'; allowed: a, b" in proc.stdout
    (tmp_path / "empty").mkdir()
    proc = grade("selfcheck", "--outputs", str(tmp_path / "empty"), cwd=toy_kit)
    assert proc.returncode == 1 and "FAIL predictions.csv" in proc.stdout and "Traceback" not in proc.stderr


def test_selfcheck_without_docker_says_so(toy_kit, tmp_path):
    (toy_kit / "predict.py").write_text("print('hi')\n")
    proc = grade("selfcheck", cwd=toy_kit, env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL sandbox run: not run: cannot reach the Docker engine" in proc.stdout
    assert "DATA_DIR=dev/data OUTPUT_DIR=out python predict.py" in proc.stdout
    assert "grade selfcheck --outputs out" in proc.stdout


def test_selfcheck_outside_a_kit_is_a_usage_error(tmp_path):
    proc = grade("selfcheck", str(tmp_path))
    assert proc.returncode == 2 and "no dev split" in proc.stderr and "--kit" in proc.stderr


# --- the real thing: applied_ml's kit, its documented local run, selfcheck in the sandbox -------


@pytest.fixture(scope="module")
def applied_ml_kit(data_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("kit")
    settings = Settings(data_dir=data_dir, cache_dir=tmp / "cache", allow_download=False)
    build_kit(find_assignment(BUILTIN_ASSIGNMENTS / "applied_ml", settings), settings, tmp / "kit.zip")
    with zipfile.ZipFile(tmp / "kit.zip") as zf:
        zf.extractall(tmp)
    kit = tmp / "applied_ml"
    shutil.copy(BUILTIN_ASSIGNMENTS / "applied_ml" / "canaries" / "reference" / "predict.py", kit / "predict.py")
    return kit


def test_the_kit_readmes_local_run_works(applied_ml_kit):
    readme = (applied_ml_kit / "README.md").read_text()
    command = "DATA_DIR=dev/data OUTPUT_DIR=out python predict.py"
    assert command in readme and command in (BUILTIN_ASSIGNMENTS / "applied_ml/starter/predict.py").read_text()
    env = {**os.environ, "DATA_DIR": "dev/data", "OUTPUT_DIR": "out"}
    proc = subprocess.run(
        [sys.executable, "predict.py"], cwd=applied_ml_kit, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader((applied_ml_kit / "out" / "predictions.csv").read_text().splitlines()))
    labels = {r["id"]: r["label"] for r in csv.DictReader((applied_ml_kit / "dev/labels.csv").read_text().splitlines())}
    assert {r["id"] for r in rows} == set(labels) and len(rows) == len(labels) == 150
    assert sum(r["label"] == labels[r["id"]] for r in rows) / len(rows) > 0.8  # it learned something
    proc = grade("selfcheck", "--outputs", "out", cwd=applied_ml_kit)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_selfcheck_runs_the_reference_in_the_sandbox(applied_ml_kit, sandbox_image, no_containers_left):
    proc = grade("selfcheck", "--image", sandbox_image, cwd=applied_ml_kit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   sandbox run: ok, exit code 0" in proc.stdout
    assert "ok   predictions.csv ids: one row for each of the 150 ids" in proc.stdout
    assert "ok   predictions.csv spam_probability: numbers in [0, 1]" in proc.stdout


def test_selfcheck_fails_a_broken_contract_in_the_sandbox(applied_ml_kit, sandbox_image, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predict.py").write_text(
        "import os, pathlib\n"
        "out = pathlib.Path(os.environ['OUTPUT_DIR'])\n"
        "(out / 'predictions.csv').write_text('id,prediction\\nm1,spam\\n')\n"
    )
    proc = grade("selfcheck", str(sub), "--kit", str(applied_ml_kit), "--image", sandbox_image)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ok   sandbox run: ok" in proc.stdout
    assert "FAIL predictions.csv columns: has id, prediction; needs id, label" in proc.stdout
