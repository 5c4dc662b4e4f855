"""The import picture, kept: leaves at the ground, sandbox/ and graders/ above them, the stages
above those, and the faces (CLI, server, workers) on top. Imports only point down.

- **leaves** (``harness.errors``, ``models``, ``spec``, ``settings``, ``safeio``, ``visible``,
  ``streams``, ``crash`` and the package itself, for ``__version__``) import only other leaves;
- **sandbox/** and **graders/** import only leaves from harness/; graders/ may ask sandbox/
  for the image's layout (``sandbox.layout``) and nothing else of it;
- **stages** (intake, pipeline, reports, authoring, panel, ...) never import a **face**
  (``harness.cli``, ``harness.server``, ``harness.workers``, ``harness.__main__``);
- **no cycles**: no two modules import each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "graders", "sandbox")
LEAVES = {
    "harness",
    "harness.errors",
    "harness.models",
    "harness.spec",
    "harness.settings",
    "harness.safeio",
    "harness.visible",
    "harness.crash",
    "harness.streams",
}
FACES = ("harness.cli", "harness.server", "harness.workers", "harness.__main__")
GRADERS_MAY_USE_FROM_SANDBOX = ("sandbox.layout",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Module → the project modules it imports (``from a.b import c`` counts as ``a.b``, or
    ``a.b.c`` when that is a module of ours)."""
    modules = {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    found: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
        found[name] = {target for target in targets if target.split(".")[0] in PACKAGES}
    return found


IMPORTS = _imports()


def _is_face(module: str) -> bool:
    return any(module == face or module.startswith(face + ".") for face in FACES)


def test_the_picture_is_found():
    assert len(IMPORTS) > 100 and LEAVES <= set(IMPORTS)


@pytest.mark.parametrize("leaf", sorted(LEAVES - {"harness"}))
def test_leaves_import_only_leaves(leaf: str):
    assert IMPORTS[leaf] <= LEAVES, f"{leaf} imports {sorted(IMPORTS[leaf] - LEAVES)}"


@pytest.mark.parametrize("package", ["sandbox", "graders"])
def test_sandbox_and_graders_import_only_leaves_of_harness(package: str):
    upward = {
        f"{module} -> {target}"
        for module, targets in IMPORTS.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] == "harness" and target not in LEAVES
    }
    assert not upward, sorted(upward)


def test_graders_ask_sandbox_only_for_the_layout():
    sideways = {
        f"{module} -> {target}"
        for module, targets in IMPORTS.items()
        if module.split(".")[0] == "graders"
        for target in targets
        if target.split(".")[0] == "sandbox" and not target.startswith(GRADERS_MAY_USE_FROM_SANDBOX)
    }
    assert not sideways, sorted(sideways)


def test_no_stage_imports_a_face():
    upward = {
        f"{module} -> {target}"
        for module, targets in IMPORTS.items()
        if not _is_face(module)
        for target in targets
        if _is_face(target)
    }
    assert not upward, sorted(upward)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    # the package node is left out: every module imports it for __version__, and its lazy
    # __getattr__ imports harness.api, which would make one cycle of everything
    graph = {
        module: {t for t in targets if t in IMPORTS and t != "harness"}
        for module, targets in IMPORTS.items()
        if module != "harness"
    }
    cycles = _strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(
        " ".join(f"{m} -> {sorted(graph[m] & set(c))};" for m in c) for c in cycles
    )


def test_the_pipeline_state_is_below_the_steps():
    """The steps' shared values (``harness.job``) import no step; ``provision`` is a step the
    pipeline calls, never the other way round (no pipeline ⇄ provision cycle)."""
    steps = {"harness.pipeline", "harness.provision", "harness.api", "harness.reports.assembly"}
    assert not IMPORTS["harness.job"] & steps, sorted(IMPORTS["harness.job"] & steps)
    assert "harness.pipeline" not in IMPORTS["harness.provision"]
    assert "harness.pipeline" not in IMPORTS["harness.reports.assembly"]


@pytest.mark.parametrize("module", ["pipeline", "provision", "job", "reports/assembly"])
def test_the_pipeline_state_needs_no_unchecked_optionals(module: str):
    """Each step takes what it needs, typed: no ``assert x is not None`` to get at a field."""
    tree = ast.parse((ROOT / "harness" / f"{module}.py").read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not asserts, f"harness/{module}.py asserts at lines {asserts}"
