"""The resource kinds the fix actions act on: how each is found from its CAI name, read,
written and guarded (its precondition, or the re-read comparison where the API offers none).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BUCKET", "BUCKET_IAM", "FIREWALL", "HTTPS_PROXY", "INSTANCE_METADATA", "PROJECT_AUDIT",
           "PROJECT_IAM_FOR_SA", "SA_KEY", "SQL_INSTANCE", "SSL_POLICY", "Kind", "build_request",
           "policy_ref"]

Json = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """How one resource type is found from its CAI name, read, patched and guarded."""

    name: str
    pattern: re.Pattern[str]  # over the CAI asset name; named groups become the target
    read_call: str
    write_call: str
    precondition: str  # the field (or query parameter) that guards the write, or how apply guards
    read_params: Callable[[dict[str, str]], Json]
    token: Callable[[Json], str]
    request: Callable[[dict[str, str], Json, str], tuple[Json, Any]]  # target, after, token
    read_body: Json | None = None
    terraform_type: str = ""
    operation: str | None = None  # "compute-global", "compute-zonal" or "sqladmin": long-running
    # How verify wraps a re-read body: the CAI asset type, and whether the body is the
    # resource's `data` or its IAM policy; `records` replaces that wrapping, `context` adds
    # other assets the rule joins to (read through the API).
    asset_type: str = ""
    content: str = "RESOURCE"
    records: Callable[[Kind, str, dict[str, str], Any], list[Json]] | None = None
    context: Callable[[Any, dict[str, str], Any], list[Json]] | None = None
    # Whether the API itself checks the token on the write (412/409); otherwise apply compares
    # it on a re-read just before the write, and a change landing in between is not detected.
    server_checked: bool = True


def build_request(kind: Kind, target: dict[str, str], after: Json, token: str) -> Json:
    """The one write request the registry sends for `after` on `target`, guarded by `token`.

    Compute writes carry a `requestId` derived from the token and the change, so Compute
    treats a resend of the same request as the same operation."""
    params, body = kind.request(target, after, token)
    if kind.operation in ("compute-global", "compute-zonal"):
        change = json.dumps(after, sort_keys=True, separators=(",", ":"))
        params["requestId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"phiguard:{token}:{change}"))
    return {"method": kind.write_call, "params": params, "body": body}


def _resource_digest(cur: Json) -> str:
    """A digest of the whole resource as read: the guard for resources with no precondition."""
    text = json.dumps(cur, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _compute_request(key: str) -> Callable[[dict[str, str], Json, str], tuple[Json, Any]]:
    def request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
        return {"project": target["project"], key: target["name"]}, {**after, "fingerprint": token}
    return request


def _sql_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    body = copy.deepcopy(after)
    body.setdefault("settings", {})["settingsVersion"] = token
    return {"project": target["project"], "instance": target["name"]}, body


def _firewall_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # compute Firewall (v1, beta, alpha) has no fingerprint: the body is the change alone.
    return {"project": target["project"], "firewall": target["name"]}, after


def _bucket_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return {"bucket": target["bucket"], "ifMetagenerationMatch": token}, after


def _bucket_iam_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return {"bucket": target["bucket"]}, {**after, "etag": token}


def _sa_with_project_policy(kind: Kind, asset: str, target: dict[str, str],
                            policy: Any) -> list[Json]:
    """A service account is judged by the grants to it: the account, in its project,
    and the project's re-read IAM policy."""
    project = f"//cloudresourcemanager.googleapis.com/projects/{target['project']}"
    return [{"name": asset, "assetType": kind.asset_type, "ancestors": [
                f"projects/{target['project']}"],
             "resource": {"parent": project, "data": {"email": target["email"]}}},
            {"name": project, "assetType": "cloudresourcemanager.googleapis.com/Project",
             "ancestors": [f"projects/{target['project']}"], "iamPolicy": policy}]


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
    terraform_type="google_compute_ssl_policy", operation="compute-global",
    asset_type="compute.googleapis.com/SslPolicy")

FIREWALL = Kind(
    "compute.Firewall",
    re.compile(r"//compute\.googleapis\.com/projects/(?P<project>[^/]+)/global/firewalls/"
               r"(?P<name>[^/]+)"),
    "compute.firewalls.get", "compute.firewalls.patch",
    "resource digest, compared on a re-read just before the write (Compute firewalls have no "
    "fingerprint or etag: a change landing between that re-read and the write is not detected)",
    lambda t: {"project": t["project"], "firewall": t["name"]},
    _resource_digest, _firewall_request,
    terraform_type="google_compute_firewall", operation="compute-global",
    asset_type="compute.googleapis.com/Firewall", server_checked=False)

