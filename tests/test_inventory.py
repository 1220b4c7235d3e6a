"""Inventory: lookups across reference spellings, hierarchy views of IAM, audit and org
policies, principal grants and the facts rules see."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.testing import assets_from_records

RM = "//cloudresourcemanager.googleapis.com/"
ORG_NAME, FOLDER_NAME = RM + "organizations/9", RM + "folders/77"
PHI_PROJECT, OTHER_PROJECT = RM + "projects/123", RM + "projects/456"
PHI_ANC = ["projects/123", "folders/77", "organizations/9"]
OTHER_ANC = ["projects/456", "organizations/9"]
VM = "//compute.googleapis.com/projects/phi-prod/zones/us-east4-a/instances/vm1"
POLICY = "//compute.googleapis.com/projects/phi-prod/global/sslPolicies/strict"
NET = "//compute.googleapis.com/projects/shared/global/networks/phi-vpc"
SA = "//iam.googleapis.com/projects/phi-prod/serviceAccounts/app@phi-prod.iam.gserviceaccount.com"


def rec(name: str, asset_type: str, data: dict[str, Any] | None = None,
        ancestors: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "asset_type": asset_type, "ancestors": ancestors or []}
    if data is not None:
        out["resource"] = {"data": data, **({"location": extra.pop("location")}
                                             if "location" in extra else {})}
    out.update(extra)
    return out


def iam(*bindings: tuple[str, list[str]], audit: list[Any] | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {"bindings": [{"role": r, "members": m} for r, m in bindings]}
    if audit:
        policy["audit_configs"] = audit
    return policy


def org_records(**policies: Any) -> list[dict[str, Any]]:
    """An org, a PHI folder, a PHI project (by folder), another project, and resources."""
    return [
        rec(ORG_NAME, "cloudresourcemanager.googleapis.com/Organization", {"displayName": "x"},
            ["organizations/9"], iam_policy=policies.get("org_iam"),
            org_policy=policies.get("org_org")),
        rec(FOLDER_NAME, "cloudresourcemanager.googleapis.com/Folder", {"displayName": "phi"},
            ["folders/77", "organizations/9"], iam_policy=policies.get("folder_iam"),
            org_policy=policies.get("folder_org")),
        rec(PHI_PROJECT, "cloudresourcemanager.googleapis.com/Project",
            {"projectNumber": "123", "projectId": "phi-prod", "labels": {"env": "prod"}}, PHI_ANC,
            iam_policy=policies.get("project_iam"), org_policy=policies.get("project_org")),
        rec(OTHER_PROJECT, "cloudresourcemanager.googleapis.com/Project",
            {"projectNumber": "456", "projectId": "web", "labels": {"data": "phi"}}, OTHER_ANC),
        rec(VM, "compute.googleapis.com/Instance",
            {"name": "vm1", "zone": "https://www.googleapis.com/compute/v1/projects/phi-prod/"
                                    "zones/us-east4-a",
             "selfLink": "https://www.googleapis.com/compute/v1/projects/phi-prod/zones/"
                         "us-east4-a/instances/vm1",
             "networkInterfaces": [{"network": "https://www.googleapis.com/compute/v1/projects/"
                                               "phi-prod/global/networks/default"}]},
            PHI_ANC, location="us-east4-a", iam_policy=policies.get("vm_iam"),
            org_policy=policies.get("vm_org")),
        rec(POLICY, "compute.googleapis.com/SslPolicy", {"minTlsVersion": "TLS_1_2"}, PHI_ANC),
        rec(SA, "iam.googleapis.com/ServiceAccount",
            {"email": "App@phi-prod.iam.gserviceaccount.com"}, PHI_ANC),
    ]


def build(phi: PhiConfig | None = None, users: list[Any] | None = None, extra: list[Any] = (),
          **policies: Any) -> tuple[Inventory, dict[str, Asset]]:
    records = [{k: v for k, v in r.items() if v is not None} for r in org_records(**policies)]
    assets = assets_from_records([*records, *extra], users=users)
    inv = Inventory(assets, phi=phi or PhiConfig())
    return inv, {a.name: a for a in assets}


# lookups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [
    "https://www.googleapis.com/compute/v1/projects/phi-prod/global/sslPolicies/strict",
    "https://compute.googleapis.com/compute/beta/projects/phi-prod/global/sslPolicies/strict",
    "projects/phi-prod/global/sslPolicies/strict",
    "//compute.googleapis.com/projects/phi-prod/global/sslPolicies/strict",
    "projects/123/global/sslPolicies/strict",
    "https://www.googleapis.com/compute/v1/projects/123/global/sslPolicies/strict",
])
def test_lookup_finds_every_spelling(ref: str) -> None:
    """selfLink, path, CAI name, and projects/<number> for projects/<id> all find the asset."""
    inv, _ = build()
    found = inv.lookup(ref)
    assert found is not None and found.name == POLICY


def test_lookup_number_name_by_id_reference() -> None:
    """A project asset named by number is found through a projects/<id> reference."""
    inv, _ = build()
    found = inv.lookup("projects/phi-prod")
    assert found is not None and found.name == PHI_PROJECT


def test_lookup_respects_types_and_misses() -> None:
    """A type filter excludes other types; an unknown reference finds nothing."""
    inv, _ = build()
    assert inv.lookup(POLICY, types=["compute.googleapis.com/Instance"]) is None
    assert inv.lookup("projects/phi-prod/global/sslPolicies/other") is None
    assert inv.lookup("projects/999/global/sslPolicies/strict") is None


def test_referrers_follow_any_spelling() -> None:
    """An asset referencing the policy by selfLink, spelling the project by number, is a
    referrer of the policy named with the project id."""
    proxy = rec("//compute.googleapis.com/projects/phi-prod/global/targetHttpsProxies/p",
                "compute.googleapis.com/TargetHttpsProxy",
                {"sslPolicy": "https://www.googleapis.com/compute/v1/projects/123/global/"
                              "sslPolicies/strict"}, PHI_ANC)
    inv, assets = build(extra=[proxy])
    found = inv.referrers(("compute.googleapis.com/TargetHttpsProxy",), "sslPolicy",
                          assets[POLICY])
    assert [a.name for a in found] == [proxy["name"]]
    other = inv.referrers(("compute.googleapis.com/TargetHttpsProxy",), "sslPolicy",
                          assets[VM])
    assert other == []


# hierarchy views ----------------------------------------------------------------------------


def test_effective_iam_includes_every_ancestor() -> None:
    """Own, project, folder and org bindings all appear, each with the resource holding it."""
    inv, assets = build(
        vm_iam=iam(("roles/compute.viewer", ["user:v@x.com"])),
        project_iam=iam(("roles/owner", ["user:o@x.com"])),
        folder_iam=iam(("roles/editor", ["group:g@x.com"])),
        org_iam=iam(("roles/viewer", ["domain:x.com"])))
    got = [(b["role"], b["resource"]) for b in inv.effective_iam(assets[VM])]
    assert got == [("roles/compute.viewer", VM), ("roles/owner", PHI_PROJECT),
                   ("roles/editor", FOLDER_NAME), ("roles/viewer", ORG_NAME)]


def test_effective_iam_with_policy_only_records() -> None:
    """IAM_POLICY records without a resource record still count for their descendants."""
    records = [rec(PHI_PROJECT, "cloudresourcemanager.googleapis.com/Project",
                   ancestors=PHI_ANC, iam_policy=iam(("roles/owner", ["user:o@x.com"]))),
               rec(VM, "compute.googleapis.com/Instance", {"name": "vm1"}, PHI_ANC)]
    assets = assets_from_records(records)
    inv = Inventory([a for a in assets if a.name == VM],
                    policies=[a for a in assets if a.name == PHI_PROJECT])
    vm = next(a for a in assets if a.name == VM)
    *known, absent = inv.effective_iam(vm)
    assert [(b["role"], b["resource"]) for b in known] == [("roles/owner", PHI_PROJECT)]
    # The folder and organization are not in the input: their bindings are not known.
    assert isinstance(absent, UnknownValue) and "folders/77, organizations/9" in absent.why


def test_effective_audit_configs_merge_hierarchy() -> None:
    """Audit configs of the project and the org appear with string log types and exemptions."""
    inv, assets = build(
        project_iam=iam(audit=[{"service": "storage.googleapis.com", "audit_log_configs": [
            {"log_type": 3, "exempted_members": ["user:b@x.com", "user:a@x.com"]}]}]),
        org_iam=iam(audit=[{"service": "allServices", "audit_log_configs": [
            {"log_type": "ADMIN_READ"}, {"log_type": 2}]}]))
    got = inv.effective_audit_configs(assets[VM])
    assert got == [
        {"service": "storage.googleapis.com", "logTypes": ["DATA_READ"],
         "exemptedMembers": ["user:a@x.com", "user:b@x.com"], "resource": PHI_PROJECT},
        {"service": "allServices", "logTypes": ["ADMIN_READ", "DATA_WRITE"],
         "exemptedMembers": [], "resource": ORG_NAME},
    ]


LOC = "constraints/gcp.resourceLocations"


def lp(*allowed: str, inherit: bool = False, denied: tuple[str, ...] = ()) -> list[Any]:
    policy: dict[str, Any] = {"allowed_values": list(allowed)}
    if denied:
        policy["denied_values"] = list(denied)
    if inherit:
        policy["inherit_from_parent"] = True
    return [{"constraint": LOC, "list_policy": policy}]


def test_org_policy_nearest_wins() -> None:
    """Without inheritFromParent the nearest list policy replaces the ancestors'."""
    inv, assets = build(org_org=lp("in:eu-locations"), project_org=lp("in:us-locations"))
    got = inv.org_policy(assets[VM], LOC)
    assert got is not None
    assert (got["allowedValues"], got["resource"], got["enforced"]) == (
        ["in:us-locations"], PHI_PROJECT, True)


