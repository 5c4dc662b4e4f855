"""Where uploads and reports live, and an upload streamed to disk under a size cap with its sha256.

Layout of the data directory::

    uploads/<sha256><suffix>     the candidate's bytes, content-addressed (same bytes, one file)
    rounds/<round id>/<submission id>/   report.json, .md, .html, junit.xml, artifacts/, reviews/
                                 (a round folder is what ``grade batch`` writes: the panel's
                                 functions read it as they read a batch)
    tmp/                         uploads being received
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar")
DEFAULT_MAX_UPLOAD_MB = 50


class UploadError(Exception):
    """The request is not an acceptable upload (too large, no ``file`` part, not multipart)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class Upload:
    """A received file: a temp path inside the data dir, its digest, size and client-given name."""

    path: Path
    sha256: str
    size_bytes: int
    filename: str
    fields: dict[str, str]


@dataclass(frozen=True)
class DataDir:
    root: Path

    def prepare(self) -> DataDir:
        for sub in ("uploads", "rounds", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    def upload_path(self, sha256: str, filename: str) -> Path:
        lowered = filename.lower()
        suffix = next((s for s in SUFFIXES if lowered.endswith(s)), ".zip")
        return self.root / "uploads" / f"{sha256}{suffix}"

    def round_dir(self, round_id: int) -> Path:
        return self.root / "rounds" / str(int(round_id))

    def report_dir(self, round_id: int, submission_id: int) -> Path:
        return self.round_dir(round_id) / str(int(submission_id))

    def keep(self, upload: Upload) -> Path:
        """Move a received upload to its content address (identical bytes: one file stays)."""
        target = self.upload_path(upload.sha256, upload.filename)
        os.replace(upload.path, target)
        return target


def safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._ -]+", "_", base)[:200]


async def receive_upload(
    content_type: str,
    body: AsyncIterator[bytes],
    data: DataDir,
    *,
    max_bytes: int,
    field: str = "file",
    max_fields: int = 16,
) -> Upload:
    """Parse a ``multipart/form-data`` body as it arrives: the ``field`` part goes to a temp file
    in the data dir (hashed while written, refused past ``max_bytes``), small text fields are
    kept (at most ``max_fields`` of 4 KiB). Nothing is buffered whole in memory."""
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadError("send the archive as multipart/form-data with a 'file' part", 415)
    fd, tmp_name = tempfile.mkstemp(dir=data.root / "tmp", prefix="upload-")
    out = os.fdopen(fd, "wb")
    digest = hashlib.sha256()
    state = {
        "headers": {},
        "field": b"",
        "name": None,
        "filename": "",
        "size": 0,
        "found": False,
        "text": bytearray(),
        "fields": {},
        "too_big": False,
    }

    def on_part_begin():
        state["headers"], state["name"], state["text"] = {}, None, bytearray()

    def on_header_field(data_, start, end):
        state["field"] = data_[start:end].lower()

    def on_header_value(data_, start, end):
        state["headers"][state["field"]] = state["headers"].get(state["field"], b"") + data_[start:end]

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["name"] = disp.get(b"name", b"").decode("utf-8", "replace")
        if state["name"] == field:
            if state["found"]:
                raise UploadError(f"more than one '{field}' part")
            state["found"] = True
            state["filename"] = safe_filename(disp.get(b"filename", b"").decode("utf-8", "replace"))

    def on_part_data(data_, start, end):
        chunk = data_[start:end]
        if state["name"] == field:
            state["size"] += len(chunk)
            if state["size"] > max_bytes:
                state["too_big"] = True
                raise UploadError(f"upload larger than {max_bytes // (1024 * 1024)} MB", 413)
            digest.update(chunk)
            out.write(chunk)
        else:
            state["text"] += chunk
            if len(state["text"]) > 4096:
                raise UploadError("form field too long")

    def on_part_end():
        if state["name"] != field and state["name"]:
            if len(state["fields"]) >= max_fields:
                raise UploadError("too many form fields")
            state["fields"][state["name"]] = state["text"].decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        out.close()
        if not state["found"]:
            raise UploadError(f"no '{field}' part in the form")
        if state["size"] == 0:
            raise UploadError("the uploaded file is empty")
    except UploadError:
        out.close()
        os.unlink(tmp_name)
        raise
    except Exception as exc:  # a malformed body is the client's, never a 500
        out.close()
        os.unlink(tmp_name)
        raise UploadError(f"malformed multipart body: {type(exc).__name__}") from None
    return Upload(Path(tmp_name), digest.hexdigest(), state["size"], state["filename"], state["fields"])
