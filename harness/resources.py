"""An assignment's declared resources: what every run may read at ``/resources``, read-only.

Three kinds, all declared in ``assignment.toml`` with a sha256 and an optional download url,
found under the data directory (``GRADE_DATA_DIR``) like the raw sources and fetched from the
declared url when missing (:func:`harness.data.resolve_source`):

- ``[[data.resources]]`` — plain files, copied to ``/resources/<name>``;
- ``[[data.nltk]]`` — NLTK data packages (the zips of NLTK's data index), unpacked under
  ``/resources/nltk_data/<category>/`` as ``nltk.download`` would;
- ``[[data.models]]`` — Hugging Face model snapshots, laid out as the hub's own cache under
  ``/resources/huggingface/hub`` (``refs/main`` names the declared revision), so
  ``from_pretrained("org/name")`` finds them with ``HF_HUB_OFFLINE=1``.

:func:`prepare_resources` assembles them once per content into
``<cache>/resources/<key>/`` (``grade data prepare`` does it ahead of grading; a grade does it
when the folder is missing) and publishes the folder with one rename.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from harness.errors import DataError
from harness.settings import Settings
from harness.spec import Assignment, DataSpec, NltkPackageSpec

LAYOUT_VERSION = "2"
COMPLETE = ".complete"
NLTK_DIR = "nltk_data"
HF_DIR = "huggingface"
MAX_UNPACKED_BYTES = 4 * 2**30
"""Largest unpacked NLTK package (wordnet is about 30 MB; the largest in the index under 1 GB)."""


def declared(data: DataSpec) -> bool:
    return bool(data.resources or data.nltk or data.models)


def cache_key(data: DataSpec) -> str:
    """A short hash of every declared resource (kind, name, sha256) and the layout version."""
    parts = [f"v{LAYOUT_VERSION}"]
    parts += [f"file:{r.name}:{r.sha256}" for r in data.resources]
    parts += [f"nltk:{p.category}/{p.id}:{p.sha256}" for p in data.nltk]
    parts += [f"hf:{m.repo}@{m.revision}:{s.name}:{s.sha256}" for m in data.models for s in m.sources()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def prepare_resources(assignment: Assignment, settings: Settings) -> Path | None:
    """The assembled resources folder of ``assignment`` (None when it declares none).

    Every file is resolved (found or downloaded) and checked by sha256 first; a missing or
    altered one is a :class:`DataError` naming it.
    """
    from harness.data import resolve_source

    data = assignment.spec.data
    if not declared(data):
        return None
    target = settings.cache_dir / "resources" / cache_key(data)
    if (target / COMPLETE).is_file():
        return target
    files = [(r.name, resolve_source(r, settings)) for r in data.resources]
    packages = [(p, resolve_source(p.source(), settings)) for p in data.nltk]
    models = [(m, [(f.name, resolve_source(s, settings)) for f, s in zip(m.files, m.sources())]) for m in data.models]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name, path in files:
            _copy(path, staging / name)
        for package, path in packages:
            _unpack_nltk(package, path, staging / NLTK_DIR / package.category)
        for model, model_files in models:
            snapshot = staging / HF_DIR / "hub" / f"models--{model.repo.replace('/', '--')}"
            for name, path in model_files:
                _copy(path, snapshot / "snapshots" / model.revision / name)
            (snapshot / "refs").mkdir(parents=True, exist_ok=True)
            (snapshot / "refs" / "main").write_text(model.revision, encoding="ascii")
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (staging / COMPLETE).write_text("")
        try:
            os.replace(staging, target)
        except OSError:  # published concurrently
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def sandbox_env(mount: str) -> dict[str, str]:
    """Where the candidate's libraries look for them (the shipped ``nltk_data`` comes first:
    see :func:`harness.workcopy.sandbox_env`)."""
    return {
        "RESOURCES_DIR": mount,
        "HF_HOME": f"{mount}/{HF_DIR}",
        # HF_HOME is read-only: what the libraries write beside the hub cache goes to /tmp
        "HF_DATASETS_CACHE": "/tmp/.cache/huggingface/datasets",
        "HF_MODULES_CACHE": "/tmp/.cache/huggingface/modules",
        "HF_HUB_OFFLINE": "1",
    }


def nltk_path(mount: str) -> str:
    return f"{mount}/{NLTK_DIR}"


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def _unpack_nltk(package: NltkPackageSpec, archive: Path, folder: Path) -> None:
    """Unpack an NLTK package zip into ``nltk_data/<category>/`` (its members hold the
    ``<id>/`` folder, as in NLTK's index). Only plain relative members are written."""
    folder.mkdir(parents=True, exist_ok=True)
    where = f"NLTK package {package.category}/{package.id} ({archive.name})"
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
                raise DataError(f"{where} unpacks to more than {MAX_UNPACKED_BYTES // 2**30} GiB")
            for info in infos:
                parts = PurePosixPath(info.filename).parts
                if not parts or info.filename.startswith("/") or ".." in parts or "\\" in info.filename:
                    raise DataError(f"{where} has a member outside its folder: {info.filename[:200]!r}")
                dest = folder.joinpath(*parts)
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise DataError(
            f"{where} is not a readable zip archive: {exc}",
            hint="Declare the package's zip from NLTK's data index (its sha256 is checked).",
        ) from None
