"""Firewall evaluation order end to end: an organization-level firewall policy `deny`
reached first shadows a folder policy's allow (NET-009), and the scan, the Beam engine and the
plan gate (the deny planned) agree."""

from __future__ import annotations

from pathlib import Path

from _fw_records import (
    DENY,
    FOLDER_ALLOW,
    HIER,
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
from phiguard.google import validate_resource


def test_records_follow_googles_schema() -> None:
    for record in (ORG_DENY, FOLDER_ALLOW, ORG_DELEGATES):
        assert validate_resource(record["asset_type"], record["resource"]["data"]) == []


def test_scan_credits_the_org_deny_and_beam_agrees(tmp_path: Path, demo_dir: Path) -> None:
    world = _world(tmp_path, demo_dir, ORG_DENY, FOLDER_ALLOW)
    local = _scan(world, tmp_path / "local.json")
    allow = _finding(local, "NET-009", FOLDER_ALLOW["name"])
    assert allow["outcome"] == "PASS"
    # the evidence shows the deny that shadows the rule, where it stands
    denies = [e for e in allow["evidence"] if e["value"] == DENY]
    assert denies and "rules[0]" in denies[0]["path"]
    assert _finding(local, "NET-009", ORG_DENY["name"])["outcome"] == "PASS"
    beam = _scan(world, tmp_path / "beam.json", engine="beam",
                 pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert beam == local


def test_a_goto_next_above_the_deny_leaves_the_rules_failing(tmp_path: Path,
                                                             demo_dir: Path) -> None:
    world = _world(tmp_path, demo_dir, ORG_DELEGATES, FOLDER_ALLOW)
    doc = _scan(world, tmp_path / "local.json")
    assert _finding(doc, "NET-009", FOLDER_ALLOW["name"])["outcome"] == "FAIL"


def test_gate_credits_a_planned_org_deny_as_the_scan_does(tmp_path: Path,
                                                         demo_dir: Path) -> None:
    """The plan adds the organization's deny over the demo snapshot and the PHI folder's SSH
    allow: the gate judges the folder policy as a scan of the applied organization would."""
    world = _world(tmp_path, demo_dir, FOLDER_ALLOW)
    for ports, outcome in ((["22"], "PASS"), (["3389"], "FAIL")):
        gate = _gate(tmp_path, world, _planned_org_deny(ports))
        assert _finding(gate, "NET-009", FOLDER_ALLOW["name"])["outcome"] == outcome
        planned = HIER + "(google_compute_firewall_policy.org)"
        assert _finding(gate, "NET-009", planned)["outcome"] == "PASS"
        applied = _hierarchical("518217480509", "org-deny-admin", ORG,
                                [_rule(100, "deny", ["0.0.0.0/0"], ports)])
        scan = _scan(_world(tmp_path / ports[0], demo_dir, FOLDER_ALLOW, applied),
                     tmp_path / "scan.json")
        assert _finding(scan, "NET-009", FOLDER_ALLOW["name"])["outcome"] == outcome
