"""`find within: nonphi` and a planned candidate whose PHI scope is known only after apply (a
subnetwork whose network the plan does not know yet): it may be PHI or not, so it stands in
the found list as an unknown value, never counted as non-PHI (NET-004 FAILed on it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.cli import main

PHI_NET = "projects/phi-prod/global/networks/phi-vpc"
WEB_NET = "projects/web-prod/global/networks/web-vpc"


def _firewall() -> dict[str, Any]:
    return change("google_compute_firewall", "lan", {
        "name": "allow-lan", "project": "phi-prod", "network": PHI_NET, "direction": "INGRESS",
        "allow": [{"protocol": "tcp", "ports": ["443"]}], "deny": [],
        "source_ranges": ["10.1.0.0/16"], "disabled": False, "priority": 1000,
        "log_config": [{"metadata": "INCLUDE_ALL_METADATA"}]})


def _subnetwork(network: str | None) -> dict[str, Any]:
    after: dict[str, Any] = {"name": "batch", "project": "web-prod", "region": "us-east4",
                             "ip_cidr_range": "10.1.0.0/20", "secondary_ip_range": [],
                             "private_ip_google_access": True}
    if network is not None:
        after["network"] = network
    return change("google_compute_subnetwork", "batch", after,
                  unknown={} if network is not None else {"network": True})


def _net_004(tmp_path: Path, subnetwork: dict[str, Any]) -> dict[str, Any]:
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(plan_doc([_firewall(), subnetwork])))
    result = CliRunner().invoke(main, ["plan", str(plan), "-c", str(PLANS / "phiguard.yaml"),
                                       "--at", "2026-11-25T00:00:00Z", "-f", "json"],
                                catch_exceptions=False)
    doc = json.loads(result.stdout)
    [found] = [r for r in doc["results"] if r["rule_id"] == "NET-004"]
    return found  # type: ignore[no-any-return]


def test_a_subnetwork_of_unknown_scope_is_not_counted_as_non_phi(tmp_path: Path) -> None:
    found = _net_004(tmp_path, _subnetwork(None))
    assert found["outcome"] == "UNKNOWN", found["message"]
    assert "known only after apply" in found["message"]


def test_a_known_non_phi_subnetwork_still_fails(tmp_path: Path) -> None:
    assert _net_004(tmp_path, _subnetwork(WEB_NET))["outcome"] == "FAIL"


def test_a_known_phi_subnetwork_is_left_out(tmp_path: Path) -> None:
    assert _net_004(tmp_path, _subnetwork(PHI_NET))["outcome"] == "PASS"
