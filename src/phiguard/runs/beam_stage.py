"""`audit --engine beam`: the audit's scan stage run as an Apache Beam pipeline (phiguard.beam).

The audit collects as it always does, then hands the collected snapshot to the Beam engine with
the pipeline options given after `--` (the runner is chosen by them: DirectRunner by default,
DataflowRunner with `--project`, `--region`, `--temp_location`, ...). The Beam scan has the
local scan's interface and findings (phiguard.beam), so the audit goes on as before: trend,
bundle, HTML report and the store stay where they are.

A remote runner's workers cannot read the machine running the audit, so for a runner other than
the local ones the collected snapshot is first copied under `--temp_location`
(`TEMP/phiguard-audit/<UTC time>-<pid>/`, through Beam's file systems) and removed after the
pipeline. Apache Beam is imported only here and only for `--engine beam`: the default install
does not have it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phiguard.errors import UsageError

if TYPE_CHECKING:
    from phiguard.config import Config
    from phiguard.policy.rule import RulePack

__all__ = ["ENGINES", "beam_job", "check_engine", "collected_path", "pipeline_option",
           "remote_runner"]

ENGINES = ("local", "beam")
# Runners that run in this process or on this machine, so they read local paths.
LOCAL_RUNNERS = frozenset({"directrunner", "direct", "prismrunner", "prism",
                           "interactiverunner", "fnapirunner"})
INSTALL_HINT = "pip install 'phiguard[beam]'"


def pipeline_option(args: Sequence[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` among Beam pipeline options (the last one
    given wins, as Beam's own parser does), or None."""
    found = None
    flag = f"--{name}"
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(flag + "="):
            found = arg[len(flag) + 1:]
    return found


def remote_runner(args: Sequence[str]) -> str | None:
    """The runner named by `--runner` when its workers are not this machine, else None."""
    runner = pipeline_option(args, "runner")
    if runner is None or runner.lower() in LOCAL_RUNNERS:
        return None
    return runner


def check_engine(engine: str, beam_args: Sequence[str]) -> None:
    """Before any work: the engine can run with the options given (UsageError, exit 2)."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine}: expected one of {', '.join(ENGINES)}")
    if engine != "beam":
        if beam_args:
            raise UsageError(f"{' '.join(beam_args)}: pipeline options after -- are for "
                             "--engine beam")
        return
    from importlib.util import find_spec

    if find_spec("apache_beam") is None:
        raise UsageError(f"--engine beam needs Apache Beam, which the default install leaves "
                         f"out: {INSTALL_HINT}")
    runner = remote_runner(beam_args)
    if runner is not None:
        temp = pipeline_option(beam_args, "temp_location")
        if temp is None or not temp.startswith("gs://"):
            raise UsageError(f"--runner {runner}: its workers read the collected snapshot from "
                             "Cloud Storage: give --temp_location gs://BUCKET/PREFIX among the "
                             "pipeline options (after --)")


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


def collected_path(path: str, root: str) -> str:
    """An input's path in the run metadata of a collected snapshot: `collected:` and its place
    in the snapshot (local directory or staged Cloud Storage prefix)."""
    if root.startswith("gs://"):
        return "collected:" + path.removeprefix(root.rstrip("/") + "/")
    return "collected:" + str(Path(path).relative_to(root))


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
