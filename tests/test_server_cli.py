"""``grade admin`` and ``grade submit`` as a user meets them: help, printed secrets, errors
that say what to do, and exit codes like ``grade``."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from harness.cli import cli
from harness.server.cli import exit_code


def run(args, capsys):
    from harness.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_every_server_command_has_help():
    for name in ("serve", "admin", "submit"):
        assert cli.commands[name].help
    for name in ("create-user", "create-token"):
        assert cli.commands["admin"].commands[name].help


def test_admin_creates_a_user_and_a_token_once(tmp_path, capsys):
    data = str(tmp_path / "d")
    code, out, _ = run(["admin", "create-user", "boss", "--role", "admin", "--data", data], capsys)
    assert code == 0 and "password: " in out and len(out.split("password: ")[1].strip()) >= 12
    code, _, err = run(["admin", "create-user", "boss", "--role", "admin", "--data", data], capsys)
    assert code == 2 and "already exists" in err
    code, _, err = run(["admin", "create-user", "../x", "--role", "admin", "--data", data], capsys)
    assert code == 2 and "invalid reviewer name" in err
    code, out, _ = run(["admin", "create-token", "--user", "boss", "--data", data], capsys)
    token = out.strip()
    assert code == 0 and token.startswith("hd_") and len(token) > 40
    assert token.encode() not in (tmp_path / "d" / "grade.db").read_bytes()
    code, _, err = run(["admin", "create-token", "--user", "nobody", "--data", data], capsys)
    assert code == 2 and "create-user" in err


def test_submit_without_a_server_or_token_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADE_TOKEN", raising=False)
    archive = tmp_path / "s.zip"
    archive.write_bytes(b"PK")
    code, _, err = run(["submit", "http://127.0.0.1:9", str(archive), "--round", "1"], capsys)
    assert code == 2 and "GRADE_TOKEN" in err
    code, _, err = run(["submit", "http://127.0.0.1:9", str(archive), "--round", "1", "--token", "t"], capsys)
    assert code == 4 and "cannot reach the server" in err


@pytest.mark.parametrize(
    "state,fail_under,code",
    [
        ({"status": "graded", "score": 70.0}, None, 0),
        ({"status": "graded", "score": 50.0}, 60, 1),
        ({"status": "graded", "score": 70.0}, 60, 0),
        ({"status": "rejected", "score": None}, 60, 3),
        ({"status": "failed", "score": None}, None, 4),
        ({"status": "needs_review", "score": None}, None, 4),
    ],
)
def test_submit_exit_codes_match_grade(state, fail_under, code):
    assert exit_code(state, fail_under) == code


def test_serve_checks_its_engine_options_before_starting(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADE_BROKER", raising=False)
    monkeypatch.delenv("GRADE_STORE", raising=False)
    data = str(tmp_path / "d")
    code, _, err = run(["serve", "--data", data, "--engine", "celery", "--store", str(tmp_path)], capsys)
    assert code == 2 and "--engine celery needs --broker URL and --store DIR" in err
    code, _, err = run(["serve", "--data", data, "--broker", "amqp://127.0.0.1//"], capsys)
    assert code == 2 and "--broker and --store are for --engine celery" in err
    assert not (tmp_path / "d").exists()  # refused before anything was created
