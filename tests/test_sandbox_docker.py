"""Each sandbox protection, attacked from inside a real container (real Docker engine)."""

from __future__ import annotations

import errno
import functools
import json
import os
import resource
import textwrap
import time
from pathlib import Path

import pytest

from harness.models import Verdict
from harness.spec import SandboxSpec
from sandbox.runner import CANDIDATE_UID, Mount, RunRequest, make_job_dirs, open_regular, run_container

pytestmark = pytest.mark.docker


@functools.cache
def grading_mounts(client, image: str) -> tuple:
    """The mounts every grading run adds (the host copy of /opt/venv on a fuse-overlayfs engine),
    so each protection is attacked in the configuration candidates really get."""
    from harness.settings import Settings
    from sandbox.venv_copy import venv_mounts

    settings = Settings.from_env()
    return venv_mounts(client, client.images.get(image), settings.cache_dir, settings.sandbox_venv)


def run_snippet(client, image: str, tmp_path: Path, code: str, **limits) -> tuple:
    """Run ``code`` as the candidate's predict.py; return (SandboxRun, output dir)."""
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "predict.py").write_text(textwrap.dedent(code))
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("id,text\n1,hello\n")
    dirs = make_job_dirs(tmp_path / "job")
    quota_mb = limits.pop("quota_mb", 512)
    spec = SandboxSpec(**{"timeout_s": 60, "memory_mb": 512, **limits})
    request = RunRequest(
        image=image,
        command=["/opt/venv/bin/python", "/opt/holdout/entry.py", "script", "predict.py"],
        limits=spec,
        mounts=(
            Mount(submission, "/submission"),
            Mount(data, "/data"),
            *dirs.mounts(trusted=True),  # a two-uid run, as every run of the candidate's entry point
            *grading_mounts(client, image),
        ),
        env={"DATA_DIR": "/data", "OUTPUT_DIR": "/output"},
        output_quota_mb=quota_mb,
    )
    return run_container(client, request), dirs.output


def result_json(output: Path) -> dict:
    fd = open_regular(output / "result.json")
    assert fd is not None, "the snippet wrote no result.json"
    with os.fdopen(fd) as fh:
        return json.load(fh)


def test_network_is_unreachable_tcp_udp_dns_raw(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, socket
        r = {}
        def attempt(name, fn):
            try:
                fn(); r[name] = "ok"
            except OSError as e:
                r[name] = f"blocked: {e}"
        attempt("tcp", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3))
        attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))
        attempt("dns", lambda: socket.getaddrinfo("example.com", 443))
        attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
        attempt("ipv6", lambda: socket.create_connection(("2606:4700:4700::1111", 80), timeout=3))
        json.dump(r, open("/output/result.json", "w"))
    """,
    )
    assert run.verdict == Verdict.OK, run.stderr.text
    r = result_json(out)
    assert all(v.startswith("blocked") for v in r.values()), r


def test_filesystem_is_read_only_outside_output_and_tmp(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, sysconfig
        targets = ["/evil", "/submission/evil.py", "/data/train.csv", "/etc/passwd",
                   sysconfig.get_paths()["purelib"] + "/sitecustomize.py", "/opt/venv/bin/python3.11-evil",
                   "/opt/holdout/entry.py",
                   "/tmp/ok", "/output/ok"]
        r = {}
        for t in targets:
            try:
                with open(t, "a") as fh: fh.write("x")
                r[t] = "written"
            except OSError as e:
                r[t] = f"refused: {e.strerror}"
        json.dump(r, open("/output/result.json", "w"))
    """,
    )
    assert run.verdict == Verdict.OK, run.stderr.text
    r = result_json(out)
    assert r.pop("/tmp/ok") == "written" and r.pop("/output/ok") == "written"
    assert all(v.startswith("refused") for v in r.values()), r
    assert (tmp_path / "data" / "train.csv").read_text() == "id,text\n1,hello\n"
    assert not (tmp_path / "submission" / "evil.py").exists()


