"""Grading speed against the peers (issues 6, 20): P1, P2 and P5 measured here, P3 and P4 collected.

    python bench/grading_speed.py [--rounds 7] [--only p1,p2,p3,p4,p5] [--no-otter] [--no-nbgrader]
                                  [--doc docs/performance.md]

On one synthetic spam-notebook assignment (bench/synthetic.py, fixed seed), in interleaved
rounds (each round runs every contestant once, in an order rotated per round, so machine load
hits all alike), wall time of each command as a subprocess:

- **P1**: ``grade SUBMISSION`` of the reference notebook (sandboxed, scored, reports written)
  ÷ ``jupyter nbconvert --to notebook --execute`` of the same notebook on the host with the same
  data as local files. Target <= 1.0 (issue 20; issue 6 set 1.10). ``otter run`` and ``nbgrader autograde`` of the same
  notebook (unsandboxed) for comparison.
- **P2**: ``grade batch -j 2`` over 12 submissions (fresh out dir, ``--force``) against the same
  batch with ``-j 1``: parallel efficiency = serial ÷ (2 × parallel), target >= 80%; and ÷
  ``otter run`` over the same 12 notebooks, two at a time. Target <= 0.70.
- **P3** (``bench/rag_metrics_speed.py``) and **P4** (``bench/quality_speed.py``) are run as they
  are, if present, and their output is included.
- **P5**: ``grade`` of a script submission (the applied_ml reference: its run, hidden tests,
  own tests, quality checks; needs the real data, ``GRADE_DATA_DIR``) ÷ the same script run
  alone in the sandbox (one hardened container, the same mounts and limits, timed from create
  to remove, in this process). Target <= 1.25. Also where the time of ``grade`` goes, per stage.

The contestants run the code of this checkout (``PYTHONPATH``), whatever ``grade`` is installed.

Peer tools are installed into venvs under ``~/.cache/holdout-bench/venvs`` on first use
(bench/peers.py). Needs the sandbox image (``grade sandbox build``). ``--doc`` rewrites the
generated section of that Markdown file with the figures and the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(1, str(REPO))  # this checkout's harness (P5 times a run in-process), whatever is installed

import peers as peer_tools  # noqa: E402
import synthetic  # noqa: E402

GRADE = str(Path(sys.executable).parent / "grade")
DOC_BEGIN = "<!-- grading_speed:begin -->"
DOC_END = "<!-- grading_speed:end -->"
TARGETS = {
    "p1": 1.00,
    "p2_efficiency": 0.80,
    "p2_vs_otter": 0.70,
    "p3_ms": 10.0,
    "p4_s_per_kloc": 0.1,
    "p5": 1.25,
}
SCRIPT_ASSIGNMENT = REPO / "assignments" / "applied_ml"
SCRIPT_SUBMISSION = SCRIPT_ASSIGNMENT / "canaries" / "reference"


class BenchError(RuntimeError):
    """A contestant did not do its job (a wrong exit code, a missing result): its time means nothing."""

    def __init__(self, text: str, *, retry: bool = False) -> None:
        super().__init__(text)
        self.retry = retry
        """An infrastructure hiccup (exit 4: e.g. someone else's `grade sandbox prune --all`
        removed our container mid-run): run it again rather than abort the benchmark."""


RETRIES = 2


@dataclass
class Series:
    """One contestant's wall times, one per round, plus anything it reported."""

    name: str
    times: list[float] = field(default_factory=list)
    extras: list[dict] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def line(self) -> str:
        return f"{self.name:<44} median {self.median:7.2f} s  (min {min(self.times):.2f}, max {max(self.times):.2f})"


def paired(a: Series, b: Series, scale: float = 1.0) -> tuple[float, float, float]:
    """Median, min and max over rounds of ``a / (scale * b)`` (same round, same machine load)."""
    ratios = [x / (scale * y) for x, y in zip(a.times, b.times)]
    return statistics.median(ratios), min(ratios), max(ratios)


def run_timed(
    cmd: list[str], *, env: dict[str, str], cwd: Path | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    return elapsed, proc


def _fail(what: str, proc: subprocess.CompletedProcess) -> BenchError:
    tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-1500:]).strip()
    return BenchError(f"{what} exited {proc.returncode}:\n{tail}", retry=proc.returncode == 4)


