"""The ``grade`` group: exit codes, the group that takes ``grade SUBMISSION`` and ``grade COMMAND``."""

from __future__ import annotations

from pathlib import Path

import click

from harness import __version__

EXIT_OK, EXIT_BELOW, EXIT_USAGE, EXIT_REJECTED, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_BROKEN_PIPE = 141


class _ReaderGone(Exception):
    """stdout (or stderr) was closed by its reader. Not an ``OSError``: click turns an ``EPIPE``
    into exit 1, and 1 means "below --fail-under", nothing else."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class GradeGroup(click.Group):
    """``grade SUBMISSION`` grades; ``grade COMMAND`` runs a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            self._refuse_typo(args[0])
            args = ["submission", *args]
        return super().parse_args(ctx, args)

    def _refuse_typo(self, word: str) -> None:
        """``grade lsit`` is a misspelt command, not a missing submission called ``lsit``."""
        import difflib

        if Path(word).exists() or "/" in word or "." in word:
            return
        names = sorted(n for n, c in self.commands.items() if not c.hidden)
        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        if close:
            raise click.UsageError(
                f"no such command {word!r}; did you mean {close[0]!r}? "
                f"(to grade a submission, give the path of a zip, tar.gz or folder)"
            )

    def format_usage(self, ctx, formatter) -> None:
        formatter.write_usage("grade", "SUBMISSION [OPTIONS] | COMMAND [ARGS]...")

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _ReaderGone() from exc


@click.group(cls=GradeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="holdout")
def cli() -> None:
    """Grade ML take-home submissions in a hardened Docker sandbox against hidden data.

    \b
    grade submission.zip                 grade one submission, print a summary, write ./grade-report/
    grade submission.zip --json          the canonical report.json on stdout (for CI)
    grade doctor                         check the engine and demonstrate every sandbox protection
    grade sandbox build                  build the sandbox image (offline, content-hashed)
    grade selfcheck                      (in a starter kit) run your code on the dev split, check its output
    """
