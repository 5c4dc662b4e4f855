"""``main``: run the ``grade`` group and map every way it can end to one exit code, once.

A :class:`~harness.errors.HoldoutError` ends with its own ``exit_code`` (2 usage or configuration,
3 rejected, 4 infrastructure) and its hint; a click usage error with 2; Ctrl-C or SIGTERM with
130 after cleaning up; a closed stdout with 141; and anything else — a holdout bug, in any
subcommand — with 4 and the path of a crash file holding the traceback (:mod:`harness.crash`).
"""

from __future__ import annotations

import json
import sys

import click

from harness.cli.base import EXIT_BROKEN_PIPE, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_USAGE, _ReaderGone, cli
from harness.errors import HoldoutError


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _cleanup_after_interrupt() -> None:
    import signal

    from sandbox.cleanup import remove_own_containers

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    remove_own_containers()
    click.echo("interrupted: containers and temp dirs were cleaned up", err=True)
    sys.exit(EXIT_INTERRUPTED)


def main(argv: list[str] | None = None) -> None:
    import signal

    if threading_is_main():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        cli.main(args=argv, prog_name="grade", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if as_json:
            _json_error("usage", exc.format_message(), EXIT_USAGE)
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:  # click turns Ctrl-C (and our SIGTERM handler) into Abort
        _cleanup_after_interrupt()
    except HoldoutError as exc:
        if as_json:
            _json_error(type(exc).__name__, exc.message, exc.exit_code, hint=exc.hint)
        click.echo(f"error: {exc.describe()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _cleanup_after_interrupt()
    except (_ReaderGone, BrokenPipeError):
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except Exception as exc:  # a holdout bug: exit 4 and a crash file, never a traceback and exit 1
        from harness.crash import describe_crash, write_crash_file

        crash_file = write_crash_file(exc, context="grade " + " ".join(args))
        message = describe_crash(exc, crash_file)
        if as_json:
            _json_error("crash", message, EXIT_INFRA, crash_file=str(crash_file) if crash_file else None)
        try:
            click.echo(f"error: {message}", err=True)
        except OSError:
            pass
        sys.exit(EXIT_INFRA)
    finally:
        if argv is None:  # a process of its own (console script, python -m harness): it exits next
            _exit_fast()
            if not _flushed():  # buffered output met a closed pipe: not exit 1, nor Python's 120
                sys.exit(EXIT_BROKEN_PIPE)


def _json_error(kind: str, message: str, exit_code: int, *, hint: str = "", crash_file: str | None = None) -> None:
    """Under ``--json``, a failure still prints one JSON object on stdout (CI parses stdout):
    ``{"error": {"type", "message", "hint", "exit_code"[, "crash_file"]}}``. The plain message
    goes to stderr as well."""
    error = {"type": kind, "message": message, "hint": hint, "exit_code": exit_code}
    if crash_file is not None:
        error["crash_file"] = crash_file
    try:
        click.echo(json.dumps({"error": error}, indent=2))
    except OSError:
        pass


def _flushed() -> bool:
    """Flush stdout now (not in the interpreter's shutdown, where a failure becomes exit 120)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return False
    except (OSError, ValueError):
        pass
    return True


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _exit_fast() -> None:
    """Spare the interpreter's final garbage-collection passes over what pandas, scikit-learn
    and nbconvert left in memory (about half a second per run): freeze the collector. Objects
    are still freed by reference counting, atexit handlers and finalizers still run; our own
    cleanup (containers, temp dirs, reports) is done explicitly before this."""
    import gc

    gc.freeze()
