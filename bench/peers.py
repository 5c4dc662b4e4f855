"""The comparison points of the grading benchmark, each in its own venv outside the repository.

- ``bare``: ``jupyter nbconvert --to notebook --execute`` with ipykernel and the sandbox image's
  own scientific stack (the versions pinned in ``sandbox/requirements.txt``): the cost of just
  running the notebook on the host, with no grading and no isolation.
- ``otter``: ``otter run`` (otter-grader, non-containerized) with an autograder zip made by
  ``otter generate`` from an OK-format test that scores the predictions against the labels.
- ``nbgrader``: ``nbgrader autograde`` of one student's submission in a course directory whose
  source notebook carries an autograder test cell.

Venvs live under ``~/.cache/holdout-bench/venvs`` (``HOLDOUT_BENCH_CACHE`` overrides the
root) and are reused while their package list is unchanged. Peers run the candidate's notebook
on the host, unsandboxed, with the hidden labels beside it: that is how these tools work, and
what holdout must beat *with* a sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

REPO = Path(__file__).resolve().parent.parent
STACK = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "ipykernel",
    "ipython",
    "nbclient",
    "nbformat",
    "jupyter-client",
    "pyzmq",
    "tornado",
)
"""Pinned in every venv to the sandbox image's versions, so all contestants run the same code."""
OTTER_VERSION = "7.0.0"
NBGRADER_VERSION = "0.9.6"
PACKAGES = {
    "bare": ["nbconvert", "ipykernel", "pandas", "scikit-learn"],
    "otter": [f"otter-grader=={OTTER_VERSION}", "ipykernel", "pandas", "scikit-learn"],
    "nbgrader": [f"nbgrader=={NBGRADER_VERSION}", "ipykernel", "pandas", "scikit-learn"],
}
ACCURACY_TO_PASS = 0.9
"""The OK-format/nbgrader test: share of holdout labels predicted right."""


def cache_root() -> Path:
    return Path(os.environ.get("HOLDOUT_BENCH_CACHE") or Path.home() / ".cache" / "holdout-bench")


def stack_pins() -> list[str]:
    """``name==version`` for :data:`STACK`, read from ``sandbox/requirements.txt``."""
    wanted = {name.lower() for name in STACK}
    pins = []
    for line in (REPO / "sandbox" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, sep, _ = line.strip().partition("==")
        if sep and name.lower() in wanted:
            pins.append(line.strip())
    return pins


def ensure_venv(name: str, log=print) -> Path:
    """The venv for peer ``name``, created and filled with pip the first time (a few minutes)."""
    root = cache_root() / "venvs" / name
    pins = stack_pins()
    digest = hashlib.sha256(json.dumps([PACKAGES[name], pins, sys.version]).encode()).hexdigest()[:16]
    marker = root / ".holdout-bench"
    if marker.is_file() and marker.read_text() == digest:
        return root
    log(f"creating the {name} venv in {root} (pip install {' '.join(PACKAGES[name])})")
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    constraints = root / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    subprocess.run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PACKAGES[name],
            "-c",
            str(constraints),
        ],
        check=True,
    )
    marker.write_text(digest)
    return root


@dataclass(frozen=True)
class Peers:
    bare: Path
    otter: Path | None
    nbgrader: Path | None

    def bin(self, venv: Path, tool: str) -> str:
        return str(venv / "bin" / tool)


def ensure_peers(*, otter: bool = True, nbgrader: bool = True, log=print) -> Peers:
    return Peers(
        bare=ensure_venv("bare", log),
        otter=ensure_venv("otter", log) if otter else None,
        nbgrader=ensure_venv("nbgrader", log) if nbgrader else None,
    )


def venv_env(venv: Path) -> dict[str, str]:
    """This environment with ``venv`` activated (tools call helpers such as ``alembic`` by name)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    return env


def host_env(venv: Path, data_dir: Path, output_dir: Path) -> dict[str, str]:
    """The host runs' environment: the venv activated, and the notebook's data/output dirs."""
    return {
        **venv_env(venv),
        "DATA_DIR": str(data_dir),
        "OUTPUT_DIR": str(output_dir),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


# --- bare ----------------------------------------------------------------------------------


def nbconvert_command(peers: Peers, notebook: Path, out_dir: Path) -> list[str]:
    """Execute ``notebook`` on the host and write the executed copy into ``out_dir``."""
    return [
        peers.bin(peers.bare, "jupyter"),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--output-dir",
        str(out_dir),
        "--ExecutePreprocessor.kernel_name=python3",
        str(notebook),
    ]


# --- otter ---------------------------------------------------------------------------------

OK_TEST = """\
OK_FORMAT = True