def attempt(contestant: Callable[[Setup], tuple[float, dict]], s: Setup, name: str) -> tuple[float, dict]:
    """Run a contestant; an infrastructure hiccup is retried (and said so), anything else aborts."""
    for tries in range(RETRIES + 1):
        try:
            return contestant(s)
        except BenchError as exc:
            if not exc.retry or tries == RETRIES:
                raise
            print(f"   retrying {name}: {str(exc).splitlines()[0]} / {str(exc).splitlines()[1:2]}", flush=True)
    raise AssertionError("unreachable")


@dataclass
class Setup:
    work: Path
    env: dict[str, str]
    synthetic: synthetic.SyntheticSetup
    inputs: Path
    labels: Path
    peers: peer_tools.Peers
    autograder: Path | None
    course: peer_tools.NbgraderCourse | None
    image: str

    def fresh(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.work / "runs"))
        return path


def prepare(work: Path, *, otter: bool, nbgrader: bool, submissions: int = 12) -> Setup:
    from harness.assignments import find_assignment
    from harness.data import prepare_assignment
    from harness.settings import Settings
    from sandbox.engine import connect
    from sandbox.image import require_image, runtime_tag

    image = runtime_tag()
    require_image(connect(), image)
    setup = synthetic.generate(work, submissions)
    env = dict(os.environ, GRADE_ASSIGNMENTS_PATH=str(setup.assignments), PYTHONPATH=str(REPO))
    settings = Settings.from_env(env)
    prepared = prepare_assignment(find_assignment(synthetic.ASSIGNMENT_ID, settings), settings)
    (work / "runs").mkdir(exist_ok=True)
    tools = peer_tools.ensure_peers(otter=otter, nbgrader=nbgrader, log=lambda line: print(line, flush=True))
    labels = prepared.hidden / "test_labels.csv"
    autograder = peer_tools.build_otter_autograder(tools, work / "otter", labels) if otter else None
    course = (
        peer_tools.setup_nbgrader_course(tools, work / "nbgrader", setup.reference / synthetic.NOTEBOOK, labels)
        if nbgrader
        else None
    )
    return Setup(
        work=work,
        env=env,
        synthetic=setup,
        inputs=prepared.inputs,
        labels=labels,
        peers=tools,
        autograder=autograder,
        course=course,
        image=image,
    )


# --- contestants ------------------------------------------------------------------------------


def holdout_grade(s: Setup, tree: Path | None = None) -> tuple[float, dict]:
    """``grade`` of the reference notebook; from the code in ``tree`` (another checkout) if given."""
    out = s.fresh("grade")
    env = s.env if tree is None else dict(s.env, PYTHONPATH=str(tree))
    elapsed, proc = run_timed([GRADE, str(s.synthetic.submissions[0]), "-o", str(out)], env=env)
    if proc.returncode != 0:
        raise _fail("grade", proc)
    report = json.loads((out / "report.json").read_text())
    if report["status"] != "graded" or report["sandbox"]["verdict"] != "ok" or (report["score"] or 0) < 85:
        raise BenchError(
            f"grade of the reference notebook: {report['status']}, verdict {report['sandbox']['verdict']}, score {report['score']}"
        )
    timings = dict(report["timings"])
    timings["in_container_s"] = report["sandbox"].get("duration_s")
    return elapsed, timings


def bare_nbconvert(s: Setup) -> tuple[float, dict]:
    out = s.fresh("nbconvert")
    notebook = s.synthetic.submissions[0] / synthetic.NOTEBOOK
    env = peer_tools.host_env(s.peers.bare, s.inputs, out)
    elapsed, proc = run_timed(peer_tools.nbconvert_command(s.peers, notebook, out), env=env)
    if proc.returncode != 0 or not (out / "predictions.csv").is_file():
        raise _fail("jupyter nbconvert --execute", proc)
    return elapsed, {}


