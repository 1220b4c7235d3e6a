"""The options several commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from datetime import datetime

    from phiguard.runs.outputs import Output

__all__ = ["SEVERITY_CHOICES", "at_option", "config_option", "debug_option", "fail_on_option",
           "fail_on_unknown_option", "framework_option",
           "jobs_option", "noting_scope", "output_options", "parse_at", "rules_option",
           "single_format_option"]

F = TypeVar("F", bound=Callable[..., Any])
SEVERITY_CHOICES = ("critical", "high", "medium", "low", "info", "none")

debug_option = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")

fail_on_option = click.option(
    "--fail-on", type=click.Choice(SEVERITY_CHOICES), default="low", show_default=True,
    help="Exit 1 when a finding at or above this severity fails ('none': never); only the "
         "findings of the --framework reported with count.")

fail_on_unknown_option = click.option(
    "--fail-on-unknown", is_flag=True, default=False,
    help="Exit 1 also when a finding at or above --fail-on is UNKNOWN (the data to judge it "
         "is missing), so a run that could not judge does not pass the gate.")


def rules_option(help: str = "Rule directory or rule.yaml (repeatable; default: the bundled "
                             "HIPAA pack).") -> Callable[[F], F]:
    return click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
                        help=help)


framework_option = click.option(
    "--framework", default="hipaa", show_default=True, metavar="CATALOG",
    help="Report against this control catalog: hipaa, cis-gcp-5.0, or one given with --rules "
         "(a catalog YAML). The findings JSON always keeps every control of every catalog.")


def config_option(help: str = "phiguard.yaml: organization, PHI scope, parameters, "
                              "waivers.") -> Callable[[F], F]:
    return click.option("--config", "-c", "config_path", type=click.Path(path_type=Path),
                        help=help)


def at_option(default: str) -> Callable[[F], F]:
    """--at TIME; `default` says what is judged without it."""
    return click.option("--at", "at", help=f"Evaluation time (RFC 3339); default: {default}")


def jobs_option(low: int, high: int, default: int, help: str) -> Callable[[F], F]:
    return click.option("--jobs", "-j", type=click.IntRange(low, high), default=default,
                        show_default=True, help=help)


def single_format_option(choices: Sequence[str]) -> Callable[[F], F]:
    """--format for the commands that print one view (text or json)."""
    return click.option("--format", "-f", "fmt", type=click.Choice(list(choices)),
                        default=choices[0], show_default=True)


def output_options(choices: Sequence[str], *, default: str | None = "text") -> Callable[[F], F]:
    """--format (repeatable), --output (FILE, or FORMAT=PATH, repeatable) and --output-dir:
    one run writes every format asked. The command receives `fmt`, `output`, `output_dir`."""
    fmt_help = ("Report format (repeatable: one run writes each"
                + (f"; default: {default})." if default else ")."))
    names = ", ".join(choices)
    decorators = [
        click.option("--format", "-f", "fmt", multiple=True, type=click.Choice(list(choices)),
                     required=default is None, help=fmt_help),
        click.option("--output", "-o", "output", multiple=True, metavar="FILE|FORMAT=PATH",
                     help="Write here instead of stdout (atomically). For several formats, "
                          f"repeat as FORMAT=PATH (FORMAT: {names})."),
        click.option("--output-dir", metavar="DIR", type=click.Path(file_okay=False),
                     help="Write each format as DIR/phiguard.<ext> (created if missing)."),
    ]

    def decorate(fn: F) -> F:
        for option in reversed(decorators):
            fn = option(fn)
        return fn
    return decorate


def chosen_outputs(fmt: Sequence[str], output: Sequence[str], output_dir: str | None,
                   choices: Sequence[str], default: str | None = "text") -> list[Output]:
    from phiguard.runs.outputs import choose_outputs

    return choose_outputs(fmt, output, output_dir, choices=choices, default=default)


def parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    from phiguard._util.times import parse_time

    parsed = parse_time(value)
    if parsed is None:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time (2026-11-25T06:00:00Z) "
                                 "or a date (2026-11-25)", param_hint="--at")
    return parsed


def noting_scope(fn: Callable[[], int | None],
                 config_path: Path | None) -> Callable[[], int | None]:
    """After a successful run without --config, say that everything was treated as PHI."""

    def run() -> int | None:
        code = fn()
        if config_path is None:
            from phiguard.config import NO_CONFIG_NOTE

            click.echo(f"phiguard: note: {NO_CONFIG_NOTE}", err=True)
        return code
    return run
