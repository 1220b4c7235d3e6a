"""The scan as an Apache Beam pipeline (`pip install 'phiguard[beam]'`): same snapshot forms,
rule pack, engine and findings JSON as the local engine, run by any Beam runner (DirectRunner on
a laptop or in CI, DataflowRunner at scale). Nothing here imports apache_beam until a Beam scan
runs, so the default install and `phiguard --help` never load it.

Interface (what `phiguard scan --engine beam`, `audit` and other callers use):

- `run_beam_scan(snapshot, *, rules=(), config_path=None, at=None, pipeline_args=(),
  **run_scan_options) -> ScanResult`: `phiguard.runs.scan.run_scan` with `engine="beam"`:
  the same outputs, bundle and notes as a local scan, rendered from the assembled findings.
  `snapshot` items are local paths or `gs://bucket/prefix` URLs (a file or a folder/prefix,
  e.g. what `collect --export gs://...` writes), read in place through Beam's file systems.
  `pipeline_args` are standard Beam pipeline options (`--runner`, `--project`, `--region`,
  `--temp_location`, `--direct_running_mode`, ...); without `--runner`, DirectRunner.
- `BeamScan(paths, pack, config, *, at=None, pipeline_args=(), clock=None)`: the pipeline run
  and its assembled results, with the interface of `phiguard.scan.Scan` (`notes`,
  `run_info()`, `findings()`, `write_json(out, tally)`, `tally(tally)`, `waivers`), so
  `run_scan` renders every format from it exactly as from a local scan. Construction runs the
  pipeline; a bad input raises the same `SnapshotError` (file, line, what was expected) as the
  local engine, after the pipeline has validated every record and judged nothing.
- The findings JSON a Beam scan writes is byte-identical to the local engine's for the same
  inputs (tests/test_beam_identity.py). Findings carry the local order as sort keys (files
  sorted, records in file order, rules by id; policy-only assets, directory users, then the
  missing-source findings) and are written sharded by that key, then assembled in key order.

See docs/scale.md for what the pipeline broadcasts, what it groups, and how each grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phiguard.runs.scan import ScanResult

__all__ = ["run_beam_scan"]


def run_beam_scan(snapshot: Sequence[str | Path], *, rules: Sequence[Path] = (),
                  config_path: Path | None = None, at: datetime | None = None,
                  pipeline_args: Sequence[str] = (), **options: Any) -> ScanResult:
    """`run_scan` on the Beam engine (see the module docstring)."""
    from phiguard.runs.scan import run_scan

    return run_scan(list(snapshot), rules=rules, config_path=config_path, at=at,
                    engine="beam", pipeline_args=list(pipeline_args), **options)
