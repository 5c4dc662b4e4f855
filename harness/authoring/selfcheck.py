"""``grade selfcheck [SUBMISSION]``: the candidate's contract check against the kit's dev split.

With Docker (and the sandbox image) here, the submission's entry point runs on the kit's
``dev/data`` in the same sandbox as grading (same image, protections and limits, ``/data`` laid
out the same way); without, it says so and checks the output of the candidate's own run
(``--outputs``). Then each declared output is checked as the grader will read it: present, a
regular file, the columns, one row per dev id, valid labels and probabilities. Plain messages;
nothing here is a score. Dependencies from ``requirements.txt`` are not installed here (grading
installs them), so a run that needs them is reported with that note.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.authoring.devsplit import CONTRACT_FILE
from harness.errors import ConfigError, InfrastructureError
from harness.settings import Settings

MAX_OUTPUT_BYTES = 64 * 2**20


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class SelfCheck:
    checks: list[Check] = field(default_factory=list)
    ran: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def find_kit(submission: Path, kit: Path | None) -> Path:
    """The kit folder: ``kit``, or the submission folder itself (a kit being worked in)."""
    for place in [kit] if kit is not None else [submission, submission.parent]:
        if place is not None and (place / CONTRACT_FILE).is_file():
            return place
    where = kit if kit is not None else submission
    raise ConfigError(
        f"no dev split at {where} (expected {CONTRACT_FILE})",
        hint="Run `grade selfcheck` in your starter kit's folder, or pass --kit KIT_FOLDER "
        "(a kit built by `grade kit` for an assignment that declares [kit.dev]).",
    )


def load_contract(kit: Path) -> dict:
    from harness.safeio import UntrustedDataError, read_json

    try:
        data = read_json(kit / CONTRACT_FILE, max_bytes=1 << 20, max_depth=16)
    except UntrustedDataError as exc:
        raise ConfigError(f"{kit / CONTRACT_FILE}: {exc}", hint="Unpack the starter kit again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
        raise ConfigError(f"{kit / CONTRACT_FILE} is not a kit contract", hint="Unpack the starter kit again.")
    return data


def selfcheck(
    submission: Path,
    settings: Settings,
    *,
    kit: Path | None = None,
    outputs: Path | None = None,
    image: str | None = None,
    runner=None,
) -> SelfCheck:
    """Run (or take the outputs of) ``submission`` on the kit's dev split and check them."""
    submission = Path(submission)
    if not submission.exists():
        raise ConfigError(f"{submission} does not exist", hint="Pass your submission folder or zip (default: .).")
    kit_dir = find_kit(submission if submission.is_dir() else submission.parent, kit)
    contract = load_contract(kit_dir)
    result = SelfCheck()
    with tempfile.TemporaryDirectory(prefix="holdout-selfcheck-") as tmp:
        if outputs is None:
            outputs = _run(submission, kit_dir, contract, settings, Path(tmp), result, image=image, runner=runner)
        else:
            result.add("outputs", outputs.is_dir(), f"checking {outputs} (your own run; not run here)")
            if not outputs.is_dir():
                return result
        if outputs is not None:
            for spec in contract["outputs"]:
                _check_output(outputs, spec, kit_dir / contract["dev"]["data"], result)
    return result


