"""Each converter table against hand-checked assets: the CAI type, name and the REST fields the
rules read, for every google_* type phiguard converts."""

from __future__ import annotations

from typing import Any

import pytest

from _converter_cases import CASES, FIREWALL_POLICY_PARTS, PUBLIC_IAM_PARTS, C, P
from _paths import PLANS, RULES
from _plans import change, make_plan
from phiguard.google import is_cai_asset_type, schema_of, validate_resource
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.policy.rule import load_pack
from phiguard.terraform.convert import CONVERTERS, PARTS
from phiguard.terraform.plan import load_plan
from phiguard.terraform.world import build_world, load_tables


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_converter_gives_the_cai_asset(case: tuple[str, dict[str, Any], str, str,
                                                   dict[str, Any]]) -> None:
    """Each google_* type becomes the asset CAI shows after apply: type, name, REST fields."""
    rtype, after, asset_type, name, data = case
    plan = make_plan([change(rtype, "x", after)])
    world = build_world(plan, "after")
    (asset,) = [a for a in world.assets.values() if a.asset_type == asset_type]
    assert asset.name == name
    assert _subset(data, asset.data), asset.data
    assert asset.source is not None and asset.source.address == f"{rtype}.x"


def test_every_converted_type_has_a_case() -> None:
    """A new converter table cannot land without a hand-checked expected asset."""
    load_tables()
    tested = {c[0] for c in CASES} | set(PART_CASES)
    assert set(CONVERTERS) | set(PARTS) <= tested, sorted((set(CONVERTERS) | set(PARTS)) - tested)


def _known(value: Any) -> Any:
    if isinstance(value, UnknownValue):
        return None
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_converted_data_has_only_fields_google_defines(
        case: tuple[str, dict[str, Any], str, str, dict[str, Any]]) -> None:
    """Every field a converter writes exists, with its type and enum values, in the discovery
    schema of the asset type (phiguard.google): no invented field (a `config.name` on a
    serviceusage Service, v2 fields on a Cloud Run service CAI shows in v1 form)."""
    rtype, after, asset_type = case[0], case[1], case[2]
    world = build_world(make_plan([change(rtype, "x", after)]), "after")
    for asset in world.assets.values():
        if asset.asset_type == asset_type:
            assert validate_resource(asset_type, _known(asset.data)) == [], asset.data


@pytest.mark.parametrize("plan", sorted(p.name for p in PLANS.glob("*.json")))
def test_fixture_plans_convert_to_fields_google_defines(plan: str) -> None:
    """The same contract on every asset of the fixture plans, both sides of the plan."""
    for side in ("before", "after"):
        for asset in build_world(load_plan(PLANS / plan), side).assets.values():
            if schema_of(asset.asset_type) is not None:
                assert validate_resource(asset.asset_type, _known(asset.data)) == [], asset.name


def test_every_converter_emits_a_real_cai_asset_type() -> None:
    """Each table's asset type is one Cloud Asset Inventory defines (Google's published list in
    phiguard.google); regional autoscalers and managers share the global type names."""
    load_tables()
    wrong = {t: c.asset_type for t, c in CONVERTERS.items() if not is_cai_asset_type(c.asset_type)}
    assert wrong == {}
    for tf_type, case_type in ((c[0], c[2]) for c in CASES):
        assert is_cai_asset_type(case_type), (tf_type, case_type)


def test_rules_terraform_fixes_name_converted_types_the_rule_judges() -> None:
    """Every resource type a rule's `remediation.terraform_fixes` or `unknown_in_plan` names is
    one phiguard converts, and (but for hierarchy-wide rules) one whose asset the rule judges."""
    load_tables()
    hierarchy = {"cloudresourcemanager.googleapis.com/Project", "*"}
    for rule in load_pack([RULES]).rules:
        for tf_type in [*rule.terraform_fixes, *rule.unknown_in_plan]:
            assert tf_type in CONVERTERS or tf_type in PARTS, (rule.id, tf_type)
            if tf_type in CONVERTERS and not (set(rule.asset_types) & hierarchy):
                assert CONVERTERS[tf_type].asset_type in rule.asset_types, (rule.id, tf_type)


