"""A planned google_compute_instance for the `phiguard plan` tests of VM-001..005: its
attributes hardened as every VM rule asks, its network interface, the plan's VM results from
the CLI, and the instance the plan's world holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, make_plan, plan_doc
from phiguard.cli import main
from phiguard.inventory.asset import Asset
from phiguard.terraform.world import build_world


def nic(subnetwork: str, network: str | None = None, *, external: bool = False,
        ) -> dict[str, Any]:
    """A network interface on `subnetwork` (its `network` left out when None: known only after
    apply, or not configured); `external`: an `access_config {}` block, an ephemeral external
    address."""
    out: dict[str, Any] = {"subnetwork": subnetwork, "ipv6_access_config": [],
                           "access_config": [{"network_tier": "PREMIUM"}] if external else []}
    if network is not None:
        out["network"] = network
    return out


def hardened(name: str, project: str, account: str, interface: dict[str, Any],
             ) -> dict[str, Any]:
    """An instance's planned attributes with no forwarding, all Shielded VM options, OS Login,
    project SSH keys blocked and the serial console off, run as `account`@`project`."""
    return {"name": name, "project": project, "zone": "us-east4-a", "can_ip_forward": False,
            "deletion_protection": True,
            "metadata": {"enable-oslogin": "TRUE", "enable-oslogin-2fa": "TRUE",
                         "block-project-ssh-keys": "TRUE", "serial-port-enable": "FALSE"},
            "shielded_instance_config": [{"enable_secure_boot": True, "enable_vtpm": True,
                                          "enable_integrity_monitoring": True}],
            "service_account": [{"email": f"{account}@{project}.iam.gserviceaccount.com",
                                 "scopes": ["logging-write"]}],
            "network_interface": [interface]}


def vm_results(tmp_path: Path, changes: list[dict[str, Any]],
               config: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """`phiguard plan` on these changes (fixtures/plans/phiguard.yaml: phi-prod is PHI) as
    JSON: each VM-* rule's result by rule id."""
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(plan_doc(changes, config)))
    result = CliRunner().invoke(main, ["plan", str(plan), "-c", str(PLANS / "phiguard.yaml"),
                                       "--at", "2026-11-25T00:00:00Z", "-f", "json"],
                                catch_exceptions=False)
    doc = json.loads(result.stdout)
    return {r["rule_id"]: r for r in doc["results"] if r["rule_id"].startswith("VM-")}


def planned_instance(after: dict[str, Any], unknown: Any = None,
                     config: dict[str, dict[str, Any]] | None = None) -> Asset:
    """The Compute Engine instance the plan's world after apply holds for
    google_compute_instance.x."""
    world = build_world(make_plan([change("google_compute_instance", "x", after,
                                          unknown=unknown)], config), "after")
    (asset,) = [a for a in world.assets.values()
                if a.asset_type == "compute.googleapis.com/Instance"]
    return asset
