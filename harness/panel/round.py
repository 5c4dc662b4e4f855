"""A round on disk: the folder ``grade batch`` wrote (``<round>/<slug>/report.json``,
``summary.*``, ``round.json``), read back for the panel, and its leaderboard rebuilt; the
round-wide steps (fingerprinting it, unblinding it) that rewrite it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ConfigError
from harness.models import GradeReport

MAX_ROUND_BYTES = 16 * 2**20


def report_dirs(round_dir: Path) -> list[Path]:
    """Every report folder in the round (sorted by name); a folder holding report.json itself
    counts as a round of one."""
    round_dir = Path(round_dir)
    if not round_dir.is_dir():
        raise ConfigError(f"{round_dir} is not a folder", hint="Point at the output folder of `grade batch`.")
    if (round_dir / "report.json").is_file():
        return [round_dir]
    found = [
        d for d in sorted(round_dir.iterdir()) if d.is_dir() and not d.is_symlink() and (d / "report.json").is_file()
    ]
    if not found:
        raise ConfigError(f"no reports in {round_dir}", hint="Point at the output folder of `grade batch`.")
    return found


def load_reports(round_dir: Path) -> list[tuple[str, Path, GradeReport]]:
    """(slug, folder, report) for every readable report in the round."""
    from harness.panel.scorecard import read_report

    out = []
    for folder in report_dirs(round_dir):
        try:
            out.append((folder.name, folder, read_report(folder)))
        except ConfigError:
            continue
    return out


def read_round_file(round_dir: Path) -> dict:
    from harness.reports.leaderboard import ROUND_FILE
    from harness.safeio import UntrustedDataError, read_json

    try:
        data = read_json(Path(round_dir) / ROUND_FILE, max_bytes=MAX_ROUND_BYTES)
    except UntrustedDataError:
        return {}
    return data if isinstance(data, dict) else {}


def rebuild_leaderboard(round_dir: Path) -> bool:
    """Write ``summary.csv``/``summary.html`` again from the reports on disk (after a review, an
    import, a similarity run). False when ``round_dir`` is not a batch round."""
    from harness.batch import BatchItem, BatchResult
    from harness.panel.scorecard import read_report
    from harness.reports.leaderboard import write_leaderboard

    round_dir = Path(round_dir)
    meta = read_round_file(round_dir)
    if not meta and not (round_dir / "summary.csv").is_file():
        return False
    items = []
    listed = meta.get("items") if isinstance(meta.get("items"), list) else []
    seen = set()
    for entry in listed:
        slug = str(entry.get("slug", ""))
        if not slug or "/" in slug or slug in (".", ".."):
            continue
        seen.add(slug)
        item = BatchItem(
            source=Path(str(entry.get("source") or slug)),
            slug=slug,
            state=entry.get("state"),
            error=entry.get("error"),
            duration_s=float(entry.get("duration_s") or 0.0),
        )
        try:
            item.report = read_report(round_dir / slug)
        except ConfigError:
            pass
        items.append(item)
    for slug, _folder, report in [] if listed else load_reports(round_dir):
        items.append(BatchItem(source=Path(report.submission.name), slug=slug, state=report.status, report=report))
    if not items:
        return False
    result = BatchResult(
        items=items, out_dir=round_dir, wall_s=float(meta.get("wall_s") or 0.0), counts=dict(meta.get("counts") or {})
    )
    write_leaderboard(result)
    return True


def round_of(report_dir: Path) -> Path | None:
    """The round a report folder belongs to (its parent holds the leaderboard), if any."""
    parent = Path(report_dir).resolve().parent
    return parent if (parent / "summary.csv").is_file() else None


def round_sources(round_dir: Path) -> tuple[dict[str, Path], list[str], str | None]:
    """(slug -> submission source, slugs whose source is gone, assignment id) for a round.

    Sources are where ``grade batch`` read them (``round.json``; for a blind round, the
    separate name map). A folder of submissions (no ``round.json``) is its own list of sources.
    """
    from harness.panel.blind import read_blind_map

    round_dir = Path(round_dir)
    meta = read_round_file(round_dir)
    blind = read_blind_map(round_dir)
    sources: dict[str, Path] = {}
    missing: list[str] = []
    if meta:
        for entry in meta.get("items") or []:
            slug = str(entry.get("slug", ""))
            source = (blind.get(slug) or {}).get("source") if blind else entry.get("source")
            if not slug or not source:
                continue
            path = Path(str(source))
            (sources.__setitem__(slug, path) if path.exists() else missing.append(slug))
    else:
        from harness.batch import discover, slug_for

        taken: set[str] = set()
        for path in discover([round_dir]):
            sources[slug_for(path, taken)] = path
    assignment_id = None
    for _, _, report in load_reports(round_dir) if meta else []:
        assignment_id = report.assignment.id
        break
    return sources, missing, assignment_id


def similarity_round(round_dir: Path, *, top: int = 200) -> tuple[dict, dict]:
    """Fingerprint every submission of a round (its sources as recorded by ``grade batch``):
    the data of ``similarity.json``, and each submission's :class:`~harness.panel.similarity.Document`."""
    from harness.panel.similarity import WINDOW, K, load_code, similarity, starter_code

    sources, missing, assignment_id = round_sources(round_dir)
    codes = {slug: load_code(path) for slug, path in sources.items()}
    pairs, docs = similarity(codes, starter_code(assignment_id), top=top)
    data = {
        "schema_version": "1",
        "k": K,
        "window": WINDOW,
        "submissions": len(codes),
        "boilerplate": "starter" if assignment_id else None,
        "missing": missing,
        "pairs": pairs,
    }
    return data, docs


def unblind(round_dir: Path, map_path: Path | None = None) -> int:
    """Put the names back: every report's submission name, the round's sources, the leaderboard.
    Returns how many reports were unblinded. Report folders keep their ids (reviews live there)."""
    from harness.panel.blind import BLIND_MAP, read_blind_map
    from harness.panel.scorecard import read_report
    from harness.reports.leaderboard import ROUND_FILE
    from harness.reports.write import write_atomic, write_reports

    round_dir = Path(round_dir)
    entries = read_blind_map(map_path or round_dir)
    if not entries:
        raise ConfigError(
            f"no blind map for {round_dir}",
            hint=f"`grade batch --blind` writes {BLIND_MAP} into the round; pass --map if you moved it.",
        )
    done = 0
    for cid, entry in entries.items():
        folder = round_dir / cid
        if "/" in cid or not (folder / "report.json").is_file():
            continue
        report = read_report(folder)
        report.submission.name = str(entry.get("name") or cid)
        write_reports(report, folder)
        done += 1
    meta = read_round_file(round_dir)
    if meta:
        for item in meta.get("items") or []:
            entry = entries.get(str(item.get("slug")))
            if entry:
                item["source"] = entry.get("source")
        meta["blind"] = False
        write_atomic(round_dir / ROUND_FILE, json.dumps(meta, indent=2) + "\n")
    rebuild_leaderboard(round_dir)
    return done
