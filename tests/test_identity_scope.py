"""Identity rules judge what can reach PHI, with the organization's own domains, and a failure's
evidence starts with what failed (issue 10, precision)."""

from __future__ import annotations

from typing import Any

import pytest

from _paths import RULES
from phiguard.findings import Finding
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import Rule, load_rule
from phiguard.testing import assets_from_records, run_rule

CRM = "//cloudresourcemanager.googleapis.com/"
ORG = "organizations/123456789012"
PHI_ANC = ["projects/111111111111", "folders/222", ORG]
WEB_ANC = ["projects/333333333333", "folders/444", ORG]
CONFIG = {"phi": {"projects": ["phi-prod"]}}
SA_TYPE = "iam.googleapis.com/ServiceAccount"
KEY_TYPE = "iam.googleapis.com/ServiceAccountKey"


def rule(rule_id: str) -> Rule:
    return load_rule(RULES / "hipaa" / rule_id / "rule.yaml")


def organization(display_name: str | None = "example-health.com") -> dict[str, Any]:
    data: dict[str, Any] = {"name": ORG, "owner": {"directoryCustomerId": "C0abc1234"},
                            "lifecycleState": "ACTIVE"}
    if display_name is not None:
        data["displayName"] = display_name
    return {"name": CRM + ORG, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
            "resource": {"data": data}, "ancestors": [ORG]}


def project(number: str, project_id: str, ancestors: list[str],
            bindings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"projectNumber": number, "projectId": project_id,
                            "lifecycleState": "ACTIVE"}
    if len(ancestors) > 1:
        kind, ident = ancestors[1].split("/")
        data["parent"] = {"type": kind.removesuffix("s"),
                          "id": ident}
    out: dict[str, Any] = {"name": f"{CRM}projects/{number}",
                           "asset_type": "cloudresourcemanager.googleapis.com/Project",
                           "resource": {"data": data}, "ancestors": ancestors}
    if bindings is not None:
        out["iam_policy"] = {"version": 1, "etag": "BwYb1xF3kQ0=", "bindings": bindings}
    return out


def folder(number: str, bindings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f"{CRM}folders/{number}",
        "asset_type": "cloudresourcemanager.googleapis.com/Folder",
        "resource": {"data": {"name": f"folders/{number}", "parent": ORG,
                              "displayName": f"f{number}", "lifecycleState": "ACTIVE"}},
        "ancestors": [f"folders/{number}", ORG]}
    if bindings is not None:
        out["iam_policy"] = {"version": 1, "etag": "BwYb1xF3kQ1=", "bindings": bindings}
    return out


def user(email: str, aliases: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "admin#directory#user", "id": str(abs(hash(email)) % 10**20),
                           "primaryEmail": email, "isAdmin": False, "isDelegatedAdmin": False,
                           "suspended": False, "archived": False, "isEnrolledIn2Sv": True,
                           "isEnforcedIn2Sv": True, **fields}
    if aliases:
        out["aliases"] = aliases
    return out


def account(email: str, uid: str, project_id: str, ancestors: list[str]) -> dict[str, Any]:
    return {"name": f"//iam.googleapis.com/projects/{project_id}/serviceAccounts/{uid}",
            "asset_type": SA_TYPE,
            "resource": {"data": {"name": f"projects/{project_id}/serviceAccounts/{email}",
                                  "projectId": project_id, "uniqueId": uid, "email": email}},
            "ancestors": ancestors}


def old_key(account_name: str, key_id: str, ancestors: list[str]) -> dict[str, Any]:
    return {"name": f"{account_name}/keys/{key_id}", "asset_type": KEY_TYPE,
            "resource": {"data": {"validAfterTime": "2026-01-05T09:00:00Z",
                                  "validBeforeTime": "9999-12-31T23:59:59Z",
                                  "keyAlgorithm": "KEY_ALG_RSA_2048",
                                  "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED"}},
            "ancestors": ancestors}


def judge(rule_id: str, records: list[dict[str, Any]], users: list[dict[str, Any]] | None = None,
          params: dict[str, Any] | None = None) -> dict[str, Finding]:
    return run_rule(rule(rule_id), assets_from_records(records, users=users), config=CONFIG,
                    params=params)


def bucket(name: str, ancestors: list[str], members: list[str]) -> dict[str, Any]:
    return {"name": f"//storage.googleapis.com/{name}",
            "asset_type": "storage.googleapis.com/Bucket",
            "resource": {"data": {"name": name}}, "ancestors": ancestors,
            "iam_policy": {"bindings": [{"role": "roles/storage.objectViewer",
                                         "members": members}]}}


BASE = [project("111111111111", "phi-prod", PHI_ANC), project("333333333333", "web-prod", WEB_ANC),
        folder("222"), folder("444")]


