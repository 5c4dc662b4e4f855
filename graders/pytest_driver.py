"""Runs pytest *inside the sandbox* for the ``pytest`` grader. Never imported on the host.

The grader copies this file (and the :mod:`pytest_bridge` package beside it) into a read-only
mount. Two ways to run:

- **hidden tests** (points): as the runner uid, started by the in-container entry after it
  has started the server of the candidate's code as the candidate uid (``entry.py pair``)::

    python -I /holdout-pytest/pytest_driver.py --results /holdout/trusted/hidden.jsonl \
        --per-test-timeout 10 --bridge /tmp/holdout-bridge/server.sock --logs - -- ... /tests

  No submission folder is on ``sys.path`` (``-I`` also drops ``PYTHONPATH``, where the
  candidate's installed requirements are): the tests reach the candidate's code only through
  the ``candidate`` fixture (:mod:`pytest_bridge.fixtures`), as data across a socket, so
  neither the tests' own imports nor anything in this process runs candidate code, and the
  results file is written where the candidate's uid cannot write.
- **the candidate's own tests** (evidence): as the candidate uid, with ``--path /submission``
  first on ``sys.path``, results in ``/output``.

It sends its own stdout/stderr to the logs folder unless ``--logs -`` (a chatty test run must
not go through the container log), and runs ``pytest.main`` with a small plugin that

- stops any single collection or test phase after ``--per-test-timeout`` seconds (SIGALRM; a
  hung test fails as ``timeout`` and the others still run — the container's wall-clock limit,
  enforced from outside, is the backstop for code that blocks the signal);
- appends one JSON object per line to ``--results`` as soon as each test finishes, so a run
  stopped at the wall-clock limit still tells which tests completed::

    {"event": "collected", "nodeids": [...]}
    {"event": "collect_error", "nodeid": "...", "message": "...", "longrepr": "..."}
    {"event": "test", "nodeid": "...", "outcome": "passed|failed|error|skipped|timeout",
     "duration_s": 0.1, "message": "...", "longrepr": "..."}
    {"event": "finished", "exit_code": 0}

The host reads the results file as untrusted data in both cases (size-capped, validated); only
the hidden tests' file, from the trusted folder, is worth points.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

LONGREPR_CHARS = 4000
SERVER_START_S = 120
MESSAGE_CHARS = 500


def _redirect_streams(logs_dir: str) -> None:
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(os.path.join(logs_dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)


def _crash_message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None:
        return str(getattr(crash, "message", ""))[:MESSAGE_CHARS]
    text = str(getattr(report, "longrepr", "") or "")
    return (text.strip().splitlines() or [""])[-1][:MESSAGE_CHARS]


class HoldoutPlugin:
    """Per-phase time limit and incremental JSON-lines results."""

    def __init__(self, results_path: str, per_test_timeout_s: float) -> None:
        self.results = open(results_path, "a", encoding="utf-8")
        self.per_test_timeout_s = per_test_timeout_s
        self.outcomes: dict[str, dict] = {}
        self.timed_out: set[str] = set()
        self.current: str | None = None

    # --- results ------------------------------------------------------------------------

    def emit(self, record: dict) -> None:
        self.results.write(json.dumps(record, default=str) + "\n")
        self.results.flush()

    def pytest_collection_finish(self, session) -> None:
        self.emit({"event": "collected", "nodeids": [item.nodeid for item in session.items]})

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.emit(
                {
                    "event": "collect_error",
                    "nodeid": report.nodeid,
                    "message": _crash_message(report),
                    "longrepr": str(report.longrepr)[-LONGREPR_CHARS:],
                }
            )

    def pytest_runtest_logreport(self, report) -> None:
        record = self.outcomes.setdefault(report.nodeid, {"outcome": "passed", "duration_s": 0.0})
        record["duration_s"] = round(record["duration_s"] + float(report.duration or 0.0), 4)
        if report.failed:
            worse = "failed" if report.when == "call" else "error"
            if record["outcome"] in ("passed", "skipped"):
                record["outcome"] = worse
                record["message"] = _crash_message(report)
                record["longrepr"] = str(report.longrepr)[-LONGREPR_CHARS:]
        elif report.skipped and record["outcome"] == "passed":
            record["outcome"] = "skipped"
            record["message"] = _crash_message(report)

    def pytest_runtest_logfinish(self, nodeid, location) -> None:
        record = self.outcomes.pop(nodeid, {"outcome": "error", "duration_s": 0.0})
        if nodeid in self.timed_out and record["outcome"] != "passed":
            record["outcome"] = "timeout"
        self.emit({"event": "test", "nodeid": nodeid, **record})

    def pytest_sessionfinish(self, session, exitstatus) -> None:
        self.emit({"event": "finished", "exit_code": int(exitstatus)})

    # --- time limit ---------------------------------------------------------------------

    def _alarm(self, signum, frame):
        __tracebackhide__ = True  # reviewers see where the candidate's code was, not this
        import pytest

        if self.current is not None:
            self.timed_out.add(self.current)
        signal.setitimer(signal.ITIMER_REAL, 0)
        pytest.fail(f"timed out after {self.per_test_timeout_s:g} s (holdout per-test limit)")

    def _limited(self, nodeid: str):
        __tracebackhide__ = True
        self.current = nodeid
        signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, self.per_test_timeout_s)
        try:
            return (yield)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.current = None

    def pytest_runtest_setup(self, item):
        __tracebackhide__ = True
        return (yield from self._limited(item.nodeid))

    def pytest_runtest_call(self, item):
        __tracebackhide__ = True
        return (yield from self._limited(item.nodeid))

    def pytest_runtest_teardown(self, item):
        __tracebackhide__ = True
        return (yield from self._limited(item.nodeid))

    def pytest_make_collect_report(self, collector):
        __tracebackhide__ = True
        return (yield from self._limited(collector.nodeid))


def _mark_wrappers(plugin_cls) -> None:
    import pytest

    for name in (
        "pytest_runtest_setup",
        "pytest_runtest_call",
        "pytest_runtest_teardown",
        "pytest_make_collect_report",
    ):
        setattr(plugin_cls, name, pytest.hookimpl(wrapper=True)(getattr(plugin_cls, name)))


def _bridge_fixtures(args):
    """The ``candidate`` fixture, talking to ``--bridge``; a call may run a little past the
    per-test limit so that the limit, not the call, decides (and names it a timeout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)  # `python -I` leaves the script's folder out
    os.environ["HOLDOUT_BRIDGE_SOCKET"] = args.bridge
    os.environ["HOLDOUT_BRIDGE_CALL_TIMEOUT"] = f"{args.call_timeout or args.per_test_timeout + 5:g}"
    if args.bridge_peer_uid is not None:
        os.environ["HOLDOUT_BRIDGE_PEER_UID"] = str(args.bridge_peer_uid)
    from pytest_bridge import fixtures

    # The server preloads numpy, pandas, scikit-learn before it listens: wait for it here, outside
    # every test's limit (the run's own limit, enforced from outside, bounds this wait too).
    deadline = time.monotonic() + SERVER_START_S
    while not os.path.exists(args.bridge) and time.monotonic() < deadline:
        time.sleep(0.02)
    return fixtures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdout-pytest")
    parser.add_argument("--results", required=True, help="JSON-lines file to append results to")
    parser.add_argument("--per-test-timeout", type=float, default=30.0)
    parser.add_argument("--path", action="append", default=[], help="folder to put first on sys.path")
    parser.add_argument(
        "--logs",
        default=os.environ.get("HOLDOUT_LOGS_DIR", "/holdout/logs"),
        help="folder for this run's stdout/stderr ('-': leave them as they are)",
    )
    parser.add_argument(
        "--bridge", help="Unix socket of the server of the candidate's code: serve the `candidate` fixture from it"
    )
    parser.add_argument("--bridge-peer-uid", type=int, help="the uid the bridge's server must run as")
    parser.add_argument("--call-timeout", type=float, help="limit for one call across the bridge")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if args.logs != "-" and os.path.isdir(args.logs):
        _redirect_streams(args.logs)
    import pytest  # the image's pytest, imported before the submission is on sys.path

    _mark_wrappers(HoldoutPlugin)
    plugins: list = [HoldoutPlugin(args.results, args.per_test_timeout)]
    if args.bridge:
        plugins.append(_bridge_fixtures(args))
    for folder in reversed(args.path):
        sys.path.insert(0, folder)
    started = time.monotonic()
    code = pytest.main(pytest_args, plugins=plugins)
    print(f"holdout: pytest exited {int(code)} after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