SQL_INSTANCE = Kind(
    "sqladmin.Instance",
    re.compile(r"//(?:sqladmin|cloudsql)\.googleapis\.com/projects/(?P<project>[^/]+)/"
               r"instances/(?P<name>[^/]+)"),
    "sqladmin.instances.get", "sqladmin.instances.patch", "settings.settingsVersion",
    lambda t: {"project": t["project"], "instance": t["name"]},
    lambda cur: str(cur.get("settings", {}).get("settingsVersion", "")), _sql_request,
    terraform_type="google_sql_database_instance", operation="sqladmin",
    asset_type="sqladmin.googleapis.com/Instance")

BUCKET = Kind(
    "storage.Bucket",
    re.compile(r"//storage\.googleapis\.com/(?:projects/_/buckets/)?(?P<bucket>[^/]+)"),
    "storage.buckets.get", "storage.buckets.patch", "ifMetagenerationMatch",
    lambda t: {"bucket": t["bucket"]},
    lambda cur: str(cur.get("metageneration", "")), _bucket_request,
    terraform_type="google_storage_bucket", asset_type="storage.googleapis.com/Bucket")

BUCKET_IAM = Kind(
    "storage.Bucket IAM policy",
    BUCKET.pattern,
    "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy", "etag",
    # Version 3 is asked for: a policy with conditions is refused to an older request.
    lambda t: {"bucket": t["bucket"], "optionsRequestedPolicyVersion": 3},
    lambda cur: str(cur.get("etag", "")), _bucket_iam_request,
    terraform_type="google_storage_bucket_iam_member", asset_type="storage.googleapis.com/Bucket",
    content="IAM_POLICY")

PROJECT_IAM_FOR_SA = Kind(
    "cloudresourcemanager.Project IAM policy",
    # CAI names a service account by its unique numeric id; older tools by its email.
    re.compile(r"//iam\.googleapis\.com/projects/(?P<project>[^/]+)/serviceAccounts/"
               r"(?P<account>[^/]+)"),
    "cloudresourcemanager.projects.getIamPolicy", "cloudresourcemanager.projects.setIamPolicy",
    "etag",
    lambda t: {"resource": f"projects/{t['project']}"},
    lambda cur: str(cur.get("etag", "")), _project_iam_request,
    read_body={"options": {"requestedPolicyVersion": 3}},
    terraform_type="google_project_iam_member", asset_type="iam.googleapis.com/ServiceAccount",
    records=_sa_with_project_policy)


def _proxy_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # setSslPolicy carries no precondition: apply compares the proxy's fingerprint on a re-read
    # immediately before the write (a change landing in between is not detected by the API).
    return {"project": target["project"], "targetHttpsProxy": target["name"]}, after


def policy_ref(url: str) -> str:
    """`projects/P/global/sslPolicies/N` from a full URL, a partial URL or a CAI name."""
    m = re.search(r"projects/[^/]+/global/sslPolicies/[^/]+$", url or "")
    return m.group(0) if m else (url or "")


def _proxy_context(api: Any, target: dict[str, str], proxy: Any) -> list[Json]:
    """Rules on a proxy follow it to its SSL policy: read that policy too."""
    m = re.fullmatch(r"projects/([^/]+)/global/sslPolicies/([^/]+)",
                     policy_ref(proxy.get("sslPolicy", "")))
    if m is None:
        return []
    policy = api.call("compute.sslPolicies.get", {"project": m.group(1), "sslPolicy": m.group(2)})
    return [{"name": f"//compute.googleapis.com/{m.group(0)}",
             "assetType": "compute.googleapis.com/SslPolicy", "resource": {"data": policy}}]


def _key_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    return {"name": _key_name(target)}, {}


def _key_name(target: dict[str, str]) -> str:
    return f"projects/{target['project']}/serviceAccounts/{target['account']}/keys/{target['key']}"


def _audit_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # Only auditConfigs (and the etag guard) are written: bindings are left as they are.
    return ({"resource": f"projects/{target['project']}"},
            {"policy": {**after, "etag": token}, "updateMask": "auditConfigs,etag"})


