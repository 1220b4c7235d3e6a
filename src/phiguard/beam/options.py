"""The engine and Beam pipeline options a scan or an audit is given, checked before any work.

Plain Python (no apache_beam import): `phiguard.beam.scan`, `phiguard.beam.audit` and
`phiguard.runs` read the runner and its `--temp_location` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from phiguard.errors import UsageError

__all__ = ["ENGINES", "INSTALL_HINT", "LOCAL_RUNNERS", "check_engine", "local_runner",
           "pipeline_option", "remote_runner"]

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


def local_runner(args: Sequence[str]) -> Any | None:
    """The runner object for a run on this machine, or None to let Beam build the one
    `--runner` names.

    Beam's DirectRunner (the default runner) first tries the Prism runner, and Prism fetches
    its binary from GitHub at run time unless `--prism_location` names a local copy. phiguard
    never downloads a program while it runs, so DirectRunner here is the runner DirectRunner
    falls back to when Prism is unavailable, Beam's FnApiRunner (which honours
    `--direct_running_mode` and `--direct_num_workers`), given the pipeline options the same
    way; and PrismRunner needs a local `--prism_location`."""
    name = (pipeline_option(args, "runner") or "DirectRunner").lower()
    _refuse_download(args)
    if name not in ("directrunner", "direct"):
        return None
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(
        PipelineOptions(list(args)).get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def _refuse_download(args: Sequence[str]) -> None:
    runner = pipeline_option(args, "runner")
    if runner is None or runner.lower() not in ("prismrunner", "prism"):
        return
    location = pipeline_option(args, "prism_location")
    if not location or "://" in location:
        raise UsageError(f"--runner {runner}: Beam downloads the Prism binary from GitHub "
                         "unless --prism_location names a copy on this machine: give "
                         "--prism_location PATH, or use the DirectRunner")


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
    _refuse_download(beam_args)
    runner = remote_runner(beam_args)
    if runner is not None:
        temp = pipeline_option(beam_args, "temp_location")
        if temp is None or not temp.startswith("gs://"):
            raise UsageError(f"--runner {runner}: its workers read the collected snapshot from "
                             "Cloud Storage: give --temp_location gs://BUCKET/PREFIX among the "
                             "pipeline options (after --)")
