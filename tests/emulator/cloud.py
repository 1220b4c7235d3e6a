"""Mutable compute / sqladmin / storage / resource-manager / IAM state with the real preconditions.

Writes are checked the way Google checks them: SSL policy `fingerprint` in the body (412), Cloud SQL
`settings.settingsVersion` in the body (409), storage `ifMetagenerationMatch` (412) and IAM
policy `etag` (412 for buckets, 409 for projects); project setIamPolicy honours `updateMask`.
Target HTTPS proxies' setSslPolicy and service account key disable carry no precondition, as
in the real APIs; neither do firewalls, whose resource has no `fingerprint` in compute v1, beta or
alpha (a body naming one is refused, as Google refuses an unknown field). A Cloud SQL for SQL
Server instance refuses `sslMode: ENCRYPTED_ONLY` unless `requireSsl` is true (sqladmin v1
IpConfiguration.sslMode), and a bucket policy with conditions is only read with
`optionsRequestedPolicyVersion=3` and only written as version 3. A VM's instances.setMetadata
must carry the metadata `fingerprint` it was read with (412 conditionNotMet otherwise) and
refuses a duplicate or malformed key (400). Every write is recorded with its body so tests can
assert the precondition was sent.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from typing import Any

__all__ = ["CloudState"]

Reply = tuple[int, Any]
COMPUTE = "https://www.googleapis.com/compute/v1/"


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """PATCH semantics: nested objects merge, everything else replaces."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _retention_refusal(bucket: dict[str, Any], patch: dict[str, Any]) -> Reply | None:
    """Bucket Lock as Google enforces it: a locked retention policy cannot be removed, unlocked
    or shortened (403), and a retention policy and Object Versioning never coexist on a bucket
    (400): they are mutually exclusive."""
    old = bucket.get("retentionPolicy") or {}
    if "retentionPolicy" in patch and old.get("isLocked") is True:
        new = patch["retentionPolicy"] or {}
        period = int(new.get("retentionPeriod", old.get("retentionPeriod")) or 0)
        if (patch["retentionPolicy"] is None or new.get("isLocked") is False
                or period < int(old.get("retentionPeriod") or 0)):
            return 403, "The retention policy is locked: it cannot be removed or reduced."
    after = copy.deepcopy(bucket)
    merge(after, patch)
    if (after.get("retentionPolicy") or {}).get("retentionPeriod") and (
            (after.get("versioning") or {}).get("enabled") is True):
        return 400, "Retention policies and Object Versioning are mutually exclusive."
    return None


