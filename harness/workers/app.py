"""The Celery app: late acks, a lost worker's task requeued, one task at a time per slot.

Messages carry a key and the store's path, never a submission: the store is the source of
truth and Celery keeps no results (``task_ignore_result``). Queues are per assignment
(``holdout.<id>``, plus ``holdout.default`` for submissions whose assignment is unknown).

Start-up check: a broker that hands an unacknowledged task to another worker before the first
one finishes (RabbitMQ's ``consumer_timeout``, Redis' ``visibility_timeout``) makes two
healthy workers grade the same submission. :func:`check_broker_timeout` refuses a timeout
shorter than the longest grading an assignment allows.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.errors import ConfigError
from harness.settings import Settings
from harness.spec import AssignmentSpec
from harness.workers import DEFAULT_QUEUE

RABBITMQ_DEFAULT_CONSUMER_TIMEOUT_S = 1800.0
"""RabbitMQ's ``consumer_timeout`` since 3.8.15 (30 minutes)."""
REDIS_DEFAULT_VISIBILITY_TIMEOUT_S = 3600.0
"""What the worker configures Celery's Redis transport with unless told otherwise."""
HOST_MARGIN_S = 120.0
"""Host-side work around the containers: intake, data, scoring, reports."""


def broker_kind(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "rabbitmq"
    if scheme in ("redis", "rediss"):
        return "redis"
    raise ConfigError(
        f"unsupported broker URL {url!r}", hint="Use amqp://HOST:5672// (RabbitMQ, the default) or redis://HOST:6379/0."
    )


def redact(url: str | None) -> str:
    """A broker URL fit for a log line: its password replaced by ``***``."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def default_broker_timeout_s(url: str) -> float:
    return RABBITMQ_DEFAULT_CONSUMER_TIMEOUT_S if broker_kind(url) == "rabbitmq" else REDIS_DEFAULT_VISIBILITY_TIMEOUT_S


def grading_limit_s(spec: AssignmentSpec) -> float:
    """The longest one grading of this assignment may take: the candidate's run, installing
    its dependencies, every grader's own sandbox runs, and the host's work around them."""
    total = spec.sandbox.timeout_s + HOST_MARGIN_S
    if spec.dependencies.enabled:
        total += spec.dependencies.install_timeout_s
    for grader in spec.graders:
        value = grader.config.get("timeout_s")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            total += float(value)
    return total


def check_broker_timeout(url: str, timeout_s: float, specs: dict[str, AssignmentSpec]) -> None:
    """Refuse a broker timeout shorter than the longest assignment's grading limit."""
    if not specs:
        return
    name, longest = max(((k, grading_limit_s(s)) for k, s in specs.items()), key=lambda kv: kv[1])
    if timeout_s >= longest:
        return
    if broker_kind(url) == "rabbitmq":
        what = "RabbitMQ's consumer_timeout"
        fix = (
            f"Set `consumer_timeout = {int(longest * 1000) * 2}` (milliseconds) in rabbitmq.conf, restart "
            f"RabbitMQ, and pass --broker-timeout {int(longest) * 2}."
        )
    else:
        what = "the Redis visibility_timeout"
        fix = f"Pass --broker-timeout {int(longest) * 2} (it sets the visibility timeout)."
    raise ConfigError(
        f"{what} ({timeout_s:g} s) is shorter than the longest grading assignment {name!r} allows "
        f"({longest:g} s): the broker would hand a task that is still being graded to a second worker",
        hint=fix,
    )


def make_app(broker: str, *, broker_timeout_s: float | None = None, **holdout_conf):
    """The Celery app for ``broker``; ``holdout_conf`` (store, image, max_attempts, lease_ttl_s)
    reaches the task through ``app.conf.holdout``."""
    try:
        from celery import Celery
    except ImportError:
        raise ConfigError(
            "Celery is not installed", hint="Install the distributed extra: pip install 'holdout[distributed]'."
        ) from None
    from harness.workers.tasks import register

    kind = broker_kind(broker)
    app = Celery("holdout", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker restart must not end a worker
        task_publish_retry=True,
        worker_send_task_events=False,
        holdout=holdout_conf,
    )
    if kind == "redis":
        app.conf.broker_transport_options = {
            "visibility_timeout": broker_timeout_s or REDIS_DEFAULT_VISIBILITY_TIMEOUT_S
        }
    register(app)
    return app


def worker_queues(settings: Settings, queues: tuple[str, ...]) -> tuple[list[str], dict[str, AssignmentSpec]]:
    """The queues to consume (``holdout.<id>`` per assignment; all known ones by default) and
    the specs of the assignments behind them (for the start-up check)."""
    from harness.assignments import find_assignment, list_assignments

    ids = list(queues) or sorted(list_assignments(settings))
    specs = {}
    for ref in ids:
        aid = ref.removeprefix("holdout.")
        if aid != "default":
            specs[aid] = find_assignment(aid, settings, allow_path=False).spec
    names = [DEFAULT_QUEUE] + [f"holdout.{aid}" for aid in specs]
    return names, specs
