"""The runner a local Beam scan gets: never one that downloads a program at run time.

Beam's DirectRunner first tries Prism, whose binary Beam fetches from GitHub when no local copy
is named; phiguard runs DirectRunner scans on the FnApiRunner instead (what DirectRunner falls
back to), and refuses PrismRunner without a local --prism_location.
"""

from __future__ import annotations

import pytest

pytest.importorskip("apache_beam")

from apache_beam.runners.portability.fn_api_runner import fn_runner

from phiguard.beam.options import check_engine, local_runner
from phiguard.errors import UsageError


@pytest.mark.parametrize("args", [[], ["--runner", "DirectRunner"], ["--runner=direct"],
                                  ["--runner", "DirectRunner", "--direct_running_mode",
                                   "multi_processing", "--direct_num_workers", "2"]])
def test_direct_runner_is_the_fn_api_runner(args: list[str]) -> None:
    runner = local_runner(args)
    assert isinstance(runner, fn_runner.FnApiRunner)


def test_the_fn_api_runner_carries_the_pipeline_options() -> None:
    runner = local_runner(["--direct_running_mode", "multi_processing",
                           "--direct_num_workers", "2"])
    options = runner._provision_info.provision_info.pipeline_options
    assert options["beam:option:direct_running_mode:v1"] == "multi_processing"
    assert str(options["beam:option:direct_num_workers:v1"]) == "2"


@pytest.mark.parametrize("args", [["--runner", "PrismRunner"], ["--runner=prism"],
                                  ["--runner", "PrismRunner", "--prism_location",
                                   "https://github.com/apache/beam/releases/x.zip"]])
def test_prism_without_a_local_binary_is_refused_before_any_work(args: list[str]) -> None:
    with pytest.raises(UsageError, match="--prism_location"):
        check_engine("beam", args)
    with pytest.raises(UsageError, match="downloads the Prism binary"):
        local_runner(args)


def test_prism_with_a_local_binary_and_remote_runners_are_left_to_beam() -> None:
    assert local_runner(["--runner", "PrismRunner", "--prism_location", "/opt/prism"]) is None
    assert local_runner(["--runner", "DataflowRunner", "--temp_location", "gs://b/t"]) is None
