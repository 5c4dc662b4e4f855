"""Blind review: anonymised ids in every report and leaderboard of a round, the names in a
separate map (``blind-map.json``) that ``grade unblind`` applies after the panel has scored
(:func:`harness.panel.round.unblind`: it rewrites the round)."""

from __future__ import annotations

import json
from pathlib import Path

BLIND_MAP = "blind-map.json"
MAX_MAP_BYTES = 16 * 2**20


def read_blind_map(round_dir: Path) -> dict[str, dict]:
    """id -> {"name", "source"} from ``round_dir/blind-map.json`` (or a map file given
    directly); empty when the round is not blind."""
    path = Path(round_dir)
    path = path / BLIND_MAP if path.is_dir() else path
    from harness.safeio import UntrustedDataError, read_json

    try:
        data = read_json(path, max_bytes=MAX_MAP_BYTES)
    except UntrustedDataError:
        return {}
    entries = data.get("candidates") if isinstance(data, dict) else None
    return {str(k): v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def _write_map(round_dir: Path, entries: dict[str, dict], **extra) -> None:
    from harness.reports.write import write_atomic

    path = Path(round_dir) / BLIND_MAP
    write_atomic(path, json.dumps({"schema_version": "1", **extra, "candidates": entries}, indent=2) + "\n")
    path.chmod(0o600)


def assign_blind_ids(sources: list[Path], round_dir: Path) -> list[str]:
    """An anonymised id per source (``cand-3f9a1c``), the same one again when a blind round is
    resumed; the names go into ``round_dir/blind-map.json`` (mode 0600), nowhere else."""
    import secrets

    known = {str(v.get("source")): k for k, v in read_blind_map(round_dir).items()}
    entries = dict(read_blind_map(round_dir))
    ids = []
    for source in sources:
        key = str(Path(source).resolve())
        cid = known.get(key)
        while cid is None or (cid in entries and str(entries[cid].get("source")) != key):
            cid = f"cand-{secrets.token_hex(3)}"
        entries[cid] = {"name": Path(source).name, "source": key}
        ids.append(cid)
    Path(round_dir).mkdir(parents=True, exist_ok=True)
    _write_map(round_dir, entries)
    return ids


def anonymise(report, source: Path, cid: str):
    """``report`` with the submission's name (and its path) replaced by ``cid`` in every text."""
    from harness.models import GradeReport

    source = Path(source)
    names = [str(source.resolve()), str(source), source.name]
    stem = source.name.split(".")[0]
    if len(stem) >= 4:
        names.append(stem)

    def scrub(value):
        if isinstance(value, str):
            for name in names:
                value = value.replace(name, cid)
            return value
        if isinstance(value, dict):
            return {scrub(k): scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    data = scrub(report.model_dump(mode="json"))
    data["submission"]["name"] = cid
    return GradeReport.model_validate(data)
