"""GKE clusters and node pools in a plan: the hardening attributes GKE-001..009 read become the
REST fields CAI shows, and a planned cluster is judged by them (PASS hardened, FAIL lax)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _paths import PLANS
from _plans import change, make_plan, plan_doc
from phiguard.cli import main
from phiguard.terraform.world import build_world

P = "phi-prod"
GKE = [f"GKE-00{n}" for n in range(1, 10)]

HARDENED: dict[str, Any] = {
    "name": "phi-gke", "project": P, "location": "us-east4", "network": "phi-vpc",
    "remove_default_node_pool": False,
    "node_config": [{"service_account": f"gke-nodes@{P}.iam.gserviceaccount.com",
                     "shielded_instance_config": [{"enable_secure_boot": True}]}],
    "private_cluster_config": [{"enable_private_nodes": True, "enable_private_endpoint": True}],
    "master_authorized_networks_config": [{"cidr_blocks": [
        {"cidr_block": "10.10.0.0/20", "display_name": "phi-app"}]}],
    "enable_legacy_abac": False,
    "datapath_provider": "ADVANCED_DATAPATH",
    "enable_shielded_nodes": True,
    "workload_identity_config": [{"workload_pool": f"{P}.svc.id.goog"}],
    "binary_authorization": [{"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}],
    "security_posture_config": [{"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_BASIC"}],
    "release_channel": [{"channel": "REGULAR"}],
    "node_pool": [{"name": "batch", "management": [{"auto_upgrade": True}],
                   "node_config": [{"service_account": f"gke-nodes@{P}.iam.gserviceaccount.com",
                                    "shielded_instance_config": [
                                        {"enable_secure_boot": True}]}]}],
}

LAX: dict[str, Any] = {
    **HARDENED,
    "private_cluster_config": [{"enable_private_nodes": False, "enable_private_endpoint": False}],
    "master_authorized_networks_config": [{"cidr_blocks": [
        {"cidr_block": "0.0.0.0/0", "display_name": "anywhere"}]}],
    "enable_legacy_abac": True,
    "datapath_provider": "LEGACY_DATAPATH",
    "network_policy": [{"enabled": False, "provider": "CALICO"}],
    "enable_shielded_nodes": False,
    "workload_identity_config": [],
    "binary_authorization": [{"evaluation_mode": "DISABLED"}],
    "security_posture_config": [{"mode": "BASIC",
                                 "vulnerability_mode": "VULNERABILITY_DISABLED"}],
    "release_channel": [{"channel": "UNSPECIFIED"}],
    "node_pool": [{"name": "batch", "management": [{"auto_upgrade": False}],
                   "node_config": [{"shielded_instance_config": [
                       {"enable_secure_boot": False}]}]}],
}


def _cluster(after: dict[str, Any]) -> dict[str, Any]:
    plan = make_plan([change("google_container_cluster", "phi", after)])
    (asset,) = build_world(plan, "after").assets.values()
    return asset.data


def test_hardening_attributes_become_rest_fields() -> None:
    data = _cluster(HARDENED)
    assert data["privateClusterConfig"] == {"enablePrivateNodes": True,
                                            "enablePrivateEndpoint": True}
    assert data["masterAuthorizedNetworksConfig"] == {
        "enabled": True, "cidrBlocks": [{"cidrBlock": "10.10.0.0/20", "displayName": "phi-app"}]}
    assert data["legacyAbac"] == {"enabled": False}
    assert data["networkConfig"]["datapathProvider"] == "ADVANCED_DATAPATH"
    assert data["shieldedNodes"] == {"enabled": True}
    assert data["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert data["securityPostureConfig"] == {"mode": "BASIC",
                                             "vulnerabilityMode": "VULNERABILITY_BASIC"}
    assert data["releaseChannel"] == {"channel": "REGULAR"}
    default, batch = data["nodePools"]
    assert default["config"]["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert batch["management"] == {"autoUpgrade": True}
    # the default pool sets no management: in a release channel auto-upgrade is always on
    assert default["management"] == {"autoUpgrade": True}
    off_channel = _cluster({**HARDENED, "release_channel": [{"channel": "UNSPECIFIED"}]})
    assert "management" not in off_channel["nodePools"][0]


def test_cluster_without_authorized_networks_block_has_them_off() -> None:
    data = _cluster({k: v for k, v in HARDENED.items()
                     if k != "master_authorized_networks_config"})
    assert "masterAuthorizedNetworksConfig" not in data


def test_node_pool_resource_carries_secure_boot_and_auto_upgrade() -> None:
    pool = {"name": "general", "project": P, "location": "us-east4", "cluster": "phi-gke",
            "management": [{"auto_upgrade": False}],
            "network_config": [{"enable_private_nodes": True}],
            "node_config": [{"shielded_instance_config": [{"enable_secure_boot": True}]}]}
    plan = make_plan([change("google_container_node_pool", "general", pool)])
    (asset,) = [a for a in build_world(plan, "after").assets.values()
                if a.asset_type == "container.googleapis.com/NodePool"]
    assert asset.data["config"]["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    assert asset.data["management"] == {"autoUpgrade": False}
    assert asset.data["networkConfig"] == {"enablePrivateNodes": True}


def _outcomes(after: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc([change("google_container_cluster", "phi", after)])))
    config = tmp_path / "phiguard.yaml"  # GKE-008 is optional (a deprecated GKE feature)
    config.write_text((PLANS / "phiguard.yaml").read_text() + "rules: {enable: [GKE-008]}\n")
    result = CliRunner().invoke(main, ["plan", str(plan), "-c", str(config), "-f", "json"],
                                catch_exceptions=False)
    doc = json.loads(result.stdout)
    return {r["rule_id"]: r["outcome"] for r in doc["results"] if r["rule_id"] in GKE}


def test_planned_hardened_cluster_passes_every_gke_rule(tmp_path: Path) -> None:
    assert _outcomes(HARDENED, tmp_path) == dict.fromkeys(GKE, "PASS")


def test_planned_lax_cluster_fails_every_gke_rule(tmp_path: Path) -> None:
    assert _outcomes(LAX, tmp_path) == dict.fromkeys(GKE, "FAIL")


def _regional(configured: dict[str, Any]) -> dict[str, Any]:
    """A planned regional cluster whose node_locations are known only after apply; the
    configuration block sets `configured` (an expression per attribute)."""
    after = {k: v for k, v in HARDENED.items() if k != "node_locations"}
    plan = make_plan([change("google_container_cluster", "phi", after,
                             unknown={"node_locations": True})],
                     {"google_container_cluster.phi": configured})
    (asset,) = build_world(plan, "after").assets.values()
    return asset.data


def test_regional_node_zones_the_configuration_leaves_to_gke_are_not_listed() -> None:
    """node_locations the configuration does not set are GKE's choice (the region's zones):
    the converted record lists none, as the API's own would not narrow them, so DR-004 judges
    the cluster as regional instead of UNKNOWN; node_locations set from another resource's
    output stay unknown."""
    from phiguard.inventory.asset import UnknownValue

    left = _regional({"name": {"constant_value": "phi-gke"}})
    assert "locations" not in left
    assert left["location"] == "us-east4"
    computed = _regional({"node_locations": {"references": ["local.zones"]}})
    assert isinstance(computed.get("locations"), UnknownValue)