# MFA-004: the organization's own domains -------------------------------------------------------

def test_outside_identity_defaults_to_the_organizations_domains() -> None:
    """No allowed_domains configured: the Organization's displayName and the directory users'
    domains (primary and aliases) are the organization's; nothing else is."""
    members = ["user:ann@example-health.com", "group:ops@eh-clinics.org"]
    users = [user("ann@example-health.com"), user("bo@example-health.com", ["bo@eh-clinics.org"])]
    good = bucket("phi-prod-a", PHI_ANC, members)
    bad = bucket("phi-prod-b", PHI_ANC, ["user:ann@example-health.com", "domain:partner.org"])
    found = judge("MFA-004", [good, bad, organization(), *BASE], users=users)
    assert found[good["name"]].outcome.value == "PASS"
    assert found[bad["name"]].outcome.value == "FAIL"
    # the failing member comes first in the evidence
    assert found[bad["name"]].evidence[0] == ("iam_policy.bindings[0].members[1]",
                                              "domain:partner.org")


def test_without_the_directory_another_domain_is_unknown_not_fail() -> None:
    primary = bucket("phi-prod-a", PHI_ANC, ["user:ann@example-health.com"])
    other = bucket("phi-prod-b", PHI_ANC, ["group:ops@eh-clinics.org"])
    consumer = bucket("phi-prod-c", PHI_ANC, ["user:someone@gmail.com"])
    found = judge("MFA-004", [primary, other, consumer, organization(), *BASE])
    assert found[primary["name"]].outcome.value == "PASS"
    assert found[other["name"]].outcome.value == "UNKNOWN"
    assert "no directory users" in found[other["name"]].message
    assert found[consumer["name"]].outcome.value == "FAIL"  # a consumer domain never passes


def test_with_neither_organization_name_nor_directory_every_domain_is_unknown() -> None:
    own = bucket("phi-prod-a", PHI_ANC, ["user:ann@example-health.com"])
    found = judge("MFA-004", [own, organization(display_name=None), *BASE])
    assert found[own["name"]].outcome.value == "UNKNOWN"


def test_configured_allowed_domains_win_over_the_organizations() -> None:
    own = bucket("phi-prod-a", PHI_ANC, ["user:ann@example-health.com"])
    partner = bucket("phi-prod-b", PHI_ANC, ["domain:partner.org"])
    found = judge("MFA-004", [own, partner, organization(), *BASE],
                  users=[user("ann@example-health.com")],
                  params={"allowed_domains": ["partner.org"]})
    assert found[own["name"]].outcome.value == "FAIL"
    assert found[partner["name"]].outcome.value == "PASS"


def test_outside_identities_are_judged_where_they_reach_phi() -> None:
    """A policy on a non-PHI project's resource gives no result; one on a folder above a PHI
    project is judged, as is the PHI project's."""
    web = bucket("web-prod-assets", WEB_ANC, ["user:designer@gmail.com"])
    phi_folder = folder("222", [{"role": "roles/viewer", "members": ["user:x@gmail.com"]}])
    web_folder = folder("444", [{"role": "roles/viewer", "members": ["user:y@gmail.com"]}])
    records = [web, phi_folder, web_folder, organization(),
               project("111111111111", "phi-prod", PHI_ANC),
               project("333333333333", "web-prod", WEB_ANC)]
    found = judge("MFA-004", records, users=[user("ann@example-health.com")])
    assert web["name"] not in found
    assert web_folder["name"] not in found
    assert found[phi_folder["name"]].outcome.value == "FAIL"


def test_phi_reach_of_a_folder_is_unknown_when_phi_projects_have_no_known_ancestry() -> None:
    """A Terraform plan without a snapshot may not place the PHI project under any folder:
    then a folder's reach is not known (and MFA-004 still judges its grants)."""
    # A plan's project (no CAI content types): a snapshot's record listing the project alone
    # in its ancestors, with no parent, is a project outside any organization (placed).
    planned = Asset(name=CRM + "projects/111111111111",
                    asset_type="cloudresourcemanager.googleapis.com/Project",
                    data={"projectId": "phi-prod", "name": "phi-prod"},
                    ancestors=("projects/111111111111",))
    inv = Inventory([*assets_from_records([folder("222")]), planned],
                    phi=PhiConfig(projects=frozenset({"phi-prod"})))
    reach = inv.facts(inv.get(CRM + "folders/222"))["phi_reach"]  # type: ignore[arg-type]
    assert reach is not True and reach is not False
    known = Inventory(assets_from_records([folder("222"), folder("444"), *BASE[:2]]),
                      phi=PhiConfig(projects=frozenset({"phi-prod"})))
    assert known.facts(known.get(CRM + "folders/222"))["phi_reach"] is True  # type: ignore[arg-type]
    assert known.facts(known.get(CRM + "folders/444"))["phi_reach"] is False  # type: ignore[arg-type]