def otter_one(s: Setup, submission: Path) -> tuple[float, float | None]:
    assert s.autograder is not None
    out = s.fresh("otter")
    env = peer_tools.host_env(s.peers.otter, s.inputs, out)  # type: ignore[arg-type]
    elapsed, proc = run_timed(
        peer_tools.otter_command(s.peers, submission / synthetic.NOTEBOOK, s.autograder, out), env=env
    )
    if proc.returncode != 0 or not (out / "results.json").is_file():
        raise _fail(f"otter run {submission.name}", proc)
    return elapsed, peer_tools.otter_score(out)


def otter_single(s: Setup) -> tuple[float, dict]:
    elapsed, score = otter_one(s, s.synthetic.submissions[0])
    if not score:
        raise BenchError(f"otter run of the reference notebook scored {score}: its test did not pass")
    return elapsed, {"score": score}


def nbgrader_autograde(s: Setup) -> tuple[float, dict]:
    assert s.course is not None
    out = s.fresh("nbgrader")
    env = peer_tools.host_env(s.peers.nbgrader, s.inputs, out)  # type: ignore[arg-type]
    elapsed, proc = run_timed(peer_tools.nbgrader_command(s.peers, s.course), env=env, cwd=s.course.root)
    if proc.returncode != 0 or not (out / "predictions.csv").is_file():
        raise _fail("nbgrader autograde", proc)
    score = peer_tools.nbgrader_score(s.peers, s.course)
    if not score:
        raise BenchError(f"nbgrader autograde of the reference notebook scored {score}: its test did not pass")
    return elapsed, {"score": score}


def batch(jobs: int) -> Callable[[Setup], tuple[float, dict]]:
    def run(s: Setup) -> tuple[float, dict]:
        out = s.fresh(f"batch-j{jobs}")
        cmd = [GRADE, "batch", str(s.synthetic.root / "submissions"), "-j", str(jobs), "--out", str(out), "--force"]
        elapsed, proc = run_timed(cmd, env=s.env)
        if proc.returncode != 0:
            raise _fail(f"grade batch -j {jobs}", proc)
        reports = sorted(out.glob("*/report.json"))
        if len(reports) != len(s.synthetic.submissions):
            raise BenchError(
                f"grade batch -j {jobs} wrote {len(reports)} reports for {len(s.synthetic.submissions)} submissions"
            )
        return elapsed, {}

    return run


def otter_parallel(s: Setup) -> tuple[float, dict]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda sub: otter_one(s, sub), s.synthetic.submissions))
    return time.perf_counter() - started, {"scores": [r[1] for r in results]}


# --- rounds -----------------------------------------------------------------------------------


def wait_for_quiet(max_load: float | None, limit_s: float = 600) -> float:
    """Wait (at most ``limit_s``) until the 1-minute load average is below ``max_load``; return it.

    On a shared machine other processes' load hits the sandboxed contestants harder than the
    host ones: with cgroup v1, all containers share the CPU weight of one host process.
    """
    deadline = time.monotonic() + limit_s
    while max_load is not None and os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def run_rounds(
    s: Setup,
    contestants: dict[str, Callable[[Setup], tuple[float, dict]]],
    rounds: int,
    label: str,
    max_load: float | None = None,
    runs_dir: Path | None = None,
) -> dict[str, Series]:
    series = {name: Series(name) for name in contestants}
    names = list(contestants)
    print(f"{label}: warm-up (not counted)", flush=True)
    for name in names:
        attempt(contestants[name], s, name)
    for r in range(rounds):
        load = wait_for_quiet(max_load)
        order = names[r % len(names) :] + names[: r % len(names)]
        line = []
        for name in order:
            elapsed, extras = attempt(contestants[name], s, name)
            series[name].times.append(elapsed)
            series[name].extras.append(extras)
            line.append(f"{name.split(' (')[0]} {elapsed:.1f}s")
        print(f"{label} round {r + 1}/{rounds} (load {load:.1f}): " + ", ".join(line), flush=True)
        runs = runs_dir or s.work / "runs"
        runs.mkdir(exist_ok=True)
        for path in runs.iterdir():
            if not path.name.startswith("job-"):  # a provisioned job (P5) stays for the next round
                shutil.rmtree(path, ignore_errors=True)
    return series


# --- P5: a script submission, whole grade against its run alone --------------------------------


