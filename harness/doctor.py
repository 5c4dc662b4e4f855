"""``grade doctor``: is this engine fit to run untrusted code? Checks, then demonstrations.

The probe container runs with exactly the options a candidate's run gets (a two-uid run: the
entry starts the probe as the candidate uid and drops itself to the runner uid) and tries each
protection from inside the candidate's process (connect out, write to the root fs, read its
own limits and capabilities, write the runner's trusted folder, signal the runner, read its
memory and environment). A protection that does not hold makes the doctor fail with the fix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import HoldoutError
from harness.spec import SandboxSpec

Check = dict  # {"name", "ok", "detail", "fix"}


def _check(name: str, ok: bool, detail: str, fix: str = "") -> Check:
    return {"name": name, "ok": bool(ok), "detail": detail, "fix": "" if ok else fix}


def run_doctor(image: str | None = None) -> dict:
    from harness.settings import Settings
    from sandbox.engine import connect
    from sandbox.image import find_image, image_layout, runtime_tag
    from sandbox.venv_copy import venv_mounts

    checks: list[Check] = []
    try:
        client = connect()
    except HoldoutError as exc:
        checks.append(_check("engine", False, str(exc), exc.hint))
        return {"ok": False, "checks": checks}
    from sandbox.engine import docker_errors

    try:
        with docker_errors("reading the engine's info and version"):
            info = client.info()
            version = client.version()
    except HoldoutError as exc:
        checks.append(_check("engine", False, str(exc), exc.hint))
        return {"ok": False, "checks": checks}
    checks.append(_check("engine", True, f"Docker {version.get('Version')} (API {version.get('ApiVersion')})"))
    checks.append(
        _check("cgroup", True, f"cgroup v{info.get('CgroupVersion', '?')}, driver {info.get('CgroupDriver')}")
    )
    checks.append(_check("runtime", True, f"default runtime {info.get('DefaultRuntime')}"))
    security = info.get("SecurityOptions") or []
    seccomp = any("seccomp" in s for s in security)
    checks.append(
        _check(
            "seccomp",
            seccomp,
            ", ".join(security) or "none",
            "This engine applies no seccomp profile; run a Docker build with seccomp support.",
        )
    )
    tag = image or runtime_tag()
    found = find_image(client, tag)
    checks.append(
        _check("image", found is not None, f"{tag} {'present' if found else 'missing'}", "Run `grade sandbox build`.")
    )
    if found is not None:
        settings = Settings.from_env()
        try:
            extra = venv_mounts(client, found, settings.cache_dir, settings.sandbox_venv)
            python = image_layout(found).python_full_version
        except HoldoutError as exc:
            checks.append(_check("python environment", False, str(exc), exc.hint))
            return {"ok": False, "checks": checks, "image": tag}
        where = f"host copy {extra[0].source}, read-only" if extra else "the image's own"
        driver = info.get("Driver")
        checks.append(
            _check("python environment", True, f"/opt/venv, Python {python}: {where} (storage driver {driver})")
        )
        checks.extend(probe_protections(client, tag, extra, root_mode=settings.sandbox_root))
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "image": tag}


def probe_protections(client, tag: str, extra_mounts: tuple = (), *, root_mode: str = "auto") -> list[Check]:
    """Run the probe with the candidate's options (and mounts) and turn what it saw into checks."""
    from harness.safeio import UntrustedDataError, read_json
    from sandbox.root_mode import check_mode
    from sandbox.runner import ENTRY, Mount, RunRequest, make_job_dirs, run_container

    try:
        check_mode(root_mode)
    except HoldoutError as exc:
        return [_check("container root", False, str(exc), exc.hint)]

    limits = SandboxSpec(timeout_s=60)
    canary = "HOLDOUT_DOCTOR_CANARY"
    os.environ[canary] = "host-secret"
    try:
        with tempfile.TemporaryDirectory(prefix="holdout-doctor-") as tmp:
            dirs = make_job_dirs(Path(tmp) / "job")
            submission = Path(tmp) / "submission"
            submission.mkdir()
            request = RunRequest(
                image=tag,
                command=[*ENTRY, "probe"],
                limits=limits,
                mounts=(Mount(submission, "/submission"), *dirs.mounts(trusted=True), *extra_mounts),
                root_mode=root_mode,
            )
            run = run_container(client, request)
            try:  # written inside a container: read with the same limits as anything else from there
                seen = read_json(dirs.logs / "probe.json", max_bytes=1 << 20, max_depth=16)
            except UntrustedDataError as exc:
                return [
                    _check(
                        "probe",
                        False,
                        f"the probe wrote no readable result (verdict {run.verdict}): {exc}",
                        "Run `grade sandbox build --force`.",
                    )
                ]
            if not isinstance(seen, dict):
                return [
                    _check(
                        "probe", False, "the probe's result is not a JSON object", "Run `grade sandbox build --force`."
                    )
                ]
    finally:
        os.environ.pop(canary, None)
    return interpret_probe(seen, limits)


