"""Firewall evaluation order end to end: an organization-level firewall policy `deny`
reached first shadows a folder policy's allow (NET-009), and the scan, the Beam engine and the
plan gate (the deny planned) agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _plans import change, plan_doc
from phiguard.cli import main
from phiguard.google import validate_resource
from test_s23_fw_policies import HIER, ORG, PHI_FOLDER, _hierarchical, _rule

AT = "2026-11-25T00:00:00Z"
DENY = _rule(100, "deny", ["0.0.0.0/0", "::/0"], ["22", "3389"])
ORG_DENY = _hierarchical("518217480501", "org-deny-admin", ORG, [DENY])
FOLDER_ALLOW = _hierarchical("518217480502", "phi-folder-ssh", PHI_FOLDER,
                             [_rule(1000, "allow", ["0.0.0.0/0"], ["22"])])
# The same organization policy with a goto_next for tcp:22 above its deny.
ORG_DELEGATES = _hierarchical("518217480503", "org-delegate", ORG,
                              [_rule(50, "goto_next", ["0.0.0.0/0"], ["22"]), DENY])


def _world(tmp_path: Path, demo_dir: Path, *records: dict[str, Any]) -> Path:
    world = tmp_path / "org"
    shutil.copytree(demo_dir, world)
    with (world / "resources.ndjson").open("a") as extra:
        for record in records:
            extra.write(json.dumps(record) + "\n")
    return world


def _scan(world: Path, out: Path, **beam: Any) -> dict[str, Any]:
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    run_scan([world], config_path=world / "phiguard.yaml",
             outputs=[Output("json", str(out), "--output")], at=parse_at(AT), **beam)
    doc: dict[str, Any] = json.loads(out.read_bytes())
    return doc


def _finding(doc: dict[str, Any], rule: str, asset: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in doc["results"]
                                   if r["rule_id"] == rule and r["asset"] == asset]
    assert len(found) == 1
    return found[0]


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


def _gate(tmp_path: Path, snapshot: Path, doc: dict[str, Any]) -> dict[str, Any]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    out = tmp_path / "gate.json"
    result = CliRunner().invoke(main, ["plan", str(plan), "--config",
                                       str(snapshot / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out), "--at", AT, "--snapshot", str(snapshot),
                                       "--all"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    got: dict[str, Any] = json.loads(out.read_text())
    return got


def _planned_org_deny(ports: list[str]) -> dict[str, Any]:
    """A new organization policy, its deny rule and its association with the organization."""
    policy = change("google_compute_firewall_policy", "org",
                    {"parent": ORG, "short_name": "org-deny-admin", "description": None},
                    unknown={"name": True, "id": True})
    rule = change("google_compute_firewall_policy_rule", "deny",
                  {"priority": 100, "action": "deny", "direction": "INGRESS",
                   "disabled": False, "enable_logging": True, "target_resources": [],
                   "match": [{"src_ip_ranges": ["0.0.0.0/0"], "src_fqdns": [],
                              "src_region_codes": [],
                              "layer4_configs": [{"ip_protocol": "tcp", "ports": ports}]}]},
                  unknown={"firewall_policy": True})
    association = change("google_compute_firewall_policy_association", "org",
                         {"name": "org-deny-admin-org", "attachment_target": ORG},
                         unknown={"firewall_policy": True})
    ref = {"firewall_policy": {"references": ["google_compute_firewall_policy.org.name",
                                              "google_compute_firewall_policy.org"]}}
    return plan_doc([policy, rule, association],
                    {"google_compute_firewall_policy_rule.deny": ref,
                     "google_compute_firewall_policy_association.org": ref})


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