def test_org_policy_inherit_from_parent_merges_lists() -> None:
    """inheritFromParent merges values up the chain until a policy that does not inherit."""
    inv, assets = build(org_org=lp("in:eu-locations"),
                        folder_org=lp("in:asia-locations", inherit=False),
                        project_org=lp("in:us-locations", inherit=True, denied=("us-west1",)))
    got = inv.org_policy(assets[VM], LOC)
    assert got is not None
    assert got["allowedValues"] == ["in:us-locations", "in:asia-locations"]
    assert got["deniedValues"] == ["us-west1"]


def test_org_policy_restore_default_stops_inheritance() -> None:
    """restoreDefault at the nearest level means the default: not enforced."""
    inv, assets = build(org_org=[{"constraint": "constraints/compute.skipDefaultNetworkCreation",
                                  "boolean_policy": {"enforced": True}}],
                        project_org=[{"constraint":
                                      "constraints/compute.skipDefaultNetworkCreation",
                                      "restore_default": {}}])
    got = inv.org_policy(assets[VM], "constraints/compute.skipDefaultNetworkCreation")
    assert got is not None
    assert (got["enforced"], got.get("restoreDefault"), got["resource"]) == (
        False, True, PHI_PROJECT)


def test_org_policy_boolean_inherited_from_org() -> None:
    """A boolean constraint set only at the org applies to a resource below it."""
    inv, assets = build(org_org=[{"constraint": "constraints/iam.disableServiceAccountKeyCreation",
                                  "boolean_policy": {"enforced": True}}])
    got = inv.org_policy(assets[VM], "constraints/iam.disableServiceAccountKeyCreation")
    assert got == {"constraint": "constraints/iam.disableServiceAccountKeyCreation",
                   "resource": ORG_NAME, "enforced": True}
    assert inv.org_policy(assets[VM], "constraints/other") is None