@dataclass
class ScriptSetup:
    """The applied_ml reference, provisioned once (unpacked, data, dependencies) so its
    sandbox run can be repeated alone with exactly the request ``grade`` makes."""

    work: Path
    env: dict[str, str]
    staged: object
    """The provisioned submission (:class:`harness.job.Staged`)."""
    runner: Callable


def prepare_script(work: Path) -> ScriptSetup:
    from harness.api import docker_runner
    from harness.assignments import find_assignment
    from harness.pipeline import GradeOptions, Job, stage
    from harness.settings import Settings

    env = dict(os.environ, PYTHONPATH=str(REPO))
    settings = Settings.from_env(env)
    runner, tag, python = docker_runner(None, settings)
    (work / "p5").mkdir(parents=True, exist_ok=True)
    job = Job(
        source=SCRIPT_SUBMISSION,
        settings=settings,
        options=GradeOptions(image=tag, image_python=python),
        job_dir=Path(tempfile.mkdtemp(prefix="job-", dir=work / "p5")),
        runner=runner,
        assignment=find_assignment(SCRIPT_ASSIGNMENT, settings),
    )
    record = stage(job)
    staged = record.staged
    if staged is None or staged.entry is None:
        raise BenchError(f"the applied_ml reference has no entry point: {[m.text for m in record.messages]}")
    for path in {staged.unpacked.root, job.job_dir / "submission"}:  # as run_sandbox does: the sandbox's uid reads it
        os.chmod(path, 0o755)
    return ScriptSetup(work=work, env=env, staged=staged, runner=runner)


def script_alone(p: ScriptSetup) -> tuple[float, dict]:
    from harness.pipeline import sandbox_request
    from sandbox.runner import make_job_dirs

    staged = p.staged
    dirs = make_job_dirs(Path(tempfile.mkdtemp(prefix="alone-", dir=p.work / "p5")) / "run")
    request = sandbox_request(staged, staged.entry.command(staged.assignment), dirs, trusted=True)
    started = time.perf_counter()
    run = p.runner(request)
    elapsed = time.perf_counter() - started
    if run.verdict.value != "ok":
        raise BenchError(f"the applied_ml reference alone in the sandbox: verdict {run.verdict.value}")
    return elapsed, {"in_container_s": run.duration_s}


def script_grade(p: ScriptSetup) -> tuple[float, dict]:
    out = Path(tempfile.mkdtemp(prefix="grade-", dir=p.work / "p5"))
    cmd = [GRADE, str(SCRIPT_SUBMISSION), "--assignment", str(SCRIPT_ASSIGNMENT), "-o", str(out)]
    elapsed, proc = run_timed(cmd, env=p.env)
    if proc.returncode != 0:
        raise _fail("grade of the applied_ml reference", proc)
    report = json.loads((out / "report.json").read_text())
    if report["status"] != "graded" or report["sandbox"]["verdict"] != "ok":
        raise BenchError(
            f"grade of the applied_ml reference: {report['status']}, verdict {report['sandbox']['verdict']}"
        )
    timings = {k: v for k, v in report["timings"].items() if isinstance(v, (int, float)) and k != "started_at"}
    timings["in_container_s"] = report["sandbox"].get("duration_s")
    for result in report.get("graders", []):
        if isinstance(result, dict) and result.get("duration_s") is not None:
            timings[f"grader {result.get('grader')}"] = result["duration_s"]
    return elapsed, timings


P5_GRADE = "holdout: grade (script, applied_ml reference)"
P5_ALONE = "the same script alone in the sandbox"


def p5(work: Path, rounds: int, max_load: float | None = None) -> list[str]:
    setup = prepare_script(work)
    contestants = {P5_GRADE: script_grade, P5_ALONE: script_alone}
    series = run_rounds(setup, contestants, rounds, "P5", max_load, runs_dir=work / "p5")  # type: ignore[arg-type]
    grade, alone = series[P5_GRADE], series[P5_ALONE]
    med, lo, hi = paired(grade, alone)
    lines = [f"P5: one script submission, {rounds} interleaved rounds", *(x.line() for x in series.values())]
    lines.append(
        f"P5 grade / alone: {med:.2f} (per-round min {lo:.2f}, max {hi:.2f}; ratio of medians "
        f"{grade.median / alone.median:.2f}); target <= {TARGETS['p5']:.2f}: {'met' if med <= TARGETS['p5'] else 'MISSED'}"
    )
    keys = sorted({k for e in grade.extras for k in e}, key=lambda k: (k.startswith("grader "), k == "total_s", k))
    parts = [f"{k} {statistics.median(e[k] for e in grade.extras if e.get(k) is not None):.2f}" for k in keys]
    lines.append("   grade's stages (median s; the graders marked early ran beside the run): " + ", ".join(parts))
    return lines