def test_runs_as_non_root_without_capabilities(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, os
        status = dict(l.split(":", 1) for l in open("/proc/self/status"))
        json.dump({"uid": os.getuid(), "euid": os.geteuid(), "cap": status["CapEff"].strip(),
                   "capbnd": status["CapBnd"].strip(), "nnp": status["NoNewPrivs"].strip(),
                   "seccomp": status["Seccomp"].strip()}, open("/output/result.json", "w"))
    """,
    )
    r = result_json(out)
    assert r["uid"] == r["euid"] == CANDIDATE_UID
    # no capability at all; the bounding set keeps the container's SETUID/SETGID (0xc0), which
    # no-new-privileges makes unreachable: no exec can grant them again
    assert r["cap"] == "0000000000000000" and int(r["capbnd"], 16) & ~0xC0 == 0
    assert r["nnp"] == "1"
    assert r["seccomp"] == "2"


def test_the_candidate_cannot_write_signal_or_read_the_runner(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, os, signal
        found, runner = {}, os.getppid()
        status = dict(l.split(":", 1) for l in open("/proc/self/status"))
        found["cap"], found["nnp"] = status["CapEff"].strip(), status["NoNewPrivs"].strip()
        found["runner_uid"] = int(open(f"/proc/{runner}/status").read().split("Uid:")[1].split()[0])
        def attempt(name, action):
            try:
                action()
                found[name] = "done"
            except OSError as exc:
                found[name] = exc.errno
        attempt("write_trusted", lambda: open("/holdout/trusted/runner.json", "w").write("{}"))
        attempt("new_trusted", lambda: open("/holdout/trusted/forged.jsonl", "w").write("{}"))
        attempt("kill", lambda: os.kill(runner, signal.SIGKILL))
        attempt("environ", lambda: open(f"/proc/{runner}/environ", "rb").read())
        attempt("mem", lambda: open(f"/proc/{runner}/mem", "rb").read(1))
        attempt("setuid", lambda: os.setuid(0))
        open("/holdout/logs/runner.json", "w").write('{"cell_errors": [], "exit_code": 0, "peak_rss_mb": 1}')
        json.dump(found, open("/output/result.json", "w"))
        raise SystemExit(3)
    """,
    )
    r = result_json(out)
    assert r["cap"] == "0000000000000000" and r["nnp"] == "1" and r["runner_uid"] not in (0, CANDIDATE_UID)
    assert r["write_trusted"] == r["new_trusted"] == errno.EACCES
    assert r["kill"] == errno.EPERM and r["setuid"] == errno.EPERM
    assert r["environ"] == r["mem"] == errno.EACCES
    # the runner outlived the attempt and recorded how the run ended; the forged record is ignored
    assert run.exit_code == 3 and run.runner["exit_code"] == 3 and run.runner["mode"] == "script"


def test_fork_bomb_stops_at_the_pids_limit(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, os, time
        children, error = 0, None
        for _ in range(2000):
            try:
                pid = os.fork()
            except OSError as e:
                error = e.strerror; break
            if pid == 0:
                time.sleep(30); os._exit(0)
            children += 1
        json.dump({"children": children, "error": error}, open("/output/result.json", "w"))
        os._exit(0)
    """,
        pids=64,
    )
    r = result_json(out)
    assert r["error"] is not None, r
    assert r["children"] < 64, r
    assert run.verdict == Verdict.OK


def test_memory_hog_is_killed_as_out_of_memory(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    """,
        memory_mb=128,
    )
    assert run.verdict == Verdict.OUT_OF_MEMORY, (run.verdict, run.exit_code, run.stderr.text[-500:])
    assert run.oom_killed


def test_infinite_loop_times_out_from_outside(docker_client, sandbox_image, tmp_path, no_containers_left):
    started = time.monotonic()
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # ignoring SIGTERM does not help
        while True:
            pass
    """,
        timeout_s=3,
    )
    elapsed = time.monotonic() - started
    assert run.verdict == Verdict.TIMEOUT
    assert elapsed < 3 + 10, elapsed


def test_background_processes_do_not_outlive_the_run(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import subprocess
        subprocess.Popen(["sleep", "600"], start_new_session=True)
        print("main done")
    """,
        timeout_s=20,
    )
    assert run.verdict == Verdict.OK
    assert run.duration_s < 15


def test_stdout_flood_is_captured_capped_and_cheap(docker_client, sandbox_image, tmp_path, no_containers_left):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(100 * 1024):
            sys.stdout.write(line)
    """,
    )
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert run.verdict == Verdict.OK
    assert run.stdout.total_bytes == 100 * 1024 * 1024
    assert run.stdout.truncated and len(run.stdout.text) < 64 * 1024
    assert grown_mb < 50, f"harness memory grew by {grown_mb:.0f} MB"
    assert run.duration_s < 20


def test_host_environment_and_proxies_do_not_reach_the_container(
    docker_client, sandbox_image, tmp_path, no_containers_left, monkeypatch
):
    monkeypatch.setenv("HOLDOUT_HOST_CANARY", "s3cret-token")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json, os
        json.dump(dict(os.environ), open("/output/result.json", "w"))
    """,
    )
    env = result_json(out)
    assert "HOLDOUT_HOST_CANARY" not in env
    assert not any("s3cret" in v for v in env.values())
    assert not [k for k in env if "proxy" in k.lower()]
    assert env["PIP_NO_INDEX"] == "1" and env["DATA_DIR"] == "/data"


