"""Command line: parse, call a named run (phiguard.runs), render, map errors to exit codes
(0 ok, 1 failing, 2 error; see phiguard.cli._errors).

One module per command; shared options are in `_options`. Command modules import only click
and this package at module level, so `phiguard --help` starts fast; the runs and the library
load when a command runs. A command's module is imported when that command is asked for
(`phiguard.cli._app.COMMANDS`), so `phiguard plan` does not build the other eleven. Nothing below
this package imports it.
"""

from __future__ import annotations

from phiguard.cli._app import main

__all__ = ["main"]