def _policy(world: Any, name: str) -> Any:
    return world.assets[name].iam_policy


PROJECT = "//cloudresourcemanager.googleapis.com/projects/phi-prod"
PART_CASES = {
    *(f"google_{holder}_iam_{kind}" for holder in ("compute_instance", "cloud_run_service",
                                                   "kms_crypto_key")
      for kind in ("member", "binding", "policy")),
    *PUBLIC_IAM_PARTS,  # test_terraform_public_iam.py
    *FIREWALL_POLICY_PARTS,  # test_s23_fw_plan.py
    "google_project_iam_member", "google_project_iam_binding", "google_project_iam_policy",
    "google_project_iam_audit_config", "google_folder_iam_member", "google_folder_iam_binding",
    "google_folder_iam_policy", "google_folder_iam_audit_config",
    "google_organization_iam_member", "google_organization_iam_binding",
    "google_organization_iam_policy", "google_organization_iam_audit_config",
    "google_storage_bucket_iam_member", "google_storage_bucket_iam_binding",
    "google_storage_bucket_iam_policy", "google_service_account_iam_member",
    "google_service_account_iam_binding", "google_service_account_iam_policy",
    "google_compute_network_peering", "google_compute_disk_resource_policy_attachment",
    "google_compute_region_disk_resource_policy_attachment", "google_org_policy_policy",
    "google_project_organization_policy", "google_folder_organization_policy",
    "google_organization_policy", "google_container_node_pool",
}


def test_project_iam_member_binding_and_policy_merge_into_one_policy() -> None:
    """The three Terraform IAM shapes and an audit config merge into the project's policy:
    a binding is authoritative for its role, a member adds, an audit config sets a service."""
    plan = make_plan([
        change("google_project_iam_policy", "p", {"project": P, "policy_data": (
            '{"bindings":[{"role":"roles/viewer","members":["group:a@x.com"]},'
            '{"role":"roles/editor","members":["user:old@x.com"]}]}')}),
        change("google_project_iam_binding", "b", {"project": P, "role": "roles/editor",
                                                   "members": ["group:eng@x.com"]}),
        change("google_project_iam_member", "m", {"project": P, "role": "roles/viewer",
                                                  "member": "user:b@x.com"}),
        change("google_project_iam_audit_config", "a", {
            "project": P, "service": "allServices",
            "audit_log_config": [{"log_type": "DATA_READ", "exempted_members": ["user:c@x.com"]}]}),
    ])
    world = build_world(plan, "after")
    policy = _policy(world, PROJECT)
    assert sorted((b["role"], tuple(b["members"])) for b in policy["bindings"]) == [
        ("roles/editor", ("group:eng@x.com",)), ("roles/viewer", ("group:a@x.com", "user:b@x.com"))]
    assert policy["auditConfigs"] == [{"service": "allServices", "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:c@x.com"]}]}]
    # an authoritative policy is fully known: no unseen bindings remain
    assert not any(isinstance(b["members"], UnknownValue) for b in policy["bindings"])


def test_members_alone_leave_the_rest_of_the_policy_unknown() -> None:
    """Without the project in the plan or a snapshot, the bindings phiguard cannot see are an
    UnknownValue, and the project is partial."""
    world = build_world(make_plan([change("google_project_iam_member", "m", {
        "project": P, "role": "roles/viewer", "member": "user:b@x.com"})]), "after")
    bindings = _policy(world, PROJECT)["bindings"]
    assert any(isinstance(b["members"], UnknownValue) for b in bindings)
    assert {"role": "roles/viewer", "members": ["user:b@x.com"]} in bindings
    assert PROJECT in world.partial