def test_symlink_in_output_to_a_host_file_is_not_followed(docker_client, sandbox_image, tmp_path, no_containers_left):
    secret = tmp_path / "hidden_labels.csv"
    secret.write_text("id,label\n1,spam\n")
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        f"""
        import os
        os.symlink({str(secret)!r}, "/output/predictions.csv")
        os.symlink("/etc/shadow", "/output/result.json")
    """,
    )
    assert run.verdict == Verdict.OK
    assert (out / "predictions.csv").is_symlink()
    assert open_regular(out / "predictions.csv") is None
    assert open_regular(out / "result.json") is None


def test_symlinked_log_files_are_not_followed(docker_client, sandbox_image, tmp_path, no_containers_left):
    secret = tmp_path / "secret.txt"
    secret.write_text("HOST-SECRET")
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        f"""
        import os
        os.remove("/holdout/logs/stdout.txt")
        os.symlink({str(secret)!r}, "/holdout/logs/stdout.txt")
    """,
    )
    assert "HOST-SECRET" not in run.stdout.text


def test_output_quota_stops_a_disk_filler(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, _ = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import os, time
        chunk = b"\\0" * (4 * 1024 * 1024)
        i = 0
        while True:
            with open(f"/output/fill{i}.bin", "wb") as fh:
                fh.write(chunk)
            i += 1
            time.sleep(0.01)
    """,
        quota_mb=64,
        timeout_s=60,
    )
    assert run.verdict == Verdict.CRASHED
    assert run.runner.get("killed") == "output_quota"
    assert run.duration_s < 30


def test_single_file_is_capped_by_fsize(docker_client, sandbox_image, tmp_path, no_containers_left):
    run, out = run_snippet(
        docker_client,
        sandbox_image,
        tmp_path,
        """
        import json
        try:
            with open("/tmp/big", "wb") as fh:
                fh.write(b"\\0" * (3 * 1024 * 1024))
            r = "written"
        except OSError as e:
            r = e.strerror
        json.dump({"r": r}, open("/output/result.json", "w"))
    """,
        file_size_mb=1,
    )
    assert "too large" in result_json(out)["r"].lower()


def test_doctor_shows_every_protection_holding(docker_client, sandbox_image):
    from harness.doctor import run_doctor

    result = run_doctor(image=sandbox_image)
    failing = [c for c in result["checks"] if not c["ok"]]
    assert result["ok"], failing
    names = {c["name"] for c in result["checks"]}
    assert {
        "network",
        "read-only root",
        "non-root user",
        "pids limit",
        "memory limit",
        "capabilities",
        "no-new-privileges",
        "runner apart",
    } <= names
    apart = next(c for c in result["checks"] if c["name"] == "runner apart")
    assert "not writable" in apart["detail"] and "refused" in apart["detail"], apart


SHADOW_JSON = """
SHADOW = True


def dumps(obj, **kwargs):  # what a hostile requirement might do to the runner's record
    return repr({"mode": "forged"})
"""


def test_the_candidates_requirements_never_reach_the_trusted_runner(
    docker_client, sandbox_image, tmp_path, no_containers_left
):
    """The candidate's installed requirements (``/deps``) are on its own processes' path, never on
    the trusted runner's: a requirement shipping a module named like one the runner imports
    (``json``) is the candidate's alone, and the runner's record is written by the real one."""
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "json.py").write_text(SHADOW_JSON)
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "predict.py").write_text(
        "import json, os\n"
        "with open(os.path.join(os.environ['OUTPUT_DIR'], 'result.txt'), 'w') as fh:\n"
        "    fh.write(f\"shadow={getattr(json, 'SHADOW', False)}\")\n"
    )
    dirs = make_job_dirs(tmp_path / "job")
    request = RunRequest(
        image=sandbox_image,
        command=["/opt/venv/bin/python", "/opt/holdout/entry.py", "script", "predict.py"],
        limits=SandboxSpec(timeout_s=60, memory_mb=512),
        mounts=(
            Mount(submission, "/submission"),
            Mount(deps, "/deps"),
            *dirs.mounts(trusted=True),
            *grading_mounts(docker_client, sandbox_image),
        ),
        env={"DATA_DIR": "/data", "OUTPUT_DIR": "/output", "HOLDOUT_CANDIDATE_PYTHONPATH": "/deps"},
        output_quota_mb=64,
    )
    run = run_container(docker_client, request)
    assert run.verdict == Verdict.OK, run.stderr.text
    assert (dirs.output / "result.txt").read_text() == "shadow=True"  # the candidate has its requirements
    record = json.loads((dirs.trusted / "runner.json").read_text())  # the runner's real json wrote it
    assert record["mode"] == "script" and record["exit_code"] == 0
