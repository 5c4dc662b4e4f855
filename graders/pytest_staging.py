"""What the ``pytest`` grader puts into a sandbox: the staged tests, the driver and the bridge,
the candidate's test files, and the two commands (hidden tests, the candidate's own)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from graders.pytest_config import PytestConfig
from sandbox.layout import LAYOUT

PYTHON = LAYOUT.python
ENTRY = LAYOUT.entry
DRIVER = Path(__file__).with_name("pytest_driver.py")
BRIDGE = Path(__file__).with_name("pytest_bridge")
DRIVER_MOUNT = "/holdout-pytest"
TRUSTED_MOUNT = LAYOUT.trusted_mount
BRIDGE_SOCKET = "/tmp/holdout-bridge/server.sock"
CANDIDATE_UID = LAYOUT.candidate_uid
TESTS_MOUNT = "/tests"
HIDDEN_RESULTS = "holdout-hidden-tests.jsonl"
CANDIDATE_RESULTS = "holdout-candidate-tests.jsonl"
MAX_CANDIDATE_TEST_FILES = 200
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env", "__MACOSX"})


# --- staging and discovery ------------------------------------------------------------------


def stage_tree(src: Path, dest: Path) -> int:
    """Copy regular files of ``src`` (no links, no caches) to ``dest``, readable by the sandbox uid."""
    count = 0
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not (here / d).is_symlink())
        target = dest / here.relative_to(src)
        target.mkdir(exist_ok=True)
        target.chmod(0o755)
        for name in sorted(filenames):
            path = here / name
            if name.endswith((".pyc", ".pyo")) or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            shutil.copyfile(path, target / name)
            (target / name).chmod(0o644)
            count += 1
    return count


def candidate_test_files(root: Path) -> list[str]:
    """The candidate's test files (``test_*.py``, ``*_test.py``), relative, read as names only."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and not (here / d).is_symlink()
        )
        for name in sorted(filenames):
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                path = here / name
                if stat.S_ISREG(os.lstat(path).st_mode):
                    found.append(path.relative_to(root).as_posix())
        if len(found) >= MAX_CANDIDATE_TEST_FILES:
            return found[:MAX_CANDIDATE_TEST_FILES]
    return found


PYTEST_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:stepwise",
    "-q",
    "--color=no",
    "-o",
    "console_output_style=classic",
)


def driver_command(results: str, per_test_timeout_s: float, pytest_args: list[str]) -> list[str]:
    """pytest next to the candidate's code, as its uid (the candidate's own tests)."""
    return [
        PYTHON,
        f"{DRIVER_MOUNT}/{DRIVER.name}",
        "--results",
        f"/output/{results}",
        "--per-test-timeout",
        f"{per_test_timeout_s:g}",
        "--path",
        "/submission",
        "--",
        *PYTEST_OPTIONS,
        *pytest_args,
    ]


def hidden_command(cfg: PytestConfig) -> list[str]:
    """The two-uid run of the hidden tests: ``entry.py pair SERVER RUNNER``."""
    server = [
        PYTHON,
        "-B",
        "-c",
        f"import sys; sys.path[0] = {DRIVER_MOUNT!r}; from pytest_bridge.server import main; sys.exit(main())",
        "--socket",
        BRIDGE_SOCKET,
        "--root",
        "/submission",
        "--max-bytes",
        str(cfg.bridge_max_mb * 2**20),
        "--preload",
        *cfg.preload,
    ]
    runner = [
        PYTHON,
        "-I",
        "-B",
        f"{DRIVER_MOUNT}/{DRIVER.name}",
        "--results",
        f"{TRUSTED_MOUNT}/{HIDDEN_RESULTS}",
        "--per-test-timeout",
        f"{cfg.per_test_timeout_s:g}",
        "--logs",
        "-",
        "--bridge",
        BRIDGE_SOCKET,
        "--bridge-peer-uid",
        str(CANDIDATE_UID),
        "--",
        *PYTEST_OPTIONS,
        "--rootdir",
        TESTS_MOUNT,
        "--import-mode=importlib",
        TESTS_MOUNT,
    ]
    return [*ENTRY, "pair", json.dumps(server), json.dumps(runner)]


def stage_driver(dest: Path) -> None:
    """The driver and the bridge package, readable by every uid of the sandbox."""
    dest.mkdir(exist_ok=True)
    dest.chmod(0o755)
    shutil.copyfile(DRIVER, dest / DRIVER.name)
    (dest / DRIVER.name).chmod(0o644)
    package = dest / BRIDGE.name
    package.mkdir(exist_ok=True)
    package.chmod(0o755)
    for module in sorted(BRIDGE.glob("*.py")):
        shutil.copyfile(module, package / module.name)
        (package / module.name).chmod(0o644)
