"""Policies of ancestors the snapshot does not hold: a project-scoped export lists a project's
folders and organization in its `ancestors` but holds no record of them, so their audit
configs, bindings and org policies are not known. A verdict that an ancestor's policy could
change is UNKNOWN, naming the ancestors; one it cannot change stands. A folder or organization
the snapshot does hold, with no IAM policy line, has no policy (today's reading)."""

from __future__ import annotations

from typing import Any

import pytest

from _paths import RULES
from phiguard.findings import Finding
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule

CRM = "//cloudresourcemanager.googleapis.com/"
ORG = "organizations/123456789012"
FOLDER = "folders/222"
ANC = ["projects/111111111111", FOLDER, ORG]
PROJECT = CRM + "projects/111111111111"
CONFIG = {"phi": {"projects": ["phi-prod"]}}
ALL_TYPES = ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]


def project() -> dict[str, Any]:
    return {"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
            "resource": {"data": {"projectNumber": "111111111111", "projectId": "phi-prod",
                                  "lifecycleState": "ACTIVE",
                                  "parent": {"type": "folder", "id": "222"}}},
            "ancestors": ANC}


def audit(service: str = "allServices", types: list[str] = ALL_TYPES,
          exempted: list[str] | None = None) -> dict[str, Any]:
    configs: list[dict[str, Any]] = []
    for t in types:
        c: dict[str, Any] = {"logType": t}
        if exempted:
            c["exemptedMembers"] = exempted
        configs.append(c)
    return {"service": service, "auditLogConfigs": configs}


def policy(name: str, asset_type: str, ancestors: list[str], *,
           bindings: list[dict[str, Any]] | None = None,
           configs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"version": 1, "etag": "BwYb1xF3kQ0=", "bindings": bindings or []}
    if configs:
        body["auditConfigs"] = configs
    return {"name": name, "asset_type": asset_type, "iam_policy": body, "ancestors": ancestors}


def project_policy(**kw: Any) -> dict[str, Any]:
    return policy(PROJECT, "cloudresourcemanager.googleapis.com/Project", ANC, **kw)