def test_org_policy_all_values_deny_is_enforced() -> None:
    """A numeric allValues DENY is normalized and counts as enforced."""
    inv, assets = build(project_org=[{"constraint": LOC, "list_policy": {"all_values": 2}}])
    got = inv.org_policy(assets[VM], LOC)
    assert got is not None and got["allValues"] == "DENY" and got["enforced"] is True


# grants -------------------------------------------------------------------------------------

USERS = [{"primaryEmail": "Dana@x.com", "aliases": ["dana.alias@x.com"]},
         {"primaryEmail": "eve@x.com"}]


def test_grants_for_users_include_aliases_and_within_phi() -> None:
    """A user's grants come from bindings on any spelling of their email, aliases too;
    within=phi keeps those reaching PHI scope."""
    phi = PhiConfig(folders=frozenset({"folders/77"}))
    inv, assets = build(
        phi=phi, users=USERS,
        project_iam=iam(("roles/owner", ["user:dana@x.com"])),
        org_iam=iam(("roles/viewer", ["user:DANA.ALIAS@x.com", "user:eve@x.com"])),
        extra=[rec(OTHER_PROJECT, "cloudresourcemanager.googleapis.com/Project",
                   ancestors=OTHER_ANC, iam_policy=iam(("roles/editor", ["user:dana@x.com"])))])
    dana = assets["//admin.googleapis.com/users/dana@x.com"]
    grants = {(g["role"], g["resource"]) for g in inv.grants(dana)}
    assert grants == {("roles/owner", PHI_PROJECT), ("roles/viewer", ORG_NAME),
                      ("roles/editor", OTHER_PROJECT)}
    phi_grants = {(g["role"], g["resource"]) for g in inv.grants(dana, within="phi")}
    # the org sits above a PHI project, so it reaches PHI; the other project does not
    assert phi_grants == {("roles/owner", PHI_PROJECT), ("roles/viewer", ORG_NAME)}
    eve = assets["//admin.googleapis.com/users/eve@x.com"]
    assert [g["resource"] for g in inv.grants(eve)] == [ORG_NAME]


