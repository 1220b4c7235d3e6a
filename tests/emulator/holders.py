"""Pub/Sub topic and Secret Manager secret IAM policies, and BigQuery datasets with their access
lists, with what Google refuses when they are written.

- `getIamPolicy` (GET, `options.requestedPolicyVersion`) and `setIamPolicy` (POST
  `SetIamPolicyRequest`): a policy `etag` other than the current one is 409 ABORTED (no etag
  overwrites blindly, as the APIs document); a conditional binding needs policy version 3 and is
  refused by Pub/Sub, which does not support IAM Conditions (400); a conditional policy is read
  only with `options.requestedPolicyVersion=3` (400 otherwise). Secret Manager's `updateMask`
  may name only `bindings` and `etag`.
- `datasets.get` / `datasets.patch` (bigquery v2): a patch replaces the whole `access` list;
  each entry names exactly one grantee ([Pick one] in the Dataset schema) and, unless it is a
  view, dataset or routine, a role; `specialGroup` takes projectOwners, projectReaders,
  projectWriters or allAuthenticatedUsers; `accessPolicyVersion` must be 0, 1 or 3, and an entry
  with a condition needs 3 (400 otherwise). With `updateMode=UPDATE_ACL` only the access list
  is written. The etag is checked only through an If-Match header (not sent by the fix client):
  a patch without one is not checked, as in BigQuery. Every write changes the etag and is
  recorded in the shared `CloudState.writes`.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.cloud import CloudState

__all__ = ["HolderState"]

Reply = tuple[int, Any]
_GRANTEES = ("userByEmail", "groupByEmail", "domain", "specialGroup", "iamMember", "view",
             "dataset", "routine")
_SPECIAL_GROUPS = ("projectOwners", "projectReaders", "projectWriters", "allAuthenticatedUsers")
_MASK_FIELDS = {"bindings", "etag"}


class HolderState:
    """IAM policies by resource name (`projects/P/topics/T`, `projects/P/secrets/S`) and
    datasets by (project, dataset id); tests seed them with `set_topic_iam`, `set_secret_iam`
    and `add_dataset`."""

    def __init__(self, cloud: CloudState) -> None:
        self.cloud = cloud
        self.topic_iam: dict[str, dict[str, Any]] = {}
        self.secret_iam: dict[str, dict[str, Any]] = {}
        self.datasets: dict[tuple[str, str], dict[str, Any]] = {}

    def _etag(self) -> str:
        return "BwY" + self.cloud._tag().replace("-", "")

    # seeding -------------------------------------------------------------------------------------
    def _policy(self, bindings: list[dict[str, Any]]) -> dict[str, Any]:
        return {"version": 3 if any("condition" in b for b in bindings) else 1,
                "etag": self._etag(), "bindings": copy.deepcopy(bindings)}

    def set_topic_iam(self, project: str, topic: str, bindings: list[dict[str, Any]]) -> None:
        self.topic_iam[f"projects/{project}/topics/{topic}"] = self._policy(bindings)

    def set_secret_iam(self, project: str, secret: str, bindings: list[dict[str, Any]]) -> None:
        self.secret_iam[f"projects/{project}/secrets/{secret}"] = self._policy(bindings)

    def add_dataset(self, project: str, dataset: str,
                    access: list[dict[str, Any]]) -> dict[str, Any]:
        res = {"kind": "bigquery#dataset", "id": f"{project}:{dataset}", "etag": self._etag(),
               "selfLink": "https://bigquery.googleapis.com/bigquery/v2/projects/"
                           f"{project}/datasets/{dataset}",
               "datasetReference": {"projectId": project, "datasetId": dataset},
               "access": copy.deepcopy(access), "location": "US",
               "creationTime": "1732543764812", "lastModifiedTime": "1732543764812",
               "type": "DEFAULT"}
        self.datasets[(project, dataset)] = res
        return res

    # concurrent changes ------------------------------------------------------------------------
    def touch_topic_iam(self, project: str, topic: str, binding: dict[str, Any]) -> None:
        with self.cloud.lock:
            policy = self.topic_iam[f"projects/{project}/topics/{topic}"]
            policy["bindings"].append(copy.deepcopy(binding))
            policy["etag"] = self._etag()

    def touch_dataset(self, project: str, dataset: str, entry: dict[str, Any]) -> None:
        with self.cloud.lock:
            res = self.datasets[(project, dataset)]
            res["access"].append(copy.deepcopy(entry))
            res["etag"] = self._etag()

    # routing -------------------------------------------------------------------------------------
    def route(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> Reply | None:
        with self.cloud.lock:
            m = re.fullmatch(r"/pubsub/v1/(projects/[^/]+/topics/[^/:]+):(getIamPolicy|"
                             r"setIamPolicy)", path)
            if m:
                return self._iam(self.topic_iam, m.group(1), m.group(2), method, path, q, body,
                                 conditions=False)
            m = re.fullmatch(r"/secretmanager/v1/(projects/[^/]+/secrets/[^/:]+):(getIamPolicy|"
                             r"setIamPolicy)", path)
            if m:
                return self._iam(self.secret_iam, m.group(1), m.group(2), method, path, q, body,
                                 conditions=True)
            m = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/datasets/([^/]+)", path)
            if m:
                return self._dataset((m.group(1), m.group(2)), method, path, q, body)
            return None

    def _iam(self, table: dict[str, dict[str, Any]], name: str, verb: str, method: str,
             path: str, q: dict[str, list[str]], body: Any, *, conditions: bool) -> Reply:
        policy = table.get(name)
        if policy is None:
            return 404, None
        if verb == "getIamPolicy":
            if method != "GET":
                return 405, None
            asked = int((q.get("options.requestedPolicyVersion") or ["0"])[0] or 0)
            if policy["version"] == 3 and asked < 3:
                return 400, None  # a conditional policy is not served to an older reader
            return 200, policy
        if method != "POST":
            return 405, None
        self.cloud._record(method, path, q, body)
        new = body.get("policy") or {}
        etag = new.get("etag")
        if etag is not None and etag != policy["etag"]:
            return 409, None  # ABORTED: the policy changed since it was read
        mask = body.get("updateMask")
        if mask is not None and not set(mask.split(",")) <= _MASK_FIELDS:
            return 400, None
        bindings = new.get("bindings") or []
        conditional = any("condition" in b for b in bindings)
        if conditional and (not conditions or new.get("version") != 3):
            return 400, None
        table[name] = {"version": 3 if conditional else 1, "etag": self._etag(),
                       "bindings": copy.deepcopy(bindings)}
        return 200, table[name]

    def _dataset(self, key: tuple[str, str], method: str, path: str, q: dict[str, list[str]],
                 body: Any) -> Reply:
        res = self.datasets.get(key)
        if res is None:
            return 404, None
        version = int((q.get("accessPolicyVersion") or ["0"])[0] or 0)
        if version not in (0, 1, 3):
            return 400, None
        if method == "GET":
            return 200, res
        if method != "PATCH":
            return 405, None
        self.cloud._record(method, path, q, body)
        access = body.get("access")
        if access is not None:
            for entry in access:
                grantees = [k for k in _GRANTEES if k in entry]
                if len(grantees) != 1:
                    return 400, None
                if grantees[0] not in ("view", "dataset", "routine") and not entry.get("role"):
                    return 400, None
                if "specialGroup" in entry and entry["specialGroup"] not in _SPECIAL_GROUPS:
                    return 400, None
                if "condition" in entry and version != 3:
                    return 400, None
        mode = (q.get("updateMode") or ["UPDATE_FULL"])[0]
        if access is not None and mode != "UPDATE_METADATA":
            res["access"] = copy.deepcopy(access)
        if mode != "UPDATE_ACL":
            res.update({k: copy.deepcopy(v) for k, v in body.items()
                        if k not in ("access", "etag", "id", "kind", "selfLink",
                                     "datasetReference")})
        res["etag"] = self._etag()
        res["lastModifiedTime"] = "1764979200000"
        return 200, res
