"""`grants within: phi` on folders and the organization: a grant there reaches PHI when the node
is known to be above a PHI project, does not when it is known not to be, and is UNKNOWN (naming
the PHI project whose place is missing) otherwise; never "no PHI" on missing data."""

from __future__ import annotations

from typing import Any

import pytest

from _crm import CONFIG, CRM, ORG, PHI_ANC, SA_MEMBER, SA_NAME, account, project, user, web
from _paths import RULES
from phiguard.findings import Finding
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule


def node(name: str, ancestors: list[str], role: str | None = None,
         member: str = SA_MEMBER) -> dict[str, Any]:
    folder = name.startswith("folders/")
    data: dict[str, Any] = {"name": name, "displayName": name.rsplit("/", 1)[-1],
                            "lifecycleState": "ACTIVE"}
    if folder:
        data["parent"] = ancestors[1]
    else:
        data["owner"] = {"directoryCustomerId": "C0abc1234"}
    out: dict[str, Any] = {
        "name": CRM + name,
        "asset_type": "cloudresourcemanager.googleapis.com/" + (
            "Folder" if folder else "Organization"),
        "resource": {"data": data}, "ancestors": ancestors}
    if role is not None:
        out["iam_policy"] = {"version": 1, "etag": "BwYb1xF3kQ1=",
                             "bindings": [{"role": role, "members": [member]}]}
    return out


WEB = web()
PHI = project("111111111111", "phi-prod", PHI_ANC)


def iam_001(records: list[dict[str, Any]], config: dict[str, Any] = CONFIG) -> Finding:
    found = run_rule(load_rule(RULES / "hipaa" / "IAM-001" / "rule.yaml"),
                     assets_from_records(records), config=config)
    return found[SA_NAME]


@pytest.mark.parametrize("grant_on", ["folders/444", ORG])
def test_a_node_grant_is_unknown_when_the_phi_project_is_not_in_the_snapshot(
        grant_on: str) -> None:
    """phi-prod is configured but absent: the web folder or the organization may be above it,
    so an Editor grant there is UNKNOWN (it PASSed before, as if it reached no PHI)."""
    grants = [node(ORG, [ORG], "roles/editor" if grant_on == ORG else None),
              node("folders/444", ["folders/444", ORG],
                   "roles/editor" if grant_on != ORG else None)]
    found = iam_001([account(), WEB, *grants])
    assert found.outcome.value == "UNKNOWN"
    assert "phi-prod" in found.message
    assert grant_on in found.message


@pytest.mark.parametrize(("grant_on", "outcome"), [
    ("folders/444", "PASS"),  # known not to be above phi-prod
    ("folders/222", "FAIL"),  # above phi-prod
    (ORG, "FAIL"),
])
def test_a_node_grant_is_judged_when_the_phi_projects_place_is_known(
        grant_on: str, outcome: str) -> None:
    records = [account(), WEB, PHI,
               node(ORG, [ORG], "roles/editor" if grant_on == ORG else None)]
    for folder in ("folders/222", "folders/444"):
        records.append(node(folder, [folder, ORG],
                            "roles/editor" if grant_on == folder else None))
    assert iam_001(records).outcome.value == outcome


def test_mfa_001_judges_a_person_whose_only_grant_is_on_the_organization() -> None:
    """A directory user without 2SV whose only grant is on the organization is judged while
    the PHI project's place is not known (no result before: "reaches no PHI"); the evidence
    says the grant's reach is unknown and why. (The engine reports a FAIL whose `when` is
    UNKNOWN as FAIL: a rule-engine question, not settled here.)"""
    member = "user:ann@example-health.com"
    records = [WEB, node(ORG, [ORG], "roles/viewer", member)]
    rule = load_rule(RULES / "hipaa" / "MFA-001" / "rule.yaml")
    users = [user("ann@example-health.com")]
    found = run_rule(rule, assets_from_records(records, users=users), config=CONFIG)
    [finding] = found.values()
    assert finding.outcome.value != "PASS"
    grants = dict(finding.evidence)["grants"]
    assert "phi-prod" in str(grants) and ORG in str(grants)
    placed = run_rule(rule, assets_from_records([*records, PHI], users=users), config=CONFIG)
    assert [f.outcome.value for f in placed.values()] == ["FAIL"]


def _inventory(records: list[dict[str, Any]], **phi: Any) -> Inventory:
    return Inventory(assets_from_records(records), phi=PhiConfig(**phi))


def _without_and_with(folder: str, records: list[dict[str, Any]],
                      **phi: Any) -> tuple[Inventory, Inventory]:
    """These records and the organization (a Viewer granted there), without and with the
    record of `folder` (directly under the organization)."""
    records = [*records, node(ORG, [ORG], "roles/viewer")]
    return (_inventory(records, **phi),
            _inventory([*records, node(folder, [folder, ORG])], **phi))


def test_a_chain_ending_at_a_folder_is_continued_from_the_folders_record() -> None:
    """A planned project may show only its folder: the organization above that folder is
    known from the folder's own record; without it the organization's reach is unknown."""
    planned = project("111111111111", "phi-prod", ["projects/111111111111", "folders/222"])
    alone, placed = _without_and_with("folders/222", [planned],
                                      projects=frozenset({"phi-prod"}))
    assert isinstance(alone.reach(CRM + ORG), UnknownValue)
    assert alone.reach(CRM + "folders/222") is True
    assert placed.reach(CRM + ORG) is True
    assert placed.reach(CRM + "folders/444") is False
    assert placed.facts(placed.get(CRM + ORG))["phi_reach"] is True  # type: ignore[arg-type]


def test_a_phi_folder_not_placed_leaves_the_organizations_reach_unknown() -> None:
    """A configured PHI folder the input does not place may be below any organization."""
    inv, placed = _without_and_with("folders/999", [WEB], folders=frozenset({"folders/999"}))
    reach = inv.reach(CRM + ORG)
    assert isinstance(reach, UnknownValue)
    assert "folders/999" in reach.why
    assert inv.reach(CRM + "folders/999") is True
    assert placed.reach(CRM + ORG) is True
    assert placed.reach(CRM + "folders/444") is False


def test_reach_and_phi_reach_agree_on_nodes() -> None:
    """`grants within: phi` (reach) and the facts' `phi_reach` give the same answer."""
    inv = _inventory([WEB, node(ORG, [ORG], "roles/viewer"),
                      node("folders/444", ["folders/444", ORG], "roles/viewer")],
                     projects=frozenset({"phi-prod"}))
    for name in (CRM + ORG, CRM + "folders/444"):
        fact = inv.facts(inv.get(name))["phi_reach"]  # type: ignore[arg-type]
        assert isinstance(fact, UnknownValue)
        assert fact == inv.reach(name)
        assert fact.why == inv.reach(name).why  # type: ignore[union-attr]
