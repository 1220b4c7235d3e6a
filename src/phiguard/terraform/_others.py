"""Converter tables for Cloud SQL, Storage, IAM, GKE, KMS, Logging, org policy, Run and Redis."""

from __future__ import annotations

from typing import Any

import orjson

from phiguard.inventory.refs import project_of_name, ref_key
from phiguard.terraform.convert import Context, Converter, Field, Fix, Part, each, register
from phiguard.terraform.values import is_unknown, tf_get

RM = "//cloudresourcemanager.googleapis.com/"
PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
FOLDER_TYPE = "cloudresourcemanager.googleapis.com/Folder"
ORG_TYPE = "cloudresourcemanager.googleapis.com/Organization"
NETWORK = "projects/{project}/global/networks/{}"
KEY = "google_kms_crypto_key.<key>.id"
S = "settings."
BC = S + "backup_configuration."
IPC = S + "ip_configuration."


def _sql_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        data["project"] = ctx.project_of(ctx.change, values)
    master = data.get("masterInstanceName")
    if "instanceType" not in data or is_unknown(data.get("instanceType")):
        if isinstance(master, str) and master:
            data["instanceType"] = "READ_REPLICA_INSTANCE"
        elif master is None:
            data["instanceType"] = "CLOUD_SQL_INSTANCE"
    # With public IPv4 off, the instance gets no PRIMARY (public) address after apply.
    addresses = tf_get(values, "ip_address")
    settings = data.get("settings")
    ip_config = settings.get("ipConfiguration") if isinstance(settings, dict) else None
    ipv4 = ip_config.get("ipv4Enabled") if isinstance(ip_config, dict) else None
    if isinstance(addresses, list):
        data["ipAddresses"] = [{"ipAddress": a.get("ip_address"), "type": a.get("type")}
                               for a in addresses if isinstance(a, dict)]
    elif ipv4 is False:
        data["ipAddresses"] = []


