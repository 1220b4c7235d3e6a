"""The remediation registry: the actions that fix resources through the API, by action id.

Which action fixes a rule is the rule's to say (`remediation.fix` in its rule.yaml; a rule with
no safe automatic fix says why in `remediation.manual`). A `Kind` (`phiguard.fix.kinds`)
knows how one resource type is addressed, read, written and guarded (its precondition); an
`Action` says which fields to change and why. Type knowledge lives in these two modules, as
data and small per-kind functions, never in the plan or apply loops, and never keyed by rule.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phiguard.errors import FixError
from phiguard.fix.holders import BIGQUERY_DATASET, PUBSUB_TOPIC_IAM, SECRET_IAM
from phiguard.fix.kinds import (
    BUCKET,
    BUCKET_IAM,
    FIREWALL,
    HTTPS_PROXY,
    INSTANCE_METADATA,
    PROJECT_AUDIT,
    PROJECT_IAM_FOR_SA,
    RUN_SERVICE,
    SA_KEY,
    SQL_INSTANCE,
    SSL_POLICY,
    Kind,
    build_request,
    policy_ref,
)

if TYPE_CHECKING:
    from phiguard.fix.verify import Verifier
    from phiguard.policy.rule import Rule

__all__ = ["ACTIONS", "FIREWALL", "HTTPS_PROXY", "PROJECT_IAM_FOR_SA", "SSL_POLICY", "Action",
           "Kind", "NoFix", "action_by_id", "actions_for", "build_request", "manual_reason"]

Json = dict[str, Any]
BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


class NoFix(FixError):
    """Planning found no safe change for this resource; the message says why (manual)."""


@dataclass(frozen=True)
class Action:
    """One registered fix: the fields it changes on one kind of resource, and its needs."""

    id: str
    kind: Kind
    summary: str
    permissions: tuple[str, ...]
    change: Callable[[Json, dict[str, str]], Json | None]  # current, target -> after, or None
    terraform: str  # attribute lines inside the resource block
    caution: str = ""  # what else happens (a restart, a broken client) the reviewer must weigh
    # Reads what the change needs beyond the resource (a policy to attach) into the target;
    # raises NoFix when there is no safe choice. Gets the API, the `fix plan` options and the
    # Verifier that judges as the findings were judged.
    prepare: Callable[[Any, dict[str, str], dict[str, str], Verifier],
                      dict[str, str]] | None = None
    # Target keys `prepare` adds beyond the asset name's groups, each with the form its value
    # must have; apply re-runs `prepare` and refuses a plan whose target differs.
    extras: tuple[tuple[str, str], ...] = ()
    # When the change finds nothing to change although the rule failed, the plan says this
    # (status manual) rather than calling the resource compliant.
    unmatched: str = ""


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
    ip: Json = {"sslMode": "ENCRYPTED_ONLY"}
    if str(cur.get("databaseVersion", "")).startswith("SQLSERVER"):
        # sqladmin v1 IpConfiguration.sslMode: for SQL Server the only valid pair with
        # ENCRYPTED_ONLY is requireSsl true.
        ip["requireSsl"] = True
    return {"settings": {"ipConfiguration": ip}}


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
    # A policy that keeps a conditional binding is written as version 3, or it is refused.
    version = 3 if any("condition" in b for b in bindings) else cur.get("version", 1)
    return {"bindings": bindings, "version": version}


def _bucket_public(cur: Json, _: dict[str, str]) -> Json | None:
    return _without(cur, lambda role, member: member in PUBLIC_MEMBERS)


def _public_members(cur: Json, _: dict[str, str]) -> Json | None:
    return _without(cur, lambda role, member: member in PUBLIC_MEMBERS)


def _dataset_public_access(cur: Json, _: dict[str, str]) -> Json | None:
    """The dataset's access list without its public entries (the special group
    allAuthenticatedUsers, an iamMember allUsers/allAuthenticatedUsers), or None."""
    access = cur.get("access")
    if not isinstance(access, list):
        return None
    kept = [e for e in access if not (isinstance(e, dict) and (
        e.get("specialGroup") in PUBLIC_MEMBERS or e.get("iamMember") in PUBLIC_MEMBERS))]
    # datasets.patch replaces the whole list: every other entry is sent back as read
    return {"access": copy.deepcopy(kept)} if len(kept) != len(access) else None


def _sa_basic_roles(cur: Json, target: dict[str, str]) -> Json | None:
    member = f"serviceAccount:{target['email']}"
    return _without(cur, lambda role, m: role in BASIC_ROLES and m == member)


def _resolve_account(api: Any, target: dict[str, str], options: dict[str, str],
                     verifier: Verifier) -> dict[str, str]:
    """The account's email: the name's own, or read from IAM when CAI names it by unique id."""
    account = target["account"]
    if "@" in account:
        return {**target, "email": account}
    sa = api.call("iam.projects.serviceAccounts.get",
                  {"name": f"projects/{target['project']}/serviceAccounts/{account}"})
    email = sa.get("email") if isinstance(sa, dict) else None
    if not isinstance(email, str) or not re.fullmatch(_EMAIL, email):
        raise NoFix(f"service account {account}: IAM returned no email to match grants against")
    return {**target, "email": email}


_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+"


def _attach_policy(cur: Json, target: dict[str, str]) -> Json | None:
    if policy_ref(cur.get("sslPolicy", "")) == policy_ref(target["ssl_policy"]):
        return None
    return {"sslPolicy": target["ssl_policy"]}


_COMPUTE = "https://www.googleapis.com/compute/v1/"


def _choose_policy(api: Any, target: dict[str, str], options: dict[str, str],
                   verifier: Verifier) -> dict[str, str]:
    """The SSL policy to attach: `--ssl-policy`, else a compliant one in the proxy's project
    (passing, by the engine with the findings' parameters, every rule that
    `ssl-policy-modern-tls` fixes, and a minimum of TLS 1.2); never a weak one."""
    rules = [r.id for r in verifier.rules_fixed_by(SSL_POLICY_ACTION)]
    judged = " and ".join(rules) or f"the rules {SSL_POLICY_ACTION} fixes"
    project = target["project"]
    named = options.get("ssl_policy")
    if named:
        ref = (policy_ref(named) if "/" in named
               else f"projects/{project}/global/sslPolicies/{named}")
        m = re.fullmatch(r"projects/([^/]+)/global/sslPolicies/([^/]+)", ref)
        if m is None:
            raise NoFix(f"--ssl-policy {named!r} is not a global SSL policy name or URL")
        candidates = [api.call("compute.sslPolicies.get",
                               {"project": m.group(1), "sslPolicy": m.group(2)})]
        refs = [ref]
    else:
        listed = api.call("compute.sslPolicies.list", {"project": project}).get("items", [])
        candidates = sorted(listed, key=lambda p: str(p.get("name")))
        refs = [f"projects/{project}/global/sslPolicies/{p.get('name')}" for p in candidates]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for ref, policy in zip(refs, candidates, strict=True):
        passes = bool(rules) and all(
            verifier.judge(None, rule_id, f"//compute.googleapis.com/{ref}", SSL_POLICY, {},
                           policy, now)[0] == "PASS" for rule_id in rules)
        if passes and policy.get("minTlsVersion") in ("TLS_1_2", "TLS_1_3"):
            return {**target, "ssl_policy": _COMPUTE + ref}
    if named:
        raise NoFix(f"SSL policy {named} does not pass {judged} with TLS 1.2 or newer: fix it "
                    f"first ({SSL_POLICY_ACTION}) or name another with --ssl-policy")
    raise NoFix(f"no SSL policy in project {project} passes {judged} with TLS 1.2 or newer: "
                "create one (profile RESTRICTED, TLS_1_2) or name one with --ssl-policy")


def _key_disable(cur: Json, _: dict[str, str]) -> Json | None:
    return None if cur.get("disabled") is True else {"disabled": True}


AUDIT_LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


def _audit_logs(cur: Json, _: dict[str, str]) -> Json | None:
    configs = copy.deepcopy(cur.get("auditConfigs", []))
    mine = next((c for c in configs if c.get("service") == "allServices"), None)
    if mine is None:
        mine = {"service": "allServices", "auditLogConfigs": []}
        configs.append(mine)
    have = {c.get("logType") for c in mine.setdefault("auditLogConfigs", [])}
    missing = [t for t in AUDIT_LOG_TYPES if t not in have]
    if not missing:
        return None
    mine["auditLogConfigs"] += [{"logType": t} for t in missing]
    return {"auditConfigs": configs}


INGRESS_KEY = "run.googleapis.com/ingress"
_RUN_INGRESS = ("internal-and-cloud-load-balancing", "internal")  # least disruptive first


def _run_ingress(cur: Json, target: dict[str, str]) -> Json | None:
    """The Service to replace the current one with: the same, with the chosen ingress. Only
    what replaceService may carry is kept (apiVersion, kind, the name, namespace, labels and
    annotations, spec); the ingress-status annotation is Cloud Run's to set."""
    meta = cur.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    if annotations.get(INGRESS_KEY) in (target["ingress"], "internal"):
        return None  # never widen: internal is the narrowest ingress Cloud Run has
    annotations[INGRESS_KEY] = target["ingress"]
    annotations.pop("run.googleapis.com/ingress-status", None)
    kept = {k: copy.deepcopy(meta[k]) for k in ("name", "namespace", "labels") if k in meta}
    return {"apiVersion": cur.get("apiVersion"), "kind": cur.get("kind"),
            "metadata": {**kept, "annotations": annotations},
            "spec": copy.deepcopy(cur.get("spec") or {})}