def folder(with_policy: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rec = {"name": CRM + FOLDER, "asset_type": "cloudresourcemanager.googleapis.com/Folder",
           "resource": {"data": {"name": FOLDER, "displayName": "phi", "parent": ORG,
                                 "state": "ACTIVE"}},
           "ancestors": [FOLDER, ORG]}
    out = [rec]
    if with_policy is not None:
        out.append(policy(CRM + FOLDER, "cloudresourcemanager.googleapis.com/Folder",
                          [FOLDER, ORG], **with_policy))
    return out


def org(with_policy: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rec = {"name": CRM + ORG, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
           "resource": {"data": {"name": ORG, "displayName": "example-health.com",
                                 "owner": {"directoryCustomerId": "C0abc1234"},
                                 "lifecycleState": "ACTIVE"}},
           "ancestors": [ORG]}
    out = [rec]
    if with_policy is not None:
        out.append(policy(CRM + ORG, "cloudresourcemanager.googleapis.com/Organization",
                          [ORG], **with_policy))
    return out


def judge(rule_id: str, records: list[dict[str, Any]]) -> Finding:
    rule = load_rule(RULES / "hipaa" / rule_id / "rule.yaml")
    return run_rule(rule, assets_from_records(records), config=CONFIG)[PROJECT]


# audit configs (LOG-001, LOG-010) ------------------------------------------------------------

@pytest.mark.parametrize("rule_id", ["LOG-001", "LOG-010"])
def test_missing_ancestors_make_a_failing_project_unknown(rule_id: str) -> None:
    """A project-scoped export: the project has no audit config of its own; the organization
    (not in the snapshot) may enable every log for allServices. It FAILed before."""
    found = judge(rule_id, [project(), project_policy()])
    assert found.outcome.value == "UNKNOWN", found.message
    assert FOLDER in found.message and ORG in found.message


@pytest.mark.parametrize("rule_id", ["LOG-001", "LOG-010"])
def test_missing_ancestors_make_a_passing_project_unknown(rule_id: str) -> None:
    """Complete logs on the project itself: an absent ancestor could still exempt members."""
    found = judge(rule_id, [project(), project_policy(configs=[audit()])])
    assert found.outcome.value == "UNKNOWN", found.message
    assert ORG in found.message


@pytest.mark.parametrize("rule_id", ["LOG-001", "LOG-010"])
def test_a_known_exemption_fails_whatever_the_missing_ancestors(rule_id: str) -> None:
    """An exemption anywhere in the chain fails: no ancestor can take it back."""
    found = judge(rule_id, [project(), project_policy(
        configs=[audit(exempted=["user:ann@example-health.com"])])])
    assert found.outcome.value == "FAIL", found.message


@pytest.mark.parametrize("rule_id", ["LOG-001", "LOG-010"])
def test_held_ancestors_without_a_policy_line_have_no_policy(rule_id: str) -> None:
    """Folder and organization in the snapshot, IAM content held, no policy line for them:
    no audit config there (as before)."""
    records = [project(), project_policy(), *folder(), *org()]
    assert judge(rule_id, records).outcome.value == "FAIL"
    records = [project(), project_policy(configs=[audit()]), *folder(), *org()]
    assert judge(rule_id, records).outcome.value == "PASS"


@pytest.mark.parametrize("rule_id", ["LOG-001", "LOG-010"])
def test_an_ancestor_known_by_its_policy_line_alone_counts_as_held(rule_id: str) -> None:
    records = [project(), project_policy(),
               policy(CRM + FOLDER, "cloudresourcemanager.googleapis.com/Folder",
                      [FOLDER, ORG]),
               policy(CRM + ORG, "cloudresourcemanager.googleapis.com/Organization", [ORG],
                      configs=[audit()])]
    assert judge(rule_id, records).outcome.value == "PASS"


def test_only_the_missing_ancestor_is_named() -> None:
    found = judge("LOG-001", [project(), project_policy(), *folder()])
    assert found.outcome.value == "UNKNOWN"
    assert ORG in found.message and FOLDER not in found.message


def test_a_project_without_organization_is_complete() -> None:
    """A no-organization project: its ancestors are itself alone, nothing is missing."""
    rec = project()
    rec["ancestors"] = ["projects/111111111111"]
    del rec["resource"]["data"]["parent"]
    pol = project_policy(configs=[audit()])
    pol["ancestors"] = ["projects/111111111111"]
    assert judge("LOG-010", [rec, pol]).outcome.value == "PASS"


# effective IAM (IAM-007 and the rules reading bindings through ancestors) ----------------------

def test_effective_iam_pass_is_unknown_when_ancestors_are_missing() -> None:
    """No basic role on the project: the organization, not in the snapshot, may grant one."""
    records = [project(), project_policy(bindings=[
        {"role": "roles/cloudsql.viewer", "members": ["group:eng@example-health.com"]}])]
    found = judge("IAM-007", records)
    assert found.outcome.value == "UNKNOWN", found.message
    assert ORG in found.message
    assert judge("IAM-007", [*records, *folder(), *org()]).outcome.value == "PASS"


def test_effective_iam_fail_on_a_known_binding_stands() -> None:
    records = [project(), project_policy(bindings=[
        {"role": "roles/owner", "members": ["user:ann@example-health.com"]}])]
    assert judge("IAM-007", records).outcome.value == "FAIL"


@pytest.mark.parametrize("rule_id", ["SOD-001", "JIT-001", "IAM-009", "IAM-010"])
def test_effective_iam_rules_are_unknown_on_missing_ancestors(rule_id: str) -> None:
    records = [project(), project_policy(bindings=[
        {"role": "roles/cloudsql.viewer", "members": ["group:eng@example-health.com"]}])]
    assert judge(rule_id, records).outcome.value == "UNKNOWN"
    assert judge(rule_id, [*records, *folder(), *org()]).outcome.value == "PASS"


# org policies (GRD rules) ---------------------------------------------------------------------

def org_policy_record(name: str, asset_type: str, ancestors: list[str],
                      policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "asset_type": asset_type, "org_policy": policies,
            "ancestors": ancestors}


SQL_IP = "constraints/sql.restrictPublicIp"


def test_org_policy_inherited_from_a_missing_organization_is_unknown() -> None:
    """No policy on the project for the constraint: the absent organization may enforce it."""
    records = [project(), project_policy(),
               org_policy_record(PROJECT, "cloudresourcemanager.googleapis.com/Project", ANC,
                                 [{"constraint": "constraints/compute.vmExternalIpAccess",
                                   "listPolicy": {"allValues": "DENY"}}])]
    found = judge("GRD-001", records)
    assert found.outcome.value == "UNKNOWN", found.message
    assert ORG in found.message
    assert judge("GRD-001", [*records, *folder(), *org()]).outcome.value == "FAIL"


@pytest.mark.parametrize(("enforced", "outcome"), [(True, "PASS"), (False, "FAIL")])
def test_org_policy_set_on_the_project_stands(enforced: bool, outcome: str) -> None:
    """A boolean policy set on the project decides whatever its ancestors set."""
    records = [project(), project_policy(),
               org_policy_record(PROJECT, "cloudresourcemanager.googleapis.com/Project", ANC,
                                 [{"constraint": SQL_IP,
                                   "booleanPolicy": {"enforced": enforced}}])]
    assert judge("GRD-001", records).outcome.value == outcome


def test_org_policy_merging_with_a_missing_parent_is_unknown() -> None:
    """A list policy that inherits from its parent merges with a policy the snapshot lacks."""
    from phiguard.inventory.asset import UnknownValue
    from phiguard.inventory.inventory import Inventory
    from phiguard.inventory.scope import PhiConfig
    constraint = "constraints/gcp.resourceLocations"
    records = [project(), org_policy_record(
        PROJECT, "cloudresourcemanager.googleapis.com/Project", ANC,
        [{"constraint": constraint,
          "listPolicy": {"allowedValues": ["in:us-locations"], "inheritFromParent": True}}])]
    inv = Inventory(assets_from_records(records), phi=PhiConfig(projects=frozenset({"phi-prod"})))
    asset = inv.get(PROJECT)
    assert asset is not None
    found = inv.org_policy(asset, constraint)
    assert isinstance(found, UnknownValue)
    assert ORG in found.why
    held = Inventory(assets_from_records([*records, *folder(), *org()]),
                     phi=PhiConfig(projects=frozenset({"phi-prod"})))
    asset = held.get(PROJECT)
    assert asset is not None
    result = held.org_policy(asset, constraint)
    assert isinstance(result, dict) and result["allowedValues"] == ["in:us-locations"]
    records[1]["org_policy"][0]["listPolicy"]["inheritFromParent"] = False
    alone = Inventory(assets_from_records(records),
                      phi=PhiConfig(projects=frozenset({"phi-prod"})))
    asset = alone.get(PROJECT)
    assert asset is not None
    assert isinstance(alone.org_policy(asset, constraint), dict)
