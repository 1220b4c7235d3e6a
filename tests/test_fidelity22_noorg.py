"""A PHI project with no organization (Cloud Asset Inventory lists only the project itself in
its `ancestors`, and its Resource Manager v1 record has no `parent`) is fully placed: no
folder or organization is above it, so a grant on a folder or organization is known not to
reach it. A project whose chain is merely not shown (a plan's project, a record without its
resource) stays unplaced: a grant above it is of unknown reach."""

from __future__ import annotations

from typing import Any

from _crm import CRM, ORG, SA_MEMBER, SA_NAME, account
from _crm import web as web_project
from _paths import RULES
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule

PHI_CONFIG = PhiConfig(projects=frozenset({"phi-solo"}))


def phi_solo(parent: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"projectNumber": "111111111111", "projectId": "phi-solo",
                            "lifecycleState": "ACTIVE", "name": "phi-solo"}
    if parent is not None:
        data["parent"] = parent
    return {"name": CRM + "projects/111111111111",
            "asset_type": "cloudresourcemanager.googleapis.com/Project",
            "resource": {"version": "v1", "discovery_name": "Project", "data": data},
            "ancestors": ["projects/111111111111"]}


def web() -> list[dict[str, Any]]:
    """web-prod, its folder (the deployer an Editor there), the organization (a Viewer there)
    and the deployer."""
    return [
        web_project(),
        {"name": CRM + "folders/444", "asset_type": "cloudresourcemanager.googleapis.com/Folder",
         "resource": {"data": {"name": "folders/444", "parent": ORG, "displayName": "web"}},
         "ancestors": ["folders/444", ORG],
         "iam_policy": {"bindings": [{"role": "roles/editor",
                                      "members": [SA_MEMBER]}]}},
        {"name": CRM + ORG, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
         "resource": {"data": {"name": ORG, "displayName": "example-health.com"}},
         "ancestors": [ORG],
         "iam_policy": {"bindings": [{"role": "roles/viewer",
                                      "members": [SA_MEMBER]}]}},
        account(),
    ]


def test_a_no_organization_phi_project_is_placed() -> None:
    inv = Inventory(assets_from_records([phi_solo(), *web()]), phi=PHI_CONFIG)
    assert inv.scope.unplaced == ()
    assert inv.reach(CRM + ORG) is False
    assert inv.reach(CRM + "folders/444") is False


def test_iam_001_judges_folder_grants_beside_a_no_organization_phi_project() -> None:
    """An Editor on a folder that cannot be above the no-org PHI project reaches no PHI:
    PASS (UNKNOWN before, as if the PHI project's place were not known)."""
    rule = load_rule(RULES / "hipaa" / "IAM-001" / "rule.yaml")
    found = run_rule(rule, assets_from_records([phi_solo(), *web()]),
                     config={"phi": {"projects": ["phi-solo"]}})
    assert found[SA_NAME].outcome.value == "PASS", found[SA_NAME].message


def test_a_project_record_with_a_parent_but_no_chain_stays_unplaced() -> None:
    """A record naming a parent folder the ancestors do not show is not a no-org project."""
    inv = Inventory(assets_from_records([phi_solo({"type": "folder", "id": "999"}), *web()]),
                    phi=PHI_CONFIG)
    assert "phi-solo" in inv.scope.unplaced
    assert isinstance(inv.reach(CRM + ORG), UnknownValue)


def test_a_project_known_without_its_resource_stays_unplaced() -> None:
    """Only the project's IAM policy line (no resource record): whether it has a parent is
    not shown, so a grant above it may reach it."""
    record = phi_solo()
    del record["resource"]
    record["iam_policy"] = {"bindings": []}
    inv = Inventory(assets_from_records([record, *web()]), phi=PHI_CONFIG)
    assert "phi-solo" in inv.scope.unplaced
    assert isinstance(inv.reach(CRM + ORG), UnknownValue)


def test_a_plans_project_without_a_parent_stays_unplaced() -> None:
    """A plan's project (no CAI content types) with no parent shown: not placed."""
    from phiguard.inventory.asset import Asset
    planned = Asset(name=CRM + "projects/111111111111",
                    asset_type="cloudresourcemanager.googleapis.com/Project",
                    data={"projectId": "phi-solo", "name": "phi-solo"},
                    ancestors=("projects/111111111111",))
    inv = Inventory([planned, *assets_from_records(web())], phi=PHI_CONFIG)
    assert "phi-solo" in inv.scope.unplaced