def test_grants_for_service_accounts() -> None:
    """A service account's grants match its email case-insensitively; PHI-only filter works."""
    inv, assets = build(
        phi=PhiConfig(projects=frozenset({"web"})),
        vm_iam=iam(("roles/compute.admin",
                    ["serviceAccount:app@phi-prod.iam.gserviceaccount.com"])),
        extra=[rec(OTHER_PROJECT, "cloudresourcemanager.googleapis.com/Project",
                   ancestors=OTHER_ANC,
                   iam_policy=iam(("roles/editor",
                                   ["serviceAccount:APP@phi-prod.iam.gserviceaccount.com"])))])
    grants = inv.grants(assets[SA])
    assert {(g["role"], g["resource"]) for g in grants} == {
        ("roles/compute.admin", VM), ("roles/editor", OTHER_PROJECT)}
    assert [g["resource"] for g in inv.grants(assets[SA], within="phi")] == [OTHER_PROJECT]
    assert inv.grants(assets[VM]) == []  # not a principal


# facts --------------------------------------------------------------------------------------


def test_facts_project_region_and_location() -> None:
    """Facts give the project id and number, the location and its region."""
    inv, assets = build()
    facts = inv.facts(assets[VM])
    assert (facts["project"], facts["project_number"], facts["location"], facts["region"]) == (
        "phi-prod", "123", "us-east4-a", "us-east4")
    assert facts["ancestors"] == PHI_ANC


def test_facts_region_from_zone_url_in_data() -> None:
    """Without an envelope location the zone URL in data gives location and region."""
    disk = rec("//compute.googleapis.com/projects/phi-prod/zones/europe-west10-b/disks/d",
               "compute.googleapis.com/Disk",
               {"zone": "https://www.googleapis.com/compute/v1/projects/phi-prod/zones/"
                        "europe-west10-b"}, PHI_ANC)
    inv, assets = build(extra=[disk])
    facts = inv.facts(assets[disk["name"]])
    assert (facts["location"], facts["region"]) == ("europe-west10-b", "europe-west10")


def test_facts_project_of_bucket_from_ancestors() -> None:
    """A bucket's name has no project; its project comes from ancestors and the index."""
    bucket = rec("//storage.googleapis.com/phi-bucket", "storage.googleapis.com/Bucket",
                 {"location": "US-EAST4"}, PHI_ANC)
    inv, assets = build(phi=PhiConfig(projects=frozenset({"phi-prod"})), extra=[bucket])
    facts = inv.facts(assets[bucket["name"]])
    assert (facts["project"], facts["project_number"], facts["phi"]) == ("phi-prod", "123", True)


@pytest.mark.parametrize(("phi", "expect_vm", "expect_other"), [
    (PhiConfig(), False, False),
    (PhiConfig(all=True), True, True),
    (PhiConfig(projects=frozenset({"phi-prod"})), True, False),
    (PhiConfig(projects=frozenset({"123"})), True, False),
    (PhiConfig(folders=frozenset({"folders/77"})), True, False),
    (PhiConfig(project_labels={"data": "phi"}), False, True),
    (PhiConfig(project_labels={"data": "other"}), False, False),
])
def test_phi_scope_through_project_folder_and_label(phi: PhiConfig, expect_vm: bool,
                                                    expect_other: bool) -> None:
    """A resource is PHI through its project's id, number, folder or labels, nothing else."""
    web_vm = rec("//compute.googleapis.com/projects/web/zones/us-east4-a/instances/w",
                 "compute.googleapis.com/Instance", {"name": "w"}, OTHER_ANC)
    inv, assets = build(phi=phi, extra=[web_vm])
    assert inv.facts(assets[VM])["phi"] is expect_vm
    assert inv.facts(assets[web_vm["name"]])["phi"] is expect_other
    assert inv.facts(assets[OTHER_PROJECT])["phi"] is expect_other


