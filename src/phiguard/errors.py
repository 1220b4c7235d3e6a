"""Errors phiguard raises on purpose; anything else is a bug.

    PhiguardError                 root: the CLI prints the message and exits 2
    ├── InputError                bad input: names the file, line, column and what was expected
    │   ├── SnapshotError         a CAI export, API listing or directory file
    │   ├── ConfigError           phiguard.yaml
    │   ├── RuleError             a rule file, its parameters or its examples
    │   │   ├── PathSyntaxError   policy.paths: a field path that does not parse (also a ValueError)
    │   │   └── RegexError        policy.regex: a pattern RE2 cannot run (also a ValueError)
    │   └── PlanError             terraform.plan: a Terraform plan JSON
    ├── UsageError                a command-line combination that cannot work
    ├── CollectError              live collection: no credentials, a scope that cannot be read
    │   └── ExportError           collect.export: an export that produced no shards
    ├── StoreError                the run-history store cannot be opened or is too new
    ├── GcsError                  store.gcs: Cloud Storage answered with an error, or not at all
    │   └── Precondition          store.gcs: 412, the object is not at the generation required
    ├── OutputError               an output that cannot be written (a directory, a full disk)
    ├── FixError                  a fix run that cannot go on: an API error, another plan's journal
    │   ├── ApiError              fix.api: an API call answered with an HTTP error
    │   ├── NoAnswer              fix.api: no answer came (unreachable, timed out, hung up)
    │   ├── NoFix                 fix.actions: planning found no safe change (the action is manual)
    │   └── PlanRefused           fix.integrity: a plan entry that is not the action's own change
    └── PluginError               an installed plugin that fails to load or takes a taken name

Classes drawn with a module live beside the code that raises them; PathSyntaxError and
RegexError carry no location, and the rule loader re-raises them as a RuleError naming the
file and line. tests/test_error_tree.py fails when a class is missing here or drawn under the
wrong parent.

Internal control flow (caught in the module that raises it, never seen by a user):
    terraform.plan._Duplicate     a duplicate key in a plan's JSON, becomes a PlanError
    store.gcs._Unanswered         a request that got no answer (retried), becomes a GcsError
"""

from __future__ import annotations

__all__ = [
    "CollectError",
    "ConfigError",
    "FixError",
    "InputError",
    "OutputError",
    "PhiguardError",
    "PluginError",
    "RuleError",
    "SnapshotError",
    "StoreError",
    "UsageError",
]


class PhiguardError(Exception):
    """Root of every error phiguard raises deliberately."""

    exit_code = 2


class InputError(PhiguardError):
    """Input that phiguard cannot accept, located as precisely as known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.message}"


class SnapshotError(InputError):
    """A snapshot file is unreadable or a record in it is malformed."""


class ConfigError(InputError):
    """phiguard.yaml is malformed or names something that does not exist."""


class RuleError(InputError):
    """A rule, its parameters or its examples are malformed."""


class UsageError(PhiguardError):
    """Options that cannot work together."""


class CollectError(PhiguardError):
    """Live collection cannot start or cannot produce a snapshot (what to do is in the text)."""


class FixError(PhiguardError):
    """A fix run that cannot go on: an API error midway, a journal for another plan."""


class StoreError(PhiguardError):
    """The run-history store is unreadable, or was written by a newer phiguard."""


class OutputError(PhiguardError):
    """An output (--output, --bundle, standard output) that cannot be written."""


class PluginError(PhiguardError):
    """An installed plugin (a `phiguard.*` entry point) that fails to load, or that defines an
    operator, converter or control catalog under a name something else already has."""
