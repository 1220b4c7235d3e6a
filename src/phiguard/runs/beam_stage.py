"""The engine an audit's scan stage runs on (`audit --engine local|beam -- <Beam options>`).

The checks of the engine and its Beam pipeline options live in phiguard.beam.options (plain
Python, re-exported here); the Beam scan stage itself in phiguard.beam.audit, imported only for
`--engine beam`.
"""

from __future__ import annotations

from pathlib import Path

from phiguard.beam.options import (
    ENGINES,
    INSTALL_HINT,
    LOCAL_RUNNERS,
    check_engine,
    pipeline_option,
    remote_runner,
)

__all__ = ["ENGINES", "INSTALL_HINT", "LOCAL_RUNNERS", "check_engine", "collected_path",
           "pipeline_option", "remote_runner"]


def collected_path(path: str, root: str) -> str:
    """An input's path in the run metadata of a collected snapshot: `collected:` and its place
    in the snapshot (local directory or staged Cloud Storage prefix)."""
    if root.startswith("gs://"):
        return "collected:" + path.removeprefix(root.rstrip("/") + "/")
    return "collected:" + str(Path(path).relative_to(root))
