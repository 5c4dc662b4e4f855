"""The grader registry: built-ins, the ``harness.graders`` entry-point group (a real installed
distribution on sys.path), an assignment's ``graders.py``, and duplicate names."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from graders.registry import BUILTIN, ENTRY_POINT_GROUP, default_registry
from harness.errors import ConfigError, SpecError
from harness.spec import GraderSpec

PLUGIN = '''
from pydantic import Field
from graders.base import Grader, GraderConfig
from harness.models import GraderResult


class WordCountConfig(GraderConfig):
    minimum: int = Field(default=10, ge=0)


class WordCount(Grader):
    """Counts words in the submission's README."""

    PLUGIN_NAME = "{name}"
    Config = WordCountConfig

    def grade(self, ctx):
        return GraderResult(grader=self.name, measurements={{"minimum": float(self.config.minimum)}})
'''


def install_plugin(root: Path, monkeypatch, *, module: str, name: str) -> None:
    """A distribution with a ``harness.graders`` entry point, importable from ``root``."""
    (root / f"{module}.py").write_text(PLUGIN.format(name=name))
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {module}:WordCount\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_builtins_are_registered_by_the_same_path():
    registry = default_registry()
    assert set(BUILTIN) <= set(registry.names())
    assert registry.get("pytest").PLUGIN_NAME == "pytest"


def test_entry_point_plugin_is_found_and_its_config_validated(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, module="holdout_wordcount", name="wordcount")
    registry = default_registry()
    assert "wordcount" in registry.names()
    grader = registry.instantiate(GraderSpec(use="wordcount", config={"minimum": 3}), 0)
    assert grader.grade(None).measurements == {"minimum": 3.0}
    with pytest.raises(SpecError, match=r"graders\[1\]\.config\.minimum"):
        registry.instantiate(GraderSpec(use="wordcount", config={"minimum": -1}), 1)
    with pytest.raises(SpecError, match=r"graders\[0\]\.config\.minimun"):
        registry.instantiate(GraderSpec(use="wordcount", config={"minimun": 3}), 0)


def test_an_entry_point_that_reuses_a_builtin_name_is_an_error_naming_both(tmp_path, monkeypatch):
    install_plugin(tmp_path, monkeypatch, module="holdout_impostor", name="run")
    with pytest.raises(ConfigError) as err:
        default_registry()
    assert "two graders are named 'run'" in str(err.value)
    assert "graders.run.RunGrader" in str(err.value) and "holdout_impostor.WordCount" in str(err.value)


def test_assignment_graders_py_is_loaded_and_duplicates_name_both(tmp_path):
    (tmp_path / "graders.py").write_text(textwrap.dedent(PLUGIN.format(name="readme_words")))
    assert "readme_words" in default_registry(tmp_path).names()
    (tmp_path / "graders.py").write_text(PLUGIN.format(name="predictions"))
    with pytest.raises(
        ConfigError,
        match=r"two graders are named 'predictions': graders\.predictions\.PredictionsGrader and .*WordCount",
    ):
        default_registry(tmp_path)


def test_a_broken_graders_py_is_a_config_error(tmp_path):
    (tmp_path / "graders.py").write_text("import no_such_module\n")
    with pytest.raises(ConfigError, match="graders.py failed to import: ModuleNotFoundError"):
        default_registry(tmp_path)


def test_unknown_grader_suggests_close_names():
    with pytest.raises(ConfigError, match="did you mean 'pytest'"):
        default_registry().get("pytests")


def test_builtins_are_imported_only_when_asked_for():
    """A grading imports the graders its assignment uses, not the RAG, pytest or quality modules
    (tenths of a second before the run); listing them all imports them, under their own names."""
    import ast
    import subprocess

    code = (
        "import sys\n"
        "from graders.registry import default_registry\n"
        "from harness.spec import GraderSpec\n"
        "r = default_registry()\n"
        "r.instantiate(GraderSpec(use='run', config={}), 0)\n"
        "print(sorted(m for m in sys.modules if m in ('graders.rag', 'graders.pytest_grader', 'graders.quality')))\n"
        "print(sorted(name for name, cls in r.items() if cls.PLUGIN_NAME == name))\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True).stdout
    first, second = out.splitlines()
    assert first == "[]"
    assert set(BUILTIN) <= set(ast.literal_eval(second))


def test_an_unknown_name_still_suggests_deferred_builtins():
    with pytest.raises(ConfigError, match="did you mean 'predictions'"):
        default_registry().get("prediction")