# identities by PHI reach ------------------------------------------------------------------------

SA_WEB = account("tf-deployer@web-prod.iam.gserviceaccount.com", "117730095516128349902",
                 "web-prod", WEB_ANC)
SA_MEMBER = "serviceAccount:tf-deployer@web-prod.iam.gserviceaccount.com"


def test_service_account_without_phi_reach_passes_with_no_phi_grants() -> None:
    """Its Editor grant on a non-PHI project is not judged: PASS, evidence `phi_grants: []`
    (a PASS, not no result, so a fix that removes an account's last grant verifies)."""
    records = [SA_WEB, project("333333333333", "web-prod", WEB_ANC,
                               [{"role": "roles/editor", "members": [SA_MEMBER]}]),
               project("111111111111", "phi-prod", PHI_ANC), folder("222"), folder("444")]
    found = judge("IAM-001", records)[SA_WEB["name"]]
    assert found.outcome.value == "PASS"
    assert dict(found.evidence)["phi_grants"] == []


def test_service_account_with_a_phi_grant_is_judged_and_says_which() -> None:
    records = [SA_WEB,
               project("333333333333", "web-prod", WEB_ANC,
                       [{"role": "roles/editor", "members": [SA_MEMBER]}]),
               project("111111111111", "phi-prod", PHI_ANC,
                       [{"role": "roles/storage.admin", "members": [SA_MEMBER]}]),
               folder("222"), folder("444")]
    found = judge("IAM-001", records)[SA_WEB["name"]]
    assert found.outcome.value == "FAIL"
    path, grant = found.evidence[0]
    assert path == "phi_grants[0]"
    assert grant["role"] == "roles/storage.admin"
    assert grant["resource"] == CRM + "projects/111111111111"


def test_service_account_reach_unknown_without_iam_policies() -> None:
    found = judge("IAM-001", [SA_WEB, *BASE])[SA_WEB["name"]]
    assert found.outcome.value == "UNKNOWN"


def test_key_age_is_judged_only_for_keys_that_reach_phi() -> None:
    key = old_key(SA_WEB["name"], "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", WEB_ANC)
    no_reach = [key, SA_WEB, project("333333333333", "web-prod", WEB_ANC,
                                     [{"role": "roles/editor", "members": [SA_MEMBER]}]),
                project("111111111111", "phi-prod", PHI_ANC), folder("222"), folder("444")]
    assert key["name"] not in judge("IAM-003", no_reach)
    reach = [*no_reach[:3], project("111111111111", "phi-prod", PHI_ANC,
                                    [{"role": "roles/cloudsql.client", "members": [SA_MEMBER]}]),
             folder("222"), folder("444")]
    found = judge("IAM-003", reach)[key["name"]]
    assert found.outcome.value == "FAIL"
    assert found.evidence[0] == ("data.validAfterTime", "2026-01-05T09:00:00Z")
    grants = dict(found.evidence)["phi_grants"]
    assert [g["role"] for g in grants] == ["roles/cloudsql.client"]


def test_key_of_an_account_not_in_the_snapshot_is_unknown() -> None:
    """The key names its account by unique id, and the account record is missing: the grants
    that name it cannot be found."""
    key = old_key("//iam.googleapis.com/projects/web-prod/serviceAccounts/999", "ab12", WEB_ANC)
    records = [key, project("333333333333", "web-prod", WEB_ANC,
                            [{"role": "roles/viewer", "members": ["group:a@example-health.com"]}]),
               project("111111111111", "phi-prod", PHI_ANC), folder("222"), folder("444")]
    found = judge("IAM-003", records)[key["name"]]
    assert found.outcome.value == "UNKNOWN"
    assert "not in the snapshot" in found.message


def test_key_of_an_account_named_by_email_uses_that_email() -> None:
    name = ("//iam.googleapis.com/projects/web-prod/serviceAccounts/"
            "tf-deployer@web-prod.iam.gserviceaccount.com")
    key = old_key(name, "cd34", WEB_ANC)
    records = [key, project("111111111111", "phi-prod", PHI_ANC,
                            [{"role": "roles/cloudsql.client", "members": [SA_MEMBER]}]),
               project("333333333333", "web-prod", WEB_ANC), folder("222"), folder("444")]
    assert judge("IAM-003", records)[key["name"]].outcome.value == "FAIL"


