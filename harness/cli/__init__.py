"""The ``grade`` command: a thin skin over the library (:mod:`harness.api`, :mod:`harness.batch`,
:mod:`harness.authoring`, ...): parse arguments, call the library, print, map errors to exit codes.

One module per command group: :mod:`.base` (the group, exit codes), :mod:`.grading` (``grade
SUBMISSION``, ``grade batch``), :mod:`.machine` (``doctor``, ``sandbox``, ``data``, ``list``,
``schema``), :mod:`.authoring` (``new``, ``check``, ``kit``, ``selfcheck``), :mod:`.entry`
(``main``: errors mapped to exit codes once); the panel, server and worker commands live with
their subpackages and register here.

Exit codes: 0 graded; 1 graded but below ``--fail-under`` (or ``grade check``/``grade selfcheck``:
a check did not get its expected outcome); 2 usage or configuration error (incl. a path that does
not exist, an invalid spec, a kit that would leak hidden content); 3 submission rejected (unsafe or
unreadable archive); 4 infrastructure error (no engine, image missing, grader failure under
``--fail-under``) or a holdout bug (an unexpected exception in any subcommand: the message names
the crash file with the traceback, see :mod:`harness.crash`); 130 interrupted; 141 the reader of
stdout went away (``grade ... | head``).
"""

from __future__ import annotations

from harness.cli import authoring, grading, machine  # noqa: F401  (each registers its commands)
from harness.cli.base import (
    EXIT_BELOW,
    EXIT_BROKEN_PIPE,
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    cli,
)
from harness.cli.entry import main
from harness.cli.grading import batch_exit_code, exit_code_for
from harness.panel.cli import register as _register_panel  # review, panel, similarity, unblind
from harness.server.cli import register as _register_server  # serve, admin, submit
from harness.workers.cli import register as _register_workers  # worker, status

_register_panel(cli)
_register_server(cli)
_register_workers(cli)

__all__ = [
    "EXIT_BELOW",
    "EXIT_BROKEN_PIPE",
    "EXIT_INFRA",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "batch_exit_code",
    "cli",
    "exit_code_for",
    "main",
]
