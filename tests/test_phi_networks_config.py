"""`phi.networks` names each network with its project: a network's name is unique only within
its project, so a bare name (`phi-vpc`, `default`) would put a network of that name in every
project in PHI scope. It is refused with the file and line (exit 2), never matched anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main
from phiguard.config import load_config
from phiguard.errors import ConfigError, RuleError
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule

CONFIG = """\
organization: "123456789012"
phi:
  projects: [phi-prod]
  networks:
    - https://www.googleapis.com/compute/v1/projects/shared/global/networks/phi-vpc
    - {entry}
"""


@pytest.mark.parametrize("entry", ["phi-vpc", "global/networks/phi-vpc", "default",
                                   "projects/shared/regions/us-east4/subnetworks/app"])
def test_a_network_without_its_project_is_refused_at_its_line(tmp_path: Path,
                                                              entry: str) -> None:
    path = tmp_path / "phiguard.yaml"
    path.write_text(CONFIG.format(entry=entry))
    with pytest.raises(ConfigError, match="must name its project") as info:
        load_config(path)
    assert (info.value.file, info.value.line) == (str(path), 6)
    result = CliRunner().invoke(main, ["scan", str(tmp_path), "-c", str(path)])
    assert result.exit_code == 2
    assert f"{path}:6" in result.output and "must name its project" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("entry", [
    "projects/shared/global/networks/default",
    "//compute.googleapis.com/projects/shared/global/networks/default",
    "https://compute.googleapis.com/compute/v1/projects/shared/global/networks/default"])
def test_each_spelling_naming_the_project_is_accepted(tmp_path: Path, entry: str) -> None:
    path = tmp_path / "phiguard.yaml"
    path.write_text(CONFIG.format(entry=entry))
    assert len(load_config(path).phi.networks) == 2


def test_a_network_is_phi_only_in_its_own_project() -> None:
    """The `default` network of one project is PHI; another project's `default` is not."""
    inv = Inventory([], phi=PhiConfig(networks=frozenset({
        "projects/shared/global/networks/default"})))
    assert inv.scope.network_is_phi(
        "https://www.googleapis.com/compute/v1/projects/shared/global/networks/default")
    assert not inv.scope.network_is_phi("projects/web-prod/global/networks/default")
    assert not inv.scope.network_is_phi("default")


def test_the_api_and_rule_examples_refuse_a_bare_name_too() -> None:
    with pytest.raises(ValueError, match="must name its project"):
        PhiConfig(networks=frozenset({"phi-vpc"}))
    rule = load_rule(RULES / "hipaa" / "IAM-001" / "rule.yaml")
    with pytest.raises(RuleError, match="must name its project"):
        run_rule(rule, assets_from_records([]), config={"phi": {"networks": ["phi-vpc"]}})


def test_the_effective_config_records_the_networks_as_written(tmp_path: Path) -> None:
    path = tmp_path / "phiguard.yaml"
    path.write_text(CONFIG.format(entry="projects/a/global/networks/b"))
    recorded = json.loads(json.dumps(load_config(path).to_json()))["phi"]["networks"]
    assert recorded == ["https://www.googleapis.com/compute/v1/projects/shared/global/networks/phi-vpc",
                        "projects/a/global/networks/b"]
