"""Raw data and prepared splits.

Two jobs, both assignment-agnostic:

1. :func:`resolve_source` finds a declared raw file in the data directory (``GRADE_DATA_DIR``)
   and checks its sha256, downloading it from the declared URL when it is missing and downloads
   are allowed (like scikit-learn's ``fetch_*`` loaders).
2. :func:`prepare_assignment` runs the assignment's own ``prepare`` hook once per content key
   and caches the result under ``<cache>/prepared/<assignment>/<key>/``:

   ``inputs/``  what the sandbox mounts read-only at ``/data`` (training data, holdout features)
   ``hidden/``  labels and references; host only (mode 0700), never mounted, never in a kit
   ``kit/``     public data a candidate's starter kit may contain

   The folder is built beside its final place and published with one atomic rename, so a
   concurrent reader sees either nothing or a complete folder.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import DataError
from harness.safeio import import_path, sha256_file
from harness.settings import Settings
from harness.spec import Assignment, SourceSpec

CHUNK_SIZE = 1 << 20
DOWNLOAD_TIMEOUT_S = 30.0
KEY_LENGTH = 16
MANIFEST_FILE = "manifest.json"
COMPLETE_MARKER = ".complete"
SPLITS_DIR = "splits"
MANIFEST_FORMAT = 1

PrepareHook = Callable[[dict[str, Path], "PreparedPaths", int], None]


# --------------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------------


def _copy_hashing(src: IO[bytes], dst: IO[bytes]) -> str:
    """Copy ``src`` to ``dst`` in chunks and return the sha256 of what was copied."""
    digest = hashlib.sha256()
    while chunk := src.read(CHUNK_SIZE):
        digest.update(chunk)
        dst.write(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# raw sources
# --------------------------------------------------------------------------------------------


def _missing_hint(source: SourceSpec, settings: Settings) -> str:
    download = (
        "or allow download (unset GRADE_OFFLINE) so it is fetched from " + source.url
        if source.url
        else "or allow download after declaring a url for it in assignment.toml"
    )
    return (
        f"Put the original file at {settings.data_dir / source.name}, "
        f"or set GRADE_DATA_DIR to a folder that holds {source.name}, {download}."
    )


def _checksum_error(source: SourceSpec, actual: str, where: str) -> DataError:
    return DataError(
        f"checksum mismatch for {source.name} ({where}): expected sha256 {source.sha256}, "
        f"got sha256 {actual}. This is not the original file (altered, truncated or re-encoded "
        "copies of public datasets are common).",
        hint="Replace it with the original file from the source the assignment declares "
        "(see the assignment's README/NOTICE), or delete it so that it can be downloaded again.",
    )


def resolve_source(source: SourceSpec, settings: Settings) -> Path:
    """Return the path of ``source`` under ``settings.data_dir``, verified by sha256.

    A missing file is downloaded from ``source.url`` when that is set and
    ``settings.allow_download`` is true. Raises :class:`DataError` when the file is missing and
    cannot be downloaded, when the download fails, or when the checksum does not match.
    """
    path = settings.data_dir / source.name
    if path.is_file():
        actual = sha256_file(path)
        if actual != source.sha256:
            raise _checksum_error(source, actual, str(path))
        return path
    if path.exists():
        raise DataError(f"{path} exists but is not a regular file", hint=_missing_hint(source, settings))
    if not source.url:
        raise DataError(
            f"raw data file {source.name} not found: looked at {path} (the assignment declares no download url)",
            hint=_missing_hint(source, settings),
        )
    if not settings.allow_download:
        raise DataError(
            f"raw data file {source.name} not found: looked at {path}, and downloads are disabled",
            hint=_missing_hint(source, settings),
        )
    _download(source, path, settings)
    return path


def _download(source: SourceSpec, dest: Path, settings: Settings) -> None:
    """Download ``source.url`` (extracting ``archive_member`` if set) to ``dest``, atomically."""
    assert source.url is not None
    if not source.url.startswith(("https://", "http://")):
        raise DataError(
            f"refusing to download {source.name} from {source.url!r}: only http(s) urls are allowed",
            hint="Fix the url in assignment.toml.",
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {dest.parent}: {exc.strerror or exc}", hint=_missing_hint(source, settings)
        ) from None
    temps: list[Path] = []
    try:
        payload, actual = _fetch(source, dest, temps, settings)
        if source.archive_member:
            payload, actual = _extract_member(source, payload, dest, temps)
        if actual != source.sha256:
            raise _checksum_error(source, actual, f"downloaded from {source.url}")
        os.chmod(payload, 0o644)
        os.replace(payload, dest)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _temp_beside(dest: Path, temps: list[Path], suffix: str) -> tuple[IO[bytes], Path]:
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix)
    temps.append(Path(name))
    return os.fdopen(fd, "wb"), Path(name)


def _fetch(source: SourceSpec, dest: Path, temps: list[Path], settings: Settings) -> tuple[Path, str]:
    """Stream the url into a temp file beside ``dest``; returns it and its sha256.

    Network failures become :class:`DataError` with the same hint as a missing file.
    """
    assert source.url is not None
    request = urllib.request.Request(source.url, headers={"User-Agent": "holdout-grader"})
    try:
        out, name = _temp_beside(dest, temps, ".download")
        with out, urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            digest = _copy_hashing(response, out)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = _network_reason(exc)
        raise DataError(
            f"raw data file {source.name} not found at {dest}, and downloading it from {source.url} failed: {reason}",
            hint=_missing_hint(source, settings),
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot write the download of {source.name} beside {dest}: {exc}", hint=_missing_hint(source, settings)
        ) from None
    return name, digest


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc)


def _extract_member(source: SourceSpec, archive: Path, dest: Path, temps: list[Path]) -> tuple[Path, str]:
    """Extract just ``source.archive_member`` (read by name) into a temp file; returns it and its sha256."""
    member = source.archive_member
    assert member is not None
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise DataError(
                    f"the archive downloaded from {source.url} has no member {member!r}",
                    hint="Fix archive_member in assignment.toml (it must name a file inside the zip).",
                ) from None
            if info.is_dir():
                raise DataError(
                    f"{member!r} in {source.url} is a folder, not a file", hint="Fix archive_member in assignment.toml."
                )
            out, name = _temp_beside(dest, temps, ".member")
            with out, zf.open(info) as src:
                digest = _copy_hashing(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DataError(
            f"the download from {source.url} is not a readable zip archive: {exc}",
            hint="Check the url in assignment.toml, or place the file by hand.",
        ) from None
    return name, digest


# --------------------------------------------------------------------------------------------
# prepared splits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedPaths:
    """The folders of one prepared assignment data set."""

    root: Path
    inputs: Path
    """Mounted read-only at ``/data`` in the sandbox: training data and holdout features only."""
    hidden: Path
    """Labels and references. Host only: never mounted, never in a kit."""
    kit: Path
    """Public data that a candidate's starter kit may contain."""

    @classmethod
    def at(cls, root: Path) -> PreparedPaths:
        """The standard layout under ``root``."""
        return cls(root=root, inputs=root / "inputs", hidden=root / "hidden", kit=root / "kit")

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_FILE


