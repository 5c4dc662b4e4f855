"""The shared store: one folder per submission key, on a file system every worker mounts.

::

    <store>/<key>/
        meta.json            what the key stands for: submission sha256, assignment id/version,
                             harness version, the submission's file name
        submission/<name>    the submission as it was handed in (archive or folder)
        attempts/<n>         one file per grading attempt, created exclusively: the lease of
                             the attempt that holds it (host, pid; its mtime is the heartbeat)
        attempts/<n>.done    written when attempt n ended (a report, a recorded error, a bug)
        events.jsonl         what happened to the key, one JSON line per event (append-only)
        report.json          the canonical report, written last and atomically: its presence
        report.md, report.html, junit.xml, artifacts/     means the key is graded
        error.json           the harness could not grade it (state ``error`` or ``infra_error``)

The key is the sha256 of the submission's sha256, the assignment id and version and the
harness version: the same bytes for the same assignment are graded once, and a new assignment
version or a new harness grades them again. The store, not the broker, is the source of
truth: a message only names a key, a task first returns an existing report, and an attempt
is claimed by creating ``attempts/<n+1>`` with ``O_EXCL`` (one winner) once attempt ``n`` has
ended or its lease is stale (its process is gone, or its heartbeat is older than the TTL).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.errors import ConfigError
from harness.models import GradeReport
from harness.reports.write import write_atomic
from harness.safeio import UntrustedDataError, loads_json, read_bounded, rmtree
from sandbox.cleanup import pid_alive

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
REPORT_FILES = ("report.md", "report.html", "junit.xml")
MAX_REPORT_BYTES = 64 * 1024 * 1024
MAX_META_BYTES = 64 * 1024
DEFAULT_LEASE_TTL_S = 60.0


def make_key(
    sha256: str, assignment_id: str | None, assignment_version: str | None, harness_version: str = __version__
) -> str:
    """The key of one grading: sha256 over submission sha256, assignment id/version, harness version."""
    text = "\n".join(["holdout-key-v1", sha256, assignment_id or "", assignment_version or "", harness_version])
    return hashlib.sha256(text.encode()).hexdigest()


def host_id() -> str:
    return socket.gethostname()


class Store:
    """The root folder of the shared store."""

    scratch_dir: Path | None

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.scratch_dir = self.root  # where the batch unpacks a submission before placing it

    @property
    def location(self) -> str:
        return str(self.root)

    def check_usable(self) -> None:
        """Refuse a store this machine cannot write (not mounted, read-only)."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise ConfigError(
                f"the store {self.root} is not a writable folder on this machine",
                hint="Mount the shared store here (the batch writes into the same one), or create it.",
            )

    def ensure(self) -> Store:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"the store {self.root} cannot be created: {exc.strerror}",
                hint="Pass --store DIR on a file system every worker mounts.",
            ) from None
        return self

    def entry(self, key: str) -> Entry:
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ConfigError(f"{key!r} is not a submission key", hint="A key is 64 hex digits (see `grade status`).")
        return Entry(self.root / key, key)

    def keys(self) -> list[str]:
        try:
            return sorted(p.name for p in self.root.iterdir() if KEY_RE.match(p.name))
        except OSError:
            return []

    def find(self, key_or_prefix: str) -> Entry:
        """The entry of a full key, or of a unique prefix of at least 8 hex digits."""
        if KEY_RE.match(key_or_prefix or ""):
            return self.entry(key_or_prefix)
        if not re.fullmatch(r"[0-9a-f]{8,63}", key_or_prefix or ""):
            raise ConfigError(
                f"{key_or_prefix!r} is not a submission key", hint="A key is 64 hex digits (8 or more will do)."
            )
        found = [k for k in self.keys() if k.startswith(key_or_prefix)]
        if len(found) != 1:
            raise ConfigError(
                f"{len(found)} keys in {self.root} start with {key_or_prefix}",
                hint="Give more digits of the key." if found else "Check the key and --store.",
            )
        return self.entry(found[0])

    def put(
        self, files: Path, *, name: str, sha256: str, assignment: str | None, assignment_version: str | None
    ) -> Entry:
        """Place a submission (an archive file or a folder already copied safely) under its key.

        Idempotent: a key already in the store is left as it is. The folder appears whole or
        not at all (built aside, then renamed into place).
        """
        key = make_key(sha256, assignment, assignment_version)
        entry = self.entry(key)
        if (entry.root / "meta.json").exists():
            return entry
        self.ensure()
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            (tmp / "submission").mkdir()
            target = tmp / "submission" / name
            if files.is_dir():
                shutil.copytree(files, target, symlinks=True)
            else:
                shutil.copyfile(files, target)
            meta = {
                "key": key,
                "sha256": sha256,
                "assignment": assignment,
                "assignment_version": assignment_version,
                "harness_version": __version__,
                "name": name,
                "created_at": round(time.time(), 3),
            }
            write_atomic(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
            try:
                os.rename(tmp, entry.root)
            except OSError:  # put concurrently by another client: theirs stands
                if not (entry.root / "meta.json").exists():
                    raise
        finally:
            rmtree(tmp)
        entry.log("submitted", name=name)
        return entry


class EntryStatus:
    """What every kind of entry (a folder here, objects in :mod:`harness.workers.s3store`)
    tells ``grade status`` from its own primitives."""

    def status(self, ttl_s: float = DEFAULT_LEASE_TTL_S) -> dict:
        """Where this key stands: ``graded`` (the report's status and score), ``error``,
        ``grading`` (a live attempt), ``queued`` (sent, no live attempt), or ``unknown``."""
        if not self.exists():
            raise ConfigError(
                f"key {self.key} is not in the store {self.store_location}",
                hint="Check --store, or submit it with `grade batch --engine celery`.",
            )
        meta, attempts = self.meta(), self.attempts()
        info = {
            "key": self.key,
            "name": meta.get("name"),
            "assignment": meta.get("assignment"),
            "assignment_version": meta.get("assignment_version"),
            "attempts": len(attempts),
            "lost_attempts": self.lost_attempts(),
        }
        report = self.read_report() if self.has_report() else None
        error = None if report else self.read_error()
        if report is not None:
            info.update(state="graded", status=report.status, score=report.score, report=self.location("report.json"))
        elif error is not None:
            info.update(state="error", error_state=error.get("state"), error=error.get("error"))
        elif attempts and self.lease_live(attempts[-1], ttl_s):
            info.update(state="grading", attempt=attempts[-1])
        else:
            info.update(state="queued")
        info["events"] = self.events()[-10:]
        return info

    def claim(self, ttl_s: float = DEFAULT_LEASE_TTL_S) -> Lease | None:
        """The next attempt, or ``None`` while another attempt holds a live lease."""
        while True:
            numbers = self.attempts()
            latest = numbers[-1] if numbers else 0
            if latest and self.lease_live(latest, ttl_s):
                return None
            lease = json.dumps({"host": host_id(), "pid": os.getpid(), "started_at": round(time.time(), 3)})
            if self._create_lease(latest + 1, lease.encode()):
                return self._attempt(latest + 1, ttl_s, lease.encode())
            # another worker claimed it first: look again


@dataclass(frozen=True)
class Entry(EntryStatus):
    """One key's folder."""

    root: Path
    key: str

    # --- what it holds ---------------------------------------------------------------------

    @property
    def report_path(self) -> Path:
        return self.root / "report.json"

    @property
    def store_location(self) -> str:
        return str(self.root.parent)

    def location(self, name: str) -> str:
        return str(self.root / name)

    def export_reports(self, target: Path) -> None:
        """The report files (and artifacts) into a local folder, ``report.json`` last."""
        target.mkdir(parents=True, exist_ok=True)
        if (self.root / "artifacts").is_dir():
            rmtree(target / "artifacts")
            shutil.copytree(self.root / "artifacts", target / "artifacts", symlinks=True)
        for name in (*REPORT_FILES, "report.json"):
            if (self.root / name).is_file():
                write_atomic(target / name, (self.root / name).read_text(encoding="utf-8"))

    def cleanup(self) -> None:
        """Nothing to clean: the folder is the store (an S3 entry removes its local copies)."""

    def exists(self) -> bool:
        return (self.root / "meta.json").exists()

    def meta(self) -> dict:
        try:
            data = loads_json(read_bounded(self.root / "meta.json", MAX_META_BYTES), what="meta.json")
        except UntrustedDataError as exc:
            raise ConfigError(
                f"key {self.key} is not in the store {self.store_location} ({exc.code})",
                hint="Submit it again with `grade batch --engine celery`.",
            ) from None
        return data if isinstance(data, dict) else {}

    def submission_path(self) -> Path:
        name = str(self.meta().get("name", ""))
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise ConfigError(
                f"key {self.key} names no submission file ({name!r})",
                hint="Submit it again with `grade batch --engine celery`.",
            )
        return self.root / "submission" / name

    def has_report(self) -> bool:
        return self.report_path.is_file()

    def read_report(self) -> GradeReport | None:
        try:
            return GradeReport.model_validate_json(read_bounded(self.report_path, MAX_REPORT_BYTES))
        except (UntrustedDataError, ValueError):
            return None

    def read_error(self) -> dict | None:
        try:
            data = loads_json(read_bounded(self.root / "error.json", MAX_META_BYTES), what="error.json")
        except UntrustedDataError:
            return None
        return data if isinstance(data, dict) else None

    # --- events ----------------------------------------------------------------------------

    def log(self, event: str, **fields) -> None:
        """Append one event; a line this short is written by one ``write`` in append mode."""
        line = json.dumps({"t": round(time.time(), 3), "event": event, "host": host_id(), "pid": os.getpid(), **fields})
        fd = os.open(self.root / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def events(self) -> list[dict]:
        try:
            raw = read_bounded(self.root / "events.jsonl", MAX_REPORT_BYTES, truncate=True)
        except UntrustedDataError:
            return []
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    # --- attempts --------------------------------------------------------------------------

    def attempts(self) -> list[int]:
        try:
            names = os.listdir(self.root / "attempts")
        except OSError:
            return []
        return sorted(int(n) for n in names if n.isdigit())

    def lost_attempts(self) -> int:
        """Attempts that never ended: their worker died (or was killed) while grading."""
        return sum(1 for n in self.attempts() if not (self.root / "attempts" / f"{n}.done").exists())

    def lease_live(self, number: int, ttl_s: float) -> bool:
        """Is attempt ``number`` still running? Not when it ended, when its process on this host
        is gone, or when its heartbeat is older than ``ttl_s``."""
        path = self.root / "attempts" / str(number)
        if (self.root / "attempts" / f"{number}.done").exists():
            return False
        try:
            age = time.time() - path.stat().st_mtime
            holder = loads_json(read_bounded(path, MAX_META_BYTES), what="lease")
        except (OSError, UntrustedDataError):
            return False
        if age > ttl_s:
            return False
        if isinstance(holder, dict) and holder.get("host") == host_id() and isinstance(holder.get("pid"), int):
            return pid_alive(holder["pid"])
        return True

    def _attempt(self, number: int, ttl_s: float, lease: bytes) -> Attempt:
        return Attempt(self, number, ttl_s)

    def _create_lease(self, number: int, lease: bytes) -> bool:
        """Create ``attempts/NUMBER`` with its content in one step, or False when it exists.

        Written to a private file first and hard-linked into place (``link`` fails on an existing
        name, also on NFS): a lease created empty and written after would be read, in between,
        as unreadable and so not live, and a second worker would take the key over."""
        folder = self.root / "attempts"
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".lease-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(lease)
            os.chmod(tmp, 0o644)
            os.link(tmp, folder / str(number))
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    # --- results ---------------------------------------------------------------------------

    def staging(self, attempt: int) -> Path:
        path = self.root / f".staging-{attempt}"
        rmtree(path)
        path.mkdir()
        return path

    def publish(self, staging: Path) -> None:
        """Move an attempt's report files into place; ``report.json`` last, so its presence
        means everything else is there too."""
        if (staging / "artifacts").is_dir():
            rmtree(self.root / "artifacts")
            os.replace(staging / "artifacts", self.root / "artifacts")
        for name in REPORT_FILES:
            if (staging / name).exists():
                os.replace(staging / name, self.root / name)
        os.replace(staging / "report.json", self.root / "report.json")
        rmtree(staging)

    def record_error(self, state: str, message: str) -> None:
        write_atomic(self.root / "error.json", json.dumps({"state": state, "error": message}) + "\n")

    def reset(self, *, keep_report: bool = False) -> None:
        """Forget an earlier outcome so the key is graded again (``--force``, or after an error)."""
        (self.root / "error.json").unlink(missing_ok=True)
        if keep_report:
            return
        self.report_path.unlink(missing_ok=True)
        for name in REPORT_FILES:
            (self.root / name).unlink(missing_ok=True)
        rmtree(self.root / "artifacts")
        rmtree(self.root / "attempts")
        self.log("reset")


class Lease:
    """A claimed attempt: keeps its lease fresh while grading (a heartbeat thread) and marks it
    done at the end. Each kind of entry says how (:meth:`_renew`, :meth:`_finish`)."""

    def __init__(self, entry, number: int, ttl_s: float) -> None:
        self.entry, self.number, self.ttl_s = entry, number, ttl_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="holdout-lease", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._finish()

    def _beat(self) -> None:
        while not self._stop.wait(max(0.5, self.ttl_s / 4)):
            try:
                self._renew()
            except Exception:
                return  # the store is gone: the lease goes stale and another worker may take over

    def _renew(self) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Mark the attempt ended (best effort: a lease left unmarked goes stale)."""
        raise NotImplementedError

    def is_latest(self) -> bool:
        """No later attempt has taken over (this one's lease went stale while it ran)."""
        raise NotImplementedError


class Attempt(Lease):
    """An attempt in a folder store: the heartbeat touches the lease file."""

    def _renew(self) -> None:
        os.utime(self.entry.root / "attempts" / str(self.number))

    def _finish(self) -> None:
        try:
            (self.entry.root / "attempts" / f"{self.number}.done").touch()
        except OSError:
            pass

    def is_latest(self) -> bool:
        return not (self.entry.root / "attempts" / str(self.number + 1)).exists()