SQL = Converter(
    tf_type="google_sql_database_instance", asset_type="sqladmin.googleapis.com/Instance",
    name="//cloudsql.googleapis.com/projects/{project}/instances/{name}", location="{region}",
    constants={"kind": "sql#instance"},
    fields=(Field("name", "name"), Field("region", "region"),
            Field("database_version", "databaseVersion"),
            Field("master_instance_name", "masterInstanceName"),
            Field("instance_type", "instanceType"),
            Field("encryption_key_name", "diskEncryptionConfiguration.kmsKeyName", ref="{}"),
            Field(S + "tier", "settings.tier"),
            Field(S + "availability_type", "settings.availabilityType", api_default="ZONAL"),
            Field(S + "deletion_protection_enabled", "settings.deletionProtectionEnabled",
                  api_default=False),
            Field(S + "user_labels", "settings.userLabels"),
            Field(BC + "enabled", "settings.backupConfiguration.enabled", api_default=False),
            Field(BC + "binary_log_enabled", "settings.backupConfiguration.binaryLogEnabled",
                  api_default=False),
            Field(BC + "point_in_time_recovery_enabled",
                  "settings.backupConfiguration.pointInTimeRecoveryEnabled", api_default=False),
            Field(BC + "start_time", "settings.backupConfiguration.startTime"),
            Field(BC + "location", "settings.backupConfiguration.location", api_default=None),
            Field(BC + "transaction_log_retention_days",
                  "settings.backupConfiguration.transactionLogRetentionDays"),
            Field(BC + "backup_retention_settings.retained_backups",
                  "settings.backupConfiguration.backupRetentionSettings.retainedBackups",
                  api_default=7),
            Field(BC + "backup_retention_settings.retention_unit",
                  "settings.backupConfiguration.backupRetentionSettings.retentionUnit"),
            Field(IPC + "ipv4_enabled", "settings.ipConfiguration.ipv4Enabled", api_default=True),
            Field(IPC + "private_network", "settings.ipConfiguration.privateNetwork",
                  ref=NETWORK),
            Field(IPC + "ssl_mode", "settings.ipConfiguration.sslMode",
                  api_default="ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
            Field(IPC + "require_ssl", "settings.ipConfiguration.requireSsl"),
            Field(IPC + "authorized_networks", "settings.ipConfiguration.authorizedNetworks",
                  each(Field("name", "name"), Field("value", "value"),
                       Field("expiration_time", "expirationTime"))),
            Field(S + "database_flags", "settings.databaseFlags",
                  each(Field("name", "name"), Field("value", "value")))),
    build=_sql_build,
    fixes={
        "BAK-001": Fix(BC + "enabled", True),
        "BAK-002": Fix(BC + "point_in_time_recovery_enabled", True,
                       "binary_log_enabled for MySQL; backup_retention_settings.retained_backups"
                       " >= 7"),
        "BAK-007": Fix(S + "deletion_protection_enabled", True),
        "DR-001": Fix(S + "availability_type", "REGIONAL"),
        "DR-002": Fix(BC + "location", "us", "a multi-region, or a cross-region read replica"),
        "ENC-002": Fix("encryption_key_name", KEY),
        "LOG-006": Fix(S + "database_flags", '[{ name = "cloudsql.enable_pgaudit", value = "on" '
                       '}, { name = "log_connections", value = "on" }, { name = '
                       '"log_disconnections", value = "on" }]'),
        "PUB-002": Fix(IPC + "ipv4_enabled", False, "with private_network set"),
        "TLS-006": Fix(IPC + "ssl_mode", "ENCRYPTED_ONLY"),
    })

def _int64(value: Any, ctx: Context) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_MULTI = {"US", "EU", "ASIA"}
_DUAL = {"NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1"}


def _bucket_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    location = data.get("location")
    placement = tf_get(values, "custom_placement_config.data_locations")
    if isinstance(placement, list) and placement:
        data["locationType"] = "dual-region"
    elif isinstance(location, str):
        data["locationType"] = ("multi-region" if location in _MULTI else
                                "dual-region" if location in _DUAL else "region")
    elif is_unknown(location):
        data["locationType"] = location
    name = data.get("name")
    if isinstance(name, str):
        data["selfLink"] = f"https://www.googleapis.com/storage/v1/b/{name}"


BUCKET = Converter(
    tf_type="google_storage_bucket", asset_type="storage.googleapis.com/Bucket",
    name="//storage.googleapis.com/{name}",
    constants={"kind": "storage#bucket"},
    fields=(Field("name", "name"), Field("location", "location",
                                         lambda v, c: v.upper() if isinstance(v, str) else v),
            Field("storage_class", "storageClass"),
            Field("versioning.enabled", "versioning.enabled", api_default=False),
            Field("soft_delete_policy.retention_duration_seconds",
                  "softDeletePolicy.retentionDurationSeconds", api_default=604800),
            Field("encryption.default_kms_key_name", "encryption.defaultKmsKeyName", ref="{}"),
            Field("uniform_bucket_level_access",
                  "iamConfiguration.uniformBucketLevelAccess.enabled", api_default=False),
            Field("public_access_prevention", "iamConfiguration.publicAccessPrevention",
                  api_default="inherited"),
            Field("labels", "labels"), Field("logging.log_bucket", "logging.logBucket"),
            # REST int64 fields are JSON strings, as Google's converter writes them
            Field("retention_policy.retention_period", "retentionPolicy.retentionPeriod",
                  _int64),
            # `is_locked = true` makes the provider lock the policy right after creation
            Field("retention_policy.is_locked", "retentionPolicy.isLocked")),
    build=_bucket_build,
    fixes={"BAK-005": Fix("versioning.enabled", True),
           "DR-003": Fix("location", "US", "or a dual-region custom_placement_config"),
           "ENC-001": Fix("encryption.default_kms_key_name", KEY),
           "PUB-004": Fix("member", "<a named principal>",
                          "remove every google_storage_bucket_iam_* grant to allUsers or "
                          "allAuthenticatedUsers"),
           "PUB-005": Fix("public_access_prevention", "enforced",
                          "and uniform_bucket_level_access = true")})


# IAM pieces ---------------------------------------------------------------------------------

def _project_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    project = ctx.project_of(ctx.change, values) if ctx.change else None
    if not project:
        return None
    project = project.removeprefix("projects/")
    return PROJECT_TYPE, f"{RM}projects/{ctx.project_numbers.get(project, project)}"


def _placeholder(values: Any, attr: str, ctx: Context) -> str | None:
    """A holder known only after apply (`folder = random_string.x.result`) still holds the
    planned grant: it is named by the address, as Google's converter names it `placeholder-`."""
    if is_unknown(tf_get(values, attr)) and ctx.change is not None:
        return f"({ctx.change.address}.{attr})"
    return None


def _folder_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    folder = _known(values, "folder", ctx)
    if not isinstance(folder, str):
        folder = _placeholder(values, "folder", ctx)
        if folder is None:
            return None
    return FOLDER_TYPE, f"{RM}folders/{folder.removeprefix('folders/')}"


def _org_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    org = _known(values, "org_id", ctx)
    if not isinstance(org, str):
        org = _placeholder(values, "org_id", ctx)
        if org is None:
            return None
    return ORG_TYPE, f"{RM}organizations/{org.removeprefix('organizations/')}"


def _bucket_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    bucket = _known(values, "bucket", ctx, want_ref=False)
    if not isinstance(bucket, str):
        return None
    return "storage.googleapis.com/Bucket", "//storage.googleapis.com/" + ref_key(
        bucket).removeprefix("b/").rsplit("/", 1)[-1]


def _sa_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    sa = _known(values, "service_account_id", ctx)
    if not isinstance(sa, str):
        return None
    return "iam.googleapis.com/ServiceAccount", "//iam.googleapis.com/" + ref_key(sa)


def _instance_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    name = _known(values, "instance_name", ctx, want_ref=False)
    zone = tf_get(values, "zone")
    if not isinstance(name, str) or ctx.change is None:
        return None
    if "/" not in name:
        if not isinstance(zone, str):
            return None
        name = f"projects/{ctx.project_of(ctx.change, values)}/zones/{zone}/instances/{name}"
    return "compute.googleapis.com/Instance", "//compute.googleapis.com/" + ref_key(name)


def _run_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    name = _known(values, "service", ctx, want_ref=False)
    location = tf_get(values, "location")
    if not isinstance(name, str) or ctx.change is None:
        return None
    if "/" not in name:
        if not isinstance(location, str):
            return None
        name = (f"projects/{ctx.project_of(ctx.change, values)}/locations/{location}/"
                f"services/{name}")
    return "run.googleapis.com/Service", "//run.googleapis.com/" + ref_key(name)


def _crypto_key_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    """`crypto_key_id`: projects/P/locations/L/keyRings/R/cryptoKeys/K, P/L/R/K or L/R/K (the
    provider's project)."""
    key = _known(values, "crypto_key_id", ctx)
    if not isinstance(key, str) or ctx.change is None:
        return None
    key = ref_key(key)
    parts = key.split("/")
    kind = "cloudkms.googleapis.com/CryptoKey"
    if not key.startswith("projects/") and len(parts) in (3, 4):
        if len(parts) == 3:
            tail = "/locations/{}/keyRings/{}/cryptoKeys/{}".format(*parts)
            planned = [a.name for c in ctx.plan.changes if c.type == "google_kms_crypto_key"
                       for a in (ctx.asset_of(c),) if a is not None and a.name.endswith(tail)]
            if len(planned) == 1:  # the one planned key of that location, ring and name
                return kind, planned[0]
            parts.insert(0, ctx.project_of(ctx.change, values))
        key = "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}".format(*parts)
    return kind, "//cloudkms.googleapis.com/" + key


def _known(values: Any, attr: str, ctx: Context, want_ref: bool = True) -> Any:
    value = tf_get(values, attr)
    if is_unknown(value) and ctx.change is not None:
        value = ctx.resolve(ctx.change, attr, want_ref)
    return value


def _condition(values: Any) -> Any:
    cond = tf_get(values, "condition")
    if isinstance(cond, dict):
        return {k: v for k, v in (("title", cond.get("title")),
                                  ("expression", cond.get("expression"))) if v is not None}
    return None


def _member(values: Any, ctx: Context) -> Any:
    member = _known(values, "member", ctx, want_ref=False)
    if isinstance(member, str) and ":" not in member and member.endswith(
            ".gserviceaccount.com"):
        # `"serviceAccount:${google_service_account.x.email}"`: the plan gives only the
        # reference, the template's prefix is implied by the address
        member = f"serviceAccount:{member}"
    return {"role": tf_get(values, "role"), "members": [member], "condition": _condition(values)}


def _binding(values: Any, ctx: Context) -> Any:
    members = tf_get(values, "members")
    return {"role": tf_get(values, "role"),
            "members": list(members) if isinstance(members, list) else members,
            "condition": _condition(values)}


def _policy(values: Any, ctx: Context) -> Any:
    raw = tf_get(values, "policy_data")
    if not isinstance(raw, str):
        return raw  # unknown
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    bindings = [{"role": b.get("role"), "members": list(b.get("members") or []),
                 **({"condition": b["condition"]} if b.get("condition") else {})}
                for b in doc.get("bindings") or () if isinstance(b, dict)]
    audit = []
    for cfg in doc.get("auditConfigs") or doc.get("audit_configs") or ():
        if isinstance(cfg, dict):
            logs = [{"logType": c.get("logType") or c.get("log_type"),
                     "exemptedMembers": list(c.get("exemptedMembers") or [])}
                    for c in cfg.get("auditLogConfigs") or () if isinstance(c, dict)]
            audit.append({"service": cfg.get("service"), "auditLogConfigs": logs})
    return {"bindings": bindings, "auditConfigs": audit}


def _audit(values: Any, ctx: Context) -> Any:
    logs = tf_get(values, "audit_log_config")
    out = []
    for cfg in logs if isinstance(logs, list) else ():
        if isinstance(cfg, dict):
            exempted = cfg.get("exempted_members")
            out.append({"logType": cfg.get("log_type"),
                        "exemptedMembers": list(exempted) if isinstance(exempted, list) else []})
    return {"service": tf_get(values, "service"), "auditLogConfigs": out}


IAM_FIX = Fix("member", "<a group or service account>",
              "no basic, impersonation or standing PHI-data role for a person; use a time-bound "
              "condition or a group from the organization's domain")
HIERARCHY_FIXES = {
    "IAM-004": IAM_FIX, "IAM-007": IAM_FIX, "JIT-001": IAM_FIX, "MFA-004": IAM_FIX,
    "LOG-001": Fix("audit_log_config", '[{ log_type = "DATA_READ" }, { log_type = "DATA_WRITE" }]',
                   'a google_project_iam_audit_config with service = "allServices" and no '
                   "exempted_members"),
    "LOG-002": Fix("destination", "<central log bucket>",
                   "a google_logging_project_sink (or a folder/org sink with include_children)"),
    "MFA-005": Fix("constraint", "iam.allowedPolicyMemberDomains",
                   "an org policy listing the organization's customer ID"),
    "PLAT-003": Fix("region", "<a second region>", "place the PHI tier in two regions"),
}


def _iam_parts(prefix: str, parent: Any, fixes: dict[str, Fix], audit: bool) -> list[Part]:
    parts = [Part(f"{prefix}_iam_member", "iam_member", parent, _member, fixes),
             Part(f"{prefix}_iam_binding", "iam_binding", parent, _binding, fixes),
             Part(f"{prefix}_iam_policy", "iam_policy", parent, _policy, fixes)]
    if audit:
        parts.append(Part(f"{prefix}_iam_audit_config", "audit_config", parent, _audit, fixes))
    return parts


# org policies -------------------------------------------------------------------------------

def _hierarchy_of(node: Any) -> tuple[str, str] | None:
    if not isinstance(node, str) or "/" not in node:
        return None
    kind, ident = node.split("/", 1)
    asset_type = {"projects": PROJECT_TYPE, "folders": FOLDER_TYPE,
                  "organizations": ORG_TYPE}.get(kind)
    return (asset_type, f"{RM}{kind}/{ident}") if asset_type else None


def _v2_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    found = _hierarchy_of(_known(values, "parent", ctx, want_ref=False))
    if found and found[0] == PROJECT_TYPE:
        project = found[1].rsplit("/", 1)[-1]
        return PROJECT_TYPE, f"{RM}projects/{ctx.project_numbers.get(project, project)}"
    return found


def _v2_piece(values: Any, ctx: Context) -> Any:
    name = tf_get(values, "name")
    constraint = name.rsplit("/policies/", 1)[-1] if isinstance(name, str) else None
    out: dict[str, Any] = {"constraint": f"constraints/{constraint}"}
    spec = tf_get(values, "spec")
    if is_unknown(spec):
        out["booleanPolicy"] = {"enforced": spec}
        return out
    if tf_get(values, "spec.reset") is True:
        out["restoreDefault"] = {}
        return out
    spec_block = values.get("spec") if isinstance(values, dict) else None
    spec_block = spec_block[0] if isinstance(spec_block, list) and spec_block else spec_block
    rules = spec_block.get("rules") if isinstance(spec_block, dict) else None
    allowed: list[Any] = []
    denied: list[Any] = []
    all_values = None
    enforce = None
    for rule in rules if isinstance(rules, list) else ():
        if not isinstance(rule, dict):
            continue
        if rule.get("enforce") is not None:
            enforce = str(rule["enforce"]).upper() == "TRUE"
        if str(rule.get("allow_all") or "").upper() == "TRUE":
            all_values = "ALLOW"
        if str(rule.get("deny_all") or "").upper() == "TRUE":
            all_values = "DENY"
        vals = rule.get("values")
        vals = vals[0] if isinstance(vals, list) and vals else vals
        if isinstance(vals, dict):
            allowed += list(vals.get("allowed_values") or [])
            denied += list(vals.get("denied_values") or [])
    if enforce is not None:
        out["booleanPolicy"] = {"enforced": enforce}
    else:
        lp: dict[str, Any] = {}
        if tf_get(values, "spec.inherit_from_parent") is True:
            lp["inheritFromParent"] = True
        if allowed:
            lp["allowedValues"] = allowed
        if denied:
            lp["deniedValues"] = denied
        if all_values:
            lp["allValues"] = all_values
        out["listPolicy"] = lp
    return out


def _has_block(values: Any, name: str) -> bool:
    block = values.get(name) if isinstance(values, dict) else None
    return bool(block) if isinstance(block, list | dict) else block is not None


def _v1_piece(values: Any, ctx: Context) -> Any:
    constraint = tf_get(values, "constraint")
    if isinstance(constraint, str) and not constraint.startswith("constraints/"):
        constraint = f"constraints/{constraint}"
    out: dict[str, Any] = {"constraint": constraint}
    if tf_get(values, "restore_policy.default") is True:
        out["restoreDefault"] = {}
    elif _has_block(values, "boolean_policy"):  # an empty block list is no block
        out["booleanPolicy"] = {"enforced": tf_get(values, "boolean_policy.enforced", False)}
    elif _has_block(values, "list_policy"):
        lp: dict[str, Any] = {}
        if tf_get(values, "list_policy.inherit_from_parent") is True:
            lp["inheritFromParent"] = True  # false is the API's default, and not shown
        for side, key in (("allow", "allowedValues"), ("deny", "deniedValues")):
            vals = tf_get(values, f"list_policy.{side}.values")
            if isinstance(vals, list) and vals:
                lp[key] = list(vals)
            if tf_get(values, f"list_policy.{side}.all") is True:
                lp["allValues"] = "ALLOW" if side == "allow" else "DENY"
        out["listPolicy"] = lp
    return out


# GKE -----------------------------------------------------------------------------------------

def _pool(block: Any, sa: Any = "default") -> Any:
    """A node pool as the cluster's REST body lists it; `sa` stands in for an unset account."""
    if not isinstance(block, dict):
        return block
    account = tf_get(block, "node_config.service_account")
    return {"name": block.get("name"),
            "config": {"serviceAccount": account if account is not None and not is_unknown(
                account) else sa},
            **({"locations": block["node_locations"]}
               if isinstance(block.get("node_locations"), list) else {})}


def _pool_piece(values: Any, ctx: Context) -> Any:
    sa: Any = "default"
    change = ctx.change
    if change is not None and is_unknown(tf_get(values, "node_config.service_account")) and \
            ctx.configured(change, "node_config.service_account") is not False:
        sa = ctx.resolve(change, "node_config.service_account", False)
    return _pool(values, sa)


def _cluster_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    pools = []
    if tf_get(values, "remove_default_node_pool") is not True:
        pools.append(_pool({"name": "default-pool",
                            "node_config": tf_get(values, "node_config")}))
    inline = tf_get(values, "node_pool")
    raw = values.get("node_pool") if isinstance(values, dict) else None
    if isinstance(raw, list) and inline is not None:
        pools += [_pool(p) for p in raw]
    data["nodePools"] = pools
    location = data.get("location")
    zonal = isinstance(location, str) and location.count("-") == 2
    unset = "locations" not in data or (
        is_unknown(data["locations"]) and ctx.change is not None
        and ctx.configured(ctx.change, "node_locations") is False)
    if zonal and unset:  # the API puts a zonal cluster's nodes in its zone
        data["locations"] = [location]
    config = data.get("networkConfig")
    network = config.get("network") if isinstance(config, dict) else None
    if isinstance(network, str):
        data["network"] = network.rsplit("/", 1)[-1]


CLUSTER = Converter(
    tf_type="google_container_cluster", asset_type="container.googleapis.com/Cluster",
    name="//container.googleapis.com/projects/{project}/locations/{location}/clusters/{name}",
    location="{location}",
    fields=(Field("name", "name"), Field("location", "location"),
            Field("node_locations", "locations"),
            Field("network", "networkConfig.network", ref=NETWORK),
            Field("subnetwork", "networkConfig.subnetwork", ref="{}"),
            Field("logging_service", "loggingService",
                  api_default="logging.googleapis.com/kubernetes"),
            Field("logging_config.enable_components",
                  "loggingConfig.componentConfig.enableComponents", api_default=None),
            Field("database_encryption.state", "databaseEncryption.state",
                  api_default="DECRYPTED"),
            Field("database_encryption.key_name", "databaseEncryption.keyName", ref="{}",
                  api_default=None),
            Field("workload_identity_config.workload_pool", "workloadIdentityConfig.workloadPool",
                  api_default=None),
            Field("resource_labels", "resourceLabels")),
    build=_cluster_build,
    fixes={"DR-004": Fix("location", "<region>", "a regional cluster (or node_locations in "
                         "two or more zones)"),
           "ENC-005": Fix("database_encryption", f'{{ state = "ENCRYPTED", key_name = {KEY} }}'),
           "IAM-006": Fix("node_config.service_account", "google_service_account.<nodes>.email",
                          'and workload_identity_config.workload_pool = "<project>.svc.id.goog"'),
           "LOG-007": Fix("logging_service", "logging.googleapis.com/kubernetes",
                          'and logging_config.enable_components = ["SYSTEM_COMPONENTS", '
                          '"WORKLOADS"]')})


def _pool_cluster(values: Any, ctx: Context) -> tuple[str, str] | None:
    cluster = _known(values, "cluster", ctx)
    if not isinstance(cluster, str) or ctx.change is None:
        return None
    if "/" not in cluster:
        scope = ctx.scope(ctx.change, values)
        cluster = f"projects/{scope['project']}/locations/{scope['location']}/clusters/{cluster}"
    return "container.googleapis.com/Cluster", "//container.googleapis.com/" + ref_key(cluster)



def _last(value: Any, ctx: Context) -> Any:
    """The last path segment of a reference (a bare name stays as it is)."""
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else value


def _key(value: Any, ctx: Context) -> Any:
    return ref_key(value) if isinstance(value, str) else value


NO_EXPIRY = "9999-12-31T23:59:59Z"  # the IAM API's validBeforeTime of a key that never expires


def _key_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """A key this plan creates is judged as just created, when the plan is applied: its
    validAfterTime is the evaluation time, and it is not expired (validBeforeTime is the IAM
    API's no-expiry value; an expiry org policy makes it creation + N hours, also after
    creation). Only verdicts these facts decide change; an existing key keeps its values."""
    change = ctx.change
    if change is None or not change.is_create or ctx.side != "after":
        return
    if is_unknown(data.get("validBeforeTime")) or "validBeforeTime" not in data:
        data["validBeforeTime"] = NO_EXPIRY
    applied = ctx.plan.applied_at
    if applied is not None and (is_unknown(data.get("validAfterTime"))
                                or "validAfterTime" not in data):
        data["validAfterTime"] = applied


RUN = "run.googleapis.com/"
# Cloud Run v2 enums -> the v1 annotation values (cloud.google.com/run/docs reference)
_INGRESS = {"INGRESS_TRAFFIC_ALL": "all", "INGRESS_TRAFFIC_INTERNAL_ONLY": "internal",
            "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": "internal-and-cloud-load-balancing"}
_EGRESS = {"ALL_TRAFFIC": "all-traffic", "PRIVATE_RANGES_ONLY": "private-ranges-only"}


def _run_v2_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """The v2 attributes CAI shows as v1 annotations (their keys hold dots)."""
    def annotate(node: dict[str, Any], key: str, value: Any) -> None:
        if value is not None:
            node.setdefault("annotations", {})[RUN + key] = value
    ingress = tf_get(values, "ingress")
    annotate(data.setdefault("metadata", {}), "ingress",
             _INGRESS.get(ingress, ingress) if isinstance(ingress, str) else ingress)
    template = data.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    annotate(template, "vpc-access-connector", tf_get(values, "template.vpc_access.connector"))
    egress = tf_get(values, "template.vpc_access.egress")
    annotate(template, "vpc-access-egress",
             _EGRESS.get(egress, egress) if isinstance(egress, str) else egress)
    if not template:  # nothing to annotate: leave no empty objects behind
        spec = data["spec"]
        del spec["template"]["metadata"]
        if not spec["template"]:
            del spec["template"]
        if not spec:
            del data["spec"]


def _service_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        project = ctx.project_of(ctx.change, values)
        data["parent"] = f"projects/{ctx.project_numbers.get(project, project)}"


def _project_in(ref: Any, ctx: Context) -> Any:
    """The project a reference names (`projects/P/...`); "" for a bare name, which names none
    (Google's converter then takes the provider's default project, which a plan does not show)."""
    return (project_of_name(ref) or "") if isinstance(ref, str) else ref


def _sa_project(ref: Any, ctx: Context) -> Any:
    """The project of a service account reference: `projects/P/serviceAccounts/E`, or an email
    `name@P.iam.gserviceaccount.com`."""
    if isinstance(ref, str) and "/" not in ref and ref.endswith(".iam.gserviceaccount.com"):
        return ref.split("@", 1)[-1].split(".", 1)[0]
    return _project_in(ref, ctx)


def _named(data: dict[str, Any], values: Any, ctx: Context, collection: str, where: str) -> None:
    """REST `name` = projects/P/locations/L/<collection>/N for the location-scoped APIs."""
    if ctx.change is None:
        return
    scope = ctx.scope(ctx.change, values)
    data["name"] = (f"projects/{scope['project']}/locations/{scope[where]}/{collection}/"
                    f"{scope['name']}")


def _sa_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    project = ctx.project_of(ctx.change, values)
    account = tf_get(values, "account_id")
    if not isinstance(data.get("email"), str) and isinstance(account, str):
        data["email"] = f"{account}@{project}.iam.gserviceaccount.com"
    data["projectId"] = project
    if isinstance(data.get("email"), str):
        data["name"] = f"projects/{project}/serviceAccounts/{data['email']}"


def _sink(kind: str, attr: str) -> Converter:
    plural = {"project": "projects", "folder": "folders", "organization": "organizations",
              "billing_account": "billingAccounts"}[kind]
    holder = "{project_ref}" if kind == "project" else "{holder}"
    names = {} if kind == "project" else {
        "holder": Field(attr, "", _last)}
    return Converter(
        tf_type=f"google_logging_{kind}_sink", asset_type="logging.googleapis.com/LogSink",
        name=f"//logging.googleapis.com/{plural}/{holder}/sinks/{{name}}",
        names=names,
        fields=(Field("name", "name"), Field("destination", "destination"),
                Field("filter", "filter", api_default=None),
                Field("disabled", "disabled", api_default=False),
                Field("include_children", "includeChildren", api_default=False),
                Field("writer_identity", "writerIdentity"),
                Field("exclusions", "exclusions", each(Field("name", "name"),
                                                       Field("filter", "filter"),
                                                       Field("disabled", "disabled")))))


register(
    SQL, BUCKET, CLUSTER,
    *_iam_parts("google_project", _project_parent, HIERARCHY_FIXES, True),
    *_iam_parts("google_folder", _folder_parent, HIERARCHY_FIXES, True),
    *_iam_parts("google_organization", _org_parent, HIERARCHY_FIXES, True),
    *_iam_parts("google_storage_bucket", _bucket_parent, dict(BUCKET.fixes), False),
    *_iam_parts("google_service_account", _sa_parent, {}, False),
    *_iam_parts("google_compute_instance", _instance_parent, {}, False),
    *_iam_parts("google_cloud_run_service", _run_parent, {}, False),
    *_iam_parts("google_kms_crypto_key", _crypto_key_parent, {}, False),
    Part("google_org_policy_policy", "org_policy", _v2_parent, _v2_piece, HIERARCHY_FIXES),
    Part("google_project_organization_policy", "org_policy", _project_parent, _v1_piece,
         HIERARCHY_FIXES),
    Part("google_folder_organization_policy", "org_policy", _folder_parent, _v1_piece),
    Part("google_organization_policy", "org_policy", _org_parent, _v1_piece),
    Part("google_container_node_pool", "append", _pool_cluster,
         _pool_piece, target="nodePools"),
    Converter(
        tf_type="google_container_node_pool", asset_type="container.googleapis.com/NodePool",
        name="//container.googleapis.com/projects/{project}/locations/{location}/clusters/"
             "{cluster}/nodePools/{name}", location="{location}",
        names={"cluster": Field("cluster", "", _last, ref="{}")},
        fields=(Field("name", "name"),
                Field("node_config.service_account", "config.serviceAccount",
                      api_default="default"),
                Field("node_locations", "locations"))),
    Converter(
        tf_type="google_service_account", asset_type="iam.googleapis.com/ServiceAccount",
        # CAI names an account by its unique id (Google's converter too); a new account's id
        # is known only after apply, and its address stands in (the email is in data.email)
        name="//iam.googleapis.com/projects/{project}/serviceAccounts/{unique_id}",
        names={"unique_id": Field("unique_id", "")},
        fields=(Field("email", "email"), Field("display_name", "displayName"),
                Field("description", "description"), Field("unique_id", "uniqueId"),
                Field("disabled", "disabled", api_default=False)),
        build=lambda data, values, ctx: _sa_build(data, values, ctx),
        fixes={"IAM-001": Fix("role", "<a narrow predefined role>", "remove the basic or "
                              "administrator role granted to this service account")}),
    Converter(
        tf_type="google_service_account_key", asset_type="iam.googleapis.com/ServiceAccountKey",
        name="//iam.googleapis.com/{account}/keys/({address})",
        names={"account": Field("service_account_id", "", _key, ref="{}"),
               "address": Field("name", "", _last)},
        project_from=Field("service_account_id", "", _sa_project, ref="{}"),
        # a key Terraform creates is user-managed and enabled: the type determines it
        constants={"keyType": "USER_MANAGED", "disabled": False},
        fields=(Field("key_algorithm", "keyAlgorithm"),
                Field("valid_after", "validAfterTime"), Field("valid_before", "validBeforeTime")),
        build=_key_build,
        fixes={"IAM-002": Fix("", None, "delete this google_service_account_key; use Workload "
                              "Identity or service account impersonation"),
               "IAM-003": Fix("keepers", "{ rotated = \"<date>\" }",
                              "rotate the key, or better delete it")}),
    Converter(
        tf_type="google_kms_key_ring", asset_type="cloudkms.googleapis.com/KeyRing",
        name="//cloudkms.googleapis.com/projects/{project}/locations/{location}/keyRings/{name}",
        location="{location}", fields=(Field("name", "name"),)),
    Converter(
        tf_type="google_kms_crypto_key", asset_type="cloudkms.googleapis.com/CryptoKey",
        name="//cloudkms.googleapis.com/{key_ring}/cryptoKeys/{name}",
        names={"key_ring": Field("key_ring", "", _key, ref="{}")},
        project_from=Field("key_ring", "", _project_in, ref="{}"),
        fields=(Field("purpose", "purpose", api_default="ENCRYPT_DECRYPT"),
                Field("rotation_period", "rotationPeriod"),
                Field("version_template.protection_level", "versionTemplate.protectionLevel",
                      api_default="SOFTWARE"),
                Field("version_template.algorithm", "versionTemplate.algorithm")),
        fixes={"ENC-006": Fix("rotation_period", "7776000s", "90 days")}),
    *(_sink(kind, attr) for kind, attr in (("project", "project"), ("folder", "folder"),
                                           ("organization", "org_id"), ("billing_account",
                                                                        "billing_account"))),
    Converter(
        tf_type="google_redis_instance", asset_type="redis.googleapis.com/Instance",
        name="//redis.googleapis.com/projects/{project}/locations/{region}/instances/{name}",
        location="{region}",
        fields=(Field("tier", "tier"), Field("memory_size_gb", "memorySizeGb"),
                Field("authorized_network", "authorizedNetwork", ref=NETWORK,
                      api_default="projects/{project}/global/networks/default"),
                Field("auth_enabled", "authEnabled", api_default=False),
                Field("transit_encryption_mode", "transitEncryptionMode",
                      api_default="DISABLED"),
                Field("redis_version", "redisVersion"), Field("location_id", "locationId")),
        build=lambda data, values, ctx: _named(data, values, ctx, "instances", "region"),
        fixes={"TLS-007": Fix("transit_encryption_mode", "SERVER_AUTHENTICATION")}),
    Converter(
        tf_type="google_cloud_run_service", asset_type="run.googleapis.com/Service",
        name="//run.googleapis.com/projects/{project}/locations/{location}/services/{name}",
        location="{location}",
        fields=(Field("name", "metadata.name"),
                Field("template.spec.service_account_name",
                      "spec.template.spec.serviceAccountName"),
                Field("metadata.annotations", "metadata.annotations"))),
    Converter(
        tf_type="google_cloud_run_v2_service", asset_type="run.googleapis.com/Service",
        name="//run.googleapis.com/projects/{project}/locations/{location}/services/{name}",
        location="{location}",
        # CAI shows every Cloud Run service in the v1 (Knative) form, whichever API made it
        fields=(Field("name", "metadata.name"),
                Field("template.service_account", "spec.template.spec.serviceAccountName")),
        build=_run_v2_build),
    Converter(
        tf_type="google_project", asset_type=PROJECT_TYPE,
        name=RM + "projects/{project_ref}", project_from=Field("project_id", ""),
        fixes=HIERARCHY_FIXES,
        fields=(Field("project_id", "projectId"), Field("name", "name"),
                Field("labels", "labels"), Field("number", "projectNumber"))),
    Converter(
        tf_type="google_project_service", asset_type="serviceusage.googleapis.com/Service",
        name="//serviceusage.googleapis.com/projects/{project_ref}/services/{service}",
        names={"service": Field("service", "")},
        # CAI's record (and Google's converter's): {name, parent, state}, no `config`
        constants={"state": "ENABLED"},
        fields=(Field("service", "name"),),
        build=_service_build,
        fixes={"GOV-001": Fix("", None, "remove this google_project_service: the API is not "
                              "covered by the BAA")}),
)
