"""Firewall policy records and runs shared by the firewall policy tests (NET-001, NET-009,
NET-010): hierarchical policy records as Cloud Asset Inventory writes them, the demo org with
records added, a scan through run_scan and the plan gate through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _plans import change, plan_doc
from phiguard.cli import main

ORG = "organizations/123456789012"
PHI_FOLDER = "folders/587410229301"
URL = "https://www.googleapis.com/compute/v1/"
HIER = "//compute.googleapis.com/locations/global/firewallPolicies/"
AT = "2026-11-25T00:00:00Z"


def _rule(priority: int, action: str, src: list[str], ports: list[str],
          **extra: Any) -> dict[str, Any]:
    return {"kind": "compute#firewallPolicyRule", "priority": priority, "action": action,
            "direction": "INGRESS", "enableLogging": True,
            "match": {"srcIpRanges": src,
                      "layer4Configs": [{"ipProtocol": "tcp", "ports": ports}]}, **extra}


def _goto_next() -> dict[str, Any]:
    return {"kind": "compute#firewallPolicyRule", "priority": 2147483647, "action": "goto_next",
            "direction": "INGRESS",
            "match": {"srcIpRanges": ["0.0.0.0/0"], "layer4Configs": [{"ipProtocol": "all"}]}}


def _hierarchical(number: str, short: str, target: str,
                  rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": HIER + number, "asset_type": "compute.googleapis.com/FirewallPolicy",
        "resource": {
            "version": "v1",
            "discovery_document_uri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
            "discovery_name": "FirewallPolicy",
            "parent": f"//cloudresourcemanager.googleapis.com/{ORG}",
            "data": {"kind": "compute#firewallPolicy", "id": number, "name": number,
                     "shortName": short, "parent": ORG,
                     "selfLink": f"{URL}locations/global/firewallPolicies/{number}",
                     "associations": [{"name": f"{short}-assoc", "attachmentTarget": target,
                                       "firewallPolicyId": number, "shortName": short}],
                     "rules": [*rules, _goto_next()]},
            "location": "global"},
        "ancestors": [ORG], "update_time": "2026-11-20T08:00:00Z"}


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
