"""The shared store on an S3-compatible object store: ``--store s3://BUCKET/PREFIX``.

The same key scheme as the folder store (:mod:`harness.workers.store`), as objects::

    PREFIX/<key>/meta.json              written last when a submission is placed: its presence
                                        means the submission objects are all there
    PREFIX/<key>/submission/<name>[/…]  the archive (one object) or the folder's files
    PREFIX/<key>/attempts/<n>           an attempt's lease, created with ``If-None-Match: *``
                                        (one winner); rewritten as its heartbeat (LastModified)
    PREFIX/<key>/attempts/<n>.done      the attempt ended
    PREFIX/<key>/events/<ns>-<host>-<pid>-<rand>   one object per event (objects cannot be appended to)
    PREFIX/<key>/report.json, report.md, report.html, junit.xml, artifacts/…, error.json

An object PUT is atomic: a reader sees the whole old object or the whole new one, never part
of one. The report files and artifacts are uploaded first and ``report.json`` last, so its
presence means everything else is there too.

Endpoint and credentials come from the environment, never from the URL (a URL with a user or
password is refused without repeating it): ``GRADE_S3_ENDPOINT`` (or boto3's own
``AWS_ENDPOINT_URL``), and boto3's usual chain for credentials (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role). Nothing here prints them, and a
sandbox container's environment is built from nothing (``sandbox.runner.sandbox_environment``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from harness import __version__
from harness.errors import ConfigError, InfrastructureError
from harness.models import GradeReport
from harness.safeio import UntrustedDataError, loads_json, rmtree
from harness.workers.store import (
    KEY_RE,
    MAX_META_BYTES,
    MAX_REPORT_BYTES,
    REPORT_FILES,
    EntryStatus,
    Lease,
    Store,
    host_id,
    make_key,
)
from sandbox.cleanup import pid_alive

MAX_EVENTS = 200
"""The most recent events read back (each is one object: a GET apiece)."""
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _client():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(
            "an s3:// store needs boto3", hint="Install the distributed extra: pip install 'holdout[distributed]'."
        ) from None
    endpoint = os.environ.get("GRADE_S3_ENDPOINT") or None
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def _missing(exc) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Store(Store):
    """``s3://BUCKET/PREFIX``: one key's objects under ``PREFIX/<key>/``."""

    def __init__(self, bucket: str, prefix: str, client=None) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = client or _client()
        self.scratch_dir = None  # the batch unpacks in the system's temp dir

    @classmethod
    def from_url(cls, url: str, client=None) -> S3Store:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                "an s3:// store URL must not carry credentials",
                hint="Give them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the endpoint in "
                "GRADE_S3_ENDPOINT; the URL is s3://BUCKET/PREFIX.",
            )
        if not BUCKET_RE.match(parts.hostname or "") or parts.query or parts.fragment:
            raise ConfigError(f"{url!r} is not an s3://BUCKET/PREFIX store", hint="e.g. s3://holdout-store/round-1")
        return cls(parts.hostname, parts.path, client)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _name(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def check_usable(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigError(
                f"the store {self.location} cannot be reached: {type(exc).__name__}",
                hint="Check the bucket, GRADE_S3_ENDPOINT and the credentials in the environment.",
            ) from None

    def ensure(self) -> S3Store:
        self.check_usable()
        return self

    def entry(self, key: str) -> S3Entry:
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ConfigError(f"{key!r} is not a submission key", hint="A key is 64 hex digits (see `grade status`).")
        return S3Entry(self, key)

    def keys(self) -> list[str]:
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(""), Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"].rstrip("/").rsplit("/", 1)[-1]
                if KEY_RE.match(name):
                    found.append(name)
        return sorted(found)

    def put(
        self, files: Path, *, name: str, sha256: str, assignment: str | None, assignment_version: str | None
    ) -> S3Entry:
        """Upload a submission under its key, ``meta.json`` last (idempotent, like the folder's)."""
        entry = self.entry(make_key(sha256, assignment, assignment_version))
        if entry.exists():
            return entry
        uploads = [(p, f"submission/{name}/{p.relative_to(files).as_posix()}") for p in sorted(files.rglob("*"))]
        for path, rel in uploads if files.is_dir() else [(files, f"submission/{name}")]:
            if path.is_file() and not path.is_symlink():
                entry.upload(rel, path)
        meta = {
            "key": entry.key,
            "sha256": sha256,
            "assignment": assignment,
            "assignment_version": assignment_version,
            "harness_version": __version__,
            "name": name,
            "created_at": round(time.time(), 3),
            "folder": files.is_dir(),
        }
        entry.put_bytes("meta.json", (json.dumps(meta, indent=2) + "\n").encode(), exclusive=True)
        entry.log("submitted", name=name)
        return entry


class S3Entry(EntryStatus):
    """One key's objects; a local working folder for the submission and the staging files."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self._work: Path | None = None

    def __eq__(self, other) -> bool:
        return isinstance(other, S3Entry) and (other.store.location, other.key) == (self.store.location, self.key)

    def __hash__(self) -> int:
        return hash((self.store.location, self.key))

    # --- objects -----------------------------------------------------------------------------

    def _name(self, rel: str) -> str:
        return self.store._name(f"{self.key}/{rel}")

    @property
    def store_location(self) -> str:
        return self.store.location

    def location(self, name: str) -> str:
        return f"s3://{self.store.bucket}/{self._name(name)}"

    def put_bytes(self, rel: str, body: bytes, *, exclusive: bool = False) -> bool:
        """PUT one object; with ``exclusive``, only if it does not exist (False when it did)."""
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if exclusive else {}
        try:
            self.store.client.put_object(Bucket=self.store.bucket, Key=self._name(rel), Body=body, **extra)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if exclusive and code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise InfrastructureError(f"cannot write {self.location(rel)}: {code}") from None
        return True

    def upload(self, rel: str, path: Path) -> None:
        self.store.client.upload_file(str(path), self.store.bucket, self._name(rel))

    def get_bytes(self, rel: str, max_bytes: int) -> bytes | None:
        """The object's bytes (``None`` when absent); one larger than ``max_bytes`` is refused."""
        from botocore.exceptions import ClientError

        try:
            obj = self.store.client.get_object(Bucket=self.store.bucket, Key=self._name(rel))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise InfrastructureError(
                f"cannot read {self.location(rel)}: {exc.response['Error'].get('Code')}"
            ) from None
        if obj.get("ContentLength", 0) > max_bytes:
            obj["Body"].close()
            return None
        return obj["Body"].read(max_bytes + 1)[:max_bytes]

    def head(self, rel: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.store.client.head_object(Bucket=self.store.bucket, Key=self._name(rel))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def list(self, rel: str) -> list[str]:
        """Names (relative to the key) of the objects under ``rel``."""
        out, base = [], self._name("")
        for page in self.store.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.store.bucket, Prefix=self._name(rel)
        ):
            out.extend(obj["Key"].removeprefix(base) for obj in page.get("Contents", []))
        return out

    def delete(self, rels: list[str]) -> None:
        for i in range(0, len(rels), 1000):
            chunk = [{"Key": self._name(r)} for r in rels[i : i + 1000]]
            if chunk:
                self.store.client.delete_objects(Bucket=self.store.bucket, Delete={"Objects": chunk, "Quiet": True})

    def _json(self, rel: str) -> dict | None:
        raw = self.get_bytes(rel, MAX_META_BYTES)
        try:
            data = loads_json(raw, what=rel) if raw is not None else None
        except UntrustedDataError:
            return None
        return data if isinstance(data, dict) else None

    # --- what it holds -----------------------------------------------------------------------

    def exists(self) -> bool:
        return self.head("meta.json") is not None

    def meta(self) -> dict:
        data = self._json("meta.json")
        if data is None:
            raise ConfigError(
                f"key {self.key} is not in the store {self.store.location}",
                hint="Submit it again with `grade batch --engine celery`.",
            )
        return data

    def workdir(self) -> Path:
        if self._work is None:
            self._work = Path(tempfile.mkdtemp(prefix=f"holdout-s3-{self.key[:12]}-"))
        return self._work

    def submission_path(self) -> Path:
        """The submission downloaded into the local working folder (names checked: no ``..``)."""
        meta = self.meta()
        name = str(meta.get("name", ""))
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise ConfigError(f"key {self.key} names no submission file ({name!r})")
        target = self.workdir() / "submission" / name
        if target.exists():
            return target
        prefix = f"submission/{name}"
        for rel in self.list(prefix):
            inner = rel.removeprefix(prefix).lstrip("/")
            parts = inner.split("/") if inner else []
            if any(p in ("", ".", "..") for p in parts):
                raise ConfigError(f"key {self.key} holds an unsafe object name {rel!r}")
            dest = target.joinpath(*parts) if parts else target
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.store.client.download_file(self.store.bucket, self._name(rel), str(dest))
        if not target.exists():
            raise ConfigError(f"key {self.key} has no submission objects", hint="Submit it again.")
        return target

    def has_report(self) -> bool:
        return self.head("report.json") is not None

    def read_report(self) -> GradeReport | None:
        raw = self.get_bytes("report.json", MAX_REPORT_BYTES)
        try:
            return GradeReport.model_validate_json(raw) if raw is not None else None
        except ValueError:
            return None

    def read_error(self) -> dict | None:
        return self._json("error.json")

    def export_reports(self, target: Path) -> None:
        """Download the report files and artifacts into a local folder, ``report.json`` last."""
        from harness.reports.write import write_atomic

        target.mkdir(parents=True, exist_ok=True)
        artifacts = self.list("artifacts/")
        if artifacts:
            rmtree(target / "artifacts")
            for rel in artifacts:
                parts = rel.removeprefix("artifacts/").split("/")
                if any(p in ("", ".", "..") for p in parts):
                    continue
                dest = (target / "artifacts").joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.store.client.download_file(self.store.bucket, self._name(rel), str(dest))
        for name in (*REPORT_FILES, "report.json"):
            raw = self.get_bytes(name, MAX_REPORT_BYTES)
            if raw is not None:
                write_atomic(target / name, raw.decode("utf-8", "replace"))

    def cleanup(self) -> None:
        if self._work is not None:
            rmtree(self._work)
            self._work = None

    # --- events ------------------------------------------------------------------------------

    def log(self, event: str, **fields) -> None:
        line = {"t": round(time.time(), 3), "event": event, "host": host_id(), "pid": os.getpid(), **fields}
        rel = f"events/{time.time_ns():020d}-{host_id()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
        self.put_bytes(rel, json.dumps(line).encode())

    def events(self) -> list[dict]:
        out = []
        for rel in sorted(self.list("events/"))[-MAX_EVENTS:]:
            data = self._json(rel)
            if data is not None:
                out.append(data)
        return out

    # --- attempts ----------------------------------------------------------------------------

    def attempts(self) -> list[int]:
        names = [rel.removeprefix("attempts/") for rel in self.list("attempts/")]
        return sorted(int(n) for n in names if n.isdigit())

    def _done(self) -> set[int]:
        names = [rel.removeprefix("attempts/") for rel in self.list("attempts/")]
        return {int(n[:-5]) for n in names if n.endswith(".done") and n[:-5].isdigit()}

    def lost_attempts(self) -> int:
        done = self._done()
        return sum(1 for n in self.attempts() if n not in done)

    def lease_live(self, number: int, ttl_s: float) -> bool:
        if number in self._done():
            return False
        head = self.head(f"attempts/{number}")
        if head is None or time.time() - head["LastModified"].timestamp() > ttl_s:
            return False
        holder = self._json(f"attempts/{number}") or {}
        if holder.get("host") == host_id() and isinstance(holder.get("pid"), int):
            return pid_alive(holder["pid"])
        return True

    def _create_lease(self, number: int, lease: bytes) -> bool:
        """An object appears with its content: a conditional put (If-None-Match) is the claim."""
        return self.put_bytes(f"attempts/{number}", lease, exclusive=True)

    def _attempt(self, number: int, ttl_s: float, lease: bytes) -> S3Attempt:
        return S3Attempt(self, number, ttl_s, lease)

    # --- results -----------------------------------------------------------------------------

    def staging(self, attempt: int) -> Path:
        path = self.workdir() / f"staging-{attempt}"
        rmtree(path)
        path.mkdir(parents=True)
        return path

    def publish(self, staging: Path) -> None:
        """Upload the attempt's files: artifacts and the other reports first, ``report.json`` last."""
        if (staging / "artifacts").is_dir():
            self.delete(self.list("artifacts/"))
            for path in sorted((staging / "artifacts").rglob("*")):
                if path.is_file() and not path.is_symlink():
                    self.upload(f"artifacts/{path.relative_to(staging / 'artifacts').as_posix()}", path)
        for name in REPORT_FILES:
            if (staging / name).is_file():
                self.upload(name, staging / name)
        self.put_bytes("report.json", (staging / "report.json").read_bytes())
        rmtree(staging)

    def record_error(self, state: str, message: str) -> None:
        self.put_bytes("error.json", (json.dumps({"state": state, "error": message}) + "\n").encode())

    def reset(self, *, keep_report: bool = False) -> None:
        self.delete(["error.json"])
        if keep_report:
            return
        self.delete(["report.json", *REPORT_FILES, *self.list("artifacts/"), *self.list("attempts/")])
        self.log("reset")


class S3Attempt(Lease):
    """A claimed attempt on S3: its lease object is rewritten as the heartbeat."""

    def __init__(self, entry: S3Entry, number: int, ttl_s: float, lease: bytes) -> None:
        super().__init__(entry, number, ttl_s)
        self.lease = lease

    def _renew(self) -> None:
        self.entry.put_bytes(f"attempts/{self.number}", self.lease)

    def _finish(self) -> None:
        try:
            self.entry.put_bytes(f"attempts/{self.number}.done", b"")
        except InfrastructureError:
            pass

    def is_latest(self) -> bool:
        return self.entry.head(f"attempts/{self.number + 1}") is None
