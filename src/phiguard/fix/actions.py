"""The remediation registry: rule id -> the actions that fix it through the API.

A `Kind` knows how one resource type is addressed, read, written and guarded (its
precondition); an `Action` says which fields to change and why. Type knowledge lives here, as
data and small per-kind functions, never in the plan or apply loops.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTIONS", "NO_FIX", "Action", "Kind", "actions_for"]

Json = dict[str, Any]
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


@dataclass(frozen=True)
class Kind:
    """How one resource type is found from its CAI name, read, patched and guarded."""

    name: str
    pattern: re.Pattern[str]  # over the CAI asset name; named groups become the target
    read_call: str
    write_call: str
    precondition: str  # the field (or query parameter) that guards the write
    read_params: Callable[[dict[str, str]], Json]
    token: Callable[[Json], str]
    request: Callable[[dict[str, str], Json, str], tuple[Json, Any]]  # target, after, token
    read_body: Json | None = None
    terraform_type: str = ""
    operation: str | None = None  # "compute-global" or "sqladmin": long-running writes


def _compute_request(key: str) -> Callable[[dict[str, str], Json, str], tuple[Json, Any]]:
    def request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
        return {"project": target["project"], key: target["name"]}, {**after, "fingerprint": token}
    return request


def _sql_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    body = copy.deepcopy(after)
    body.setdefault("settings", {})["settingsVersion"] = token
    return {"project": target["project"], "instance": target["name"]}, body


def _bucket_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return {"bucket": target["bucket"], "ifMetagenerationMatch": token}, after


def _bucket_iam_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return {"bucket": target["bucket"]}, {**after, "etag": token}


def _project_iam_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return ({"resource": f"projects/{target['project']}"},
            {"policy": {**after, "etag": token}, "updateMask": "bindings,etag"})


SSL_POLICY = Kind(
    "compute.SslPolicy",
    re.compile(r"//compute\.googleapis\.com/projects/(?P<project>[^/]+)/global/sslPolicies/"
               r"(?P<name>[^/]+)"),
    "compute.sslPolicies.get", "compute.sslPolicies.patch", "fingerprint",
    lambda t: {"project": t["project"], "sslPolicy": t["name"]},
    lambda cur: str(cur.get("fingerprint", "")), _compute_request("sslPolicy"),
    terraform_type="google_compute_ssl_policy", operation="compute-global")

FIREWALL = Kind(
    "compute.Firewall",
    re.compile(r"//compute\.googleapis\.com/projects/(?P<project>[^/]+)/global/firewalls/"
               r"(?P<name>[^/]+)"),
    "compute.firewalls.get", "compute.firewalls.patch", "fingerprint",
    lambda t: {"project": t["project"], "firewall": t["name"]},
    lambda cur: str(cur.get("fingerprint", "")), _compute_request("firewall"),
    terraform_type="google_compute_firewall", operation="compute-global")

SQL_INSTANCE = Kind(
    "sqladmin.Instance",
    re.compile(r"//(?:sqladmin|cloudsql)\.googleapis\.com/projects/(?P<project>[^/]+)/"
               r"instances/(?P<name>[^/]+)"),
    "sqladmin.instances.get", "sqladmin.instances.patch", "settings.settingsVersion",
    lambda t: {"project": t["project"], "instance": t["name"]},
    lambda cur: str(cur.get("settings", {}).get("settingsVersion", "")), _sql_request,
    terraform_type="google_sql_database_instance", operation="sqladmin")

BUCKET = Kind(
    "storage.Bucket",
    re.compile(r"//storage\.googleapis\.com/(?:projects/_/buckets/)?(?P<bucket>[^/]+)"),
    "storage.buckets.get", "storage.buckets.patch", "ifMetagenerationMatch",
    lambda t: {"bucket": t["bucket"]},
    lambda cur: str(cur.get("metageneration", "")), _bucket_request,
    terraform_type="google_storage_bucket")

BUCKET_IAM = Kind(
    "storage.Bucket IAM policy",
    BUCKET.pattern,
    "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy", "etag",
    lambda t: {"bucket": t["bucket"]},
    lambda cur: str(cur.get("etag", "")), _bucket_iam_request,
    terraform_type="google_storage_bucket_iam_member")

PROJECT_IAM_FOR_SA = Kind(
    "cloudresourcemanager.Project IAM policy",
    re.compile(r"//iam\.googleapis\.com/projects/(?P<project>[^/]+)/serviceAccounts/"
               r"(?P<email>[^/]+)"),
    "cloudresourcemanager.projects.getIamPolicy", "cloudresourcemanager.projects.setIamPolicy",
    "etag",
    lambda t: {"resource": f"projects/{t['project']}"},
    lambda cur: str(cur.get("etag", "")), _project_iam_request,
    read_body={"options": {"requestedPolicyVersion": 3}},
    terraform_type="google_project_iam_member")


@dataclass(frozen=True)
class Action:
    """One registered fix: the fields it changes on one kind of resource, and its needs."""

    id: str
    rules: tuple[str, ...]
    kind: Kind
    summary: str
    permissions: tuple[str, ...]
    change: Callable[[Json, dict[str, str]], Json | None]  # current, target -> after, or None
    terraform: str  # attribute lines inside the resource block
    caution: str = ""  # what else happens (a restart, a broken client) the reviewer must weigh


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _ssl_policy(cur: Json, _: dict[str, str]) -> Json | None:
    if (cur.get("minTlsVersion") in ("TLS_1_2", "TLS_1_3")
            and cur.get("profile") in ("MODERN", "RESTRICTED")):
        return None
    after: Json = {"minTlsVersion": cur.get("minTlsVersion") if cur.get("minTlsVersion")
                   in ("TLS_1_2", "TLS_1_3") else "TLS_1_2",
                   "profile": "RESTRICTED" if cur.get("profile") == "RESTRICTED" else "MODERN"}
    if cur.get("customFeatures"):
        after["customFeatures"] = []  # only a CUSTOM profile may list features
    return after


def _firewall_disable(cur: Json, _: dict[str, str]) -> Json | None:
    return None if cur.get("disabled") else {"disabled": True}


def _sql_ssl(cur: Json, _: dict[str, str]) -> Json | None:
    mode = _get(cur, "settings.ipConfiguration.sslMode")
    if mode in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        return None
    return {"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED_ONLY"}}}


def _sql_backups(cur: Json, _: dict[str, str]) -> Json | None:
    backup = _get(cur, "settings.backupConfiguration") or {}
    # MySQL's point-in-time recovery is the binary log; the others have a flag of that name.
    pitr = ("binaryLogEnabled" if str(cur.get("databaseVersion", "")).startswith("MYSQL")
            else "pointInTimeRecoveryEnabled")
    if backup.get("enabled") is True and backup.get(pitr) is True:
        return None
    return {"settings": {"backupConfiguration": {"enabled": True, pitr: True}}}


def _sql_deletion_protection(cur: Json, _: dict[str, str]) -> Json | None:
    if _get(cur, "settings.deletionProtectionEnabled") is True:
        return None
    return {"settings": {"deletionProtectionEnabled": True}}


def _sql_regional(cur: Json, _: dict[str, str]) -> Json | None:
    if _get(cur, "settings.availabilityType") == "REGIONAL":
        return None
    return {"settings": {"availabilityType": "REGIONAL"}}


def _bucket_versioning(cur: Json, _: dict[str, str]) -> Json | None:
    return None if _get(cur, "versioning.enabled") is True else {"versioning": {"enabled": True}}


def _bucket_access(cur: Json, _: dict[str, str]) -> Json | None:
    ubla = _get(cur, "iamConfiguration.uniformBucketLevelAccess.enabled") is True
    pap = _get(cur, "iamConfiguration.publicAccessPrevention") == "enforced"
    if ubla and pap:
        return None
    return {"iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                                 "publicAccessPrevention": "enforced"}}


def _without(cur: Json, drop: Callable[[str, str], bool]) -> Json | None:
    """The policy's bindings minus the members `drop(role, member)` selects, or None."""
    bindings: list[Json] = []
    changed = False
    for binding in cur.get("bindings", []):
        role = binding.get("role", "")
        kept = [m for m in binding.get("members", []) if not drop(role, m)]
        changed |= len(kept) != len(binding.get("members", []))
        if kept:
            bindings.append({**binding, "members": kept})
    if not changed:
        return None
    return {"bindings": bindings, "version": cur.get("version", 1)}