def _safe_component(assignment_id: str) -> str:
    if not assignment_id or assignment_id in (".", "..") or any(c in assignment_id for c in "/\\\0"):
        raise DataError(
            f"assignment id {assignment_id!r} cannot be used as a folder name",
            hint="Use letters, digits, '_' and '-' in the assignment id.",
        )
    return assignment_id


def _prepare_file(assignment: Assignment) -> Path:
    path = assignment.root / assignment.spec.data.prepare
    if not path.is_file():
        raise DataError(
            f"assignment {assignment.id}: prepare file {path} not found",
            hint="Create it (it must define prepare(sources, out, seed)) or fix data.prepare in assignment.toml.",
        )
    return path


def _split_files(assignment: Assignment) -> dict[str, str]:
    """sha256 of every file under ``<root>/splits/``, by path relative to the assignment root."""
    splits = assignment.root / SPLITS_DIR
    if not splits.is_dir():
        return {}
    return {
        path.relative_to(assignment.root).as_posix(): sha256_file(path)
        for path in sorted(splits.rglob("*"))
        if path.is_file()
    }


def cache_key(assignment: Assignment) -> str:
    """A short hash of everything the prepared data depends on.

    The spec version, the seed, the declared (and verified) sha256 of each source, the prepare
    file and the committed split files. Anything else changing reuses the cached folder.
    """
    spec = assignment.spec
    material = {
        "version": spec.version,
        "seed": spec.data.seed,
        "sources": {s.name: s.sha256 for s in spec.data.sources},
        "prepare": sha256_file(_prepare_file(assignment)),
        "splits": _split_files(assignment),
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:KEY_LENGTH]


def prepare_assignment(assignment: Assignment, settings: Settings, *, force: bool = False) -> PreparedPaths:
    """Resolve the assignment's raw sources and build (or reuse) its prepared data.

    Returns the cached folder when one with the same content key is complete, unless ``force``.
    Raises :class:`DataError` for missing/altered sources and for a failing prepare hook.
    """
    sources = {s.name: resolve_source(s, settings) for s in assignment.spec.data.sources}
    parent = settings.prepared_dir / _safe_component(assignment.id)
    final = parent / cache_key(assignment)
    if not force and (final / COMPLETE_MARKER).is_file():
        return PreparedPaths.at(final)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {parent}: {exc.strerror or exc}", hint="Set GRADE_CACHE_DIR to a writable folder."
        ) from None
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{final.name}.building-"))
    try:
        _build(assignment, sources, PreparedPaths.at(staging), final.name)
        _publish(staging, final, replace=force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PreparedPaths.at(final)


def _build(assignment: Assignment, sources: dict[str, Path], out: PreparedPaths, key: str) -> None:
    """Run the hook into ``out`` (a private staging folder), then seal it with a manifest."""
    for folder in (out.inputs, out.hidden, out.kit):
        folder.mkdir()
    out.hidden.chmod(0o700)
    hook = _load_hook(assignment)
    try:
        hook(dict(sources), out, assignment.spec.data.seed)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"assignment {assignment.id}: its prepare hook failed: {type(exc).__name__}: {exc}",
            hint=f"This is a bug in {_prepare_file(assignment)} or its data; fix it and run `grade data prepare` again.",
        ) from exc
    _check_layout(out)
    _write_manifest(assignment, out, key)  # refuses symlinks before any chmod follows one
    _fix_permissions(out)
    (out.root / COMPLETE_MARKER).write_text("", encoding="utf-8")