def test_folder_org_bucket_and_service_account_iam_attach_to_their_holders() -> None:
    """IAM pieces land on folders, organizations, buckets and service accounts by name."""
    plan = make_plan([
        change("google_folder_iam_member", "f", {"folder": "folders/9", "role": "r/a",
                                                 "member": "user:a@x.com"}),
        change("google_organization_iam_binding", "o", {"org_id": "123", "role": "r/b",
                                                        "members": ["group:g@x.com"]}),
        change("google_storage_bucket", "b", {"name": "bk", "project": P}),
        change("google_storage_bucket_iam_member", "bm", {"bucket": "b/bk", "role": "r/c",
                                                          "member": "allUsers"}),
        change("google_service_account_iam_binding", "s", {
            "service_account_id": f"projects/{P}/serviceAccounts/a@{P}.iam.gserviceaccount.com",
            "role": "r/d", "members": ["user:a@x.com"]}),
    ])
    world = build_world(plan, "after")
    rm = "//cloudresourcemanager.googleapis.com/"
    assert _policy(world, rm + "folders/9")["bindings"][-1] == {"role": "r/a",
                                                              "members": ["user:a@x.com"]}
    assert _policy(world, rm + "organizations/123")["bindings"][-1]["members"] == ["group:g@x.com"]
    # a bucket created in this plan has a known (empty) policy plus the planned member
    assert _policy(world, "//storage.googleapis.com/bk") == {
        "bindings": [{"role": "r/c", "members": ["allUsers"]}]}
    sa = f"//iam.googleapis.com/projects/{P}/serviceAccounts/a@{P}.iam.gserviceaccount.com"
    assert _policy(world, sa)["bindings"][-1]["role"] == "r/d"


def test_instance_run_service_and_crypto_key_iam_attach_to_their_holders() -> None:
    """IAM on a VM, a Cloud Run service and a KMS key becomes that asset's iam_policy (as
    Google's converter writes it), so MFA-004 and the public-exposure rules see it."""
    plan = make_plan([
        change("google_compute_instance_iam_member", "i", {
            "project": P, "zone": "us-east4-a", "instance_name": "vm",
            "role": "roles/compute.osLogin", "member": "user:a@gmail.com"}),
        change("google_cloud_run_service_iam_binding", "r", {
            "project": P, "location": "us-east4", "service": "api",
            "role": "roles/run.invoker", "members": ["allUsers"]}),
        change("google_kms_crypto_key_iam_member", "k", {
            "crypto_key_id": "us/ring/key", "role": "roles/cloudkms.admin",
            "member": "allAuthenticatedUsers"}),
        change("google_kms_crypto_key_iam_member", "k2", {
            "crypto_key_id": f"projects/{P}/locations/us/keyRings/ring/cryptoKeys/k2",
            "role": "roles/cloudkms.admin", "member": "user:b@x.com"}),
    ])
    world = build_world(plan, "after")
    vm = f"{C}/zones/us-east4-a/instances/vm"
    assert _policy(world, vm)["bindings"][-1] == {"role": "roles/compute.osLogin",
                                                  "members": ["user:a@gmail.com"]}
    run = f"//run.googleapis.com/projects/{P}/locations/us-east4/services/api"
    assert _policy(world, run)["bindings"][-1]["members"] == ["allUsers"]
    key = "//cloudkms.googleapis.com/projects/(unknown project)/locations/us/keyRings/ring/" \
          "cryptoKeys/key"
    assert _policy(world, key)["bindings"][-1]["members"] == ["allAuthenticatedUsers"]
    key2 = f"//cloudkms.googleapis.com/projects/{P}/locations/us/keyRings/ring/cryptoKeys/k2"
    assert world.assets[key2].asset_type == "cloudkms.googleapis.com/CryptoKey"


def test_org_policies_v1_and_v2_become_cai_org_policies() -> None:
    """google_org_policy_policy and google_*_organization_policy set the holder's org_policy."""
    plan = make_plan([
        change("google_org_policy_policy", "d", {
            "name": f"projects/{P}/policies/iam.allowedPolicyMemberDomains",
            "parent": f"projects/{P}", "spec": [{"rules": [{"values": [{
                "allowed_values": ["C0abc"]}]}]}]}),
        change("google_folder_organization_policy", "f", {
            "folder": "folders/9", "constraint": "storage.publicAccessPrevention",
            "boolean_policy": [{"enforced": True}]}),
    ])
    world = build_world(plan, "after")
    assert world.assets[PROJECT].org_policy == ({
        "constraint": "constraints/iam.allowedPolicyMemberDomains",
        "listPolicy": {"allowedValues": ["C0abc"]}},)
    folder = world.assets["//cloudresourcemanager.googleapis.com/folders/9"]
    assert folder.org_policy == ({"constraint": "constraints/storage.publicAccessPrevention",
                                  "booleanPolicy": {"enforced": True}},)


