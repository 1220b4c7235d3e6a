"""The `phiguard` command group, with usage errors said like every other error."""

from __future__ import annotations

import sys
from typing import Any

import click

from phiguard import __version__
from phiguard.cli._errors import handle_at_entry

__all__ = ["main"]


class _Phiguard(click.Group):
    """The command group: every error that reaches it is `phiguard: error:` and its exit code
    (see phiguard.cli._errors)."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except (click.ClickException, click.exceptions.Abort, KeyboardInterrupt,
                Exception) as exc:
            handle_at_entry(exc, list(args) if args is not None else sys.argv[1:])
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Phiguard, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="phiguard")
def main() -> None:
    """phiguard: HIPAA Security Rule compliance scanner for Google Cloud.

    Judges a Cloud Asset Inventory snapshot against a HIPAA rule pack and shows the evidence.
    Exit codes: 0 nothing failing at or above --fail-on, 1 failing findings (with
    --fail-on-unknown, UNKNOWN ones too), 2 usage, config or input error.
    """
