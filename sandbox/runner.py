"""Run one command in a fresh, hardened container and say how it ended.

Every protection is on by default and comes from :class:`harness.spec.SandboxSpec`: no network,
read-only root, size-capped ``/tmp``, no capabilities, no-new-privileges, a non-root uid, pids,
memory (= memory + swap) and CPU limits, ``nofile``/``fsize``/``core`` ulimits, an init process,
a tiny container log, no proxy settings, an explicit environment (never the host's), labels for
cleanup. The wall-clock limit and the output quota are enforced from outside.

A run with a **trusted folder** (a mount at :data:`TRUSTED_MOUNT`, owned by :data:`RUNNER_UID`)
is a two-uid run: the container starts as uid 0 with only the SETUID and SETGID capabilities
(no-new-privileges kept) and its command must be the in-container entry, which starts the
candidate's process as :data:`CANDIDATE_UID` and drops itself to the runner uid before any
candidate code runs. The facts that decide points (the runner's record, the hidden tests'
results) are read from the trusted folder only; ``/output`` and the logs are evidence.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import safeio
from harness.models import SandboxRun, StreamCapture, Verdict
from harness.spec import SandboxSpec
from sandbox import LABEL, PID_LABEL
from sandbox.engine import docker_errors
from sandbox.layout import LAYOUT
from sandbox.root_mode import narrow_root

CANDIDATE_UID = LAYOUT.candidate_uid
RUNNER_UID = LAYOUT.runner_uid
"""The in-container runner's uid in a two-uid run (when the host can chown; else the host's own uid)."""
LOGS_MOUNT = LAYOUT.logs_mount
TRUSTED_MOUNT = LAYOUT.trusted_mount
ENTRY = LAYOUT.entry
STREAM_HEAD_BYTES = 16 * 1024
STREAM_TAIL_BYTES = 16 * 1024
QUOTA_POLL_S = 0.25
MAX_OUTPUT_ENTRIES = 10_000


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class RunRequest:
    """One container run. ``writable`` mounts are created fresh per job (see :func:`make_job_dirs`)."""

    image: str
    command: list[str]
    limits: SandboxSpec = field(default_factory=SandboxSpec)
    mounts: tuple[Mount, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/submission"
    labels: dict[str, str] = field(default_factory=dict)
    output_quota_mb: int = 512
    """Total bytes the writable mounts may hold before the run is stopped."""
    quota_baseline: tuple[int, int] = (0, 0)
    """Bytes and entries already in the writable mounts at the start (the candidate's working
    copy): the quota and the entry limit count what the run adds to them."""
    name: str | None = None
    """A fixed container name (distributed workers: a retry finds a dead attempt's container)."""
    root_mode: str = "auto"
    """Whether the container's ``/`` loses its group bits before the start (``GRADE_SANDBOX_ROOT``;
    see :mod:`sandbox.root_mode`): ``auto``, ``narrow`` or ``image``."""
    gateway: Path | None = None  # model gateway (issue 14): host folder with the socket and the forwarder
    background: bool = False
    """Beside the candidate's main run (checks that do not depend on it), labelled so: every
    protection and limit is the same (a lower CPU weight was tried and dropped: on a shared
    engine it starves these containers against everyone else's and trips per-test limits)."""


@dataclass
class JobDirs:
    """The host side of one run: ``output`` and ``logs`` are writable by the candidate's uid,
    ``trusted`` by the runner's uid only."""

    root: Path
    output: Path
    logs: Path
    trusted: Path

    def mounts(self, *, trusted: bool) -> tuple[Mount, ...]:
        """The writable mounts; with ``trusted``, the run is a two-uid run (see the module)."""
        return (
            Mount(self.output, "/output", read_only=False),
            Mount(self.logs, LOGS_MOUNT, read_only=False),
            *((Mount(self.trusted, TRUSTED_MOUNT, read_only=False),) if trusted else ()),
        )


def make_job_dirs(root: Path) -> JobDirs:
    """Fresh directories for one run under a private (0700) root: the candidate's (0755, so the
    runner may read them) and the runner's trusted one (0755, the candidate may only read)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    dirs = JobDirs(root=root, output=root / "output", logs=root / "logs", trusted=root / "trusted")
    for path in (dirs.output, dirs.logs):
        path.mkdir(mode=0o755)
        try:
            os.chown(path, CANDIDATE_UID, CANDIDATE_UID)
        except PermissionError:
            # Not root: let the container's uid write. The parent stays 0700, so no other
            # host user can reach it.
            os.chmod(path, 0o777)
    dirs.trusted.mkdir(mode=0o755)
    os.chmod(dirs.trusted, 0o755)
    try:
        os.chown(dirs.trusted, RUNNER_UID, RUNNER_UID)
    except PermissionError:
        pass  # not root: it stays ours, and the runner runs as our uid (runner_uid())
    return dirs


def runner_uid(trusted: Path) -> int:
    """The uid the in-container runner drops to: the trusted folder's owner."""
    return os.stat(trusted).st_uid


def trusted_dir(request: RunRequest) -> Path | None:
    return next((m.source for m in request.mounts if m.target == TRUSTED_MOUNT and not m.read_only), None)


def sandbox_environment(limits: SandboxSpec, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment the candidate sees: nothing is inherited from the host."""
    threads = str(max(1, int(limits.cpus)))
    env = {
        "PATH": LAYOUT.path(),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter-runtime",
        "IPYTHONDIR": "/tmp/.ipython",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "HOLDOUT_LOGS_DIR": LOGS_MOUNT,
    }
    env.update(extra or {})
    return env


def container_options(request: RunRequest) -> dict:
    """The keyword arguments for ``containers.create``: every protection, in one place."""
    from docker.types import LogConfig, Ulimit

    limits = request.limits
    fsize = limits.file_size_mb * 1024 * 1024
    trusted = trusted_dir(request)
    user, caps, env = f"{CANDIDATE_UID}:{CANDIDATE_UID}", [], dict(request.env)
    if trusted is not None:
        if list(request.command[:2]) != ENTRY:
            raise ValueError("a run with a trusted folder must start the in-container entry (it drops root)")
        uid = runner_uid(trusted)
        if uid in (0, CANDIDATE_UID):
            raise ValueError(f"the trusted folder must belong to a runner uid other than 0 and {CANDIDATE_UID}")
        # uid 0 with nothing but SETUID/SETGID: the entry starts the candidate as CANDIDATE_UID,
        # then drops to the runner uid (which clears these two as well) before candidate code runs
        user, caps = "0:0", ["SETUID", "SETGID"]
        env.update(
            HOLDOUT_RUNNER_UID=str(uid), HOLDOUT_CANDIDATE_UID=str(CANDIDATE_UID), HOLDOUT_TRUSTED_DIR=TRUSTED_MOUNT
        )
    options = dict(
        image=request.image,
        command=list(request.command),
        user=user,
        working_dir=request.workdir,
        environment=sandbox_environment(limits, env),
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777"},
        cap_drop=["ALL"],
        **({"cap_add": caps} if caps else {}),
        security_opt=["no-new-privileges"],
        pids_limit=limits.pids,
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",
        nano_cpus=int(limits.cpus * 1e9),
        shm_size=f"{min(limits.tmpfs_mb, 64)}m",
        ulimits=[
            Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
            Ulimit(name="fsize", soft=fsize, hard=fsize),
            Ulimit(name="core", soft=0, hard=0),
        ],
        init=True,
        log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": "256k", "max-file": "1"}),
        use_config_proxy=False,
        hostname="sandbox",
        labels={
            LABEL: "1",
            PID_LABEL: str(os.getpid()),
            **({"io.holdout.beside-run": "1"} if request.background else {}),
            **request.labels,
        },
        volumes={str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in request.mounts},
        detach=True,
        **({"name": request.name} if request.name else {}),
    )
    if request.gateway is not None:  # model gateway (issue 14): socket folder read-only + OPENAI_* env
        from sandbox.gateway import MOUNT, container_env

        options["environment"].update(container_env())
        options["volumes"][str(request.gateway)] = {"bind": MOUNT, "mode": "ro"}
    return options


def run_container(client, request: RunRequest) -> SandboxRun:
    """Create, start, wait (with a wall-clock limit) and remove one container."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    options = container_options(request)
    timeout_s = request.limits.timeout_s
    writable = [m.source for m in request.mounts if not m.read_only]
    logs_dir = next((m.source for m in request.mounts if m.target == LOGS_MOUNT), None)
    trusted = trusted_dir(request)
    container = None
    killed_by: str | None = None
    try:
        with docker_errors("creating the sandbox container"):
            container = client.containers.create(**options)
            image_id = container.attrs.get("Image", "")
        narrow_root(container.attrs, request.root_mode)
        base_bytes, base_entries = request.quota_baseline
        watchdog = _QuotaWatchdog(
            container, writable, request.output_quota_mb * 1024 * 1024 + base_bytes, MAX_OUTPUT_ENTRIES + base_entries
        )
        with docker_errors("starting the sandbox container"):
            started = time.monotonic()
            container.start()
        watchdog.start()
        exit_code: int | None = None
        try:
            with docker_errors("waiting for the sandbox container"):
                try:
                    exit_code = container.wait(timeout=timeout_s)["StatusCode"]
                except (ReadTimeout, RequestsConnectionError):
                    killed_by = "timeout"
                    _kill(container)
                    exit_code = container.wait(timeout=30)["StatusCode"]
        finally:
            duration = time.monotonic() - started
            watchdog.stop()
        killed_by = killed_by or watchdog.tripped
        with docker_errors("inspecting the sandbox container"):
            container.reload()
            state = container.attrs.get("State", {})
            engine_log = container.logs(stdout=True, stderr=True, tail=40).decode("utf-8", "replace")
        oom = bool(state.get("OOMKilled"))
        # The runner's facts only from the trusted folder: a record in the logs is the candidate's.
        runner = _read_runner_json(trusted)
        stdout = _read_streams((trusted, logs_dir), "stdout.txt")
        stderr = _read_streams((trusted, logs_dir), "stderr.txt")
        if engine_log.strip() and not stderr.text:
            stderr = StreamCapture(text=engine_log[-4000:], total_bytes=len(engine_log))
        if killed_by == "output_quota":
            runner["killed"] = "output_quota"
        return SandboxRun(
            verdict=_verdict(killed_by, oom, exit_code),
            exit_code=exit_code,
            duration_s=round(duration, 3),
            timeout_s=timeout_s,
            oom_killed=oom,
            stdout=stdout,
            stderr=stderr,
            peak_memory_mb=_as_float(runner.get("peak_rss_mb")),
            peak_memory_source="ru_maxrss of the largest process, reported by the in-container runner"
            if runner.get("peak_rss_mb") is not None
            else None,
            image=request.image,
            image_id=image_id,
            command=list(request.command),
            runner=runner,
        )
    finally:
        if container is not None:
            _remove(container)


def _verdict(killed_by: str | None, oom: bool, exit_code: int | None) -> Verdict:
    # A timeout kill is also exit 137: the verdict comes from who killed it, not the code.
    if killed_by == "timeout":
        return Verdict.TIMEOUT
    if oom:
        return Verdict.OUT_OF_MEMORY
    if killed_by == "output_quota" or exit_code != 0:
        return Verdict.CRASHED
    return Verdict.OK


def _kill(container) -> None:
    from docker.errors import APIError

    try:
        container.kill()
    except APIError:
        pass  # it exited between the timeout and the kill


def _remove(container) -> None:
    from docker.errors import DockerException

    try:
        container.remove(v=True, force=True)
    except DockerException:
        pass  # already gone; `grade sandbox prune` sweeps by label otherwise


def _as_float(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def open_regular(path: Path) -> int | None:
    """An fd for ``path`` if it is a regular file and not a symlink (:func:`harness.safeio.open_regular`);
    ``None`` otherwise: a missing or unsafe file is simply not there."""
    try:
        return safeio.open_regular(path)
    except safeio.UntrustedDataError:
        return None


def _read_streams(folders: tuple[Path | None, ...], name: str) -> StreamCapture:
    """The first non-empty capture of ``name``: the runner's (trusted) before the candidate's."""
    for folder in folders:
        if folder is not None:
            capture = _read_stream(folder, name)
            if capture.total_bytes:
                return capture
    return StreamCapture()


def _read_stream(logs_dir: Path, name: str) -> StreamCapture:
    """Head and tail of a captured stream, read without following links."""
    fd = open_regular(logs_dir / name)
    if fd is None:
        return StreamCapture()
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= STREAM_HEAD_BYTES + STREAM_TAIL_BYTES:
            data = fh.read(size)
            return StreamCapture(text=data.decode("utf-8", "replace"), total_bytes=size)
        head = fh.read(STREAM_HEAD_BYTES)
        fh.seek(size - STREAM_TAIL_BYTES)
        tail = fh.read(STREAM_TAIL_BYTES)
    dropped = size - len(head) - len(tail)
    text = (
        head.decode("utf-8", "replace")
        + f"\n\n[... {dropped:,} bytes not shown ...]\n\n"
        + tail.decode("utf-8", "replace")
    )
    return StreamCapture(text=text, total_bytes=size, truncated=True)


RUNNER_JSON_BYTES = 256 * 1024
RUNNER_JSON_DEPTH = 16
"""``runner.json`` is the in-container runner's record, but candidate code can rewrite it: read
with a size and a nesting limit (an honest record is a flat object with short lists)."""


def _read_runner_json(logs_dir: Path | None) -> dict:
    """The runner's record, or ``{}`` when absent; ``{"error": ...}`` with a plain message when it
    cannot be read within the limits. Never raises: a 100,000-deep ``[[[`` is a message here."""
    from harness.safeio import UntrustedDataError, read_json

    if logs_dir is None:
        return {}
    try:
        data = read_json(logs_dir / "runner.json", max_bytes=RUNNER_JSON_BYTES, max_depth=RUNNER_JSON_DEPTH)
    except UntrustedDataError as exc:
        if exc.code == "missing":
            return {}
        reasons = {
            "too_large": f"larger than {RUNNER_JSON_BYTES // 1024} KiB",
            "too_deep": f"nested deeper than {RUNNER_JSON_DEPTH} levels",
            "invalid_json": "not valid JSON",
        }
        return {"error": f"runner.json was ignored: {reasons.get(exc.code, exc.code.replace('_', ' '))}"}
    return data if isinstance(data, dict) else {"error": "runner.json was ignored: not a JSON object"}


class _QuotaWatchdog:
    """Stops the container when its writable mounts grow past the quota.

    ``fsize`` caps one file; this caps the total (many files) and the number of entries.
    """

    def __init__(self, container, dirs: list[Path], max_bytes: int, max_entries: int = MAX_OUTPUT_ENTRIES) -> None:
        self.container = container
        self.dirs = dirs
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.tripped: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="holdout-quota", daemon=True)

    def start(self) -> None:
        if self.dirs:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(QUOTA_POLL_S):
            used, entries = 0, 0
            for root in self.dirs:
                u, e = usage(root, limit_entries=self.max_entries + 1)
                used, entries = used + u, entries + e
            if used > self.max_bytes or entries > self.max_entries:
                self.tripped = "output_quota"
                _kill(self.container)
                return


def usage(root: Path, *, limit_entries: int) -> tuple[int, int]:
    """Bytes and entries under ``root``, never following links; stops counting at the limit."""
    total, entries = 0, 0
    stack = [root]
    while stack and entries < limit_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
        except OSError:
            continue
    return total, entries