def _check_layout(out: PreparedPaths) -> None:
    """The hook may write only into ``inputs/``, ``hidden/`` and ``kit/``."""
    allowed = {out.inputs.name, out.hidden.name, out.kit.name}
    stray = sorted(p.name for p in out.root.iterdir() if p.name not in allowed)
    if stray:
        raise DataError(
            f"the prepare hook wrote {', '.join(stray)} outside inputs/, hidden/ and kit/",
            hint="Write every output into out.inputs, out.hidden or out.kit.",
        )


def _load_hook(assignment: Assignment) -> PrepareHook:
    """Import the prepare file by path under a unique module name and return ``prepare``."""
    path = _prepare_file(assignment)
    name = f"_holdout_prepare_{uuid.uuid4().hex}"
    module = import_path(path, name, error=DataError, hint="Fix the prepare file of the assignment.", keep=False)
    hook = getattr(module, "prepare", None)
    if not callable(hook):
        raise DataError(
            f"{path} does not define a function prepare(sources, out, seed)",
            hint="Add it; it writes into out.inputs, out.hidden and out.kit.",
        )
    return hook


def _walk_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` in sorted order; symlinks and special files are refused."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for entry in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath) / entry
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                yield path
            elif not stat.S_ISDIR(mode):
                raise DataError(
                    f"the prepare hook produced {path.name!r} in {path.parent}, which is not a regular file",
                    hint="Prepared data may hold only regular files and folders (no symlinks).",
                )


def _fix_permissions(out: PreparedPaths) -> None:
    """Public folders readable by the sandbox user; hidden ones private to the host user."""
    out.root.chmod(0o755)
    for public in (out.inputs, out.kit):
        _chmod_tree(public, dir_mode=0o755, file_mode=0o644)
    _chmod_tree(out.hidden, dir_mode=0o700, file_mode=0o600)


def _chmod_tree(root: Path, *, dir_mode: int, file_mode: int) -> None:
    root.chmod(dir_mode)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            (Path(dirpath) / d).chmod(dir_mode)
        for f in filenames:
            (Path(dirpath) / f).chmod(file_mode)


def _write_manifest(assignment: Assignment, out: PreparedPaths, key: str) -> None:
    """Record the sha256 of every produced file (deterministic: no times, no host paths)."""
    spec = assignment.spec
    files = {
        path.relative_to(out.root).as_posix(): sha256_file(path)
        for sub in (out.inputs, out.hidden, out.kit)
        for path in _walk_files(sub)
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "assignment": spec.id,
        "version": spec.version,
        "seed": spec.data.seed,
        "key": key,
        "sources": {s.name: s.sha256 for s in spec.data.sources},
        "files": files,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    out.manifest.write_text(text, encoding="utf-8")


def _publish(staging: Path, final: Path, *, replace: bool = False) -> bool:
    """Atomically move ``staging`` to ``final``. Returns False if a concurrent build won.

    With ``replace`` an existing ``final`` is moved aside first (``force``); otherwise a
    complete ``final`` that appeared meanwhile is kept and ``staging`` is discarded.
    """
    if final.exists() and (replace or not (final / COMPLETE_MARKER).is_file()):
        _discard(final)
    try:
        os.replace(staging, final)
    except OSError:
        if (final / COMPLETE_MARKER).is_file():
            shutil.rmtree(staging, ignore_errors=True)
            return False
        raise
    return True


def _discard(folder: Path) -> None:
    """Move ``folder`` out of the way with a rename, then delete it."""
    trash = folder.with_name(f".{folder.name}.discard-{uuid.uuid4().hex}")
    try:
        os.replace(folder, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def load_manifest(paths: PreparedPaths) -> dict[str, Any]:
    """The manifest of a prepared folder: assignment, version, key, sources and file sha256s."""
    try:
        return json.loads(paths.manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(
            f"cannot read {paths.manifest}: {exc}", hint="Run `grade data prepare <assignment> --force` to rebuild it."
        ) from None


def assignment_data_digest(paths: PreparedPaths) -> str:
    """sha256 over the manifest: one value that identifies the prepared data, for reports."""
    try:
        return sha256_file(paths.manifest)
    except OSError as exc:
        raise DataError(
            f"cannot read {paths.manifest}: {exc}", hint="Run `grade data prepare <assignment> --force` to rebuild it."
        ) from None


def verify_prepared(paths: PreparedPaths, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """Files whose sha256 no longer matches the manifest (empty when the folder is intact)."""
    manifest = load_manifest(paths) if manifest is None else manifest
    bad = []
    for rel, expected in manifest.get("files", {}).items():
        path = paths.root / rel
        if not path.is_file() or sha256_file(path) != expected:
            bad.append(rel)
    return bad