def interpret_probe(seen: dict, limits: SandboxSpec) -> list[Check]:
    """Pure: what the probe saw → one check per protection."""
    mem = seen.get("memory_max") or ""
    mem_ok = mem.isdigit() and int(mem) <= limits.memory_mb * 2**20
    pids = seen.get("pids_max") or ""
    fsize = seen.get("fsize")
    env_keys = seen.get("env_keys") or []
    leaked = [k for k in env_keys if "CANARY" in k or "PROXY" in k.upper()]
    return [
        _check(
            "network",
            str(seen.get("network", "")).startswith("unreachable"),
            f"tcp: {seen.get('network')}; dns: {seen.get('dns')}",
            "network_mode=none did not hold.",
        ),
        _check(
            "read-only root",
            str(seen.get("root_fs", "")).startswith("read-only"),
            str(seen.get("root_fs")),
            "read_only=True did not hold.",
        ),
        _root_check(seen.get("root_mode")),
        _check(
            "read-only submission",
            str(seen.get("submission_mount", "")).startswith("read-only"),
            str(seen.get("submission_mount")),
            "The submission mount is writable.",
        ),
        _check(
            "read-only python environment",
            str(seen.get("python_env", "")).startswith("read-only"),
            str(seen.get("python_env")),
            "The sandbox's /opt/venv is writable.",
        ),
        _check("non-root user", seen.get("uid") not in (0, None), f"uid {seen.get('uid')}", "user= did not hold."),
        _check(
            "capabilities",
            seen.get("cap_eff") == "0000000000000000"
            and seen.get("cap_prm") == "0000000000000000"
            and _only_setuid_setgid(seen.get("cap_bnd")),
            f"CapEff {seen.get('cap_eff')}, CapPrm {seen.get('cap_prm')}, CapBnd {seen.get('cap_bnd')}",
            "cap_drop=ALL (with only SETUID/SETGID added for the entry) did not hold.",
        ),
        _check(
            "runner apart",
            _runner_apart(seen),
            f"runner uid {seen.get('runner_uid')}; trusted folder {seen.get('trusted_dir')}; signal: "
            f"{seen.get('signal_runner')}; environ {seen.get('runner_environ')}; mem {seen.get('runner_mem')}",
            "The candidate's uid can reach the runner or its trusted folder: the entry did not drop to the "
            "runner uid (is the image current? `grade sandbox build`).",
        ),
        _check(
            "no-new-privileges",
            seen.get("no_new_privs") == "1",
            f"NoNewPrivs {seen.get('no_new_privs')}",
            "security_opt no-new-privileges did not hold.",
        ),
        _check(
            "seccomp filter",
            seen.get("seccomp") == "2",
            f"Seccomp mode {seen.get('seccomp')}",
            "No seccomp filter is applied to the container.",
        ),
        _check(
            "pids limit",
            pids.isdigit() and int(pids) <= limits.pids,
            f"pids.max {pids or 'unknown'}",
            "pids_limit did not hold (is the pids cgroup controller enabled?).",
        ),
        _check(
            "memory limit",
            mem_ok,
            f"limit {int(mem) // 2**20 if mem.isdigit() else mem} MiB",
            "mem_limit did not hold (is the memory cgroup controller enabled?).",
        ),
        _check(
            "ulimits",
            fsize == limits.file_size_mb * 2**20 and seen.get("core") == 0,
            f"fsize {fsize}, core {seen.get('core')}, nofile {seen.get('nofile')}",
            "ulimits did not hold.",
        ),
        _check(
            "clean environment",
            not leaked,
            f"{len(env_keys)} variables; leaked: {', '.join(leaked) or 'none'}",
            "Host environment variables reached the container.",
        ),
    ]


def _root_check(root_mode) -> Check:
    """The container's ``/`` as the candidate sees it: narrowed (no group bits, see
    :mod:`sandbox.root_mode`) or the engine's own; never writable by the candidate's class."""
    try:
        mode = int(str(root_mode), 8)
    except ValueError:
        return _check("container root", False, f"mode {root_mode!r} unreadable", "Run `grade sandbox build --force`.")
    how = (
        "group bits cleared: lookups skip the FUSE ACL fetch"
        if not mode & 0o070
        else "the engine's own (GRADE_SANDBOX_ROOT; narrowing needs a fuse-overlayfs engine on this host, as root)"
    )
    return _check(
        "container root",
        not mode & 0o022,
        f"mode {mode:04o}: {how}",
        "The container's / is writable by a non-owner; check the engine's storage.",
    )


def _only_setuid_setgid(cap_bnd) -> bool:
    """The bounding set holds nothing but SETUID/SETGID (0xc0), unreachable under no-new-privileges."""
    try:
        return int(str(cap_bnd), 16) & ~0xC0 == 0
    except ValueError:
        return False


def _runner_apart(seen: dict) -> bool:
    """From the candidate's uid: another uid runs the runner, whose folder, signals and memory it cannot reach."""
    return (
        seen.get("runner_uid") not in (None, 0, seen.get("uid"))
        and str(seen.get("trusted_dir", "")).startswith("not writable")
        and str(seen.get("signal_runner", "")).startswith("refused")
        and all(str(seen.get(k, "")).startswith("unreadable") for k in ("runner_environ", "runner_mem"))
    )


def render_table(result: dict, console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="holdout doctor", show_header=True, header_style="bold")
    table.add_column("check")
    table.add_column("")
    table.add_column("detail", overflow="fold")
    for c in result["checks"]:
        mark = Text("holds" if c["ok"] else "FAILS", style="green" if c["ok"] else "bold red")
        detail = Text(c["detail"] + (f"\nfix: {c['fix']}" if c["fix"] else ""))
        table.add_row(c["name"], mark, detail)
    console.print(table)
    console.print("all protections hold" if result["ok"] else "[bold red]some checks failed[/]")
