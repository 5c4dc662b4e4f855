"""Finding graders by name: built-ins, the ``harness.graders`` entry points, then an
assignment's own ``graders.py``. Two graders with one name is an error naming both.

Built-ins are imported when first asked for (a grading imports only the graders its assignment
uses: the RAG, pytest and quality modules cost tenths of a second before the run starts)."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import ValidationError

from graders.base import Grader
from harness.errors import ConfigError, SpecError
from harness.safeio import import_path
from harness.spec import GraderSpec

ENTRY_POINT_GROUP = "harness.graders"
BUILTIN = {
    "predictions": "graders.predictions:PredictionsGrader",
    "run": "graders.run:RunGrader",
    "pytest": "graders.pytest_grader:PytestGrader",
    "quality": "graders.quality:QualityGrader",
    "rag": "graders.rag:RagGrader",
    "rag_judge": "graders.rag_judge:RagJudgeGrader",
}


def _load(target: str) -> type[Grader]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class GraderRegistry:
    """Name → grader class. Fresh per run: no global state."""

    def __init__(self) -> None:
        self._graders: dict[str, type[Grader]] = {}
        self._deferred: dict[str, str] = {}
        """Name → ``module:Class`` of a built-in not imported yet (:meth:`register_deferred`)."""

    def register_deferred(self, name: str, target: str) -> None:
        """A grader imported from ``target`` (``module:Class``) when first asked for by ``name``,
        which must be its ``PLUGIN_NAME`` (checked then)."""
        self._deferred[name] = target

    def _load_deferred(self, name: str) -> None:
        target = self._deferred.pop(name, None)
        if target is None:
            return
        cls = _load(target)
        if getattr(cls, "PLUGIN_NAME", "") != name:
            raise ConfigError(
                f"grader {target} is registered as {name!r} but its PLUGIN_NAME is {getattr(cls, 'PLUGIN_NAME', '')!r}",
                hint="Make the registered name and PLUGIN_NAME the same.",
            )
        self.register(cls)

    def register(self, cls: type[Grader]) -> None:
        name = getattr(cls, "PLUGIN_NAME", "")
        if not name:
            raise ConfigError(f"grader class {_describe(cls)} has no PLUGIN_NAME", hint="Set PLUGIN_NAME on the class.")
        self._load_deferred(name)  # a built-in of that name: imported now, to compare
        existing = self._graders.get(name)
        if existing is not None and existing is not cls:
            raise ConfigError(
                f"two graders are named {name!r}: {_describe(existing)} and {_describe(cls)}",
                hint="Rename one of them (PLUGIN_NAME).",
            )
        self._graders[name] = cls

    def get(self, name: str) -> type[Grader]:
        self._load_deferred(name)
        try:
            return self._graders[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.names(), n=3)
            suggestion = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(
                f"unknown grader {name!r}{suggestion}", hint="`grade list graders` shows every grader."
            ) from None

    def names(self) -> list[str]:
        return sorted({*self._graders, *self._deferred})

    def items(self) -> list[tuple[str, type[Grader]]]:
        for name in list(self._deferred):
            self._load_deferred(name)
        return sorted(self._graders.items())

    def instantiate(self, spec: GraderSpec, index: int) -> Grader:
        cls = self.get(spec.use)
        try:
            config = cls.Config.model_validate(spec.config)
        except ValidationError as exc:
            lines = [
                f"graders[{index}].config.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            ]
            raise SpecError("\n  ".join(lines), hint=f"See `grade list graders` for {spec.use!r}'s options.") from None
        return cls(config, name=spec.key)


def default_registry(assignment_dir: Path | None = None) -> GraderRegistry:
    registry = GraderRegistry()
    for name, target in BUILTIN.items():
        registry.register_deferred(name, target)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        registry.register(ep.load())
    if assignment_dir is not None and (assignment_dir / "graders.py").is_file():
        for cls in _assignment_graders(assignment_dir / "graders.py"):
            registry.register(cls)
    return registry


def _assignment_graders(path: Path) -> list[type[Grader]]:
    """Grader classes defined in an assignment's ``graders.py`` (author code, trusted)."""
    name = f"holdout_assignment_graders_{abs(hash(str(path.resolve())))}"
    module = import_path(path, name, hint="Fix the assignment's graders.py.")
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Grader) and obj is not Grader and obj.__module__ == name
    ]
