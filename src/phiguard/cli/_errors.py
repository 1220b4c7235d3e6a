"""Errors to exit codes, in one place: 0 ok, 1 failing findings, 2 usage, config, input or
output error (and any exception phiguard did not raise on purpose), 130 interrupted, 141 the
reader of standard output went away. Never a traceback unless --debug, never exit 1 for an
error (CI reads 1 as failing findings)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

__all__ = ["exiting_at_once", "fail_unexpected", "run", "stdout_failed", "the_command"]


def stdout_failed() -> bool:
    """After an OSError: whether standard output itself can no longer be written (a full disk,
    a closed pipe). If so, point it at /dev/null so the interpreter's final flush stays quiet."""
    try:
        sys.stdout.flush()
        return False
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return True


def fail_unexpected(exc: BaseException, debug: bool) -> NoReturn:
    """An exception phiguard did not raise on purpose: exit 2 with one line (and the traceback
    with --debug), never exit 1, which CI reads as failing findings."""
    import traceback

    if isinstance(exc, BrokenPipeError):
        stdout_failed()
        sys.exit(141)  # the reader went away (`| head`): quiet, as the shell's SIGPIPE is
    if isinstance(exc, OSError) and stdout_failed():
        click.echo(f"phiguard: error: cannot write standard output: {exc.strerror or exc}",
                   err=True)
        sys.exit(2)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError):
        click.echo(f"phiguard: error: {exc}", err=True)
    else:
        text = " ".join(str(exc).split())[:300]
        click.echo(f"phiguard: error: internal error: {type(exc).__name__}: {text} (a bug in "
                   "phiguard; run again with --debug for the traceback and report it)",
                   err=True)
    sys.exit(2)


def fail_known(exc: Exception, debug: bool) -> NoReturn:
    """A PhiguardError: its one line, and its exit code (2 for every input or usage error)."""
    from phiguard.errors import PhiguardError

    assert isinstance(exc, PhiguardError)
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"phiguard: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def run(fn: Callable[[], int | None], debug: bool) -> NoReturn:
    """Call a command's body and exit with its code, or with the code its error maps to."""
    from phiguard.errors import PhiguardError

    try:
        code = fn() or 0
    except PhiguardError as exc:
        fail_known(exc, debug)
    except KeyboardInterrupt:
        click.echo("phiguard: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        fail_unexpected(exc, debug)
    sys.exit(code)


def handle_at_entry(exc: BaseException, argv: list[str]) -> NoReturn:
    """What reaches the command group: click's usage errors, Ctrl-C, and the errors of
    commands that do not go through `run` (verify, rules operators)."""
    from phiguard.errors import PhiguardError

    if isinstance(exc, click.UsageError):
        if exc.ctx is not None:
            click.echo(exc.ctx.get_usage(), err=True)
        click.echo(f"phiguard: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, click.ClickException):
        click.echo(f"phiguard: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, click.exceptions.Abort):
        # Ctrl-C (click turns it into Abort) is 130 as usual; any other abort is not a
        # finding, so never exit 1.
        interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
        click.echo("phiguard: interrupted" if interrupted else "phiguard: aborted", err=True)
        sys.exit(130 if interrupted else 2)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("phiguard: interrupted", err=True)
        sys.exit(130)
    if isinstance(exc, PhiguardError):
        click.echo(f"phiguard: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    fail_unexpected(exc, "--debug" in argv)


def exiting_at_once(fn: Callable[[], int | None]) -> Callable[[], int | None]:
    """When this process is the `phiguard` command itself: once the run is over (every report
    written and moved into place, standard output and error flushed), exit without tearing
    the heap down (a tenth of a second for a large plan; nothing is left to write). Inside
    another program (tests, a caller of `main`), or when a flush fails, the ordinary exit."""

    def call() -> int | None:
        code = fn()
        if the_command():
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                return code
            os._exit(code or 0)
        return code
    return call


def the_command() -> bool:
    """Whether this process is the `phiguard` command itself (not a test or another program)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    entry = Path(sys.argv[0]).name == "phiguard" or (
        spec is not None and spec.name == "phiguard.cli.__main__")
    return entry and sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__
