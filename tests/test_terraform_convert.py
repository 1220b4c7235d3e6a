"""Each converter table against hand-checked assets: the CAI type, name and the REST fields the
rules read, for every google_* type phiguard converts."""

from __future__ import annotations

from typing import Any

import pytest

from _paths import PLANS, RULES
from _plans import change, make_plan
from phiguard.google import is_cai_asset_type, schema_of, validate_resource
from phiguard.inventory.asset import UnknownValue
from phiguard.policy.rule import load_pack
from phiguard.terraform.convert import CONVERTERS, PARTS
from phiguard.terraform.plan import load_plan
from phiguard.terraform.world import build_world, load_tables

P = "phi-prod"
C = "//compute.googleapis.com/projects/phi-prod"
URL = "https://www.googleapis.com/compute/v1/projects/phi-prod"

# (terraform type, after values, expected asset type, expected name, expected data subset)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    ("google_compute_ssl_policy",
     {"name": "tls", "project": P, "profile": "MODERN", "min_tls_version": "TLS_1_2"},
     "compute.googleapis.com/SslPolicy", f"{C}/global/sslPolicies/tls",
     {"name": "tls", "profile": "MODERN", "minTlsVersion": "TLS_1_2"}),
    ("google_compute_region_ssl_policy",
     {"name": "tls", "project": P, "region": "us-east4", "profile": "RESTRICTED"},
     "compute.googleapis.com/SslPolicy", f"{C}/regions/us-east4/sslPolicies/tls",
     {"profile": "RESTRICTED", "region": f"{URL}/regions/us-east4"}),
    ("google_compute_target_https_proxy",
     {"name": "web", "project": P, "ssl_policy": "tls", "url_map": "portal"},
     "compute.googleapis.com/TargetHttpsProxy", f"{C}/global/targetHttpsProxies/web",
     {"sslPolicy": f"projects/{P}/global/sslPolicies/tls",
      "urlMap": f"projects/{P}/global/urlMaps/portal"}),
    ("google_compute_region_target_https_proxy",
     {"name": "web", "project": P, "region": "us-east4", "ssl_policy": "tls"},
     "compute.googleapis.com/TargetHttpsProxy", f"{C}/regions/us-east4/targetHttpsProxies/web",
     {"sslPolicy": f"projects/{P}/regions/us-east4/sslPolicies/tls"}),
    ("google_compute_target_ssl_proxy",
     {"name": "hl7", "project": P, "ssl_policy": f"projects/{P}/global/sslPolicies/tls",
      "backend_service": f"projects/{P}/global/backendServices/hl7"},
     "compute.googleapis.com/TargetSslProxy", f"{C}/global/targetSslProxies/hl7",
     {"sslPolicy": f"projects/{P}/global/sslPolicies/tls",
      "service": f"projects/{P}/global/backendServices/hl7"}),
    ("google_compute_target_http_proxy", {"name": "h", "project": P, "url_map": "redir"},
     "compute.googleapis.com/TargetHttpProxy", f"{C}/global/targetHttpProxies/h",
     {"urlMap": f"projects/{P}/global/urlMaps/redir"}),
    ("google_compute_region_target_http_proxy",
     {"name": "h", "project": P, "region": "us-east4", "url_map": "redir"},
     "compute.googleapis.com/TargetHttpProxy", f"{C}/regions/us-east4/targetHttpProxies/h",
     {"urlMap": f"projects/{P}/regions/us-east4/urlMaps/redir"}),
    ("google_compute_url_map",
     {"name": "m", "project": P, "default_url_redirect": [{"https_redirect": True}],
      "path_matcher": [{"name": "pm", "default_service": "api",
                        "path_rule": [{"paths": ["/x"], "service": "api"}]}]},
     "compute.googleapis.com/UrlMap", f"{C}/global/urlMaps/m",
     {"defaultUrlRedirect": {"httpsRedirect": True},
      "pathMatchers": [{"name": "pm", "defaultService": f"projects/{P}/global/backendServices/api",
                        "pathRules": [{"paths": ["/x"],
                                       "service": f"projects/{P}/global/backendServices/api"}]}]}),
    ("google_compute_region_url_map", {"name": "m", "project": P, "region": "us-east4",
                                       "default_service": "api"},
     "compute.googleapis.com/UrlMap", f"{C}/regions/us-east4/urlMaps/m",
     {"defaultService": f"projects/{P}/regions/us-east4/backendServices/api"}),
    ("google_compute_global_forwarding_rule",
     {"name": "f", "project": P, "target": f"projects/{P}/global/targetHttpProxies/h",
      "port_range": "80"},
     "compute.googleapis.com/GlobalForwardingRule", f"{C}/global/forwardingRules/f",
     {"target": f"projects/{P}/global/targetHttpProxies/h", "portRange": "80"}),
    ("google_compute_forwarding_rule",
     {"name": "f", "project": P, "region": "us-east4", "network": "phi-vpc"},
     "compute.googleapis.com/ForwardingRule", f"{C}/regions/us-east4/forwardingRules/f",
     {"network": f"projects/{P}/global/networks/phi-vpc"}),
    ("google_compute_backend_service",
     {"name": "b", "project": P, "health_checks": [f"projects/{P}/global/healthChecks/hc"],
      "backend": [{"group": f"projects/{P}/zones/us-east4-a/instanceGroups/g"}]},
     "compute.googleapis.com/BackendService", f"{C}/global/backendServices/b",
     {"healthChecks": [f"projects/{P}/global/healthChecks/hc"],
      "backends": [{"group": f"projects/{P}/zones/us-east4-a/instanceGroups/g"}]}),
    ("google_compute_region_backend_service", {"name": "b", "project": P, "region": "us-east4"},
     "compute.googleapis.com/RegionBackendService", f"{C}/regions/us-east4/backendServices/b",
     {"name": "b"}),
    ("google_compute_firewall",
     {"name": "ssh", "project": P, "network": "phi-vpc", "direction": "INGRESS",
      "source_ranges": ["0.0.0.0/0"], "allow": [{"protocol": "tcp", "ports": ["22"]}]},
     "compute.googleapis.com/Firewall", f"{C}/global/firewalls/ssh",
     {"network": f"projects/{P}/global/networks/phi-vpc", "direction": "INGRESS",
      "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}),
    ("google_compute_network", {"name": "phi-vpc", "project": P, "auto_create_subnetworks": False},
     "compute.googleapis.com/Network", f"{C}/global/networks/phi-vpc",
     {"name": "phi-vpc", "autoCreateSubnetworks": False,
      "selfLink": f"{URL}/global/networks/phi-vpc"}),
    ("google_compute_subnetwork",
     {"name": "s", "project": P, "region": "us-east4", "network": "phi-vpc",
      "ip_cidr_range": "10.0.0.0/20",
      "secondary_ip_range": [{"range_name": "pods", "ip_cidr_range": "10.4.0.0/14"}]},
     "compute.googleapis.com/Subnetwork", f"{C}/regions/us-east4/subnetworks/s",
     {"network": f"projects/{P}/global/networks/phi-vpc", "ipCidrRange": "10.0.0.0/20",
      "secondaryIpRanges": [{"rangeName": "pods", "ipCidrRange": "10.4.0.0/14"}]}),
    ("google_compute_instance",
     {"name": "vm", "project": P, "zone": "us-east4-a", "deletion_protection": True,
      "metadata": {"enable-oslogin": "TRUE"},
      "network_interface": [{"network": "phi-vpc", "access_config": [{"nat_ip": "1.2.3.4"}]}],
      "service_account": [{"email": "vm@phi-prod.iam.gserviceaccount.com",
                           "scopes": ["cloud-platform"]}]},
     "compute.googleapis.com/Instance", f"{C}/zones/us-east4-a/instances/vm",
     {"deletionProtection": True, "zone": f"{URL}/zones/us-east4-a",
      "metadata": {"items": [{"key": "enable-oslogin", "value": "TRUE"}]},
      "networkInterfaces": [{"network": f"projects/{P}/global/networks/phi-vpc",
                             "accessConfigs": [{"natIP": "1.2.3.4"}]}],
      "serviceAccounts": [{"email": "vm@phi-prod.iam.gserviceaccount.com",
                           "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]}),
    ("google_compute_disk",
     {"name": "d", "project": P, "zone": "us-east4-a", "size": 10,
      "disk_encryption_key": [{"kms_key_self_link": "projects/k/locations/us/keyRings/r/"
                                                    "cryptoKeys/k"}]},
     "compute.googleapis.com/Disk", f"{C}/zones/us-east4-a/disks/d",
     {"sizeGb": 10,
      "diskEncryptionKey": {"kmsKeyName": "projects/k/locations/us/keyRings/r/cryptoKeys/k"}}),
    ("google_compute_region_disk",
     {"name": "d", "project": P, "region": "us-east4",
      "resource_policies": [f"projects/{P}/regions/us-east4/resourcePolicies/daily"]},
     "compute.googleapis.com/RegionDisk", f"{C}/regions/us-east4/disks/d",
     {"resourcePolicies": [f"projects/{P}/regions/us-east4/resourcePolicies/daily"]}),
    ("google_compute_resource_policy",
     {"name": "daily", "project": P, "region": "us-east4",
      "snapshot_schedule_policy": [{"retention_policy": [{"max_retention_days": 14}]}]},
     "compute.googleapis.com/ResourcePolicy", f"{C}/regions/us-east4/resourcePolicies/daily",
     {"snapshotSchedulePolicy": {"retentionPolicy": {"maxRetentionDays": 14}}}),
    ("google_compute_instance_group_manager",
     {"name": "g", "project": P, "zone": "us-east4-a", "target_size": 2},
     "compute.googleapis.com/InstanceGroupManager", f"{C}/zones/us-east4-a/instanceGroupManagers/g",
     {"zone": f"{URL}/zones/us-east4-a", "targetSize": 2}),
    ("google_compute_region_instance_group_manager",
     {"name": "g", "project": P, "region": "us-east4",
      "distribution_policy_zones": ["us-east4-a", "us-east4-b"]},
     "compute.googleapis.com/InstanceGroupManager",
     f"{C}/regions/us-east4/instanceGroupManagers/g",
     {"region": f"{URL}/regions/us-east4",
      "distributionPolicy": {"zones": [{"zone": f"{URL}/zones/us-east4-a"},
                                       {"zone": f"{URL}/zones/us-east4-b"}]}}),
    ("google_compute_autoscaler",
     {"name": "a", "project": P, "zone": "us-east4-a",
      "autoscaling_policy": [{"min_replicas": 1, "max_replicas": 5, "mode": "ON",
                              "cpu_utilization": [{"target": 0.5}]}]},
     "compute.googleapis.com/Autoscaler", f"{C}/zones/us-east4-a/autoscalers/a",
     {"autoscalingPolicy": {"minNumReplicas": 1, "maxNumReplicas": 5, "mode": "ON",
                            "cpuUtilization": {"utilizationTarget": 0.5}}}),
    ("google_compute_region_autoscaler", {"name": "a", "project": P, "region": "us-east4"},
     "compute.googleapis.com/Autoscaler", f"{C}/regions/us-east4/autoscalers/a", {}),
    ("google_compute_region_network_endpoint_group",
     {"name": "neg", "project": P, "region": "us-east4", "network_endpoint_type": "SERVERLESS"},
     "compute.googleapis.com/NetworkEndpointGroup",
     f"{C}/regions/us-east4/networkEndpointGroups/neg", {"networkEndpointType": "SERVERLESS"}),
    ("google_compute_project_metadata",
     {"project": P, "metadata": {"enable-oslogin": "TRUE"}},
     "compute.googleapis.com/Project", C,
     {"commonInstanceMetadata": {"items": [{"key": "enable-oslogin", "value": "TRUE"}]}}),
    ("google_sql_database_instance",
     {"name": "db", "project": P, "region": "us-east4", "database_version": "POSTGRES_15",
      "settings": [{"availability_type": "REGIONAL",
                    "backup_configuration": [{"enabled": True, "location": "us"}],
                    "ip_configuration": [{"ipv4_enabled": False, "ssl_mode": "ENCRYPTED_ONLY"}],
                    "database_flags": [{"name": "log_connections", "value": "on"}]}]},
     "sqladmin.googleapis.com/Instance", f"//cloudsql.googleapis.com/projects/{P}/instances/db",
     {"project": P, "instanceType": "CLOUD_SQL_INSTANCE", "ipAddresses": [],
      "settings": {"availabilityType": "REGIONAL",
                   "backupConfiguration": {"enabled": True, "location": "us"},
                   "ipConfiguration": {"ipv4Enabled": False, "sslMode": "ENCRYPTED_ONLY"},
                   "databaseFlags": [{"name": "log_connections", "value": "on"}]}}),
    ("google_storage_bucket",
     {"name": "b1", "project": P, "location": "us", "versioning": [{"enabled": True}],
      "uniform_bucket_level_access": True, "public_access_prevention": "enforced"},
     "storage.googleapis.com/Bucket", "//storage.googleapis.com/b1",
     {"location": "US", "locationType": "multi-region", "versioning": {"enabled": True},
      "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                           "publicAccessPrevention": "enforced"}}),
    ("google_service_account", {"account_id": "etl", "project": P, "display_name": "ETL"},
     "iam.googleapis.com/ServiceAccount",
     f"//iam.googleapis.com/projects/{P}/serviceAccounts/(google_service_account.x.unique_id)",
     {"email": f"etl@{P}.iam.gserviceaccount.com", "projectId": P,
      "name": f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com"}),
    ("google_service_account_key",
     {"service_account_id": f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com",
      "valid_after": "2026-01-01T00:00:00Z"},
     "iam.googleapis.com/ServiceAccountKey",
     f"//iam.googleapis.com/projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com/keys/"
     "((google_service_account_key.x.name))",
     {"keyType": "USER_MANAGED", "validAfterTime": "2026-01-01T00:00:00Z"}),
    ("google_container_cluster",
     {"name": "gke", "project": P, "location": "us-east4", "remove_default_node_pool": True,
      "node_pool": [{"name": "np", "node_config": [{"service_account": "n@x"}]}],
      "database_encryption": [{"state": "ENCRYPTED", "key_name": "projects/k/x"}],
      "workload_identity_config": [{"workload_pool": f"{P}.svc.id.goog"}]},
     "container.googleapis.com/Cluster",
     f"//container.googleapis.com/projects/{P}/locations/us-east4/clusters/gke",
     {"nodePools": [{"name": "np", "config": {"serviceAccount": "n@x"}}],
      "databaseEncryption": {"state": "ENCRYPTED", "keyName": "projects/k/x"},
      "workloadIdentityConfig": {"workloadPool": f"{P}.svc.id.goog"}}),
    ("google_container_node_pool",
     {"name": "np", "project": P, "location": "us-east4", "cluster": "gke",
      "node_config": [{"service_account": "n@x"}]},
     "container.googleapis.com/NodePool",
     f"//container.googleapis.com/projects/{P}/locations/us-east4/clusters/gke/nodePools/np",
     {"config": {"serviceAccount": "n@x"}}),
    ("google_kms_key_ring", {"name": "r", "project": P, "location": "us"},
     "cloudkms.googleapis.com/KeyRing",
     f"//cloudkms.googleapis.com/projects/{P}/locations/us/keyRings/r", {"name": "r"}),
    ("google_kms_crypto_key",
     {"name": "k", "key_ring": f"projects/{P}/locations/us/keyRings/r",
      "rotation_period": "7776000s", "purpose": "ENCRYPT_DECRYPT"},
     "cloudkms.googleapis.com/CryptoKey",
     f"//cloudkms.googleapis.com/projects/{P}/locations/us/keyRings/r/cryptoKeys/k",
     {"rotationPeriod": "7776000s", "purpose": "ENCRYPT_DECRYPT"}),
    ("google_logging_project_sink",
     {"name": "s", "project": P, "destination": "storage.googleapis.com/x", "filter": ""},
     "logging.googleapis.com/LogSink", f"//logging.googleapis.com/projects/{P}/sinks/s",
     {"destination": "storage.googleapis.com/x", "filter": ""}),
    ("google_logging_folder_sink",
     {"name": "s", "folder": "folders/222", "destination": "x", "include_children": True},
     "logging.googleapis.com/LogSink", "//logging.googleapis.com/folders/222/sinks/s",
     {"includeChildren": True}),
    ("google_logging_organization_sink", {"name": "s", "org_id": "123", "destination": "x"},
     "logging.googleapis.com/LogSink", "//logging.googleapis.com/organizations/123/sinks/s", {}),
    ("google_logging_billing_account_sink",
     {"name": "s", "billing_account": "AB-12", "destination": "x"},
     "logging.googleapis.com/LogSink", "//logging.googleapis.com/billingAccounts/AB-12/sinks/s",
     {}),
    ("google_redis_instance",
     {"name": "r", "project": P, "region": "us-east4", "transit_encryption_mode":
      "SERVER_AUTHENTICATION", "authorized_network": "phi-vpc"},
     "redis.googleapis.com/Instance",
     f"//redis.googleapis.com/projects/{P}/locations/us-east4/instances/r",
     {"transitEncryptionMode": "SERVER_AUTHENTICATION",
      "authorizedNetwork": f"projects/{P}/global/networks/phi-vpc",
      "name": f"projects/{P}/locations/us-east4/instances/r"}),
    ("google_cloud_run_service", {"name": "run", "project": P, "location": "us-east4"},
     "run.googleapis.com/Service",
     f"//run.googleapis.com/projects/{P}/locations/us-east4/services/run",
     {"metadata": {"name": "run"}}),
    ("google_cloud_run_v2_service",
     {"name": "run", "project": P, "location": "us-east4", "ingress": "INGRESS_TRAFFIC_ALL",
      "template": [{"service_account": "run@p.iam.gserviceaccount.com", "vpc_access": [
          {"connector": "projects/p/locations/us-east4/connectors/c",
           "egress": "ALL_TRAFFIC"}]}]},
     "run.googleapis.com/Service",
     f"//run.googleapis.com/projects/{P}/locations/us-east4/services/run",
     # CAI shows a Cloud Run service in the v1 (Knative) form, whichever API created it
     {"metadata": {"name": "run", "annotations": {"run.googleapis.com/ingress": "all"}},
      "spec": {"template": {
          "metadata": {"annotations": {
              "run.googleapis.com/vpc-access-connector":
                  "projects/p/locations/us-east4/connectors/c",
              "run.googleapis.com/vpc-access-egress": "all-traffic"}},
          "spec": {"serviceAccountName": "run@p.iam.gserviceaccount.com"}}}}),
    ("google_project", {"project_id": P, "name": "PHI prod", "number": "111",
                        "folder_id": "222"},
     "cloudresourcemanager.googleapis.com/Project",
     "//cloudresourcemanager.googleapis.com/projects/111", {"projectId": P}),
    ("google_project_service", {"project": P, "service": "sqladmin.googleapis.com"},
     "serviceusage.googleapis.com/Service",
     f"//serviceusage.googleapis.com/projects/{P}/services/sqladmin.googleapis.com",
     {"state": "ENABLED", "name": "sqladmin.googleapis.com", "parent": f"projects/{P}"}),
]


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
    plan = make_plan([change("google_pubsub_topic", "t", {"name": "t"}),
                      change("aws_s3_bucket", "b", {})])
    world = build_world(plan, "after")
    assert [c.address for c in world.not_evaluated] == ["google_pubsub_topic.t", "aws_s3_bucket.b"]
    assert world.assets == {}
