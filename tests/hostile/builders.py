"""Building hostile submissions inside a test: file trees, zips and tars written with the
standard library into ``tmp_path`` (never a committed archive), predict.py and notebook text."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

MANIFEST = 'assignment = "applied_ml"\n'

PREAMBLE = """\
import csv
import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("DATA_DIR", "/data"))
OUT = Path(os.environ.get("OUTPUT_DIR", "/output"))


def test_ids():
    with open(DATA / "test.csv", encoding="utf-8", newline="") as fh:
        return [row["id"] for row in csv.DictReader(fh)]


def write_all_ham(name="predictions.csv"):
    ids = test_ids()
    with open(OUT / name, "w", encoding="utf-8") as fh:
        fh.write("id,label\\n" + "".join(f"{i},ham\\n" for i in ids))
"""


def script(body: str, *, header: str = "") -> str:
    """A predict.py: helpers, then ``header`` at module level, then ``body`` as ``main()``."""
    main = textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
    return f'{PREAMBLE}\n{textwrap.dedent(header)}\n\ndef main():\n{main}\n\nif __name__ == "__main__":\n    main()\n'


def predictions_writer(content: str | bytes, name: str = "predictions.csv") -> str:
    """A predict.py that writes exactly ``content`` (bytes or text, ``{ids}`` expands per row)."""
    return script(f"""
        data = {content!r}
        with open(OUT / {name!r}, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    """)


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` (relative name → content) under ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


ZipMember = tuple[str | zipfile.ZipInfo, bytes | str]


def make_zip(path: Path, members: Iterable[ZipMember], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are built on purpose
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def zip_bytes(members: Iterable[ZipMember]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    """A zip member whose Unix mode (file type bits included) is ``mode``."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def tar_member(
    name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


def make_tar(
    path: Path, members: Iterable[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz", **options: object
) -> Path:
    with tarfile.open(path, mode, **options) as archive:  # type: ignore[call-overload]
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def ok_members(prefix: str = "") -> list[ZipMember]:
    """A harmless, gradable submission's members (all-ham predict.py and the manifest)."""
    return [(f"{prefix}predict.py", script("write_all_ham()")), (f"{prefix}submission.toml", MANIFEST)]


def notebook(cells: list[dict], *, nbformat: int = 4, minor: int = 4, metadata: dict | None = None) -> str:
    """Notebook JSON with ``cells`` (use :func:`code` / :func:`markdown`)."""
    meta = (
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
        if metadata is None
        else metadata
    )
    return json.dumps({"nbformat": nbformat, "nbformat_minor": minor, "metadata": meta, "cells": cells}, indent=1)


def code(source: str, outputs: list | None = None) -> dict:
    return {
        "cell_type": "code",
        "metadata": {},
        "execution_count": None,
        "outputs": outputs or [],
        "source": textwrap.dedent(source).strip(),
    }


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


ALL_HAM_CELL = code(PREAMBLE + "\nwrite_all_ham()\n")
"""A notebook cell that writes all-ham predictions (so the rest of the notebook can misbehave)."""