P1_GRADE = "holdout: grade (sandboxed, scored)"
P1_BARE = "jupyter nbconvert --execute (host, bare)"
P1_OTTER = "otter run (host, unsandboxed)"
P1_NBGRADER = "nbgrader autograde (host, unsandboxed)"
P1_TREE = "holdout: grade from --compare-tree"
P2_PARALLEL = "holdout: grade batch -j 2"
P2_SERIAL = "holdout: grade batch -j 1"
P2_OTTER = "otter run, 2 in parallel"


def p1(
    s: Setup,
    rounds: int,
    *,
    otter: bool,
    nbgrader: bool,
    compare_tree: Path | None = None,
    max_load: float | None = None,
) -> list[str]:
    contestants = {P1_GRADE: holdout_grade, P1_BARE: bare_nbconvert}
    if compare_tree is not None:
        contestants[P1_TREE] = lambda s: holdout_grade(s, compare_tree)
    if otter:
        contestants[P1_OTTER] = otter_single
    if nbgrader:
        contestants[P1_NBGRADER] = nbgrader_autograde
    series = run_rounds(s, contestants, rounds, "P1", max_load)
    grade, bare = series[P1_GRADE], series[P1_BARE]
    lines = [f"P1: one notebook submission, {rounds} interleaved rounds", *(x.line() for x in series.values())]
    med, lo, hi = paired(grade, bare)
    verdict = "met" if med <= TARGETS["p1"] else "MISSED"
    lines.append(
        f"P1 grade / nbconvert: {med:.2f} (per-round min {lo:.2f}, max {hi:.2f}; ratio of medians "
        f"{grade.median / bare.median:.2f}); target <= {TARGETS['p1']:.2f}: {verdict}"
    )
    for name in (P1_TREE, P1_OTTER, P1_NBGRADER):
        if name in series:
            med, lo, hi = paired(series[name], bare)
            lines.append(f"   {name.split(' (')[0]} / nbconvert: {med:.2f} (min {lo:.2f}, max {hi:.2f})")
    keys = ("load_graders", "run_sandbox", "in_container_s", "run_graders", "total_s")
    parts = [
        f"{k} {statistics.median(e[k] for e in grade.extras if e.get(k) is not None):.2f}"
        for k in keys
        if any(e.get(k) is not None for e in grade.extras)
    ]
    lines.append("   grade's own timings (median s): " + ", ".join(parts))
    return lines


def p2(s: Setup, rounds: int, *, otter: bool, max_load: float | None = None) -> list[str]:
    contestants = {P2_PARALLEL: batch(2), P2_SERIAL: batch(1)}
    if otter:
        contestants[P2_OTTER] = otter_parallel
    series = run_rounds(s, contestants, rounds, "P2", max_load)
    par, ser = series[P2_PARALLEL], series[P2_SERIAL]
    lines = [
        f"P2: {len(s.synthetic.submissions)} notebook submissions, {rounds} interleaved rounds",
        *(x.line() for x in series.values()),
    ]
    med, lo, hi = paired(ser, par, 2.0)
    lines.append(
        f"P2 parallel efficiency, serial / (2 x parallel): {med:.0%} (per-round min {lo:.0%}, max {hi:.0%}; "
        f"from medians {ser.median / (2 * par.median):.0%}); target >= {TARGETS['p2_efficiency']:.0%}: "
        f"{'met' if med >= TARGETS['p2_efficiency'] else 'MISSED'}"
    )
    if otter:
        med, lo, hi = paired(par, series[P2_OTTER])
        lines.append(
            f"P2 batch -j 2 / otter x2: {med:.2f} (per-round min {lo:.2f}, max {hi:.2f}; ratio of medians "
            f"{par.median / series[P2_OTTER].median:.2f}); target <= {TARGETS['p2_vs_otter']:.2f}: "
            f"{'met' if med <= TARGETS['p2_vs_otter'] else 'MISSED'}"
        )
    return lines


