"""The candidate's streams as the reports show them, and one numbering of notebook cells.

A leaf (imports only :mod:`harness.models`): graders and reports both use it.

- **The kernel's own noise.** A notebook runs in a Jupyter kernel whose start-up warnings
  (debugpy's frozen-modules warning, jupyter_client's and ipykernel's notes) land in the same
  stderr as the candidate's output. Reports drop exactly those lines (:data:`KERNEL_NOISE`, whole
  lines matched in full) and keep every other line as it was; the full log kept with the
  artifacts keeps everything.
- **Cell numbers.** Every report numbers notebook cells from 1 over all cells, Markdown cells
  included, as ruff (lint) and the habits check do. The in-container runner counts from
  :data:`RUNNER_CELL_BASE`, in its record and in the ``[cell N]`` prefix it puts before each
  cell's mirrored output; :func:`cell_number` converts, and :func:`shown_stream` renumbers the
  prefixes of a notebook run's logs.
"""

from __future__ import annotations

import re

from harness.models import SandboxRun

RUNNER_CELL_BASE = 0
"""The first cell's index in the runner's record and in its ``[cell N]`` log prefixes."""
CELL_NUMBERING = "cells are numbered from 1, Markdown cells included"
"""How every report counts notebook cells (said where cell numbers appear)."""

KERNEL_NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        # ipykernel 7 on its default TCP transport, at every kernel start
        r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption\. All communication \(including "
        r"code and outputs\) is sent in plain text and is susceptible to eavesdropping\. Use IPC transport or launch "
        r"with kernel manager-provisioned CurveZMQ keys to enable transport encryption\.",
        # debugpy (imported by ipykernel) on a Python with frozen modules, at every kernel start
        r"\d+\.\d+s - Debugger warning: It seems that frozen modules are being used, which may",
        r"\d+\.\d+s - make the debugger miss breakpoints\. Please pass -Xfrozen_modules=off",
        r"\d+\.\d+s - to python to disable frozen modules\.",
        r"\d+\.\d+s - Note: Debugging will proceed\. Set PYDEVD_DISABLE_FILE_VALIDATION=1 to disable this validation\.",
        # ipykernel 7's shutdown race (sandbox/entry_notebook.py, _shut_down), after the last cell
        r"IOStream\.flush timed out",
    )
)
"""Whole lines the kernel itself writes to stderr (never the candidate's code)."""

_MIRROR_PREFIX = re.compile(r"^\[cell (\d{1,6})\] ", re.MULTILINE)


def cell_number(value: object) -> int | None:
    """The reports' number (from 1, over all cells) of a cell the runner's record names."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value - RUNNER_CELL_BASE < 1_000_000:
        return None
    return value - RUNNER_CELL_BASE + 1


def is_notebook_run(run: SandboxRun) -> bool:
    return isinstance(run.runner, dict) and run.runner.get("mode") == "notebook"


def shown_stream(text: str, *, notebook: bool) -> str:
    """A captured stream as reports show it: for a notebook run, without the kernel's own noise
    lines and with the runner's ``[cell N]`` prefixes numbered as the reports number cells.
    Every other line is kept as it is; a script's streams are returned unchanged."""
    if not notebook:
        return text
    kept = "".join(line for line in text.splitlines(keepends=True) if not _noise(line))
    return _MIRROR_PREFIX.sub(lambda m: f"[cell {cell_number(int(m.group(1)))}] ", kept)


def _noise(line: str) -> bool:
    body = line.rstrip("\r\n")
    return any(pattern.fullmatch(body) for pattern in KERNEL_NOISE)


def shown_run(run: SandboxRun | None) -> SandboxRun | None:
    """A copy of ``run`` with its streams as reports show them (:func:`shown_stream`); the
    sizes recorded for each capture stay those of the full log kept with the artifacts."""
    if run is None or not is_notebook_run(run):
        return run
    return run.model_copy(
        update={
            name: getattr(run, name).model_copy(update={"text": shown_stream(getattr(run, name).text, notebook=True)})
            for name in ("stdout", "stderr")
        }
    )
