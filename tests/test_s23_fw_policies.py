"""Firewall policies end to end: hierarchical and network firewall policy records
(`compute.googleapis.com/FirewallPolicy`) collected from the emulated Cloud Asset API and
scanned through the CLI, and the Terraform resources that make them judged by the plan gate
(NET-009, NET-010)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from _fw_records import AT, HIER, ORG, PHI_FOLDER, URL, _hierarchical, _rule
from _plans import change, plan_doc
from phiguard.cli import main
from phiguard.google import validate_resource
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import build_world

NONPHI_FOLDER = "folders/587410229415"
PHI_VPC = URL + "projects/oh-shared-net/global/networks/phi-vpc"
WEB_VPC = URL + "projects/oh-web-prod/global/networks/web-vpc"


def _network_policy(name: str, network: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": f"//compute.googleapis.com/projects/oh-shared-net/global/firewallPolicies/{name}",
        "asset_type": "compute.googleapis.com/FirewallPolicy",
        "resource": {
            "version": "v1",
            "discovery_document_uri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
            "discovery_name": "FirewallPolicy",
            "parent": "//cloudresourcemanager.googleapis.com/projects/731209564230",
            "data": {"kind": "compute#firewallPolicy", "id": "4400000000000000001", "name": name,
                     "selfLink": f"{URL}projects/oh-shared-net/global/firewallPolicies/{name}",
                     "associations": [{"name": f"{name}-assoc", "attachmentTarget": network}],
                     "rules": rules},
            "location": "global"},
        "ancestors": ["projects/731209564230", ORG], "update_time": "2026-11-20T08:00:00Z"}


# An organization-level allow of tcp:22 from anywhere (a silent pass before NET-009), a folder
# policy on the PHI folder opening postgres, one on the non-PHI folder doing the same (NET-010
# gives it no result), and a network policy on the PHI network that only allows IAP.
POLICIES = [
    _hierarchical("518217480321", "org-baseline", ORG,
                  [_rule(1000, "allow", ["0.0.0.0/0"], ["22"])]),
    _hierarchical("518217480330", "phi-folder", PHI_FOLDER,
                  [_rule(1000, "allow", ["0.0.0.0/0"], ["5432"])]),
    _hierarchical("518217480332", "nonphi-folder", NONPHI_FOLDER,
                  [_rule(1000, "allow", ["0.0.0.0/0"], ["5432"])]),
    _network_policy("phi-vpc-policy", PHI_VPC,
                    [_rule(900, "allow", ["35.235.240.0/20"], ["22"]),
                     _rule(1000, "deny", ["0.0.0.0/0"], ["22", "5432"])]),
]
EXPECTED = {
    ("NET-009", HIER + "518217480321"): "FAIL",
    ("NET-009", HIER + "518217480330"): "PASS",
    ("NET-009", HIER + "518217480332"): "PASS",
    ("NET-009", POLICIES[3]["name"]): "PASS",
    ("NET-010", HIER + "518217480321"): "FAIL",  # the organization is above PHI; 22 is admin
    ("NET-010", HIER + "518217480330"): "FAIL",
    ("NET-010", POLICIES[3]["name"]): "PASS",
}


def _verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["rule_id"], r["asset"]): r["outcome"] for r in doc["results"]
            if r["rule_id"] in ("NET-009", "NET-010")}


def test_policy_records_follow_googles_schema() -> None:
    """The records the tests below feed the emulator are compute v1 FirewallPolicy data."""
    for record in POLICIES:
        assert validate_resource(record["asset_type"], record["resource"]["data"]) == []


@pytest.mark.parametrize("method", [[], ["--export", "gs://phi-exports/nightly"]],
                         ids=["list", "export"])
def test_collected_policies_are_judged_through_the_cli(tmp_path: Path, demo_dir: Path,
                                                       method: list[str]) -> None:
    """The emulated Cloud Asset API serves the demo organization plus four firewall policies;
    `phiguard collect` lists (or exports) them with every other type and `phiguard scan`
    judges them: the organization's SSH rule fails NET-009 and NET-010, the PHI folder's
    postgres rule NET-010, the non-PHI folder's policy gets no NET-010 result."""
    from emulator import Emulator

    world = tmp_path / "org"
    shutil.copytree(demo_dir, world)
    with (world / "resources.ndjson").open("a") as extra:
        for record in POLICIES:
            extra.write(json.dumps(record) + "\n")
    with Emulator(world) as emu:
        emu.export.polls = 0  # the export is done at once
        result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
            "collect", "--org", "123456789012", "--output", str(tmp_path / "snap"),
            "--directory-customer", "my_customer", "--config", str(world / "phiguard.yaml"),
            *method], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    snap = b"".join(p.read_bytes() for p in (tmp_path / "snap").rglob("*.ndjson*")
                    if p.suffix == ".ndjson")
    assert b"firewallPolicies/518217480321" in snap
    out = tmp_path / "findings.json"
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "snap"), "--config",
                                       str(world / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out), "--at", AT], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    doc = json.loads(out.read_text())
    assert _verdicts(doc) == EXPECTED
    (finding,) = [r for r in doc["results"] if r["rule_id"] == "NET-010"
                  and r["asset"] == HIER + "518217480330"]
    assert "enforced on PHI" in finding["message"]


