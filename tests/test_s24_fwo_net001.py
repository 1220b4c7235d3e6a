"""NET-001 and the firewall evaluation order: a VPC rule admitting SSH/RDP from the internet
passes when the organization's firewall policy, evaluated before every VPC rule, certainly
denies that traffic first; the scan, the Beam engine and the plan gate (the deny planned, or
the VPC rule planned) agree, and a snapshot without firewall policies credits nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _fw_records import (
    DENY,
    FOLDER_ALLOW,
    ORG,
    ORG_DELEGATES,
    ORG_DENY,
    _finding,
    _gate,
    _hierarchical,
    _planned_org_deny,
    _rule,
    _scan,
    _world,
)
from _plans import change, plan_doc

# The demo's VPC rule admitting tcp:22 from 0.0.0.0/0 (NET-001 FAIL at the session's start).
FAX = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/phi-allow-ssh-legacy-fax"


def test_scan_credits_the_org_deny_and_beam_agrees(tmp_path: Path, demo_dir: Path) -> None:
    world = _world(tmp_path, demo_dir, ORG_DENY, FOLDER_ALLOW)
    local = _scan(world, tmp_path / "local.json")
    fax = _finding(local, "NET-001", FAX)
    assert fax["outcome"] == "PASS"
    # the evidence shows the deny that shadows the rule, where it stands
    denies = [e for e in fax["evidence"] if e["value"] == DENY]
    assert denies and "rules[0]" in denies[0]["path"]
    beam = _scan(world, tmp_path / "beam.json", engine="beam",
                 pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert beam == local


def test_a_goto_next_above_the_deny_leaves_the_vpc_rule_failing(tmp_path: Path,
                                                                demo_dir: Path) -> None:
    doc = _scan(_world(tmp_path, demo_dir, ORG_DELEGATES), tmp_path / "local.json")
    assert _finding(doc, "NET-001", FAX)["outcome"] == "FAIL"


def test_without_firewall_policies_nothing_is_credited(tmp_path: Path, demo_dir: Path) -> None:
    """An export that does not say it collected firewall policies and holds none: the VPC
    rule fails as it did before, and the run names the type as missing for NET-001."""
    lines = (demo_dir / "resources.ndjson").read_text().splitlines()
    export = tmp_path / "export.ndjson"
    export.write_text("\n".join(lines) + "\n")
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    out = tmp_path / "out.json"
    run_scan([export], config_path=demo_dir / "phiguard.yaml",
             outputs=[Output("json", str(out), "--output")], at=parse_at("2026-11-25T00:00:00Z"))
    doc = json.loads(out.read_bytes())
    assert _finding(doc, "NET-001", FAX)["outcome"] == "FAIL"
    missing = {m["asset_type"]: m["rules"] for m in doc["run"]["asset_types_missing"]}
    assert "NET-001" in missing["compute.googleapis.com/FirewallPolicy"]


@pytest.mark.parametrize(("ports", "outcome"), [(["22"], "PASS"), (["3389"], "FAIL")])
def test_gate_credits_a_planned_org_deny_as_the_scan_does(
        tmp_path: Path, demo_dir: Path, ports: list[str], outcome: str) -> None:
    """The plan adds the organization's deny over the demo snapshot: the gate judges the
    snapshot's VPC rule as a scan of the applied organization would."""
    gate = _gate(tmp_path, demo_dir, _planned_org_deny(ports))
    assert _finding(gate, "NET-001", FAX)["outcome"] == outcome
    applied = _hierarchical("518217480509", "org-deny-admin", ORG,
                            [_rule(100, "deny", ["0.0.0.0/0"], ports)])
    scan = _scan(_world(tmp_path, demo_dir, applied), tmp_path / "scan.json")
    assert _finding(scan, "NET-001", FAX)["outcome"] == outcome


def test_gate_credits_the_snapshots_org_deny_to_a_planned_vpc_rule(tmp_path: Path,
                                                                   demo_dir: Path) -> None:
    doc = plan_doc([change("google_compute_firewall", "ssh", {
        "name": "allow-ssh-world", "project": "oh-shared-net", "network": "phi-vpc",
        "direction": "INGRESS", "priority": 1000, "disabled": False,
        "source_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "tcp", "ports": ["22"]}],
        "deny": [], "source_tags": [], "target_tags": []})])
    name = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/allow-ssh-world"
    gate = _gate(tmp_path, _world(tmp_path / "a", demo_dir, ORG_DENY), doc)
    assert _finding(gate, "NET-001", name)["outcome"] == "PASS"
    gate = _gate(tmp_path, _world(tmp_path / "b", demo_dir, ORG_DELEGATES), doc)
    assert _finding(gate, "NET-001", name)["outcome"] == "FAIL"