def _choose_ingress(api: Any, target: dict[str, str], options: dict[str, str],
                    verifier: Verifier) -> dict[str, str]:
    """The ingress to set: the least disruptive one that passes, by the engine with the
    findings' parameters, every rule this action fixes."""
    from datetime import UTC, datetime

    rules = [r.id for r in verifier.rules_fixed_by(RUN_INGRESS_ACTION)]
    asset = (f"//run.googleapis.com/projects/{target['project']}/locations/"
             f"{target['location']}/services/{target['name']}")
    now = datetime.now(UTC)
    for value in _RUN_INGRESS:
        body = {"metadata": {"name": target["name"], "annotations": {INGRESS_KEY: value}}}
        if rules and all(verifier.judge(None, rule_id, asset, RUN_SERVICE, target, body,
                                        now)[0] == "PASS" for rule_id in rules):
            return {**target, "ingress": value}
    raise NoFix(f"neither {' nor '.join(_RUN_INGRESS)} passes the rules this fix is for "
                "with the findings' parameters: set the ingress by hand")


def _metadata_set(key: str, value: str) -> Callable[[Json, dict[str, str]], Json | None]:
    """Set one instance metadata key (case-insensitively already `value`: no change), keeping
    every other item. A VM of a managed instance group (metadata `created-by` naming an
    instanceGroupManager) is left alone: recreating it from the template drops the change."""
    def change(cur: Json, _: dict[str, str]) -> Json | None:
        items = [dict(i) for i in _get(cur, "metadata.items") or [] if isinstance(i, dict)]
        if any(i.get("key") == "created-by" and "/instanceGroupManagers/" in str(i.get("value"))
               for i in items):
            return None
        mine = [i for i in items if i.get("key") == key]
        if mine and all(str(i.get("value", "")).upper() == value.upper() for i in mine):
            return None
        kept = [i for i in items if i.get("key") != key]
        return {"metadata": {"items": [*kept, {"key": key, "value": value}]}}
    return change