def test_an_export_without_the_attached_folder_is_unknown(tmp_path: Path, demo_dir: Path) -> None:
    """A policy attached to a folder the export does not hold: NET-010 cannot tell whether it
    reaches PHI and says so, never PASS."""
    snapshot = tmp_path / "export.ndjson"
    lines = (demo_dir / "resources.ndjson").read_text().splitlines()
    orphan = _hierarchical("518217480399", "elsewhere", "folders/999",
                           [_rule(1000, "allow", ["0.0.0.0/0"], ["5432"])])
    snapshot.write_text("\n".join([*lines, json.dumps(orphan)]) + "\n")
    out = tmp_path / "findings.json"
    result = CliRunner().invoke(main, ["scan", str(snapshot), "--config",
                                       str(demo_dir / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out), "--at", AT], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    (finding,) = [r for r in json.loads(out.read_text())["results"]
                  if r["rule_id"] == "NET-010" and r["asset"] == orphan["name"]]
    assert finding["outcome"] == "UNKNOWN"
    assert "folders/999 is not in the snapshot" in finding["message"]


def test_both_engines_judge_the_policies_alike(tmp_path: Path, demo_dir: Path) -> None:
    """The Beam engine's findings on the organization with its firewall policies (one attached
    to a folder the export does not hold) are the local engine's byte for byte."""
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    world = tmp_path / "org"
    shutil.copytree(demo_dir, world)
    orphan = _hierarchical("518217480399", "elsewhere", "folders/999",
                           [_rule(1000, "allow", ["0.0.0.0/0"], ["5432"])])
    with (world / "resources.ndjson").open("a") as extra:
        for record in [*POLICIES, orphan]:
            extra.write(json.dumps(record) + "\n")

    def scan(out: Path, **beam: Any) -> bytes:
        run_scan([world], config_path=world / "phiguard.yaml",
                 outputs=[Output("json", str(out), "--output")], at=parse_at(AT), **beam)
        return out.read_bytes()

    local = scan(tmp_path / "local.json")
    assert _verdicts(json.loads(local)) == {**EXPECTED, ("NET-009", orphan["name"]): "PASS",
                                            ("NET-010", orphan["name"]): "UNKNOWN"}
    beam = scan(tmp_path / "beam.json", engine="beam",
                pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert beam == local


# The plan gate ---------------------------------------------------------------------------------

def _org_plan(src: list[str], target: str = PHI_FOLDER) -> dict[str, Any]:
    """A new hierarchical policy (its number known only after apply), a rule and an association
    naming it through references, as Terraform configurations write them."""
    policy = change("google_compute_firewall_policy", "org",
                    {"parent": ORG, "short_name": "org-baseline", "description": None},
                    unknown={"name": True, "id": True})
    rule = change("google_compute_firewall_policy_rule", "ssh",
                  {"priority": 1000, "action": "allow", "direction": "INGRESS",
                   "disabled": False, "enable_logging": True, "target_resources": [],
                   "match": [{"src_ip_ranges": src, "src_fqdns": [], "src_region_codes": [],
                              "layer4_configs": [{"ip_protocol": "tcp", "ports": ["22"]}]}]},
                  unknown={"firewall_policy": True})
    association = change("google_compute_firewall_policy_association", "phi",
                         {"name": "org-baseline-phi", "attachment_target": target},
                         unknown={"firewall_policy": True})
    ref = {"firewall_policy": {"references": ["google_compute_firewall_policy.org.name",
                                              "google_compute_firewall_policy.org"]}}
    return plan_doc([policy, rule, association],
                    {"google_compute_firewall_policy_rule.ssh": ref,
                     "google_compute_firewall_policy_association.phi": ref})


def test_planned_rule_and_association_are_parts_of_the_policy_asset() -> None:
    """The rule and association resources land in the policy's `rules` and `associations`, in
    the REST shape (empty lists the API omits are left out), under the policy's CAI name."""
    world = build_world(parse_plan(orjson.dumps(_org_plan(["0.0.0.0/0"])), "plan.json"),
                        "after")
    (policy,) = [a for a in world.assets.values()
                 if a.asset_type == "compute.googleapis.com/FirewallPolicy"]
    assert policy.name == HIER + "(google_compute_firewall_policy.org)"
    assert policy.data["rules"] == [{
        "priority": 1000, "action": "allow", "direction": "INGRESS", "disabled": False,
        "enableLogging": True,
        "match": {"srcIpRanges": ["0.0.0.0/0"],
                  "layer4Configs": [{"ipProtocol": "tcp", "ports": ["22"]}]}}]
    assert policy.data["associations"] == [{"attachmentTarget": PHI_FOLDER,
                                            "name": "org-baseline-phi"}]
    assert validate_resource(policy.asset_type, policy.data) == []


def _gate(tmp_path: Path, demo_dir: Path, doc: dict[str, Any],
          *extra: str) -> tuple[int, dict[str, Any]]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    out = tmp_path / "gate.json"
    result = CliRunner().invoke(main, ["plan", str(plan), "--config",
                                       str(demo_dir / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out), "--at", AT, *extra], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(out.read_text())


def test_gate_fails_a_planned_org_rule_open_to_the_internet(tmp_path: Path,
                                                             demo_dir: Path) -> None:
    """`phiguard plan`: the planned SSH-from-anywhere rule fails NET-009; over the
    organization's snapshot the PHI folder it is attached to makes NET-010 fail too, and
    without the snapshot NET-010 cannot know the folder: UNKNOWN."""
    name = HIER + "(google_compute_firewall_policy.org)"
    code, doc = _gate(tmp_path, demo_dir, _org_plan(["0.0.0.0/0"]),
                      "--snapshot", str(demo_dir))
    assert code == 1
    got = {r["rule_id"]: r for r in doc["results"] if r["asset"] == name}
    assert got["NET-009"]["outcome"] == "FAIL"
    assert got["NET-010"]["outcome"] == "FAIL"
    # the policy is the first resource making the asset: its fix says which rule to change
    assert got["NET-009"]["terraform_fix"]["address"] == "google_compute_firewall_policy.org"
    assert "firewall_policy_rule" in got["NET-009"]["terraform_fix"]["note"]
    _, alone = _gate(tmp_path, demo_dir, _org_plan(["0.0.0.0/0"]))
    got = {r["rule_id"]: r["outcome"] for r in alone["results"] if r["asset"] == name}
    assert got == {"NET-009": "FAIL", "NET-010": "UNKNOWN"}


def test_gate_passes_the_rule_from_iap_only(tmp_path: Path, demo_dir: Path) -> None:
    name = HIER + "(google_compute_firewall_policy.org)"
    _, doc = _gate(tmp_path, demo_dir, _org_plan(["35.235.240.0/20"]),
                   "--snapshot", str(demo_dir))
    got = {r["rule_id"]: r["outcome"] for r in doc["results"] if r["asset"] == name}
    assert got == {"NET-009": "PASS", "NET-010": "PASS"}


def test_gate_network_policy_rule_on_the_phi_network(tmp_path: Path, demo_dir: Path) -> None:
    """A global network firewall policy associated with the PHI network through
    google_compute_network_firewall_policy_association; its rule opens every port."""
    project = "oh-shared-net"
    doc = plan_doc([
        change("google_compute_network_firewall_policy", "p",
               {"name": "phi-net-policy", "project": project}),
        change("google_compute_network_firewall_policy_rule", "all",
               {"firewall_policy": "phi-net-policy", "project": project, "priority": 100,
                "action": "allow", "direction": "INGRESS",
                "match": [{"src_ip_ranges": ["0.0.0.0/0"],
                           "layer4_configs": [{"ip_protocol": "all"}]}]}),
        change("google_compute_network_firewall_policy_association", "phi",
               {"name": "phi", "project": project, "firewall_policy": "phi-net-policy",
                "attachment_target": f"projects/{project}/global/networks/phi-vpc"}),
    ])
    code, got_doc = _gate(tmp_path, demo_dir, doc)
    assert code == 1
    name = f"//compute.googleapis.com/projects/{project}/global/firewallPolicies/phi-net-policy"
    got = {r["rule_id"]: r["outcome"] for r in got_doc["results"] if r["asset"] == name}
    assert got == {"NET-009": "FAIL", "NET-010": "FAIL"}


def test_gate_source_known_only_after_apply_is_unknown(tmp_path: Path, demo_dir: Path) -> None:
    """A planned SSH rule whose source ranges come from another resource's output (known only
    after apply) is UNKNOWN for NET-009, never PASS."""
    doc = _org_plan(["0.0.0.0/0"])
    rule = doc["resource_changes"][1]["change"]
    del rule["after"]["match"][0]["src_ip_ranges"]
    rule["after_unknown"]["match"] = [{"src_ip_ranges": True}]
    _, got_doc = _gate(tmp_path, demo_dir, doc, "--snapshot", str(demo_dir))
    name = HIER + "(google_compute_firewall_policy.org)"
    got = {r["rule_id"]: r["outcome"] for r in got_doc["results"] if r["asset"] == name}
    assert got == {"NET-009": "UNKNOWN", "NET-010": "UNKNOWN"}


def _existing_rule_change(actions: tuple[str, ...], after_src: list[str] | None
                          ) -> dict[str, Any]:
    """A change of the organization policy's existing SSH rule (priority 1000 of policy
    518217480321, which the snapshot holds): an update to another source, or a delete."""
    def rule(src: list[str]) -> dict[str, Any]:
        return {"firewall_policy": "518217480321", "priority": 1000, "action": "allow",
                "direction": "INGRESS", "disabled": False, "enable_logging": True,
                "target_resources": [], "description": None,
                "match": [{"src_ip_ranges": src, "src_fqdns": [], "src_region_codes": [],
                           "layer4_configs": [{"ip_protocol": "tcp", "ports": ["22"]}]}]}
    return plan_doc([change("google_compute_firewall_policy_rule", "ssh",
                            rule(after_src) if after_src is not None else None,
                            actions=actions, before=rule(["0.0.0.0/0"]))])


@pytest.mark.parametrize("actions,after_src", [(("update",), ["35.235.240.0/20"]),
                                                (("delete",), None)])
def test_gate_credits_a_change_to_a_rule_the_snapshot_holds(
        tmp_path: Path, demo_dir: Path, actions: tuple[str, ...],
        after_src: list[str] | None) -> None:
    """A plan that narrows (or deletes) the organization's SSH-from-anywhere rule replaces the
    rule of that priority in the policy the snapshot holds: the API keys a policy's rules by
    priority, so the snapshot's copy (with output-only fields the plan never shows) goes."""
    world = tmp_path / "org"
    shutil.copytree(demo_dir, world)
    with (world / "resources.ndjson").open("a") as extra:
        for record in POLICIES:
            extra.write(json.dumps(record) + "\n")
    _, doc = _gate(tmp_path, world, _existing_rule_change(actions, after_src),
                   "--snapshot", str(world), "--all")
    got = {r["rule_id"]: r["outcome"] for r in doc["results"]
           if r["asset"] == HIER + "518217480321"}
    assert got == {"NET-009": "PASS", "NET-010": "PASS"}
    (policy,) = [r for r in doc["results"] if r["asset"] == HIER + "518217480321"
                 and r["rule_id"] == "NET-009"]
    assert "0.0.0.0/0" not in json.dumps(policy["evidence"])