HTTPS_PROXY = Kind(
    "compute.TargetHttpsProxy",
    re.compile(r"//compute\.googleapis\.com/projects/(?P<project>[^/]+)/global/"
               r"targetHttpsProxies/(?P<name>[^/]+)"),
    "compute.targetHttpsProxies.get", "compute.targetHttpsProxies.setSslPolicy",
    "fingerprint, compared on a re-read just before the write (setSslPolicy takes no "
    "precondition: a change landing between that re-read and the write is not detected)",
    lambda t: {"project": t["project"], "targetHttpsProxy": t["name"]},
    lambda cur: str(cur.get("fingerprint", "")), _proxy_request,
    terraform_type="google_compute_target_https_proxy", operation="compute-global",
    asset_type="compute.googleapis.com/TargetHttpsProxy", context=_proxy_context,
    server_checked=False)

SA_KEY = Kind(
    "iam.ServiceAccountKey",
    re.compile(r"//iam\.googleapis\.com/projects/(?P<project>[^/]+)/serviceAccounts/"
               r"(?P<account>[^/]+)/keys/(?P<key>[^/]+)"),
    "iam.projects.serviceAccounts.keys.get", "iam.projects.serviceAccounts.keys.disable",
    "disabled flag, compared on a re-read just before the write (keys.disable takes no "
    "precondition; disabling twice has the same effect)",
    lambda t: {"name": _key_name(t)},
    lambda cur: "true" if cur.get("disabled") else "false", _key_request,
    terraform_type="google_service_account_key",
    asset_type="iam.googleapis.com/ServiceAccountKey", server_checked=False)

PROJECT_AUDIT = Kind(
    "cloudresourcemanager.Project IAM policy (audit configs)",
    re.compile(r"//cloudresourcemanager\.googleapis\.com/projects/(?P<project>[^/]+)"),
    "cloudresourcemanager.projects.getIamPolicy", "cloudresourcemanager.projects.setIamPolicy",
    "etag",
    lambda t: {"resource": f"projects/{t['project']}"},
    lambda cur: str(cur.get("etag", "")), _audit_request,
    read_body={"options": {"requestedPolicyVersion": 3}},
    terraform_type="google_project_iam_audit_config",
    asset_type="cloudresourcemanager.googleapis.com/Project", content="IAM_POLICY")


def _run_name(target: dict[str, str]) -> str:
    return f"projects/{target['project']}/locations/{target['location']}/services/{target['name']}"


def _run_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # replaceService takes the whole Service; metadata.resourceVersion, the one read, makes
    # Cloud Run refuse the replace (409) when the service changed since.
    body = copy.deepcopy(after)
    body.setdefault("metadata", {})["resourceVersion"] = token
    return {"name": _run_name(target)}, body


RUN_SERVICE = Kind(
    "run.Service",
    re.compile(r"//run\.googleapis\.com/projects/(?P<project>[^/]+)/locations/"
               r"(?P<location>[^/]+)/services/(?P<name>[^/]+)"),
    "run.projects.locations.services.get", "run.projects.locations.services.replaceService",
    "metadata.resourceVersion",
    lambda t: {"name": _run_name(t)},
    lambda cur: str((cur.get("metadata") or {}).get("resourceVersion", "")), _run_request,
    terraform_type="google_cloud_run_v2_service", asset_type="run.googleapis.com/Service")


def _metadata_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # instances.setMetadata replaces the whole Metadata (every item) and must carry the
    # fingerprint the instance was read with, or Compute answers 412 conditionNotMet.
    items = after["metadata"]["items"]
    return ({"project": target["project"], "zone": target["zone"], "instance": target["name"]},
            {"items": items, "fingerprint": token})


INSTANCE_METADATA = Kind(
    "compute.Instance metadata",
    re.compile(r"//compute\.googleapis\.com/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/"
               r"instances/(?P<name>[^/]+)"),
    "compute.instances.get", "compute.instances.setMetadata", "metadata.fingerprint",
    lambda t: {"project": t["project"], "zone": t["zone"], "instance": t["name"]},
    lambda cur: str((cur.get("metadata") or {}).get("fingerprint", "")), _metadata_request,
    terraform_type="google_compute_instance", operation="compute-zonal",
    asset_type="compute.googleapis.com/Instance")