_MIG_NOTE = ("the VM's metadata already sets {key}, or the VM belongs to a managed instance "
             "group (metadata created-by names an instanceGroupManager): its template would "
             "restore the old metadata when the group recreates the VM, so set {key} in the "
             "instance template and roll the group")
_OP = "compute.globalOperations.get"
SSL_POLICY_ACTION = "ssl-policy-modern-tls"  # what a policy attached to a proxy must pass
RUN_INGRESS_ACTION = "run-ingress-internal"
ACTIONS: tuple[Action, ...] = (
    Action(SSL_POLICY_ACTION, SSL_POLICY,
           "raise the SSL policy to TLS 1.2 with the MODERN profile",
           ("compute.sslPolicies.get", "compute.sslPolicies.update", _OP), _ssl_policy,
           'min_tls_version = "TLS_1_2"\nprofile         = "MODERN"',
           "clients that only speak TLS 1.0/1.1 can no longer connect"),
    Action("firewall-disable", FIREWALL,
           "disable the internet-open firewall rule (it stays, for review, and can be narrowed)",
           ("compute.firewalls.get", "compute.firewalls.update", "compute.networks.updatePolicy",
            _OP), _firewall_disable, "disabled = true",
           "traffic the rule admitted stops: use IAP TCP forwarding for SSH/RDP"),
    Action("sql-ssl-encrypted-only", SQL_INSTANCE,
           "accept only encrypted connections (sslMode ENCRYPTED_ONLY)",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_ssl,
           'settings {\n  ip_configuration {\n    ssl_mode = "ENCRYPTED_ONLY"\n'
           '    # SQL Server also: require_ssl = true\n  }\n}',
           "clients connecting without TLS are refused"),
    Action("sql-backups-pitr", SQL_INSTANCE,
           "turn on automated backups and point-in-time recovery",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_backups,
           "settings {\n  backup_configuration {\n    enabled                        = true\n"
           "    point_in_time_recovery_enabled = true  # binary_log_enabled on MySQL\n  }\n}"),
    Action("sql-deletion-protection", SQL_INSTANCE,
           "turn on deletion protection",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_deletion_protection,
           "deletion_protection = true\nsettings {\n  deletion_protection_enabled = true\n}"),
    Action("sql-regional", SQL_INSTANCE,
           "make the instance highly available (availabilityType REGIONAL)",
           ("cloudsql.instances.get", "cloudsql.instances.update"), _sql_regional,
           'settings {\n  availability_type = "REGIONAL"\n}',
           "the instance restarts; schedule this in a maintenance window"),
    Action("bucket-versioning", BUCKET,
           "turn on object versioning",
           ("storage.buckets.get", "storage.buckets.update"), _bucket_versioning,
           "versioning {\n  enabled = true\n}"),
    Action("bucket-uniform-access", BUCKET,
           "enforce uniform bucket-level access and public access prevention",
           ("storage.buckets.get", "storage.buckets.update"), _bucket_access,
           'uniform_bucket_level_access = true\npublic_access_prevention    = "enforced"',
           "object ACLs stop applying; readers need IAM grants"),
    Action("bucket-remove-public-members", BUCKET_IAM,
           "remove allUsers and allAuthenticatedUsers from the bucket's IAM policy",
           ("storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy"), _bucket_public,
           '# remove every google_storage_bucket_iam_member / _binding whose member is\n'
           '# "allUsers" or "allAuthenticatedUsers"'),
    Action("sa-remove-basic-roles", PROJECT_IAM_FOR_SA,
           "remove basic roles (owner, editor, viewer) held by the service account on its project",
           ("iam.serviceAccounts.get", "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.setIamPolicy"),
           _sa_basic_roles,
           '# remove google_project_iam_member / _binding granting roles/owner, roles/editor or\n'
           '# roles/viewer to this service account; grant predefined roles instead',
           "workloads running as the account lose what the basic role gave them",
           prepare=_resolve_account, extras=(("email", _EMAIL),),
           unmatched="serviceAccount:{email} holds no basic role in the IAM policy of "
                     "projects/{project}: the grant {rule_id} found is elsewhere (an "
                     "administrator role, another project, a folder or the organization); "
                     "remove it there"),
    Action("proxy-attach-ssl-policy", HTTPS_PROXY,
           "attach a compliant SSL policy (TLS 1.2+, MODERN/RESTRICTED) to the HTTPS proxy",
           ("compute.targetHttpsProxies.get", "compute.targetHttpsProxies.setSslPolicy",
            "compute.sslPolicies.list", "compute.sslPolicies.get", "compute.sslPolicies.use", _OP),
           _attach_policy,
           "ssl_policy = google_compute_ssl_policy.phi.id  # a policy passing TLS-003",
           "clients that only speak TLS 1.0/1.1 can no longer connect", prepare=_choose_policy,
           extras=(("ssl_policy", re.escape(_COMPUTE)
                    + r"projects/[^/]+/global/sslPolicies/[^/]+"),)),
    Action("sa-key-disable", SA_KEY,
           "disable the user-managed service account key (it can be re-enabled; delete it later)",
           ("iam.serviceAccountKeys.get", "iam.serviceAccountKeys.disable"), _key_disable,
           "# keys cannot be disabled in Terraform: remove the google_service_account_key\n"
           "# resource and move the workload to a keyless credential",
           "whatever authenticates with this key stops working"),
    Action("audit-logs-data-access", PROJECT_AUDIT,
           "enable ADMIN_READ, DATA_READ and DATA_WRITE audit logs for allServices on the project",
           ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
           _audit_logs,
           'service = "allServices"\naudit_log_config {\n  log_type = "ADMIN_READ"\n}\n'
           'audit_log_config {\n  log_type = "DATA_READ"\n}\n'
           'audit_log_config {\n  log_type = "DATA_WRITE"\n}',
           "Data Access logs are billed by volume; existing exemptions are left for review"),
    Action(RUN_INGRESS_ACTION, RUN_SERVICE,
           "restrict the Cloud Run service's ingress to internal and Cloud Load Balancing "
           "traffic (or internal only, when the rule's parameters allow no load balancer)",
           ("run.services.get", "run.services.update", "iam.serviceAccounts.actAs"),
           _run_ingress, 'ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"',
           "requests to the run.app URL from the internet are refused (404): put clients "
           "behind a load balancer (serverless NEG) or in the VPC first; for a 2nd gen "
           "function's service, set the function's ingress too, or its next deploy restores "
           "the old one",
           prepare=_choose_ingress,
           extras=(("ingress", "internal|internal-and-cloud-load-balancing"),)),
    Action("instance-block-project-ssh-keys", INSTANCE_METADATA,
           "set block-project-ssh-keys=TRUE in the VM's metadata (instances.setMetadata, "
           "fingerprint-guarded; the VM keeps running)",
           ("compute.instances.get", "compute.instances.setMetadata", "compute.zoneOperations.get",
            "iam.serviceAccounts.actAs"), _metadata_set("block-project-ssh-keys", "TRUE"),
           'metadata = {\n  block-project-ssh-keys = "TRUE"\n}',
           "SSH keys kept only in project metadata stop working on this VM: people log in with "
           "OS Login or instance keys",
           unmatched=_MIG_NOTE.format(key="block-project-ssh-keys")),
    Action("instance-serial-port-off", INSTANCE_METADATA,
           "set serial-port-enable=FALSE in the VM's metadata, which overrides the project's "
           "(instances.setMetadata, fingerprint-guarded; the VM keeps running)",
           ("compute.instances.get", "compute.instances.setMetadata", "compute.zoneOperations.get",
            "iam.serviceAccounts.actAs"), _metadata_set("serial-port-enable", "FALSE"),
           'metadata = {\n  serial-port-enable = "FALSE"\n}',
           "open interactive serial console sessions end; troubleshoot through the serial port "
           "output log",
           unmatched=_MIG_NOTE.format(key="serial-port-enable")),
    Action("pubsub-topic-remove-public-members", PUBSUB_TOPIC_IAM,
           "remove allUsers and allAuthenticatedUsers from the topic's IAM policy",
           ("pubsub.topics.getIamPolicy", "pubsub.topics.setIamPolicy"), _public_members,
           '# remove every google_pubsub_topic_iam_member / _binding whose member is\n'
           '# "allUsers" or "allAuthenticatedUsers"',
           "publishers or subscribers relying on the public grant lose access"),
    Action("secret-remove-public-members", SECRET_IAM,
           "remove allUsers and allAuthenticatedUsers from the secret's IAM policy",
           ("secretmanager.secrets.getIamPolicy", "secretmanager.secrets.setIamPolicy"),
           _public_members,
           '# remove every google_secret_manager_secret_iam_member / _binding whose member is\n'
           '# "allUsers" or "allAuthenticatedUsers"',
           "the secret's value was readable by anyone: rotate it as well"),
    Action("bigquery-dataset-remove-public-access", BIGQUERY_DATASET,
           "remove the allUsers / allAuthenticatedUsers entries from the dataset's access list",
           ("bigquery.datasets.get", "bigquery.datasets.update",
            "bigquery.datasets.setIamPolicy"), _dataset_public_access,
           '# remove every access block whose special_group is "allAuthenticatedUsers" or whose\n'
           '# iam_member is "allUsers" or "allAuthenticatedUsers"',
           "whoever reads the dataset through the public entry loses access"),
)

def actions_for(rule: Rule | None) -> tuple[Action, ...]:
    """The registered action the rule names under `remediation.fix` (empty when none)."""
    fix = rule.remediation.get("fix") if rule is not None else None
    action = action_by_id(fix) if isinstance(fix, str) else None
    return (action,) if action is not None else ()


def manual_reason(rule_id: str, rule: Rule | None) -> str | None:
    """Why the rule has no safe automatic fix, as its `remediation.manual` says (or None)."""
    reason = rule.remediation.get("manual") if rule is not None else None
    return reason if isinstance(reason, str) else None


def action_by_id(action_id: str) -> Action | None:
    return next((a for a in ACTIONS if a.id == action_id), None)