@pytest.mark.parametrize(("bindings", "expected"), [
    ([], None),  # owns only a sandbox: no PHI reach, no result
    ([{"role": "roles/owner", "members": ["user:lena@example-health.com"]}], "FAIL"),
])
def test_privileged_person_is_judged_by_phi_reach(bindings: list[dict[str, Any]],
                                                  expected: str | None) -> None:
    lena = user("lena@example-health.com", isEnforcedIn2Sv=False)
    records = [project("111111111111", "phi-prod", PHI_ANC, bindings),
               project("555555555555", "sandbox-lena",
                       ["projects/555555555555", "folders/444", ORG],
                       [{"role": "roles/owner", "members": ["user:lena@example-health.com"]}]),
               folder("222"), folder("444")]
    found = judge("MFA-003", records, users=[lena])
    name = "//admin.googleapis.com/users/lena@example-health.com"
    assert (found[name].outcome.value if name in found else None) == expected


def test_privilege_unknown_without_iam_policies() -> None:
    lena = user("lena@example-health.com", isEnforcedIn2Sv=False)
    found = judge("MFA-003", list(BASE), users=[lena])
    assert found["//admin.googleapis.com/users/lena@example-health.com"].outcome.value == "UNKNOWN"


# IAM-005: the cloud-platform scope as CIS judges it -------------------------------------------

def vm(email: str, scopes: list[str]) -> dict[str, Any]:
    return {"name": "//compute.googleapis.com/projects/phi-prod/zones/us-east4-a/instances/ehr-1",
            "asset_type": "compute.googleapis.com/Instance",
            "resource": {"data": {"name": "ehr-1", "serviceAccounts": [
                {"email": email, "scopes": scopes}]}}, "ancestors": PHI_ANC}


FULL = "https://www.googleapis.com/auth/cloud-platform"


@pytest.mark.parametrize(("email", "params", "expected"), [
    ("ehr-api@phi-prod.iam.gserviceaccount.com", {}, "PASS"),
    ("ehr-api@phi-prod.iam.gserviceaccount.com", {"forbid_full_scope": True}, "FAIL"),
    ("111111111111-compute@developer.gserviceaccount.com", {}, "FAIL"),
])
def test_full_scope_fails_only_with_the_default_account_unless_asked(
        email: str, params: dict[str, Any], expected: str) -> None:
    record = vm(email, [FULL])
    assert judge("IAM-005", [record, *BASE], params=params)[record["name"]].outcome.value \
        == expected


# evidence: what failed first --------------------------------------------------------------------

def test_jit_evidence_starts_with_the_person_not_the_service_accounts() -> None:
    """Many service-account bindings of PHI data roles come first; the one standing human grant
    is what the evidence shows first."""
    bindings = [{"role": "roles/storage.objectViewer",
                 "members": [f"serviceAccount:w{i}@phi-prod.iam.gserviceaccount.com"]}
                for i in range(60)]
    bindings.append({"role": "roles/cloudsql.client",
                     "members": ["serviceAccount:etl@phi-prod.iam.gserviceaccount.com",
                                 "user:raj@example-health.com"]})
    phi = project("111111111111", "phi-prod", PHI_ANC, bindings)
    found = judge("JIT-001", [phi, folder("222"), organization()])[phi["name"]]
    assert found.outcome.value == "FAIL"
    assert found.evidence[0] == ("iam[60].members[1]", "user:raj@example-health.com")
    assert dict(found.evidence)["iam[60].role"] == "roles/cloudsql.client"


@pytest.mark.parametrize("rule_id", ["IAM-004", "IAM-007"])
def test_project_iam_rules_show_the_person_first(rule_id: str) -> None:
    role = "roles/iam.serviceAccountUser" if rule_id == "IAM-004" else "roles/editor"
    bindings = [{"role": role, "members": ["serviceAccount:ci@phi-prod.iam.gserviceaccount.com",
                                            "group:phi-ops@example-health.com"]}]
    phi = project("111111111111", "phi-prod", PHI_ANC, bindings)
    found = judge(rule_id, [phi, folder("222"), organization()])[phi["name"]]
    assert found.outcome.value == "FAIL"
    path, value = found.evidence[0]
    assert value == "group:phi-ops@example-health.com"
    assert path.endswith("[0].members[1]")


def test_an_inventory_without_users_has_no_known_directory() -> None:
    """A Terraform plan's world holds no directory users and declares no missing source: the
    organization's other domains are unknown there too, not an empty list that fails all."""
    from datetime import UTC, datetime

    from phiguard.policy.engine import Engine

    group = bucket("phi-prod-a", PHI_ANC, ["group:ops@eh-clinics.org"])
    inv = Inventory(assets_from_records([group, organization(), *BASE]),
                    phi=PhiConfig(projects=frozenset({"phi-prod"})))
    engine = Engine([rule("MFA-004")])
    [found] = engine.evaluate_asset(inv.get(group["name"]), inv,  # type: ignore[arg-type]
                                    datetime(2026, 11, 25, tzinfo=UTC))
    assert found.outcome.value == "UNKNOWN"
