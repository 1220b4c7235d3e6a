"""A grant on the project that hosts a PHI network (a Shared VPC host outside the PHI projects)
reaches PHI: the network, its subnetworks, firewalls and routes are in PHI scope and inherit the
project's policy (so IAM-001 FAILs a security admin there, as it does on a PHI project), and so
does a grant on a folder above that project. Another non-PHI project's does not."""

from __future__ import annotations

from typing import Any

from _paths import RULES
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule

CRM = "//cloudresourcemanager.googleapis.com/"
ORG = "organizations/123456789012"
HOST_ANC = ["projects/222222222222", "folders/555", ORG]
WEB_ANC = ["projects/333333333333", "folders/444", ORG]
PHI_ANC = ["projects/111111111111", "folders/666", ORG]
PHI_VPC = "https://www.googleapis.com/compute/v1/projects/shared-net/global/networks/phi-vpc"
CONFIG = {"phi": {"projects": ["phi-prod"], "networks": [PHI_VPC]}}


def project(number: str, project_id: str, ancestors: list[str],
            member: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f"{CRM}projects/{number}",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {"data": {"projectNumber": number, "projectId": project_id,
                              "lifecycleState": "ACTIVE",
                              "parent": {"type": "folder", "id": ancestors[1].split("/")[1]}}},
        "ancestors": ancestors}
    if member is not None:
        out["iam_policy"] = {"version": 1, "etag": "BwYb1xF3kQ2=", "bindings": [
            {"role": "roles/compute.securityAdmin", "members": [member]}]}
    return out


def account(name: str) -> tuple[dict[str, Any], str]:
    email = f"{name}@web-prod.iam.gserviceaccount.com"
    return {"name": f"//iam.googleapis.com/projects/web-prod/serviceAccounts/{name}1",
            "asset_type": "iam.googleapis.com/ServiceAccount",
            "resource": {"data": {"name": f"projects/web-prod/serviceAccounts/{email}",
                                  "projectId": "web-prod", "uniqueId": f"{name}1",
                                  "email": email}},
            "ancestors": WEB_ANC}, f"serviceAccount:{email}"


def test_a_grant_on_a_phi_network_host_project_reaches_phi() -> None:
    on_host, host_member = account("netops")
    on_web, web_member = account("webops")
    records = [on_host, on_web, project("111111111111", "phi-prod", PHI_ANC),
               project("222222222222", "shared-net", HOST_ANC, host_member),
               project("333333333333", "web-prod", WEB_ANC, web_member)]
    found = run_rule(load_rule(RULES / "hipaa" / "IAM-001" / "rule.yaml"),
                     assets_from_records(records), config=CONFIG)
    assert found[on_host["name"]].outcome.value == "FAIL"
    assert found[on_web["name"]].outcome.value == "PASS"


def test_the_host_and_the_nodes_above_it_reach_phi() -> None:
    records = [project("111111111111", "phi-prod", PHI_ANC),
               project("222222222222", "shared-net", HOST_ANC),
               project("333333333333", "web-prod", WEB_ANC)]
    inv = Inventory(assets_from_records(records),
                    phi=PhiConfig(projects=frozenset({"phi-prod"}),
                                  networks=frozenset({PHI_VPC})))
    assert inv.reach(CRM + "projects/222222222222") is True
    assert inv.facts(inv.get(CRM + "projects/222222222222"))["phi"] is False  # reach only
    assert inv.reach(CRM + "folders/555") is True
    assert inv.reach(CRM + "projects/333333333333") is False
    assert inv.reach(CRM + "folders/444") is False
