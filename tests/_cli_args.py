"""Parse a phiguard command line written in a file (a workflow step, a Cloud Run job's
arguments) with the real CLI's parser, so a renamed or misspelt option fails a test."""

from __future__ import annotations

from typing import Any

import click

from phiguard.cli import main


def parse_command(args: list[str]) -> tuple[str, dict[str, Any]]:
    """("audit", {param name: value}) for `phiguard audit ...` (without the leading
    `phiguard`); raises click.UsageError for an unknown option or a value outside a choice.
    Values are not otherwise converted (paths need not exist here)."""
    root = click.Context(main, info_name="phiguard")
    command: click.Command | None = main
    names: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group):
        name = rest.pop(0)
        command = command.get_command(root, name)
        if command is None:
            raise click.UsageError(f"no such command: {' '.join([*names, name])}")
        names.append(name)
    assert command is not None
    ctx = click.Context(command, info_name=names[-1], parent=root)
    values, extra, _order = command.make_parser(ctx).parse_args(rest)
    params = {p.name: p for p in command.params}
    for name, value in values.items():
        param = params[name]
        if isinstance(param.type, click.Choice) and value is not None:
            param.type.convert(value, param, ctx)
    if extra:
        values["__args__"] = extra
    return " ".join(names), values
