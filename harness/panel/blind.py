"""Blind review: anonymised ids in every report and leaderboard of a round, the names in a
separate map (``blind-map.json``) that ``grade unblind`` applies after the panel has scored."""

from __future__ import annotations

import json
from pathlib import Path

BLIND_MAP = "blind-map.json"
MAX_MAP_BYTES = 16 * 2**20


def read_blind_map(round_dir: Path) -> dict[str, dict]:
    """id -> {"name", "source"}; empty when the round is not blind."""
    path = Path(round_dir) / BLIND_MAP
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_MAP_BYTES))
    except (OSError, ValueError):
        return {}
    entries = data.get("candidates") if isinstance(data, dict) else None
    return {str(k): v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}