test = {{
    "name": "predictions",
    "points": 1,
    "suites": [
        {{
            "type": "doctest",
            "scored": True,
            "setup": "",
            "teardown": "",
            "cases": [
                {{"code": ">>> len(predictions) == len(test)\\nTrue", "hidden": False, "locked": False}},
                {{
                    "code": ">>> import pandas as pd\\n"
                            ">>> truth = pd.read_csv('test_labels.csv', dtype=str, keep_default_na=False)\\n"
                            ">>> joined = truth.merge(predictions, on='id', suffixes=('_true', '_pred'))\\n"
                            ">>> bool((joined['label_true'] == joined['label_pred']).mean() >= {threshold})\\n"
                            "True",
                    "hidden": True,
                    "locked": False,
                }},
            ],
        }}
    ],
}}
"""


def build_otter_autograder(peers: Peers, work: Path, labels_csv: Path) -> Path:
    """``otter generate`` an autograder zip with one OK-format test and the labels as a support file."""
    assert peers.otter is not None
    work.mkdir(parents=True, exist_ok=True)
    tests = work / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "predictions.py").write_text(OK_TEST.format(threshold=ACCURACY_TO_PASS), encoding="utf-8")
    shutil.copyfile(labels_csv, work / "test_labels.csv")
    zip_path = work / "autograder.zip"
    subprocess.run(
        [
            peers.bin(peers.otter, "otter"),
            "generate",
            "-t",
            "tests",
            "-o",
            str(zip_path),
            "--no-config",
            "--no-requirements",
            "--no-environment",
            "test_labels.csv",
        ],
        cwd=work,
        env=venv_env(peers.otter),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return zip_path


def otter_command(peers: Peers, notebook: Path, autograder: Path, out_dir: Path) -> list[str]:
    assert peers.otter is not None
    return [
        peers.bin(peers.otter, "otter"),
        "run",
        "-a",
        str(autograder),
        "-o",
        str(out_dir),
        "--no-logo",
        str(notebook),
    ]


def otter_score(out_dir: Path) -> float | None:
    """The score ``otter run`` wrote to ``results.json`` (None when it wrote none)."""
    try:
        data = json.loads((out_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    return sum(float(t.get("score") or 0) for t in data.get("tests", []))


# --- nbgrader ------------------------------------------------------------------------------

NBGRADER_TEST = f"""\
truth = pd.read_csv({{labels!r}}, dtype=str, keep_default_na=False)
joined = truth.merge(predictions, on="id", suffixes=("_true", "_pred"))
assert (joined["label_true"] == joined["label_pred"]).mean() >= {ACCURACY_TO_PASS}"""

NBGRADER_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "bench"
c.Execute.timeout = 120
"""


@dataclass(frozen=True)
class NbgraderCourse:
    root: Path
    assignment: str = "spam"
    student: str = "student"


def setup_nbgrader_course(peers: Peers, work: Path, notebook: Path, labels_csv: Path) -> NbgraderCourse:
    """A course directory with ``notebook`` plus a graded test cell as the source, generated and
    submitted once by ``student``; :func:`nbgrader_command` then autogrades that submission."""
    assert peers.nbgrader is not None
    course = NbgraderCourse(root=work)
    shutil.rmtree(work, ignore_errors=True)
    source = work / "source" / course.assignment
    source.mkdir(parents=True)
    nb = nbformat.read(notebook, as_version=4)
    cell = new_code_cell(NBGRADER_TEST.format(labels=str(labels_csv)))
    cell["id"] = "nbgrader-test"
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "accuracy",
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    nb.cells.append(cell)
    nbformat.write(nb, source / notebook.name)
    (work / "nbgrader_config.py").write_text(textwrap.dedent(NBGRADER_CONFIG.format(root=str(work))), encoding="utf-8")
    proc = subprocess.run(
        [peers.bin(peers.nbgrader, "nbgrader"), "generate_assignment", course.assignment, "--force"],
        cwd=work,
        env=venv_env(peers.nbgrader),
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{proc.stderr[-2000:]}")
    submitted = work / "submitted" / course.student / course.assignment
    submitted.mkdir(parents=True)
    shutil.copyfile(work / "release" / course.assignment / notebook.name, submitted / notebook.name)
    (submitted / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC\n", encoding="utf-8")
    return course


def nbgrader_command(peers: Peers, course: NbgraderCourse) -> list[str]:
    assert peers.nbgrader is not None
    return [
        peers.bin(peers.nbgrader, "nbgrader"),
        "autograde",
        course.assignment,
        "--student",
        course.student,
        "--force",
    ]


def nbgrader_score(peers: Peers, course: NbgraderCourse) -> float | None:
    """The autograded score from the gradebook (None when there is none)."""
    assert peers.nbgrader is not None
    code = (
        "from nbgrader.api import Gradebook\n"
        f"with Gradebook('sqlite:///{course.root / 'gradebook.db'}') as gb:\n"
        f"    print(gb.find_submission({course.assignment!r}, {course.student!r}).score)"
    )
    proc = subprocess.run(
        [peers.bin(peers.nbgrader, "python"), "-c", code], check=False, capture_output=True, text=True
    )
    try:
        return float(proc.stdout.strip())
    except ValueError:
        return None
