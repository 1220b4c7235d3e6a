"""phiguard: HIPAA compliance scanner for Google Cloud.

The names in `__all__` are the library's stable API (docs/api.md): load a rule pack and a
configuration, judge a snapshot on disk (`scan_snapshot`) or assets in memory
(`assets_from_records`, `Inventory`, `Engine`, `evaluate`), read the findings, catch the
errors, add an operator.
Everything else is internal and may change between releases.

Names are imported on first use, so `import phiguard` (and the CLI's start) stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from phiguard.config import Config
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack

__all__ = [
    "SEVERITIES",
    "Asset",
    "Config",
    "ConfigError",
    "Engine",
    "Finding",
    "InputError",
    "Inventory",
    "Outcome",
    "PhiConfig",
    "PhiguardError",
    "PluginError",
    "Rule",
    "RuleError",
    "RulePack",
    "SnapshotError",
    "UsageError",
    "__version__",
    "assets_from_records",
    "evaluate",
    "load_config",
    "load_pack",
    "operator",
    "scan_snapshot",
]

# name -> the module that defines it (imported when the name is first used)
_LAZY = {
    "SEVERITIES": "phiguard.findings",
    "Finding": "phiguard.findings",
    "Outcome": "phiguard.findings",
    "Asset": "phiguard.inventory.asset",
    "Inventory": "phiguard.inventory.inventory",
    "PhiConfig": "phiguard.inventory.scope",
    "Config": "phiguard.config",
    "Engine": "phiguard.policy.engine",
    "evaluate": "phiguard.policy.engine",
    "Rule": "phiguard.policy.rule",
    "RulePack": "phiguard.policy.rule",
    "operator": "phiguard.policy.operators",
    "assets_from_records": "phiguard.testing",
    "PhiguardError": "phiguard.errors",
    "InputError": "phiguard.errors",
    "SnapshotError": "phiguard.errors",
    "ConfigError": "phiguard.errors",
    "RuleError": "phiguard.errors",
    "UsageError": "phiguard.errors",
    "PluginError": "phiguard.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phiguard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_pack(*rules: str | os.PathLike[str]) -> RulePack:
    """The rule pack in these directories (or rule.yaml files); the bundled HIPAA pack when
    none is given. Installed plugins are loaded first. Raises RuleError or PluginError."""
    from pathlib import Path

    from phiguard.runs.common import load_pack as load

    return load([Path(r) for r in rules])


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """phiguard.yaml (PHI scope, parameters, waivers); without one, everything is in PHI
    scope. Raises ConfigError naming the file and line."""
    from pathlib import Path

    from phiguard.config import load_config as load

    return load(Path(path) if path is not None else None)


def scan_snapshot(snapshot: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                  pack: RulePack | None = None, config: Config | None = None,
                  at: datetime | None = None, jobs: int = 1) -> list[Finding]:
    """Judge a snapshot on disk (a snapshot directory or export files) and return every
    finding, waivers applied, as `phiguard scan` would report them. `at` is the evaluation
    time (default: the snapshot's read time). Raises a PhiguardError for bad input."""
    from pathlib import Path

    from phiguard.scan import Scan

    paths: Sequence[str | os.PathLike[str]] = (
        [snapshot] if isinstance(snapshot, str | os.PathLike) else snapshot)
    job = Scan([Path(p) for p in paths], pack if pack is not None else load_pack(),
               config if config is not None else load_config(), at=at, jobs=jobs)
    return list(job.findings())