def _run(submission, kit_dir, contract, settings, tmp: Path, result: SelfCheck, *, image, runner) -> Path | None:
    import os

    from harness.intake import unpack_submission
    from harness.spec import SandboxSpec
    from sandbox.runner import ENTRY, Mount, RunRequest, make_job_dirs

    unpacked = unpack_submission(submission, tmp / "submission")  # what grading would see, checked the same way
    os.chmod(unpacked.root, 0o755)
    entry = contract["entry"]
    script, notebook = entry.get("script"), entry.get("notebook")
    if script and (unpacked.root / script).is_file():
        command = [*ENTRY, "script", script]
    elif notebook and (unpacked.root / notebook).is_file():
        command = [*ENTRY, "notebook", notebook, "--cell-timeout", f"{float(entry.get('cell_timeout_s') or 120):g}"]
    else:
        expected = " or ".join(n for n in (script, notebook) if n)
        result.add("entry point", False, f"no {expected} at the submission root")
        return None
    result.add("entry point", True, command[2] + " " + command[3])
    if runner is None:
        try:
            from harness.api import docker_runner

            runner, _tag, _python = docker_runner(image, settings)
        except InfrastructureError as exc:
            result.add(
                "sandbox run",
                False,
                f"not run: {exc.message}. Without the sandbox, run it yourself: "
                f"DATA_DIR={contract['dev']['data']} OUTPUT_DIR=out {_local(command)}, "
                "then `grade selfcheck --outputs out`",
            )
            return None
    box = contract.get("sandbox") or {}
    limits = SandboxSpec(
        timeout_s=float(box.get("timeout_s", 300)),
        memory_mb=int(box.get("memory_mb", 2048)),
        cpus=float(box.get("cpus", 1)),
    )
    dirs = make_job_dirs(tmp / "run")
    request = RunRequest(
        image="",
        command=command,
        limits=limits,
        mounts=(
            Mount(unpacked.root, "/submission"),
            Mount((kit_dir / contract["dev"]["data"]).resolve(), "/data"),
            *dirs.mounts(trusted=True),
        ),
        env={"DATA_DIR": "/data", "OUTPUT_DIR": "/output"},
        labels={"io.holdout.selfcheck": "1"},
    )
    run = runner(request)
    result.ran = True
    verdict = getattr(run.verdict, "value", str(run.verdict))
    ok = verdict in ("ok", "no_output")  # a missing output file is reported below, by name
    detail = f"{verdict}, exit code {run.exit_code}, {run.duration_s:.1f} s of {limits.timeout_s:g} s"
    if not ok and run.stderr is not None and run.stderr.text.strip():
        detail += "\n" + "\n".join(run.stderr.text.strip().splitlines()[-8:])
    if not ok and (unpacked.root / "requirements.txt").is_file():
        result.notes.append("requirements.txt is not installed by selfcheck (grading installs it)")
    result.add("sandbox run", ok, detail)
    return dirs.output


def _local(command: list[str]) -> str:
    """The candidate's own way to run what ``command`` runs in the sandbox."""
    kind, path = command[2], command[3]
    return f"python {path}" if kind == "script" else f"jupyter nbconvert --to notebook --execute {path}"


def _check_output(output_dir: Path, spec: dict, dev_data: Path, result: SelfCheck) -> None:
    from graders.outputs import OutputError, open_output

    name = str(spec.get("file"))
    try:
        data = open_output(output_dir, name, MAX_OUTPUT_BYTES)
    except OutputError as exc:
        result.add(name, False, str(exc))
        return
    if "id_column" not in spec:
        result.add(name, True, f"written ({len(data)} bytes)")
        return
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        result.add(name, False, f"not a UTF-8 CSV file: {exc}")
        return
    header, body = (rows[0], rows[1:]) if rows else ([], [])
    id_col, target = spec["id_column"], spec["target_column"]
    needed = [id_col, target]
    if not result.add(
        f"{name} columns",
        all(c in header for c in needed),
        f"has {', '.join(header) or 'no header'}; needs {', '.join(needed)}"
        + (f" (optional: {spec['probability_column']})" if spec.get("probability_column") else ""),
    ):
        return
    ids = [row[header.index(id_col)] for row in body if len(row) > header.index(id_col)]
    expected = _ids(dev_data / str(spec.get("ids_from") or "test.csv"), id_col)
    missing, extra = sorted(set(expected) - set(ids)), sorted(set(ids) - set(expected))
    repeated = len(ids) - len(set(ids))
    problems = [
        f"{len(missing)} id(s) of {spec.get('ids_from')} missing (e.g. {missing[0]})" if missing else "",
        f"{len(extra)} id(s) not in {spec.get('ids_from')} (e.g. {extra[0]})" if extra else "",
        f"{repeated} id(s) repeated" if repeated else "",
    ]
    problems = [p for p in problems if p]
    result.add(f"{name} ids", not problems, "; ".join(problems) or f"one row for each of the {len(expected)} ids")
    at = header.index(target)
    values = [row[at] if len(row) > at else "" for row in body]
    if spec.get("task") == "regression":
        bad = [v for v in values if not _finite(v)]
        result.add(f"{name} {target}", not bad, f"{len(bad)} value(s) are not finite numbers" if bad else "numbers")
    elif spec.get("labels"):
        bad = sorted({v for v in values if v not in spec["labels"]})
        detail = f"unknown label(s) {', '.join(map(repr, bad[:5]))}; allowed: {', '.join(spec['labels'])}"
        result.add(f"{name} {target}", not bad, detail if bad else f"labels among {', '.join(spec['labels'])}")
    prob = spec.get("probability_column")
    if prob and prob in header:
        at = header.index(prob)
        bad = [r[at] if len(r) > at else "" for r in body if not _probability(r[at] if len(r) > at else "")]
        result.add(f"{name} {prob}", not bad, f"{len(bad)} value(s) outside [0, 1]" if bad else "numbers in [0, 1]")


def _ids(path: Path, column: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh) if row.get(column)]


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _probability(text: str) -> bool:
    return _finite(text) and 0.0 <= float(text) <= 1.0
