"""An author builds a brand-new tabular regression assignment in a temp dir, from a dataset that
scikit-learn ships (diabetes), with only ``grade new``, a data prepare step and a reference
solution; ``grade check`` passes and ``grade submission.zip`` grades it. Nothing in harness/,
graders/ or sandbox/ changes: everything happens through the CLI, in real Docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.assignments import find_assignment
from harness.authoring.kit import build_kit
from harness.settings import Settings

pytestmark = pytest.mark.docker

LOAD_DIABETES = '''def load_table(sources: dict[str, Path]) -> pd.DataFrame:
    """The diabetes data set scikit-learn ships: 442 patients, 10 features, disease progression."""
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


'''

REFERENCE = '''"""Reference: gradient boosting would overfit 330 rows; a cross-validated ridge on scaled features does not."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
OUTPUT_DIR = Path(os.environ.get("OUTPUT_DIR", "/output"))


def build_model():
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 21)))


def main():
    train, test = pd.read_csv(DATA_DIR / "train.csv"), pd.read_csv(DATA_DIR / "test.csv")
    model = build_model().fit(train.drop(columns=["id", "target"]), train["target"])
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": test["id"], "target": model.predict(test.drop(columns=["id"]))}).to_csv(
        OUTPUT_DIR / "predictions.csv", index=False)


if __name__ == "__main__":
    main()
'''


def grade_cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_new_regression_assignment_from_scratch(tmp_path, sandbox_image, no_containers_left):
    assignments = tmp_path / "assignments"
    env = {
        **os.environ,
        "GRADE_CACHE_DIR": str(tmp_path / "cache"),
        "GRADE_DATA_DIR": str(tmp_path / "data"),
        "GRADE_IMAGE": sandbox_image,
        "GRADE_ASSIGNMENTS_PATH": str(assignments),
        "GRADE_OFFLINE": "1",
    }
    root = assignments / "diabetes_reg"

    # 1. scaffold
    proc = grade_cli("new", str(root), "--kind", "regression", "--title", "Diabetes progression", env=env)
    assert proc.returncode == 0, proc.stderr
    # 2. the data prepare step: load the data set scikit-learn ships (no raw file to declare)
    prepare = root / "prepare.py"
    text = prepare.read_text()
    prepare.write_text(text[: text.index("def load_table")] + LOAD_DIABETES + text[text.index("def prepare(") :])
    # 3. the reference solution
    (root / "canaries" / "reference" / "predict.py").write_text(REFERENCE)

    proc = grade_cli("check", "diabetes_reg", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks pass" in proc.stdout
    for row in ("canary reference", "canary baseline", "canary crashes", "starter kit"):
        assert row in proc.stdout

    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((root / "canaries" / "reference").iterdir()):
            zf.write(path, f"candidate/{path.name}")
    proc = grade_cli(str(archive), "--json", "--out", str(tmp_path / "report"), env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "graded" and report["assignment"]["id"] == "diabetes_reg"
    assert 0.3 < report["metrics"]["r2"] < 0.8 and report["metrics"]["pytest.score"] == 1.0
    assert report["score"] >= 60

    settings = Settings.from_env(env)
    kit = build_kit(find_assignment("diabetes_reg", settings), settings, tmp_path / "kit.zip")
    assert {"data/train.csv", "predict.py", "submission.toml", "README.md"} <= set(kit.files)
    assert kit.hidden_files == 6  # hidden targets, 2 hidden test files, 3 canaries
