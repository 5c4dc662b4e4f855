"""Every subcommand ends with the exit code the README's table documents, for the same cause the
same code everywhere: 0 done; 1 below --fail-under / a check missed; 2 usage or configuration
(a bad option, a path that does not exist, an unknown assignment); 3 submission rejected; 4
infrastructure (no engine) or a holdout bug (an unexpected exception: a crash file, in every
subcommand); 141 stdout closed (tests/test_crash_exit.py)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import click
import pytest

from harness.cli import EXIT_BELOW, EXIT_INFRA, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, cli, main


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


LEAVES = [" ".join(c) for c in leaf_commands()]


def _bug(*args, **kwargs):
    raise ZeroDivisionError("a bug deep in holdout")


def exit_of(argv: list[str]) -> int:
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code
    return EXIT_OK  # returned normally: the process exits 0


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GRADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def places(tmp_path) -> dict[str, Path]:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "predict.py").write_text("print(1)\n")
    folder = tmp_path / "round"
    folder.mkdir()
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("submission,reviewer\n")
    archive = tmp_path / "sub.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return {"sub": sub, "dir": folder, "file": sheet, "zip": archive, "tmp": tmp_path}


# command -> (argv, the function a bug is planted in)
CRASHES: dict[str, tuple[list[str], str]] = {
    "submission": (["{sub}"], "harness.api.grade"),
    "batch": (["batch", "{sub}", "-o", "{tmp}/out"], "harness.batch.grade_batch"),
    "doctor": (["doctor"], "harness.doctor.run_doctor"),
    "sandbox build": (["sandbox", "build"], "sandbox.engine.connect"),
    "sandbox prune": (["sandbox", "prune"], "sandbox.engine.connect"),
    "sandbox tag": (["sandbox", "tag"], "sandbox.image.runtime_tag"),
    "data prepare": (["data", "prepare", "applied_ml"], "harness.data.prepare_assignment"),
    "list": (["list", "graders"], "graders.registry.default_registry"),
    "schema": (["schema"], "harness.models.GradeReport.model_json_schema"),
    "new": (["new", "{tmp}/fresh"], "harness.authoring.new.new_assignment"),
    "check": (["check", "applied_ml"], "harness.authoring.check.check_assignment"),
    "kit": (["kit", "applied_ml", "-o", "{tmp}/kit.zip"], "harness.authoring.kit.build_kit"),
    "selfcheck": (["selfcheck", "{sub}"], "harness.authoring.selfcheck.selfcheck"),
    "review record": (["review", "record", "{dir}", "--reviewer", "ann"], "harness.panel.reviews.check_reviewer"),
    "review import": (["review", "import", "{file}", "--round", "{dir}"], "harness.panel.round.load_reports"),
    "review export": (["review", "export", "{dir}"], "harness.panel.round.load_reports"),
    "panel show": (["panel", "show", "{dir}"], "harness.panel.calibration.calibrate_round"),
    "panel alpha": (["panel", "alpha", "{file}"], "harness.panel.alpha.matrix_from_csv"),
    "similarity": (["similarity", "{dir}"], "harness.panel.round.similarity_round"),
    "unblind": (["unblind", "{dir}"], "harness.panel.round.unblind"),
    "serve": (["serve", "--data", "{tmp}/srv"], "harness.server.app.create_app"),
    "admin create-user": (
        ["admin", "create-user", "ann", "--role", "admin", "--data", "{tmp}/srv"],
        "harness.server.db.make_engine",
    ),
    "admin create-token": (
        ["admin", "create-token", "--user", "ann", "--data", "{tmp}/srv"],
        "harness.server.db.make_engine",
    ),
    "submit": (
        ["submit", "http://127.0.0.1:9", "{zip}", "--round", "1", "--token", "t"],
        "harness.server.client.Client.submit",
    ),
    "worker": (["worker", "--broker", "memory://", "--store", "{dir}"], "harness.workers.app.worker_queues"),
    "status": (["status", "abc123", "--store", "{dir}"], "harness.workers.store.Store.find"),
}


def _fill(argv: list[str], places: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in places.items()}) for a in argv]


def test_every_subcommand_has_a_crash_case():
    assert sorted(CRASHES) == sorted(LEAVES), "add the new command to CRASHES (and to the README's exit-code table)"


@pytest.mark.parametrize("command", LEAVES)
def test_an_unexpected_exception_is_exit_4_with_a_crash_file(command, cache, places, monkeypatch, capsys):
    argv, target = CRASHES[command]
    monkeypatch.setattr(target, _bug)
    assert exit_of(_fill(argv, places)) == EXIT_INFRA
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error: ZeroDivisionError: a bug deep in holdout" in err
    found = re.search(r"the traceback is in (\S+\.txt)", err)
    assert found, err
    crash = Path(found[1])
    assert crash.parent == cache / "crashes"
    assert "ZeroDivisionError: a bug deep in holdout" in crash.read_text()


@pytest.mark.parametrize("command", LEAVES)
def test_an_unknown_option_is_exit_2(command, capsys):
    assert exit_of([*command.split(), "--no-such-flag"]) == EXIT_USAGE
    assert "no-such-flag" in capsys.readouterr().err


MISSING_PATH = {
    "submission": ["{tmp}/nope.zip"],
    "batch": ["batch", "{tmp}/nope"],
    "selfcheck": ["selfcheck", "{tmp}/nope"],
    "submit": ["submit", "http://127.0.0.1:9", "{tmp}/nope.zip", "--round", "1", "--token", "t"],
    "review import": ["review", "import", "{tmp}/nope.csv"],
    "review export": ["review", "export", "{tmp}/nope"],
    "panel show": ["panel", "show", "{tmp}/nope"],
    "panel alpha": ["panel", "alpha", "{tmp}/nope.csv"],
    "similarity": ["similarity", "{tmp}/nope"],
    "unblind": ["unblind", "{tmp}/nope"],
    "check": ["check", "{tmp}/nope"],
}


@pytest.mark.parametrize("command", sorted(MISSING_PATH))
def test_a_path_that_does_not_exist_is_exit_2_everywhere(command, places, capsys):
    assert exit_of(_fill(MISSING_PATH[command], places)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["{sub}", "--assignment", "applied_mll"],
        ["check", "applied_mll"],
        ["kit", "applied_mll"],
        ["data", "prepare", "applied_mll"],
    ],
    ids=["submission", "check", "kit", "data_prepare"],
)
def test_an_unknown_assignment_is_exit_2_with_a_suggestion(argv, places, capsys):
    assert exit_of(_fill(argv, places)) == EXIT_USAGE
    assert "did you mean 'applied_ml'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["list", "metrics"], ["schema", "--assignment"], ["sandbox", "tag"]])
def test_done_is_exit_0(argv):
    assert exit_of(argv) == EXIT_OK


def test_below_fail_under_is_exit_1(places, monkeypatch, capsys):
    from harness.models import ReportStatus
    from tests.sample_reports import realistic_report

    report = realistic_report().model_copy(update={"score": 54.6, "status": ReportStatus.GRADED})
    monkeypatch.setattr("harness.api.grade", lambda *a, **k: report)
    assert exit_of([places["sub"], "--fail-under", "60", "-o", places["tmp"] / "r"]) == EXIT_BELOW
    assert "score 54.6 is below --fail-under 60" in capsys.readouterr().err


def test_a_rejected_archive_is_exit_3(places, monkeypatch, capsys):
    """The real intake refuses the archive; the engine is never needed for that."""

    def no_engine(image, settings):
        return (lambda request: pytest.fail("a rejected archive must not run")), "none", None

    monkeypatch.setattr("harness.api.docker_runner", no_engine)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.py", "print(1)\n")
        zf.writestr("predict.py", "print(1)\n")
    evil = places["tmp"] / "evil.zip"
    evil.write_bytes(buf.getvalue())
    assert exit_of([evil, "--assignment", "applied_ml", "-o", places["tmp"] / "r"]) == EXIT_REJECTED


NO_ENGINE = {
    "submission": ["{sub}", "--assignment", "applied_ml", "-o", "{tmp}/r"],
    "doctor": ["doctor"],
    "sandbox build": ["sandbox", "build"],
    "sandbox prune": ["sandbox", "prune"],
}


@pytest.mark.parametrize("command", sorted(NO_ENGINE))
def test_no_engine_is_exit_4_with_a_hint(command, places, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{places['tmp']}/no-such-docker.sock")
    assert exit_of(_fill(NO_ENGINE[command], places)) == EXIT_INFRA
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    assert "Docker" in out.err + out.out
