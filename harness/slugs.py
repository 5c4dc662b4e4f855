"""Batch output folders: one slug per distinct submission source, the same on every rerun.

``<out>/slugs.json`` maps each slug to the source it belongs to (the resolved path). A rerun
gives every known source its old folder back, whatever new sources sort before it; a new
source whose name would take a slug that belongs to another source (``alice .zip`` beside
``alice.zip``) gets the name plus a short hash of its path, which is deterministic and differs
between sources. A folder written before the map existed is recognised by the submission name
in its ``report.json``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness.safeio import UntrustedDataError, read_json

SLUG_FILE = "slugs.json"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
MAX_SLUG = 80
_MAP_BYTES = 16 * 2**20
_SAFE = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{MAX_SLUG - 1}}}")


def base_slug(path: Path) -> str:
    """The folder name a source would like: its name without archive suffix, made filename-safe."""
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "submission")[:MAX_SLUG]


def source_key(path: Path) -> str:
    """What identifies a source across reruns: its resolved path."""
    return str(path.resolve())


def hashed_slug(base: str, key: str, n: int) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    suffix = f"-{digest}" + (f"-{n}" if n > 1 else "")
    return base[: MAX_SLUG - len(suffix)] + suffix


def load_map(out_dir: Path) -> dict[str, str]:
    """slug → source key, from ``slugs.json`` (an unreadable map is an empty one)."""
    try:
        data = read_json(out_dir / SLUG_FILE, max_bytes=_MAP_BYTES)
    except UntrustedDataError:
        return {}
    slugs = data.get("slugs") if isinstance(data, dict) else None
    if not isinstance(slugs, dict):
        return {}
    return {k: v for k, v in slugs.items() if isinstance(k, str) and isinstance(v, str) and _SAFE.fullmatch(k)}


def _legacy_owner(folder: Path) -> str | None:
    """The submission name a folder's ``report.json`` records (folders from before the map)."""
    try:
        data = read_json(folder / "report.json", max_bytes=_MAP_BYTES)
    except UntrustedDataError:
        return None
    submission = data.get("submission") if isinstance(data, dict) else None
    name = submission.get("name") if isinstance(submission, dict) else None
    return name if isinstance(name, str) else None


def assign_slugs(sources: list[Path], out_dir: Path) -> list[str]:
    """A slug per source (in order), unique, and the same as on earlier runs into ``out_dir``;
    writes the updated map."""
    from harness.reports.write import write_atomic

    known = load_map(out_dir)
    owner_of = {key: slug for slug, key in known.items()}
    keys = [source_key(s) for s in sources]
    slugs: list[str | None] = [owner_of.get(key) for key in keys]
    taken = set(known)

    def free(slug: str, source: Path) -> bool:
        if slug in taken:
            return False
        legacy = _legacy_owner(out_dir / slug)
        return legacy is None or legacy == source.name

    for i, (source, key) in enumerate(zip(sources, keys)):
        if slugs[i] is not None:
            continue
        if key in owner_of:  # the same source listed twice
            slugs[i] = owner_of[key]
            continue
        base = base_slug(source)
        slug, n = base, 1
        while not free(slug, source):
            slug, n = hashed_slug(base, key, n), n + 1
        slugs[i] = slug
        taken.add(slug)
        known[slug] = key
        owner_of[key] = slug
    write_atomic(out_dir / SLUG_FILE, _dump(known))
    return [s for s in slugs if s is not None]


def _dump(known: dict[str, str]) -> str:
    import json

    return json.dumps({"format": 1, "slugs": dict(sorted(known.items()))}, indent=1, ensure_ascii=False) + "\n"