@pytest.mark.parametrize("network", [
    "https://www.googleapis.com/compute/v1/projects/shared/global/networks/phi-vpc",
    "projects/shared/global/networks/phi-vpc", NET])
def test_phi_scope_through_network(network: str) -> None:
    """A non-PHI-project resource on a PHI network (any spelling naming its project) is PHI.
    A bare name is refused (tests/test_phi_networks_config.py)."""
    sql = rec("//cloudsql.googleapis.com/projects/web/instances/db",
              "sqladmin.googleapis.com/Instance",
              {"settings": {"ipConfiguration": {
                  "privateNetwork": "projects/shared/global/networks/phi-vpc"}}}, OTHER_ANC)
    other = rec("//cloudsql.googleapis.com/projects/web/instances/db2",
                "sqladmin.googleapis.com/Instance",
                {"settings": {"ipConfiguration": {
                    "privateNetwork": "projects/shared/global/networks/default"}}}, OTHER_ANC)
    inv, assets = build(phi=PhiConfig(networks=frozenset({network})), extra=[sql, other])
    assert inv.facts(assets[sql["name"]])["phi"] is True
    assert inv.facts(assets[other["name"]])["phi"] is False


def test_node_phi_for_folders_and_org() -> None:
    """A folder or the organization holding a PHI project counts as reaching PHI."""
    inv, _ = build(phi=PhiConfig(projects=frozenset({"phi-prod"})))
    assert inv.scope.node_is_phi("folders/77") is True
    assert inv.scope.node_is_phi("organizations/9") is True
    assert inv.scope.node_is_phi("folders/1") is False


@given(st.sampled_from(["phi-prod", "123", "projects/phi-prod", "projects/123"]),
       st.sampled_from(["phi-prod", "123"]))
def test_project_is_phi_whatever_the_spelling(asked: str, configured: str) -> None:
    """A PHI project configured by id or number is PHI when asked by id, number or path."""
    inv, _ = build(phi=PhiConfig(projects=frozenset({configured})))
    assert inv.scope.project_is_phi(asked) is True
    assert inv.scope.project_is_phi("web") is False
    assert inv.scope.project_is_phi("projects/456") is False


@pytest.mark.parametrize(("phi", "unmatched"), [
    (PhiConfig(projects=frozenset({"phi-prod", "123"})), []),
    (PhiConfig(projects=frozenset({"phi-prd"})), ["phi.projects: phi-prd"]),
    (PhiConfig(folders=frozenset({"folders/77", "folders/78"})), ["phi.folders: folders/78"]),
    (PhiConfig(project_labels={"data": "phi", "env": "phi"}), ["phi.project_labels: env=phi"]),
    (PhiConfig(all=True), []),
])
def test_scope_entries_that_match_nothing_are_named(phi: PhiConfig,
                                                    unmatched: list[str]) -> None:
    """Each `phi:` entry that matches no project, folder or network of the snapshot is named
    (a typo would otherwise leave PHI resources out of scope without a word)."""
    inv, _ = build(phi=phi)
    assert inv.scope.unmatched() == unmatched


def test_a_scope_that_matches_nothing_says_so() -> None:
    """When nothing at all is in PHI scope, the warning says that rules on PHI judge nothing."""
    inv, _ = build(phi=PhiConfig(projects=frozenset({"phi-prd"})))
    warnings = inv.scope.warnings()
    assert any("phi-prd" in w for w in warnings)
    assert any("nothing in the snapshot is in PHI scope" in w for w in warnings)
    inv, _ = build(phi=PhiConfig(projects=frozenset({"phi-prod", "gone"})))
    assert inv.scope.warnings() == [
        "PHI scope entry matches nothing in the snapshot: phi.projects: gone"]
    # Networks are matched by the references resources make, seen only while judging them:
    # with a network configured, the warning says only networks can put resources in scope.
    inv, _ = build(phi=PhiConfig(projects=frozenset({"gone"}),
                                 networks=frozenset({"projects/shared/global/networks/x"})))
    assert any("only resources on the PHI networks" in w for w in inv.scope.warnings())
