"""The command group loads a command's module when that command is asked for
(phiguard.cli._app.COMMANDS): `phiguard plan` builds no other command, while the group's help,
its "did you mean" and every command name work as when all were imported at start."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.cli._app import COMMANDS

NAMES = ["audit", "collect", "diff", "evidence", "fix", "history", "plan", "report", "rules",
         "scan", "schema", "verify"]


def _modules_after(args: list[str]) -> list[str]:
    """The phiguard.cli modules a fresh interpreter holds after running `phiguard ARGS`."""
    code = ("import json, sys\n"
            "from phiguard.cli import main\n"
            "try:\n"
            f"    main.main({args!r}, prog_name='phiguard', standalone_mode=False)\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('phiguard.cli.'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_every_command_is_listed_by_its_name() -> None:
    assert sorted(COMMANDS) == NAMES
    ctx = click.Context(main)
    assert main.list_commands(ctx) == NAMES
    for name in NAMES:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name


def test_plan_loads_no_other_command() -> None:
    loaded = _modules_after(["plan", "--help"])
    assert "phiguard.cli.plan" in loaded
    others = {module for module, _ in COMMANDS.values()} - {"phiguard.cli.plan"}
    assert not others & set(loaded), sorted(others & set(loaded))


def test_the_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:", 1)[1].splitlines()
              if line.startswith("  ")]
    assert listed == NAMES


def test_an_unknown_command_is_refused_with_a_suggestion() -> None:
    code = ("import sys\n"
            "sys.argv[0] = 'phiguard'\n"
            "from phiguard.cli import main\n"
            "main(['plam', 'x'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "No such command 'plam'. Did you mean 'plan'?" in done.stderr
