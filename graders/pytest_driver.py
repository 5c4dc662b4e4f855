"""Runs pytest *inside the sandbox* for the ``pytest`` grader. Never imported on the host.

The grader copies this file into a read-only mount and starts it as the container's command:

    python /holdout-pytest/pytest_driver.py --results /output/hidden.jsonl \
        --per-test-timeout 10 --path /submission -- -p no:cacheprovider --rootdir /tests ... /tests

It puts the ``--path`` folders first on ``sys.path`` (so tests can ``import predict`` from the
submission), sends its own stdout/stderr to the logs folder (a chatty test run must not go
through the container log), and runs ``pytest.main`` with a small plugin that

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

Everything here runs next to the candidate's code, in the same process: the host treats the
results as untrusted data (size-capped, validated) and never as proof.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

LONGREPR_CHARS = 4000
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
            self.emit({
                "event": "collect_error",
                "nodeid": report.nodeid,
                "message": _crash_message(report),
                "longrepr": str(report.longrepr)[-LONGREPR_CHARS:],
            })

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

    for name in ("pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_teardown", "pytest_make_collect_report"):
        setattr(plugin_cls, name, pytest.hookimpl(wrapper=True)(getattr(plugin_cls, name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="holdout-pytest")
    parser.add_argument("--results", required=True, help="JSON-lines file to append results to")
    parser.add_argument("--per-test-timeout", type=float, default=30.0)
    parser.add_argument("--path", action="append", default=[], help="folder to put first on sys.path")
    parser.add_argument("--logs", default=os.environ.get("HOLDOUT_LOGS_DIR", "/holdout/logs"))
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    pytest_args = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if os.path.isdir(args.logs):
        _redirect_streams(args.logs)
    import pytest  # the image's pytest, imported before the submission is on sys.path

    _mark_wrappers(HoldoutPlugin)
    for folder in reversed(args.path):
        sys.path.insert(0, folder)
    plugin = HoldoutPlugin(args.results, args.per_test_timeout)
    started = time.monotonic()
    code = pytest.main(pytest_args, plugins=[plugin])
    print(f"holdout: pytest exited {int(code)} after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
