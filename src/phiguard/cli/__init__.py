"""Command line: parse, call a named run (phiguard.runs), render, map errors to exit codes
(0 ok, 1 failing, 2 error; see phiguard.cli._errors).

One module per command; shared options are in `_options`. Command modules import only click
and this package at module level, so `phiguard --help` starts fast; the runs and the library
load when a command runs. Nothing below this package imports it.
"""

from __future__ import annotations

from phiguard.cli._app import main
from phiguard.cli.audit import audit_command
from phiguard.cli.collect import collect_command
from phiguard.cli.evidence import evidence_group
from phiguard.cli.fix import fix_group
from phiguard.cli.history import diff_command, history_command
from phiguard.cli.plan import plan_command
from phiguard.cli.report import report_command
from phiguard.cli.rules import rules_group
from phiguard.cli.scan import scan_command
from phiguard.cli.schema import schema_command
from phiguard.cli.verify import verify_command

__all__ = ["main"]

for _command in (scan_command, rules_group, report_command, verify_command, plan_command,
                 collect_command, audit_command, history_command, diff_command, fix_group,
                 evidence_group, schema_command):
    main.add_command(_command)
