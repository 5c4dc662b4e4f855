"""The quality grader: ruff with the harness's rules (candidate config and noqa ignored),
complexity, LOC, notebooks, and the engineering-habit signals. Real ruff, no Docker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from graders.base import GradeContext
from graders.habits import find_secrets
from graders.lint import ruff_binary
from graders.quality import QualityGrader
from graders.registry import default_registry
from harness.rubric import level_for
from harness.spec import AssignmentSpec, load_assignment

REPO = Path(__file__).resolve().parent.parent
APPLIED_ML = REPO / "assignments" / "applied_ml"

CLEAN = '''"""Train and predict."""

from pathlib import Path


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of ``path``."""
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def main() -> None:
    lines = read_lines(Path("data.txt"))
    print(len(lines))


if __name__ == "__main__":
    main()
'''

# Each block: E401, F401 x3 (F811 on repeats), N802, B006, E711, E701, S307, E722, E741, F841 ...
DIRTY_BLOCK = """
import os, sys, json  # noqa
def Bad_Name_{i}(l, x = []):  # noqa: N802
    if x == None: return eval("1")  # noqa
    try: unused = 1  # noqa
    except: pass
    return l
"""
HOSTILE_CONFIGS = {
    "ruff.toml": 'exclude = ["*"]\n[lint]\nselect = []\nignore = ["ALL"]\n',
    ".ruff.toml": '[lint]\nignore = ["ALL"]\n',
    "pyproject.toml": '[tool.ruff]\nexclude = ["*"]\n[tool.ruff.lint]\nselect = []\nignore = ["ALL"]\n',
    ".gitignore": "*\n",
    ".ignore": "*\n",
}


def make_ctx(root: Path) -> GradeContext:
    spec = AssignmentSpec(id="t", title="t")
    missing = root.parent / "missing"
    return GradeContext(
        spec=spec,
        assignment_dir=root,
        submission_dir=root,
        inputs_dir=missing,
        hidden_dir=missing,
        output_dir=missing,
        logs_dir=missing,
    )


def grade(root: Path, **config):
    grader = QualityGrader(QualityGrader.Config(**config))
    return grader.grade(make_ctx(root))


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def lint_criterion():
    spec = load_assignment(APPLIED_ML).spec
    return next(c for c in spec.rubric.criteria if c.measurement == "quality.findings_per_kloc")


def notebook(cells: list[dict]) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def code_cell(source: str, count: int | None = None, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs or [], "source": source}


# --- lint ------------------------------------------------------------------------------------


def test_lint_level_separates_clean_code_from_dirty_code_that_disables_every_rule(tmp_path):
    clean = write(tmp_path / "clean", {f"module_{i}.py": CLEAN for i in range(20)})  # 20 x 11 lines
    dirty_code = "# ruff: noqa\n" + "".join(DIRTY_BLOCK.format(i=i) for i in range(6))
    dirty = write(tmp_path / "dirty", {"predict.py": dirty_code, **HOSTILE_CONFIGS})

    clean_result, dirty_result = grade(clean), grade(dirty)
    criterion = lint_criterion()
    clean_level = level_for(
        clean_result.measurements["findings_per_kloc"], criterion.thresholds, criterion.greater_is_better
    )
    dirty_level = level_for(
        dirty_result.measurements["findings_per_kloc"], criterion.thresholds, criterion.greater_is_better
    )

    assert clean_result.measurements["findings"] == 0
    assert dirty_result.measurements["findings"] >= 50, dirty_result.details["lint"]["by_rule"]
    assert clean_level == 5
    assert dirty_level == 1
    assert dirty_result.details["lint"]["noqa_ignored"] and dirty_result.details["lint"]["candidate_config_ignored"]
    assert any("ignored" in line for line in dirty_result.details["evidence"]["findings_per_kloc"])


def test_the_dirty_config_would_silence_ruff_if_it_were_honoured(tmp_path):
    """Guards the test above: without --isolated/--ignore-noqa, the candidate's files hide everything."""
    dirty = write(
        tmp_path / "dirty", {"predict.py": "".join(DIRTY_BLOCK.format(i=i) for i in range(6)), **HOSTILE_CONFIGS}
    )
    proc = subprocess.run(
        [ruff_binary(), "check", "--no-cache", "--output-format", "json", "--exit-zero", "."],
        cwd=dirty,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout or "[]") == []


def test_worst_findings_carry_code_context_as_plain_text(tmp_path):
    root = write(tmp_path, {"predict.py": "import os\n\n\ndef f(x):\n    return eval(x)  # <b>not html</b>\n"})
    result = grade(root)
    worst = result.details["lint"]["worst"]
    assert worst[0]["code"] == "S307" and worst[0]["category"] == "security"  # most severe first
    hit = [line for line in worst[0]["context"] if line["hit"]]
    assert hit == [{"line": 5, "text": "    return eval(x)  # <b>not html</b>", "hit": True}]
    assert {f["code"] for f in worst} == {"S307", "F401"}


def test_notebooks_are_linted_natively_with_cell_positions(tmp_path):
    nb = notebook(
        [
            {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
            code_cell("import os\nimport sys\nprint(sys.argv)\n", 1),
            code_cell("%matplotlib inline\nx = 1\n", 2),
        ]
    )
    result = grade(write(tmp_path, {"solution.ipynb": nb}))
    assert result.measurements["files_linted"] == 1
    assert result.measurements["loc"] == 5
    (finding,) = result.details["lint"]["worst"]
    assert (finding["code"], finding["cell"], finding["line"]) == ("F401", 2, 1)
    assert finding["context"][0]["text"] == "import os"


def test_complexity_is_measured_for_every_function(tmp_path):
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(12))
    code = f"def simple():\n    return 1\n\n\ndef tangled(x):\n{branches}    return -1\n"
    result = grade(write(tmp_path, {"m.py": code}))
    assert result.measurements["complexity_max"] == 13
    assert result.measurements["complex_functions"] == 1
    assert any(f["code"] == "C901" and "13 > 10" in f["message"] for f in result.details["lint"]["worst"])
    tops = {c["function"].split("@")[0]: c["complexity"] for c in result.details["lint"]["complexity_top"]}
    assert tops == {"m.py:tangled": 13, "m.py:simple": 1}


def test_syntax_errors_and_broken_notebooks_are_findings_not_crashes(tmp_path):
    result = grade(write(tmp_path, {"bad.py": "def f(:\n  pass\n", "bad.ipynb": "{not json"}))
    assert result.measurements["syntax_errors"] >= 2
    assert result.measurements["notebook_hygiene"] == 0.0


def test_density_has_a_floor_so_one_finding_in_a_tiny_script_is_not_a_disaster(tmp_path):
    result = grade(write(tmp_path, {"p.py": "import os\n"}))
    assert result.measurements["findings"] == 1
    # counted over 200 lines: 1 finding, plus the 199 missing lines at 15 per kLOC
    assert result.measurements["findings_per_kloc"] == pytest.approx((1 + 0.199 * 15) / 0.2, abs=0.01)


def test_lint_marks_need_a_minimum_of_code(tmp_path):
    """A clean 14-line script shows too little to earn full lint marks; 200 clean lines do."""
    criterion = lint_criterion()
    short = CLEAN + '\n\ndef helper() -> int:\n    """One."""\n    return 1\n'
    small = grade(write(tmp_path / "small", {"predict.py": short}))
    assert small.measurements["findings"] == 0 and small.measurements["loc"] == 14
    small_level = level_for(small.measurements["findings_per_kloc"], criterion.thresholds, greater_is_better=False)
    assert small_level == 4
    assert any("too little code" in line for line in small.details["evidence"]["findings_per_kloc"])
    big = grade(write(tmp_path / "big", {f"m{i}.py": CLEAN for i in range(20)}))
    assert big.measurements["loc"] >= 200 and big.measurements["findings_per_kloc"] == 0
    assert level_for(big.measurements["findings_per_kloc"], criterion.thresholds, greater_is_better=False) == 5
    empty = grade(write(tmp_path / "empty", {"README.md": "nothing\n"}))
    assert empty.measurements["findings_per_kloc"] == 15.0


def test_symlinks_are_neither_followed_nor_linted(tmp_path):
    root = write(tmp_path / "s", {"ok.py": CLEAN})
    outside = write(tmp_path / "outside", {"evil.py": "import os, sys\n" * 50})
    os.symlink(outside / "evil.py", root / "link.py")
    os.symlink(outside, root / "linkdir")
    result = grade(root)
    assert result.measurements["files_linted"] == 1
    assert result.measurements["findings"] == 0


def test_vendored_virtualenvs_and_tool_folders_are_skipped(tmp_path):
    root = write(
        tmp_path,
        {
            "p.py": CLEAN,
            "venv/pyvenv.cfg": "home = /usr\n",
            "venv/lib/x.py": "import os\n",
            ".ipynb_checkpoints/p-checkpoint.py": "import os\n",
        },
    )
    assert grade(root).measurements["files_linted"] == 1


# --- habits ----------------------------------------------------------------------------------


def test_a_well_kept_submission_has_every_habit(tmp_path):
    root = write(
        tmp_path,
        {
            "predict.py": CLEAN,
            "README.md": "# Spam\n\nRun it:\n\n```\npip install -r requirements.txt\npython predict.py\n```\n",
            "requirements.txt": "# pinned\npandas==2.2.2\nscikit-learn==1.5.0  # model\n",
            "tests/test_predict.py": "def test_lines():\n    assert True\n",
            "solution.ipynb": notebook([code_cell("x = 1", 1), code_cell("print(x)", 2)]),
        },
    )
    result = grade(root)
    m = result.measurements
    assert (
        m["has_readme_run_instructions"],
        m["has_tests"],
        m["deps_declared"],
        m["deps_pinned"],
        m["no_secrets"],
        m["no_large_files"],
        m["notebook_hygiene"],
        m["habits"],
    ) == (1, 1, 1, 1, 1, 1, 1, 1)
    assert [msg.code for msg in result.messages] == ["lint_summary"]


def test_a_bare_submission_scores_only_the_harmless_defaults(tmp_path):
    code = "import pandas as pd\n" + CLEAN
    result = grade(write(tmp_path, {"predict.py": code, "README.md": "Spam classifier. It works.\n"}))
    m = result.measurements
    assert m["has_readme_run_instructions"] == 0 and m["has_tests"] == 0 and m["deps_pinned"] == 0
    assert m["notebook_hygiene"] is None  # no notebooks: neither reward nor penalty
    assert m["habits"] == 0.4  # no secrets, no huge files: 2 of the 5 habits that apply
    assert "pandas" in result.details["habits"]["deps_declared"]["evidence"][0]
    codes = {msg.code for msg in result.messages}
    assert {"no_run_instructions", "no_tests", "deps_not_pinned"} <= codes
    assert "does not say how to run" in result.details["habits"]["has_readme_run_instructions"]["evidence"][0]


@pytest.mark.parametrize(
    ("files", "pinned"),
    [
        ({"requirements.txt": "pandas==2.2\nnumpy>=1.0\n"}, 0.0),
        ({"requirements.txt": "-r base.txt\npandas==2.2 ; python_version > '3.8'\n"}, 1.0),
        ({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["pandas==2.2", "numpy"]\n'}, 0.0),
        ({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["pandas"]\n', "uv.lock": "version = 1\n"}, 1.0),
        ({"environment.yml": "dependencies:\n  - python=3.11\n  - pandas=2.2\n"}, 1.0),
        ({"Pipfile": "[packages]\npandas = '*'\n"}, 0.0),
    ],
)
def test_dependency_pinning(tmp_path, files, pinned):
    result = grade(write(tmp_path, {"p.py": CLEAN, **files}))
    assert result.measurements["deps_declared"] == 1.0
    assert result.measurements["deps_pinned"] == pinned, result.details["habits"]["deps_pinned"]


def test_secrets_are_found_but_never_echoed(tmp_path):
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    token = "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    root = write(
        tmp_path,
        {
            "p.py": f'AWS = "{key}"\nclient = make(api_key="{token}")\n',
            "keys/deploy.pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
        },
    )
    result = grade(root)
    assert result.measurements["no_secrets"] == 0.0
    text = json.dumps(result.model_dump(mode="json"))
    assert key not in text and token not in text
    assert "p.py line 1: possible AWS access key" in text
    shown = [line["text"] for f in result.details["lint"]["worst"] for line in f["context"]]
    assert any("«redacted»" in line for line in shown), shown  # code excerpts hide the secret too


@pytest.mark.parametrize(
    "line",
    [
        'api_key = os.environ["OPENAI_API_KEY"]',
        'password = "your-password"',
        'API_KEY = "<your key here>"',
        'vectorizer = TfidfVectorizer(token_pattern=r"(?u)\\b\\w\\w+\\b")',
        "import sklearn  # sk-learn is not a key",
    ],
)
def test_placeholders_and_ordinary_code_are_not_secrets(line):
    assert find_secrets(line) == []


def test_large_files_are_flagged(tmp_path):
    root = write(tmp_path, {"p.py": CLEAN, "data/train.csv": b"x" * (2 * 2**20)})
    assert grade(root, large_file_mb=1).measurements["no_large_files"] == 0.0
    assert grade(root, large_file_mb=5).measurements["no_large_files"] == 1.0


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        ([code_cell("a = 1", 2), code_cell("b = 2", 1)], "out of order"),
        (
            [
                code_cell(
                    "1/0", 1, [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "", "traceback": []}]
                )
            ],
            "error output",
        ),
        (
            [code_cell("print('x' * 10**6)", 1, [{"output_type": "stream", "name": "stdout", "text": "x" * 300_000}])],
            "outputs take",
        ),
    ],
)
def test_notebook_hygiene_problems(tmp_path, cells, problem):
    result = grade(write(tmp_path, {"solution.ipynb": notebook(cells)}), notebook_output_kb=200)
    assert result.measurements["notebook_hygiene"] == 0.0
    assert problem in " ".join(result.details["habits"]["notebook_hygiene"]["evidence"])


def test_unexecuted_notebook_is_clean(tmp_path):
    result = grade(write(tmp_path, {"solution.ipynb": notebook([code_cell("x = 1"), code_cell("y = 2")])}))
    assert result.measurements["notebook_hygiene"] == 1.0


# --- wiring ----------------------------------------------------------------------------------


def test_quality_grader_is_registered_and_its_config_is_strict():
    from harness.errors import SpecError
    from harness.spec import GraderSpec

    registry = default_registry()
    assert registry.get("quality") is QualityGrader
    with pytest.raises(SpecError, match="max_complexty"):
        registry.instantiate(GraderSpec(use="quality", config={"max_complexty": 5}), 2)


def test_applied_ml_rubric_uses_quality_measurements():
    spec = load_assignment(APPLIED_ML).spec
    assert "quality" in [g.use for g in spec.graders]
    measured = {c.measurement for c in spec.rubric.criteria if c.kind == "automated"}
    assert {"quality.findings_per_kloc", "quality.habits"} <= measured
    assert "documentation" in {c.id for c in spec.rubric.criteria if c.kind == "human"}


def test_evidence_per_measurement_reaches_the_right_criterion(tmp_path):
    from harness.rubric import score_rubric

    spec = load_assignment(APPLIED_ML).spec
    result = grade(write(tmp_path, {"predict.py": CLEAN}))
    measurements = {f"quality.{k}": v for k, v in result.measurements.items()}
    evidence = {f"quality.{k}": v for k, v in result.details["evidence"].items()}
    rows, _ = score_rubric(spec.rubric, measurements, evidence=evidence)
    lint = next(r for r in rows if r.id == "lint")
    habits = next(r for r in rows if r.id == "habits")
    assert any("ruff finding" in e for e in lint.evidence) and not any("README" in e for e in lint.evidence)
    assert any("README" in e for e in habits.evidence)


def test_stdlib_only_code_is_not_penalised_for_unpinned_dependencies(tmp_path):
    code = "import csv, os\nimport re\nfrom pathlib import Path\nfrom collections.abc import Sequence\nimport helpers\n"
    files = {"predict.py": code + CLEAN, "helpers.py": "from . import x\n", "README.md": "python predict.py\n"}
    result = grade(write(tmp_path / "stdlib", files))
    m = result.measurements
    assert m["deps_pinned"] is None and m["deps_declared"] is None
    assert "only the standard library" in result.details["habits"]["deps_pinned"]["evidence"][0]
    assert "deps_not_pinned" not in {msg.code for msg in result.messages}
    assert m["habits"] == 0.75  # README, no secrets, no huge files; no tests (pinning does not apply)
    assert any(line.startswith("– dependencies pinned") for line in result.details["evidence"]["habits"])
    # the same code importing scikit-learn, or a notebook that pip-installs, has something to pin
    third = grade(write(tmp_path / "third", {**files, "predict.py": "import sklearn.linear_model\n" + CLEAN}))
    assert (
        third.measurements["deps_pinned"] == 0.0
        and "sklearn" in third.details["habits"]["deps_declared"]["evidence"][0]
    )
    nb = notebook([{"cell_type": "code", "source": "!pip install lightgbm\nimport os", "outputs": [], "metadata": {}}])
    installs = grade(write(tmp_path / "nb", {**files, "solution.ipynb": nb}))
    assert installs.measurements["deps_pinned"] == 0.0


def test_no_notebooks_is_neutral_for_the_habits_level(tmp_path):
    """Same habits with and without a clean notebook: the notebook adds one applicable, passing
    signal and a dirty one a failing signal; its absence is neither."""
    criterion = next(c for c in load_assignment(APPLIED_ML).spec.rubric.criteria if c.id == "habits")
    readme = {"README.md": "Run: python predict.py\n", "predict.py": "import pandas\n" + CLEAN}
    script = grade(write(tmp_path / "script", readme))
    assert script.measurements["notebook_hygiene"] is None
    # README + nothing harmful, no tests, unpinned: one positive habit, level 3
    assert level_for(script.measurements["habits"], criterion.thresholds) == 3
    nothing = grade(write(tmp_path / "none", {"predict.py": "import pandas\n" + CLEAN}))
    assert level_for(nothing.measurements["habits"], criterion.thresholds) == 2  # nothing harmful, nothing positive
    cell = {"cell_type": "code", "source": "x = 1", "execution_count": 1, "outputs": [], "metadata": {}}
    with_nb = grade(write(tmp_path / "nb", {**readme, "explore.ipynb": notebook([cell])}))
    assert with_nb.measurements["notebook_hygiene"] == 1.0
    assert level_for(with_nb.measurements["habits"], criterion.thresholds) == 3  # the same level as the script
    error = {**cell, "outputs": [{"output_type": "error", "ename": "E", "evalue": "", "traceback": []}]}
    dirty_nb = grade(write(tmp_path / "dirty", {**readme, "explore.ipynb": notebook([error])}))
    assert level_for(dirty_nb.measurements["habits"], criterion.thresholds) == 2  # an error left in costs a level
