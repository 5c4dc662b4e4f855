"""``grade serve``, ``grade admin …`` and ``grade submit``; registered on the main CLI by
:func:`register`. Server imports happen inside the commands, so ``grade`` works without the
``[server]`` extra."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

DEFAULT_DATA = Path("grade-server")


def _db_url(db: str | None, data: Path) -> str:
    return db or os.environ.get("GRADE_SERVER_DB") or f"sqlite:///{(data / 'grade.db').absolute()}"


def _need_extra() -> None:
    try:
        import alembic  # noqa: F401
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        from harness.errors import ConfigError

        raise ConfigError(
            f"the server needs the [server] extra ({exc.name} is missing)", hint="pip install 'holdout[server]'"
        ) from None


db_option = click.option(
    "--db",
    help="Database URL: sqlite:///FILE (default: DATA/grade.db) or postgresql://USER@HOST/DB. Env: GRADE_SERVER_DB.",
)
data_option = click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Data directory: uploads, reports, the session key.",
)


@click.command()
@db_option
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Submissions graded at once (grading threads; 0: accept uploads, grade nothing).",
)
@click.option(
    "--max-upload-mb",
    type=click.IntRange(1, 4096),
    default=50,
    show_default=True,
    help="Largest upload accepted (the body is refused past it while it streams).",
)
@click.option(
    "--webhook", help="POST a JSON event here when a submission is graded (signed with GRADE_WEBHOOK_SECRET)."
)
@click.option("--secure-cookies", is_flag=True, help="Mark cookies Secure (behind an HTTPS proxy).")
@click.option(
    "--engine",
    "engine_name",
    type=click.Choice(["threads", "celery"]),
    default="threads",
    show_default=True,
    help="threads: grade in this process (--workers); celery: send jobs to `grade worker` machines.",
)
@click.option(
    "--broker",
    envvar="GRADE_BROKER",
    show_envvar=True,
    help="With --engine celery: the broker URL (amqp://HOST:5672// or redis://HOST:6379/0).",
)
@click.option(
    "--store",
    envvar="GRADE_STORE",
    show_envvar=True,
    help="With --engine celery: the shared store the workers mount (a folder, or s3://BUCKET/PREFIX).",
)
def serve(
    db: str | None,
    data: Path,
    host: str,
    port: int,
    workers: int,
    max_upload_mb: int,
    webhook: str | None,
    secure_cookies: bool,
    engine_name: str,
    broker: str | None,
    store: str | None,
) -> None:
    """Serve the upload API, the reviewers' pages and a grading queue (one process)."""
    _need_extra()
    import uvicorn

    from harness.server.app import ServerConfig, create_app

    if engine_name == "celery":
        from harness.workers.engine import require_celery_options

        require_celery_options(broker, store)
    elif broker or store:
        from harness.errors import ConfigError

        raise ConfigError("--broker and --store are for --engine celery")
    data.mkdir(parents=True, exist_ok=True)
    config = ServerConfig(
        db_url=_db_url(db, data),
        data_dir=data.absolute(),
        workers=workers,
        max_upload_mb=max_upload_mb,
        webhook_url=webhook,
        webhook_secret=os.environ.get("GRADE_WEBHOOK_SECRET"),
        secure_cookies=secure_cookies,
        engine=engine_name,
        broker=broker,
        store=store,
    )
    app = create_app(config)
    grading = f"{workers} grading thread(s)"
    if engine_name == "celery":
        from harness.workers.app import redact

        grading = f"Celery workers via {redact(broker)}, store {store}"
    click.echo(
        f"holdout server on http://{host}:{port}/  (database {config.db_url.split('@')[-1]}, data {data}; {grading})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


@click.group()
def admin() -> None:
    """Manage the server's people and API tokens (works on the database directly)."""


def _session(db: str | None, data: Path):
    _need_extra()
    from harness.server.db import make_engine, migrate, sessions

    engine = make_engine(_db_url(db, data))
    migrate(engine)
    return sessions(engine)()


@admin.command("create-user")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "reviewer"]),
    required=True,
    help="admin: every round, creates rounds and links; reviewer: scores the rounds they are on.",
)
@click.option("--password", help="Default: a generated one, printed once.")
@db_option
@data_option
def create_user(name: str, role: str, password: str | None, db: str | None, data: Path) -> None:
    """Create a user who signs in to the pages (admins manage rounds; reviewers score theirs)."""
    from harness.server import service

    data.mkdir(parents=True, exist_ok=True)
    with _session(db, data) as session:
        _, chosen = service.create_user(session, name, role, password)
        session.commit()
    click.echo(f"created {role} {name}")
    if password is None:
        click.echo(f"password: {chosen}")


@admin.command("create-token")
@click.option("--user", "user_name", required=True, help="Whose token (it acts with that user's role and rounds).")
@db_option
@data_option
def create_token(user_name: str, db: str | None, data: Path) -> None:
    """Create an API token (printed once; only its hash is stored)."""
    from harness.server import service

    with _session(db, data) as session:
        token = service.create_token(session, user_name)
        session.commit()
    click.echo(token)


@click.command()
@click.argument("url")
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--round", "round_id", type=int, required=True, help="The round's id.")
@click.option("--token", envvar="GRADE_TOKEN", help="API token (env: GRADE_TOKEN).")
@click.option("--wait", is_flag=True, help="Wait until graded; exit like `grade` (0 graded, 3 rejected, 4 failed).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON (the report's, with --wait).")
@click.option("--fail-under", type=click.FloatRange(0, 100), help="With --wait: exit 1 below this score (0-100).")
@click.option("--timeout", "timeout_s", type=float, default=3600, show_default=True, help="Seconds to wait.")
def submit(
    url: str,
    archive: Path,
    round_id: int,
    token: str | None,
    wait: bool,
    as_json: bool,
    fail_under: float | None,
    timeout_s: float,
) -> None:
    """Upload ARCHIVE to the server at URL for grading."""
    from harness.server.client import Client

    client = Client(url, token or "")
    receipt = client.submit(round_id, archive)
    if not wait:
        click.echo(
            json.dumps(receipt)
            if as_json
            else f"submission {receipt['id']} {'already received' if receipt.get('duplicate') else 'queued'} "
            f"(sha256 {receipt['sha256'][:12]}): {url.rstrip('/')}{receipt['status_url']}"
        )
        return
    state = client.wait(receipt["id"], timeout_s=timeout_s)
    if as_json:
        click.echo(json.dumps(client.report(receipt["id"]) if state["report_url"] else state))
    else:
        score = "-" if state["score"] is None else f"{state['score']:.1f}"
        note = f" ({state['error']})" if state["error"] else ""
        click.echo(f"submission {state['id']}: {state['status']}, score {score}{note}")
    sys.exit(exit_code(state, fail_under))


def exit_code(state: dict, fail_under: float | None) -> int:
    status = state["status"]
    if status == "rejected":
        return 3
    if status in ("failed", "needs_review") or (fail_under is not None and state["score"] is None):
        return 4
    return 1 if fail_under is not None and state["score"] < fail_under else 0


def register(group: click.Group) -> None:
    for command in (serve, admin, submit):
        group.add_command(command)