def test_a_conditional_v2_rule_makes_the_policy_unknown_not_enforced() -> None:
    """A google_org_policy_policy whose enforcing rule applies only where a tag condition
    holds does not enforce the constraint on every project below: the effective policy is
    unknown (was: enforced, so GRD-003 passed a project the condition may leave out)."""
    plan = make_plan([
        change("google_org_policy_policy", "d", {
            "name": "folders/9/policies/iam.disableServiceAccountKeyCreation",
            "parent": "folders/9", "spec": [{"rules": [
                {"enforce": "TRUE", "condition": [{
                    "expression": "resource.matchTag('1/env', 'prod')"}]},
                {"enforce": "FALSE"}]}]}),
        change("google_project", "p", {"project_id": P, "name": P, "folder_id": "9"}),
    ])
    world = build_world(plan, "after")
    folder = world.assets["//cloudresourcemanager.googleapis.com/folders/9"]
    inv = Inventory(world.assets.values())
    found = inv.org_policy(folder, "constraints/iam.disableServiceAccountKeyCreation")
    assert isinstance(found, UnknownValue), found
    assert "condition" in str(found)


def test_peerings_attachments_and_node_pools_extend_their_parent() -> None:
    """A peering joins the network's peerings (ACTIVE when both sides are planned), a policy
    attachment the disk's resourcePolicies, a node pool the cluster's nodePools."""
    net = f"projects/{P}/global/networks/a"
    other = "projects/o/global/networks/b"
    plan = make_plan([
        change("google_compute_network", "a", {"name": "a", "project": P}),
        change("google_compute_network_peering", "ab", {"name": "ab", "network": net,
                                                        "peer_network": other}),
        change("google_compute_network_peering", "ba", {"name": "ba", "network": other,
                                                        "peer_network": net}),
        change("google_compute_disk", "d", {"name": "d", "project": P, "zone": "us-east4-a",
                                            "resource_policies": []}),
        change("google_compute_disk_resource_policy_attachment", "at", {
            "name": "daily", "disk": "d", "project": P, "zone": "us-east4-a"}),
        change("google_container_cluster", "c", {"name": "c", "project": P,
                                                 "location": "us-east4",
                                                 "remove_default_node_pool": True}),
        change("google_container_node_pool", "np", {"name": "np", "cluster": "c", "project": P,
                                                    "location": "us-east4"}),
    ])
    world = build_world(plan, "after")
    peerings = world.assets[f"{C}/global/networks/a"].data["peerings"]
    assert peerings == [{"name": "ab", "network": other, "state": "ACTIVE",
                         "exportCustomRoutes": False, "importCustomRoutes": False}]
    disk = world.assets[f"{C}/zones/us-east4-a/disks/d"]
    daily = f"projects/{P}/regions/us-east4/resourcePolicies/daily"
    assert disk.data["resourcePolicies"] == [daily]
    gke = f"//container.googleapis.com/projects/{P}/locations/us-east4/clusters/c"
    cluster = world.assets[gke]
    assert cluster.data["nodePools"] == [{"name": "np", "config": {"serviceAccount": "default"}}]


def test_unconverted_types_are_listed_not_dropped() -> None:
    """A type phiguard does not convert is reported as not evaluated."""
    plan = make_plan([change("google_bigtable_instance", "t", {"name": "t"}),
                      change("aws_s3_bucket", "b", {})])
    world = build_world(plan, "after")
    assert [c.address for c in world.not_evaluated] == ["google_bigtable_instance.t",
                                                        "aws_s3_bucket.b"]
    assert world.assets == {}
