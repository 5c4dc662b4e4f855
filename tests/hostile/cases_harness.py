"""Harness robustness, through the real ``grade`` command in a subprocess: Ctrl-C and ``kill``
mid-run clean up, a killed harness is swept by the next one, two concurrent runs do not
interfere, and an unreachable Docker engine is a clear exit 4, not a traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.models import GradeReport, Verdict

from .builders import MANIFEST, script, write_tree
from .catalogue import Case, Env, Expect, Outcome, holdout_containers

CONTAINER_WAIT_S = 90


def _client():
    from sandbox.engine import connect

    return connect()


def _cli_env(env: Env, **extra: str) -> dict[str, str]:
    settings = env.settings
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(env.tmp),
        "TMPDIR": str(env.tmp_root),
        "GRADE_DATA_DIR": str(settings.data_dir),
        "GRADE_CACHE_DIR": str(settings.cache_dir),
        "GRADE_IMAGE": settings.image or "",
        "GRADE_OFFLINE": "1",
        "HOLDOUT_HOST_SECRET": env.secret,
        **({"DOCKER_HOST": os.environ["DOCKER_HOST"]} if "DOCKER_HOST" in os.environ else {}),
        **extra,
    }


def _start(env: Env, submission: Path, out: Path, **extra: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "harness",
        str(submission),
        "--assignment",
        str(env.assignments["lean"]),
        "--out",
        str(out),
        "--json",
    ]
    return subprocess.Popen(
        command, env=_cli_env(env, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=env.tmp
    )


def _wait_for_container(proc: subprocess.Popen) -> None:
    client = _client()
    deadline = time.monotonic() + CONTAINER_WAIT_S
    while time.monotonic() < deadline:
        if holdout_containers(client, (proc.pid,)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"grade exited before its container started: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the sandbox container never started")


def _outcome(out: Path, proc: subprocess.Popen, stdout: str, stderr: str, started: float, pids=None) -> Outcome:
    report = None
    if (out / "report.json").is_file():
        report = GradeReport.model_validate(json.loads((out / "report.json").read_text()))
    return Outcome(
        report=report,
        out_dir=out,
        exit_code=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        owner_pids=pids or (proc.pid,),
        duration_s=time.monotonic() - started,
    )


def _sleeper(env: Env, seconds: float = 120, name: str = "submission") -> Path:
    return write_tree(
        env.tmp / name,
        {
            "predict.py": script(f"import time\nprint('sleeping', flush=True)\ntime.sleep({seconds})\nwrite_all_ham()"),
            "submission.toml": MANIFEST,
        },
    )


def _interrupt_with(sig: int):
    def drive(case: Case, env: Env, submission: Path) -> Outcome:
        out, started = env.tmp / "out", time.monotonic()
        proc = _start(env, submission, out)
        _wait_for_container(proc)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        return _outcome(out, proc, stdout, stderr, started)

    return drive


def _no_traceback(outcome: Outcome, env: Env) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert not (outcome.out_dir / "report.json").exists(), "an interrupted run must not leave a half report"


def _interrupted(outcome: Outcome, env: Env) -> None:
    _no_traceback(outcome, env)
    assert "interrupted" in outcome.stderr and "cleaned up" in outcome.stderr, outcome.stderr[-2000:]


def _killed_then_swept(case: Case, env: Env, submission: Path) -> Outcome:
    out, started = env.tmp / "out", time.monotonic()
    proc = _start(env, submission, out)
    _wait_for_container(proc)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.communicate(timeout=30)
    client = _client()
    assert holdout_containers(client, (proc.pid,)), "expected the killed run's container to be orphaned"
    assert any(env.tmp_root.iterdir()), "expected the killed run's job dir to be left behind"
    sweep = subprocess.run(
        [sys.executable, "-m", "harness", "sandbox", "prune"],
        env=_cli_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env.tmp,
        check=False,
    )
    outcome = _outcome(out, sweep, sweep.stdout, sweep.stderr, started, pids=(proc.pid,))
    return outcome


def _swept(outcome: Outcome, env: Env) -> None:
    # The orphan container is gone (the invariants check its pid label); the count is not
    # checked: on a shared engine any other run's start-up prune may sweep it first.
    found = re.search(r"removed (\d+) container\(s\)(?:,| and) (\d+) job dir\(s\)", outcome.stdout)
    assert found and int(found[2]) == 1, (outcome.stdout, outcome.stderr[-1000:])


def _concurrent(case: Case, env: Env, submission: Path) -> Outcome:
    fast = write_tree(env.tmp / "fast", {"predict.py": script("write_all_ham()"), "submission.toml": MANIFEST})
    started = time.monotonic()
    slow_proc = _start(env, submission, env.tmp / "out")
    _wait_for_container(slow_proc)
    fast_proc = _start(env, fast, env.tmp / "out-fast")  # its start-up prune must spare the slow run's container
    fast_out, fast_err = fast_proc.communicate(timeout=300)
    slow_out, slow_err = slow_proc.communicate(timeout=300)
    env.extra["fast"] = (fast_proc.returncode, fast_out, fast_err, env.tmp / "out-fast")
    return _outcome(env.tmp / "out", slow_proc, slow_out, slow_err, started, pids=(slow_proc.pid, fast_proc.pid))


def _both_graded(outcome: Outcome, env: Env) -> None:
    from .catalogue import check_reports

    slow = outcome.report
    assert slow is not None and slow.sandbox.verdict == Verdict.OK and slow.sandbox.duration_s >= 6, slow
    code, stdout, stderr, out = env.extra["fast"]
    assert code == 0, stderr[-2000:]
    fast = GradeReport.model_validate(json.loads(stdout))
    assert fast.status == "graded" and fast.sandbox.verdict == Verdict.OK
    assert slow.submission.sha256 != fast.submission.sha256
    check_reports(out)


def _unreachable(case: Case, env: Env, submission: Path) -> Outcome:
    out, started = env.tmp / "out", time.monotonic()
    proc = _start(env, submission, out, DOCKER_HOST="unix:///nonexistent/docker.sock")
    stdout, stderr = proc.communicate(timeout=120)
    return _outcome(out, proc, stdout, stderr, started)


def _clear_engine_error(outcome: Outcome, env: Env) -> None:
    _no_traceback(outcome, env)
    assert "cannot reach the Docker engine" in outcome.stderr and "hint:" in outcome.stderr, outcome.stderr


CASES = [
    Case(
        "ctrl_c_mid_run",
        "harness",
        "Ctrl-C (SIGINT) while the candidate's container runs",
        lambda env: _sleeper(env),
        Expect(status=None, exit_code=130, check=_interrupted, note="container and job dir removed"),
        drive=_interrupt_with(signal.SIGINT),
    ),
    Case(
        "sigterm_mid_run",
        "harness",
        "`kill` (SIGTERM) while the candidate's container runs",
        lambda env: _sleeper(env),
        Expect(status=None, exit_code=130, check=_interrupted, note="container and job dir removed"),
        drive=_interrupt_with(signal.SIGTERM),
    ),
    Case(
        "harness_killed_then_swept",
        "harness",
        "the harness is SIGKILLed mid-run (no cleanup possible); the next `grade sandbox prune` sweeps",
        lambda env: _sleeper(env),
        Expect(
            status=None, exit_code=0, check=_swept, note="the orphan container and job dir are removed by pid label"
        ),
        drive=_killed_then_swept,
    ),
    Case(
        "two_concurrent_grades",
        "harness",
        "a second `grade` starts (and prunes) while the first one's container is running",
        lambda env: _sleeper(env, seconds=6),
        Expect(
            status="graded",
            exit_code=0,
            verdict=Verdict.OK,
            check=_both_graded,
            note="both finish with their own correct reports",
        ),
        drive=_concurrent,
    ),
    Case(
        "docker_unreachable",
        "harness",
        "DOCKER_HOST points at a socket that does not exist",
        lambda env: _sleeper(env, seconds=1),
        Expect(status=None, exit_code=4, check=_clear_engine_error, note="clear message with a hint, no traceback"),
        drive=_unreachable,
    ),
]
