"""``grade new``: scaffold an assignment folder from a template shipped with the package.

A scaffold is complete and self-consistent: spec, candidate README and NOTICE, a prepare hook,
a starter entry point for the kit, hidden tests, and canaries (a reference solution, a
baseline that must score low, one that crashes). It passes ``grade check`` as soon as the
author adds data (a declared source, or a rewritten ``load_table`` in ``prepare.py``) and a
reference solution that fits it.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent / "templates" / "new"
KINDS = ("classification", "regression", "rag")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SKIP = frozenset({"__pycache__", ".DS_Store"})


def new_assignment(path: Path, kind: str = "classification", title: str | None = None) -> list[Path]:
    """Create the assignment folder ``path`` (its name is the assignment id); return the files written.

    Raises :class:`ConfigError` for an unknown kind, an id that is not a lower-case identifier,
    or a ``path`` that already exists and is not empty.
    """
    path = Path(path)
    assignment_id = path.name
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}", hint=f"Use one of: {', '.join(KINDS)}.")
    if not _ID.match(assignment_id):
        raise ConfigError(
            f"{assignment_id!r} cannot be an assignment id",
            hint="Name the folder with lower-case letters, digits and '_', starting with a letter (e.g. house_prices).",
        )
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path} already exists and is not empty", hint="Pick a new folder name, or remove it first.")
    if title is not None and (not title.strip() or any(c in title for c in '"\\\n')):
        raise ConfigError(f"title {title!r} cannot be used", hint="Use a one-line title without quotes or backslashes.")
    source = TEMPLATES / kind
    replacements = {
        "__ASSIGNMENT_ID__": assignment_id,
        "__TITLE__": title or assignment_id.replace("_", " ").capitalize(),
    }
    written = []
    for template in sorted(source.rglob("*")):
        relative = template.relative_to(source)
        if any(part in _SKIP for part in relative.parts) or template.suffix == ".pyc" or not template.is_file():
            continue
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = template.read_text(encoding="utf-8")
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
