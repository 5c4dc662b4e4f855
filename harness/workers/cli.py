"""``grade worker`` and ``grade status``: the distributed commands (``grade batch --engine
celery`` is an option of ``grade batch``). Registered on the main group by :func:`register`."""

from __future__ import annotations

import json
import os
import socket
import sys

import click

from harness.settings import Settings


@click.command("worker")
@click.option(
    "--broker",
    required=True,
    envvar="GRADE_BROKER",
    show_envvar=True,
    help="Broker URL: amqp://HOST:5672// (RabbitMQ) or redis://HOST:6379/0.",
)
@click.option(
    "--store",
    required=True,
    envvar="GRADE_STORE",
    show_envvar=True,
    help="The shared store: the folder the batch submits to, mounted here, or s3://BUCKET/PREFIX.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Sandbox slots: submissions this machine grades at once.",
)
@click.option(
    "-Q",
    "--queues",
    multiple=True,
    help="Take jobs only for these assignments (ids, repeatable or comma-separated; default: all known).",
)
@click.option(
    "--broker-timeout",
    type=float,
    help="Seconds the broker waits for an ack before giving a task to another worker: RabbitMQ's "
    "consumer_timeout as configured (default 1800), or the Redis visibility timeout to set "
    "(default 3600). Must exceed the longest assignment's grading limit.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Lost attempts (worker killed while grading) after which a submission gets needs_review.",
)
@click.option("--image", help="Sandbox image tag to use (default: the current content-hashed tag).")
@click.option("-n", "--hostname", help="Celery node name (default: holdout-<host>-<pid>@<host>).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery log level (DEBUG, INFO, WARNING).")
def worker_cmd(
    broker: str,
    store: str,
    concurrency: int,
    queues: tuple[str, ...],
    broker_timeout: float | None,
    max_attempts: int,
    image: str | None,
    hostname: str | None,
    loglevel: str,
) -> None:
    """Grade submissions sent by `grade batch --engine celery`, CONCURRENCY at a time."""
    from harness.workers.app import (
        check_broker_timeout,
        default_broker_timeout_s,
        make_app,
        worker_queues,
    )
    from harness.workers.store_address import open_store

    settings = Settings.from_env()
    names, specs = worker_queues(settings, tuple(q for arg in queues for q in arg.split(",") if q))
    timeout = broker_timeout or default_broker_timeout_s(broker)
    check_broker_timeout(broker, timeout, specs)
    shared = open_store(store)
    shared.check_usable()
    _require_sandbox(image or settings.image, settings)
    app = make_app(broker, broker_timeout_s=timeout, store=shared.location, image=image, max_attempts=max_attempts)
    host = socket.gethostname()
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        "-Q",
        ",".join(names),
        "-n",
        hostname or f"holdout-{host}-{os.getpid()}@{host}",
        "--without-gossip",
        "--without-mingle",
    ]
    click.echo(f"holdout worker: {concurrency} slot(s), queues {', '.join(names)}, store {shared.location}", err=True)
    app.worker_main(argv)


def _require_sandbox(image: str | None, settings: Settings) -> None:
    """Refuse to start without an engine or the sandbox image (every job would fail)."""
    from sandbox.engine import connect
    from sandbox.image import require_image, runtime_tag

    require_image(connect(), image or runtime_tag())


@click.command("status")
@click.argument("key")
@click.option(
    "--store",
    required=True,
    envvar="GRADE_STORE",
    show_envvar=True,
    help="The shared store (a folder or s3://BUCKET/PREFIX).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_cmd(key: str, store: str, as_json: bool) -> None:
    """Where the submission KEY stands in the store: graded, grading, queued or error."""
    from harness.workers.store_address import open_store

    info = open_store(store).find(key).status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        sys.exit(0)
    line = f"{info['key']}  {info['name']}  ({info['assignment']} {info['assignment_version']})\n{info['state']}"
    if info["state"] == "graded":
        score = "–" if info["score"] is None else f"{info['score']:.1f}"
        line += f": {info['status']}, score {score}\nreport: {info['report']}"
    elif info["state"] == "error":
        line += f" ({info['error_state']}): {info['error']}"
    elif info["state"] == "grading":
        line += f": attempt {info['attempt']}"
    click.echo(line + f"\nattempts: {info['attempts']} ({info['lost_attempts']} lost)")
    sys.exit(0)


def register(group: click.Group) -> None:
    group.add_command(worker_cmd)
    group.add_command(status_cmd)