def _bucket_public(cur: Json, _: dict[str, str]) -> Json | None:
    return _without(cur, lambda role, member: member in PUBLIC_MEMBERS)


def _sa_basic_roles(cur: Json, target: dict[str, str]) -> Json | None:
    member = f"serviceAccount:{target['email']}"
    return _without(cur, lambda role, m: role in BASIC_ROLES and m == member)


_OP = "compute.globalOperations.get"
ACTIONS: tuple[Action, ...] = (
    Action("ssl-policy-modern-tls", ("TLS-003",), SSL_POLICY,
           "raise the SSL policy to TLS 1.2 with the MODERN profile",
           ("compute.sslPolicies.get", "compute.sslPolicies.update", _OP), _ssl_policy,
           'min_tls_version = "TLS_1_2"\nprofile         = "MODERN"',
           "clients that only speak TLS 1.0/1.1 can no longer connect"),
    Action("firewall-disable", ("NET-001", "NET-002"), FIREWALL,
           "disable the internet-open firewall rule (it stays, for review, and can be narrowed)",
           ("compute.firewalls.get", "compute.firewalls.update", "compute.networks.updatePolicy",
            _OP), _firewall_disable, "disabled = true",
           "traffic the rule admitted stops: use IAP TCP forwarding for SSH/RDP"),
    Action("sql-ssl-encrypted-only", ("TLS-006",), SQL_INSTANCE,
           "accept only encrypted connections (sslMode ENCRYPTED_ONLY)",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_ssl,
           'settings {\n  ip_configuration {\n    ssl_mode = "ENCRYPTED_ONLY"\n  }\n}',
           "clients connecting without TLS are refused"),
    Action("sql-backups-pitr", ("BAK-001", "BAK-002"), SQL_INSTANCE,
           "turn on automated backups and point-in-time recovery",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_backups,
           "settings {\n  backup_configuration {\n    enabled                        = true\n"
           "    point_in_time_recovery_enabled = true  # binary_log_enabled on MySQL\n  }\n}"),
    Action("sql-deletion-protection", ("BAK-007",), SQL_INSTANCE,
           "turn on deletion protection",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_deletion_protection,
           "deletion_protection = true\nsettings {\n  deletion_protection_enabled = true\n}"),
    Action("sql-regional", ("DR-001",), SQL_INSTANCE,
           "make the instance highly available (availabilityType REGIONAL)",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_regional,
           'settings {\n  availability_type = "REGIONAL"\n}',
           "the instance restarts; schedule this in a maintenance window"),
    Action("bucket-versioning", ("BAK-005",), BUCKET,
           "turn on object versioning",
           ("storage.buckets.get", "storage.buckets.update"), _bucket_versioning,
           "versioning {\n  enabled = true\n}"),
    Action("bucket-uniform-access", ("PUB-005",), BUCKET,
           "enforce uniform bucket-level access and public access prevention",
           ("storage.buckets.get", "storage.buckets.update"), _bucket_access,
           'uniform_bucket_level_access = true\npublic_access_prevention    = "enforced"',
           "object ACLs stop applying; readers need IAM grants"),
    Action("bucket-remove-public-members", ("PUB-004",), BUCKET_IAM,
           "remove allUsers and allAuthenticatedUsers from the bucket's IAM policy",
           ("storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy"), _bucket_public,
           '# remove every google_storage_bucket_iam_member / _binding whose member is\n'
           '# "allUsers" or "allAuthenticatedUsers"'),
    Action("sa-remove-basic-roles", ("IAM-001",), PROJECT_IAM_FOR_SA,
           "remove basic roles (owner, editor, viewer) held by the service account on its project",
           ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
           _sa_basic_roles,
           '# remove google_project_iam_member / _binding granting roles/owner, roles/editor or\n'
           '# roles/viewer to this service account; grant predefined roles instead',
           "workloads running as the account lose what the basic role gave them"),
)

# Rules whose failures have no safe automatic fix, and why (the plan says so).
NO_FIX: dict[str, str] = {
    "TLS-001": "attaching an SSL policy needs a choice of policy: attach one that passes TLS-003",
    "TLS-002": "fix the SSL policy the proxy uses (TLS-003) or attach a compliant one (TLS-001)",
    "TLS-007": "the SSL mode is fixed at creation: recreate the instance",
    "PUB-002": "removing the public IP breaks clients that use it: move them to private IP first",
    "ENC-001": "a customer-managed key must be created and granted first",
    "ENC-003": "a disk's key is fixed at creation: recreate the disk from a snapshot",
    "DR-003": "a bucket's location is fixed at creation: copy into a dual-region bucket",
    "IAM-002": "disabling a key breaks whatever uses it: move the workload off keys first",
}


def actions_for(rule_id: str) -> tuple[Action, ...]:
    """The registered actions that fix failures of `rule_id` (empty when there are none)."""
    return tuple(a for a in ACTIONS if rule_id in a.rules)


def action_by_id(action_id: str) -> Action | None:
    return next((a for a in ACTIONS if a.id == action_id), None)