class CloudState:
    """Resources by kind and key; tests seed them with `add_*` and mutate them directly."""

    def __init__(self) -> None:
        self.ssl_policies: dict[tuple[str, str], dict[str, Any]] = {}
        self.firewalls: dict[tuple[str, str], dict[str, Any]] = {}
        self.sql: dict[tuple[str, str], dict[str, Any]] = {}
        self.buckets: dict[str, dict[str, Any]] = {}
        self.bucket_iam: dict[str, dict[str, Any]] = {}
        self.project_iam: dict[str, dict[str, Any]] = {}
        self.https_proxies: dict[tuple[str, str], dict[str, Any]] = {}
        self.sa_keys: dict[str, dict[str, Any]] = {}  # "projects/P/serviceAccounts/A/keys/K"
        self.service_accounts: dict[tuple[str, str], dict[str, Any]] = {}  # (project, email)
        self.instances: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, zone, name)
        self.sql_ops: dict[str, int] = {}  # operation name -> polls left before DONE
        self.writes: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self._serial = itertools.count(1)

    def _tag(self) -> str:
        return f"tag-{next(self._serial)}"

    # seeding ------------------------------------------------------------------------------------

    def add_ssl_policy(self, project: str, name: str, **data: Any) -> dict[str, Any]:
        res = {"name": name, "kind": "compute#sslPolicy", "fingerprint": self._tag(),
               "selfLink": f"{COMPUTE}projects/{project}/global/sslPolicies/{name}", **data}
        self.ssl_policies[(project, name)] = res
        return res

    def add_firewall(self, project: str, name: str, **data: Any) -> dict[str, Any]:
        res = {"name": name, "kind": "compute#firewall", "disabled": False, **data}
        self.firewalls[(project, name)] = res
        return res

    def add_sql(self, project: str, name: str, settings: dict[str, Any],
                **data: Any) -> dict[str, Any]:
        res = {"name": name, "project": project, "kind": "sql#instance",
               "settings": {"settingsVersion": "1", **settings}, **data}
        self.sql[(project, name)] = res
        return res

    def add_bucket(self, name: str, **data: Any) -> dict[str, Any]:
        res = {"name": name, "kind": "storage#bucket", "metageneration": "1", **data}
        self.buckets[name] = res
        return res

    def set_bucket_iam(self, name: str, bindings: list[dict[str, Any]]) -> None:
        self.bucket_iam[name] = {"kind": "storage#policy", "bindings": bindings,
                                 "etag": self._tag(), "version": 1}

    def set_project_iam(self, project: str, bindings: list[dict[str, Any]],
                        audit_configs: list[dict[str, Any]] | None = None) -> None:
        self.project_iam[project] = {"bindings": bindings, "etag": self._tag(), "version": 1}
        if audit_configs is not None:
            self.project_iam[project]["auditConfigs"] = audit_configs

    def add_https_proxy(self, project: str, name: str, **data: Any) -> dict[str, Any]:
        res = {"name": name, "kind": "compute#targetHttpsProxy", "fingerprint": self._tag(),
               "selfLink": f"{COMPUTE}projects/{project}/global/targetHttpsProxies/{name}",
               **data}
        self.https_proxies[(project, name)] = res
        return res

    def add_service_account(self, project: str, email: str, unique_id: str) -> dict[str, Any]:
        res = {"name": f"projects/{project}/serviceAccounts/{email}", "projectId": project,
               "uniqueId": unique_id, "email": email, "oauth2ClientId": unique_id}
        self.service_accounts[(project, email)] = res
        return res

    def add_sa_key(self, project: str, account: str, key: str, **data: Any) -> dict[str, Any]:
        name = f"projects/{project}/serviceAccounts/{account}/keys/{key}"
        res = {"name": name, "keyType": "USER_MANAGED", "keyOrigin": "GOOGLE_PROVIDED",
               "keyAlgorithm": "KEY_ALG_RSA_2048", "validAfterTime": "2026-01-01T00:00:00Z",
               "validBeforeTime": "9999-12-31T23:59:59Z", **data}
        self.sa_keys[name] = res
        return res

    # concurrent changes (what another admin does between plan and apply) ----------------------

    def touch_ssl_policy(self, project: str, name: str, **fields: Any) -> None:
        with self.lock:
            merge(self.ssl_policies[(project, name)], {**fields, "fingerprint": self._tag()})

    def add_instance(self, project: str, zone: str, name: str,
                     items: list[dict[str, str]] | None = None, **data: Any) -> dict[str, Any]:
        res = {"name": name, "kind": "compute#instance", "status": "RUNNING",
               "zone": f"{COMPUTE}projects/{project}/zones/{zone}",
               "metadata": {"kind": "compute#metadata", "fingerprint": self._tag(),
                            "items": list(items or [])}, **data}
        self.instances[(project, zone, name)] = res
        return res

    def touch_instance_metadata(self, project: str, zone: str, name: str,
                                items: list[dict[str, str]]) -> None:
        with self.lock:
            self.instances[(project, zone, name)]["metadata"].update(
                items=items, fingerprint=self._tag())

    def touch_firewall(self, project: str, name: str, **fields: Any) -> None:
        with self.lock:
            merge(self.firewalls[(project, name)], fields)

    def touch_https_proxy(self, project: str, name: str, **fields: Any) -> None:
        with self.lock:
            merge(self.https_proxies[(project, name)], {**fields, "fingerprint": self._tag()})

    def touch_bucket(self, name: str, **fields: Any) -> None:
        with self.lock:
            res = self.buckets[name]
            merge(res, fields)
            res["metageneration"] = str(int(res["metageneration"]) + 1)

    # routing -------------------------------------------------------------------------------------

    def route(self, method: str, path: str, q: dict[str, list[str]],
              body: Any) -> Reply | None:
        with self.lock:
            return self._route(method, path, q, body)

    def _record(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> None:
        self.writes.append({"method": method, "path": path,
                            "query": {k: v[0] for k, v in q.items()}, "body": body})

    def _route(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> Reply | None:
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/(sslPolicies|firewalls)/([^/]+)",
                         path)
        if m:
            if m.group(2) == "firewalls":
                return self._firewall((m.group(1), m.group(3)), method, path, q, body)
            return self._compute(self.ssl_policies, (m.group(1), m.group(3)), method, path, q,
                                 body)
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/sslPolicies", path)
        if m and method == "GET":
            items = [v for (p, _), v in sorted(self.ssl_policies.items()) if p == m.group(1)]
            return 200, {"kind": "compute#sslPoliciesList", "items": items}
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/targetHttpsProxies/([^/]+)"
                         r"(/setSslPolicy)?", path)
        if m:
            return self._proxy((m.group(1), m.group(2)), method, path, q, body, bool(m.group(3)))
        m = re.fullmatch(r"/iam/v1/projects/([^/]+)/serviceAccounts/([^/:]+)", path)
        if m and method == "GET":  # the account is named by its email or its unique id
            for (project, _), account in sorted(self.service_accounts.items()):
                if project == m.group(1) and m.group(2) in (account["email"],
                                                            account["uniqueId"]):
                    return 200, account
            return 404, None
        m = re.fullmatch(r"/iam/v1/(projects/[^/]+/serviceAccounts/[^/]+/keys/[^/:]+)(:disable)?",
                         path)
        if m:
            return self._key(m.group(1), method, path, q, body, bool(m.group(2)))
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/zones/([^/]+)/instances/([^/]+)"
                         r"(/setMetadata)?", path)
        if m:
            return self._instance((m.group(1), m.group(2), m.group(3)), method, path, q, body,
                                  bool(m.group(4)))
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/zones/([^/]+)/operations/([^/]+)"
                         r"(/wait)?", path)
        if m:
            return 200, {"kind": "compute#operation", "name": m.group(3), "status": "DONE",
                         "zone": f"{COMPUTE}projects/{m.group(1)}/zones/{m.group(2)}"}
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/global/operations/([^/]+)(/wait)?", path)
        if m:
            return 200, {"kind": "compute#operation", "name": m.group(2), "status": "DONE"}
        m = re.fullmatch(r"/sqladmin/v1/projects/([^/]+)/instances/([^/]+)", path)
        if m:
            return self._sql((m.group(1), m.group(2)), method, path, q, body)
        m = re.fullmatch(r"/sqladmin/v1/projects/([^/]+)/operations/([^/]+)", path)
        if m:
            left = self.sql_ops.get(m.group(2))
            if left is None:
                return 404, None
            self.sql_ops[m.group(2)] = max(0, left - 1)
            return 200, {"kind": "sql#operation", "name": m.group(2),
                         "status": "DONE" if left == 0 else "RUNNING"}
        m = re.fullmatch(r"/storage/v1/b/([^/]+)(/iam)?", path)
        if m:
            if m.group(2):
                return self._iam(self.bucket_iam, m.group(1), method, path, q, body,
                                 "PUT", 412)
            return self._bucket(m.group(1), method, path, q, body)
        m = re.fullmatch(r"/crm/v3/projects/([^/:]+):(getIamPolicy|setIamPolicy)", path)
        if m:
            if m.group(2) == "getIamPolicy":
                return self._iam(self.project_iam, m.group(1), "GET", path, q, body, "", 409)
            return self._iam(self.project_iam, m.group(1), "SET", path, q, body, "SET", 409)
        return None

    def _compute(self, table: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str],
                 method: str, path: str, q: dict[str, list[str]], body: Any) -> Reply:
        res = table.get(key)
        if res is None:
            return 404, None
        if method == "GET":
            return 200, res
        if method != "PATCH":
            return 405, None
        self._record(method, path, q, body)
        if body.get("fingerprint") != res["fingerprint"]:
            return 412, None
        merge(res, {k: v for k, v in body.items() if k != "fingerprint"})
        res["fingerprint"] = self._tag()
        return 200, {"kind": "compute#operation", "name": f"operation-{self._tag()}",
                     "status": "DONE"}

    def _firewall(self, key: tuple[str, str], method: str, path: str, q: dict[str, list[str]],
                  body: Any) -> Reply:
        """Compute Firewall has no fingerprint: a PATCH merges without any precondition."""
        res = self.firewalls.get(key)
        if res is None:
            return 404, None
        if method == "GET":
            return 200, res
        if method != "PATCH":
            return 405, None
        self._record(method, path, q, body)
        if "fingerprint" in body:  # not a Firewall field: Google answers "Unknown name"
            return 400, None
        merge(res, body)
        return 200, {"kind": "compute#operation", "name": f"operation-{self._tag()}",
                     "status": "DONE"}

    def _proxy(self, key: tuple[str, str], method: str, path: str, q: dict[str, list[str]],
               body: Any, set_policy: bool) -> Reply:
        """setSslPolicy takes an SslPolicyReference only: like Google, no fingerprint check."""
        res = self.https_proxies.get(key)
        if res is None:
            return 404, None
        if not set_policy:
            return (200, res) if method == "GET" else (405, None)
        if method != "POST":
            return 405, None
        self._record(method, path, q, body)
        ref = body.get("sslPolicy")
        m = re.search(r"projects/([^/]+)/global/sslPolicies/([^/]+)$", ref or "")
        if ref and (m is None or (m.group(1), m.group(2)) not in self.ssl_policies):
            return 400, None
        if ref:
            res["sslPolicy"] = f"{COMPUTE}{m.group(0)}" if m else ref
        else:
            res.pop("sslPolicy", None)
        res["fingerprint"] = self._tag()
        return 200, {"kind": "compute#operation", "name": f"operation-{self._tag()}",
                     "status": "DONE"}

    def _instance(self, key: tuple[str, str, str], method: str, path: str,
                  q: dict[str, list[str]], body: Any, set_metadata: bool) -> Reply:
        """setMetadata replaces every item; like Compute, it needs the current fingerprint
        (412 conditionNotMet without it or with a stale one) and a key may appear once and must
        match [a-zA-Z0-9-_]{1,128} (400)."""
        res = self.instances.get(key)
        if res is None:
            return 404, None
        if not set_metadata:
            return (200, res) if method == "GET" else (405, None)
        if method != "POST":
            return 405, None
        self._record(method, path, q, body)
        if body.get("fingerprint") != res["metadata"]["fingerprint"]:
            return 412, None
        items = body.get("items") or []
        keys = [i.get("key") for i in items]
        if len(set(keys)) != len(keys) or not all(
                isinstance(k, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", k) for k in keys):
            return 400, None
        res["metadata"] = {"kind": "compute#metadata", "fingerprint": self._tag(),
                           "items": copy.deepcopy(items)}
        return 200, {"kind": "compute#operation", "name": f"operation-{self._tag()}",
                     "status": "DONE", "zone": f"{COMPUTE}projects/{key[0]}/zones/{key[1]}"}

    def _key(self, name: str, method: str, path: str, q: dict[str, list[str]], body: Any,
             disable: bool) -> Reply:
        res = self.sa_keys.get(name)
        if res is None:
            return 404, None
        if not disable:
            return (200, res) if method == "GET" else (405, None)
        if method != "POST":
            return 405, None
        self._record(method, path, q, body)
        res["disabled"] = True
        return 200, {}

    def _sql(self, key: tuple[str, str], method: str, path: str, q: dict[str, list[str]],
             body: Any) -> Reply:
        res = self.sql.get(key)
        if res is None:
            return 404, None
        if method == "GET":
            return 200, res
        if method != "PATCH":
            return 405, None
        self._record(method, path, q, body)
        settings = body.get("settings", {})
        if settings.get("settingsVersion") != res["settings"]["settingsVersion"]:
            return 409, None
        ip = {**res["settings"].get("ipConfiguration", {}), **settings.get("ipConfiguration", {})}
        if (str(res.get("databaseVersion", "")).startswith("SQLSERVER")
                and ip.get("sslMode") == "ENCRYPTED_ONLY" and ip.get("requireSsl") is not True):
            return 400, None  # SQL Server pairs ENCRYPTED_ONLY with requireSsl true only
        merge(res, {**body, "settings": {k: v for k, v in settings.items()
                                         if k != "settingsVersion"}})
        res["settings"]["settingsVersion"] = str(int(res["settings"]["settingsVersion"]) + 1)
        name = f"op-{self._tag()}"
        self.sql_ops[name] = 1  # one RUNNING poll, then DONE
        return 200, {"kind": "sql#operation", "name": name, "status": "PENDING"}

    def _bucket(self, name: str, method: str, path: str, q: dict[str, list[str]],
                body: Any) -> Reply:
        res = self.buckets.get(name)
        if res is None:
            return 404, None
        if method == "GET":
            return 200, res
        if method != "PATCH":
            return 405, None
        self._record(method, path, q, body)
        want = q.get("ifMetagenerationMatch", [None])[0]
        if want is not None and want != res["metageneration"]:
            return 412, None
        refused = _retention_refusal(res, body)
        if refused is not None:
            return refused
        merge(res, body)
        res["metageneration"] = str(int(res["metageneration"]) + 1)
        return 200, res

    def _iam(self, table: dict[str, dict[str, Any]], key: str, method: str, path: str,
             q: dict[str, list[str]], body: Any, write: str, conflict: int) -> Reply:
        policy = table.get(key)
        if policy is None:
            return 404, None
        conditional = any("condition" in b for b in policy.get("bindings", []))
        if method != write:
            if (write == "PUT" and conditional
                    and q.get("optionsRequestedPolicyVersion", ["1"])[0] != "3"):
                return 400, None  # a policy with conditions needs the version 3 request
            return 200, policy
        self._record(method, path, q, body)
        new = body.get("policy", body) if write == "SET" else body
        if new.get("etag") != policy["etag"]:
            return conflict, None
        if (any("condition" in b for b in new.get("bindings", []))
                and int(new.get("version") or 1) < 3):
            return 400, None  # conditions are only written in a version 3 policy
        # setIamPolicy writes the fields in updateMask (default "bindings,etag"), nothing else.
        mask = (body.get("updateMask") if write == "SET" else None) or "bindings,etag"
        updated = dict(policy)
        for name in (f.strip() for f in mask.split(",")):
            if name != "etag":
                updated[name] = copy.deepcopy(new.get(name, []))
        updated["etag"] = self._tag()
        table[key] = updated
        return 200, updated
