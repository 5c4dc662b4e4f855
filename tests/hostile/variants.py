"""Variants of the real applied_ml assignment, written into a temp folder for the catalogue.

Same data, same prepare hook and splits (so the prepared-data cache is shared), same
predictions/run/quality graders and rubric. The ``lean`` variant leaves out the pytest grader
(a second container per case) to keep the catalogue's Docker time modest; cases that need the
hidden tests use the real assignment. Other variants change one limit (a short cell timeout,
small intake limits) the way an assignment author would in ``assignment.toml``.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
APPLIED_ML = REPO / "assignments" / "applied_ml"


def toml_value(value: Any) -> str:
    """One TOML value, inline (tables as inline tables, strings as escaped basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in data.items())


def make_variant(
    dest: Path,
    *,
    hidden_tests: bool = False,
    entry: dict | None = None,
    sandbox: dict | None = None,
    intake: dict | None = None,
) -> Path:
    """Copy applied_ml to ``dest`` (a new folder) with the given changes; return ``dest``."""
    shutil.copytree(APPLIED_ML, dest, ignore=shutil.ignore_patterns("canaries", "starter", "__pycache__"))
    spec = tomllib.loads((APPLIED_ML / "assignment.toml").read_text(encoding="utf-8"))
    spec.pop("canaries", None)
    if not hidden_tests:
        spec["graders"] = [g for g in spec.get("graders", []) if g.get("use") != "pytest"]
        criteria = spec.get("rubric", {}).get("criteria", [])
        spec["rubric"]["criteria"] = [c for c in criteria if not str(c.get("measurement", "")).startswith("pytest.")]
    for table, changes in (("entry", entry), ("sandbox", sandbox), ("intake", intake)):
        if changes:
            spec[table] = {**spec.get(table, {}), **changes}
    (dest / "assignment.toml").write_text(dump_toml(spec), encoding="utf-8")
    return dest
