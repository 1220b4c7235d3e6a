"""The `phiguard` command group, with usage errors said like every other error."""

from __future__ import annotations

import sys
from typing import Any

import click

from phiguard import __version__
from phiguard.cli._errors import handle_at_entry

__all__ = ["main"]


# command name -> (module, attribute): each imported the first time it is asked for (running
# it, its help, or the group's help, which lists them all)
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("phiguard.cli.scan", "scan_command"),
    "rules": ("phiguard.cli.rules", "rules_group"),
    "report": ("phiguard.cli.report", "report_command"),
    "verify": ("phiguard.cli.verify", "verify_command"),
    "plan": ("phiguard.cli.plan", "plan_command"),
    "collect": ("phiguard.cli.collect", "collect_command"),
    "audit": ("phiguard.cli.audit", "audit_command"),
    "history": ("phiguard.cli.history", "history_command"),
    "diff": ("phiguard.cli.history", "diff_command"),
    "fix": ("phiguard.cli.fix", "fix_group"),
    "evidence": ("phiguard.cli.evidence", "evidence_group"),
    "schema": ("phiguard.cli.schema", "schema_command"),
}


class _Phiguard(click.Group):
    """The command group: every error that reaches it is `phiguard: error:` and its exit code
    (see phiguard.cli._errors). Its commands load on first use (`COMMANDS`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            if cmd_name not in COMMANDS:
                # no such command: click's "did you mean" reads the loaded ones, so all of them
                self.load_commands()
                return None
            command = self._load(cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def load_commands(self) -> None:
        """Every command of `COMMANDS` not loaded yet."""
        for name in COMMANDS:
            if name not in self.commands:
                self._load(name)

    def _load(self, name: str) -> click.Command:
        import importlib

        module, attribute = COMMANDS[name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        self.add_command(command, name)
        return command

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