def external(script: str, label: str, env: dict[str, str]) -> list[str]:
    """Run another bench script as it is and return its output (or why it could not run)."""
    path = BENCH / script
    if not path.is_file():
        return [f"{label}: bench/{script} not present, skipped"]
    print(f"{label}: python bench/{script}", flush=True)
    proc = subprocess.run([sys.executable, str(path)], check=False, env=env, cwd=REPO, capture_output=True, text=True)
    lines = [f"{label}: python bench/{script}"]
    lines += [f"   {line}" for line in proc.stdout.strip().splitlines()]
    if proc.returncode != 0:
        lines.append(f"   FAILED (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or ''}")
    return lines


def machine() -> str:
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], check=False, capture_output=True, text=True
    ).stdout.strip()
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"Docker {docker or '?'}, cgroup {cgroup}; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )


def write_doc(path: Path, command: str, lines: list[str], image: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    block = "\n".join(
        [DOC_BEGIN, f"Latest run: {stamp}, sandbox image `{image}`.", "", "```", f"$ {command}", *lines, "```", DOC_END]
    )
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if DOC_BEGIN in text and DOC_END in text:
        head, _, rest = text.partition(DOC_BEGIN)
        _, _, tail = rest.partition(DOC_END)
        text = head + block + tail
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="Interleaved rounds per part (default 7).")
    parser.add_argument("--only", default="p1,p2,p3,p4,p5", help="Comma-separated parts to run (default all).")
    parser.add_argument("--no-otter", action="store_true", help="Leave out otter-grader (P2's comparison needs it).")
    parser.add_argument("--no-nbgrader", action="store_true", help="Leave out nbgrader (a P1 comparison only).")
    parser.add_argument("--doc", type=Path, help="Rewrite the generated section of this Markdown file.")
    parser.add_argument(
        "--max-load",
        type=float,
        help="Before each round, wait (up to 10 min) until the 1-minute load average is below this (shared machines).",
    )
    parser.add_argument("--submissions", type=int, default=12, help="P2's batch size (default 12).")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temp dir).")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        help="P1 also times `grade` running the harness code in this "
        "folder (a copy of harness/, graders/, sandbox/ from before a change), interleaved.",
    )
    args = parser.parse_args()
    parts = {p.strip().lower() for p in args.only.split(",") if p.strip()}
    otter, nbgrader = not args.no_otter, not args.no_nbgrader and "p1" in parts
    command = "python bench/" + Path(__file__).name + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    work = args.keep or Path(tempfile.mkdtemp(prefix="holdout-grading-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lines: list[str] = []
    try:
        if parts & {"p1", "p2"}:
            s = prepare(work, otter=otter, nbgrader=nbgrader, submissions=args.submissions)
            if "p1" in parts:
                lines += p1(
                    s,
                    args.rounds,
                    otter=otter,
                    nbgrader=nbgrader,
                    compare_tree=args.compare_tree,
                    max_load=args.max_load,
                )
            if "p2" in parts:
                lines += p2(s, args.rounds, otter=otter, max_load=args.max_load)
        if "p5" in parts:
            lines += p5(work, args.rounds, args.max_load)
        if "p3" in parts:
            lines += external(
                "rag_metrics_speed.py", "P3 (offline RAG metrics, target <= 10 ms per question)", dict(os.environ)
            )
        if "p4" in parts:
            lines += external("quality_speed.py", "P4 (quality stage, target <= 0.1 s per kLOC)", dict(os.environ))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    lines.append(f"machine: {machine()}")
    lines.append(f"benchmark wall time: {time.perf_counter() - started:.0f} s")
    print("\n" + "\n".join(lines))
    if args.doc:
        write_doc(args.doc, command, lines, runtime_image())
        print(f"\nwrote {args.doc}")


def runtime_image() -> str:
    from sandbox.image import runtime_tag

    return runtime_tag()


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"benchmark aborted: {exc}")
