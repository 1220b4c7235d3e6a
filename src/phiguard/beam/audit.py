"""`audit --engine beam`: the audit's scan stage run as the Beam scan (phiguard.beam.scan).

The audit collects as it always does, then hands the collected snapshot to the Beam engine with
the pipeline options given after `--` (the runner is chosen by them: DirectRunner by default,
DataflowRunner with `--project`, `--region`, `--temp_location`, ...). The Beam scan has the
local scan's interface and findings, so the audit goes on as before: trend, bundle, HTML report
and the store stay where they are.

A remote runner's workers cannot read the machine running the audit, so for a runner other than
the local ones the collected snapshot is first copied under `--temp_location`
(`TEMP/phiguard-audit/<UTC time>-<pid>/`, through Beam's file systems) and removed after the
pipeline. apache_beam is imported only when this runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phiguard.beam.options import check_engine, pipeline_option, remote_runner

if TYPE_CHECKING:
    from phiguard.config import Config
    from phiguard.policy.rule import RulePack

__all__ = ["beam_job"]


def beam_job(snapshot: Path, pack: RulePack, config: Config, beam_args: Sequence[str],
             notify: Callable[[str], None] = lambda text: None) -> tuple[Any, str]:
    """Judge the collected `snapshot` directory on Beam: the finished `phiguard.beam` scan
    (the interface of `phiguard.scan.Scan`; constructing it runs the pipeline) and the root
    its input paths are under (the directory, or the Cloud Storage prefix it was copied to)."""
    check_engine("beam", beam_args)
    from phiguard.beam.scan import BeamScan

    source = str(snapshot)
    staged = None
    runner = remote_runner(beam_args)
    if runner is not None:
        temp = pipeline_option(beam_args, "temp_location")
        assert temp is not None  # check_engine
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        staged = source = f"{temp.rstrip('/')}/phiguard-audit/{stamp}-{os.getpid()}"
        count = _stage(snapshot, staged)
        notify(f"--runner {runner}: copied the collected snapshot ({count} files) to {staged}/ "
               "for the workers; it is removed after the pipeline")
    try:
        job = BeamScan([source], pack, config, pipeline_args=list(beam_args))
    finally:
        if staged is not None:
            _unstage(staged, notify)
    return job, source


def _stage(snapshot: Path, prefix: str) -> int:
    """Copy every file of the snapshot directory under `prefix` (Beam's file systems)."""
    from apache_beam.io.filesystems import FileSystems

    files = sorted(p for p in snapshot.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        target = f"{prefix}/{path.relative_to(snapshot).as_posix()}"
        with path.open("rb") as src, FileSystems.create(target) as dst:
            while block := src.read(8 << 20):
                dst.write(block)
    return len(files)


def _unstage(prefix: str, notify: Callable[[str], None]) -> None:
    from apache_beam.io.filesystems import FileSystems

    delete: Any = FileSystems.delete  # untyped in Beam
    try:
        delete([prefix + "/"])  # a path ending in / is removed recursively
    except Exception as exc:  # the run is done: say what is left behind
        notify(f"could not remove the staged snapshot {prefix}/: {exc}")
