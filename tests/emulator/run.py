"""Cloud Run Admin API v1 services (`projects.locations.services.get` and `replaceService`),
with what Google refuses on a replace.

A replace sends the whole Knative Service. As the v1 API documents it: only `spec` and the
metadata `labels` and `annotations` may change; `metadata.resourceVersion`, when sent, must be
the one last read (optimistic concurrency; 409 otherwise), and leaving it out disables the
check. `apiVersion` must be `serving.knative.dev/v1` and `kind` `Service`, the body's name must
be the one in the path, and its namespace the project's id or number. The ingress annotation
takes the values Cloud Run defines (`all`, `internal`, `internal-and-cloud-load-balancing`).
After a replace, `run.googleapis.com/ingress-status` follows the ingress, the resource version
changes, and the generation moves on when the spec changed. Writes are recorded in the shared
`CloudState.writes`.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.cloud import CloudState

__all__ = ["RunState"]

Reply = tuple[int, Any]
INGRESS = "run.googleapis.com/ingress"
INGRESS_VALUES = ("all", "internal", "internal-and-cloud-load-balancing")
# metadata a replace may change (the rest is the server's: it must be sent back as it is)
MUTABLE_METADATA = ("labels", "annotations", "resourceVersion")


class RunState:
    """Cloud Run services by (project, location, name); tests seed them with `add_service`."""

    def __init__(self, cloud: CloudState) -> None:
        self.cloud = cloud
        self.services: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.numbers: dict[str, str] = {}  # project id -> number (the Knative namespace)

    def add_service(self, project: str, number: str, location: str, name: str, *,
                    ingress: str = "all", account: str | None = None) -> dict[str, Any]:
        self.numbers[project] = number
        spec: dict[str, Any] = {"containerConcurrency": 80, "timeoutSeconds": 300,
                                "containers": [{"image": f"us-docker.pkg.dev/{project}/a/{name}:1",
                                                "ports": [{"name": "http1",
                                                           "containerPort": 8080}]}]}
        if account is not None:
            spec["serviceAccountName"] = account
        url = f"https://{name}-abcdefghij-uk.a.run.app"
        res = {
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {
                "name": name, "namespace": number, "generation": 1,
                "uid": "0b9d6a4e-3f51-4c2a-8e7b-1d2c3e4f5a6b",
                "resourceVersion": self.cloud._tag(),
                "selfLink": f"/apis/serving.knative.dev/v1/namespaces/{number}/services/{name}",
                "creationTimestamp": "2026-03-02T15:21:07.412836Z",
                "labels": {"cloud.googleapis.com/location": location},
                "annotations": {INGRESS: ingress, "run.googleapis.com/ingress-status": ingress,
                                "serving.knative.dev/creator": "deploy@x.org"},
            },
            "spec": {"template": {"metadata": {"name": f"{name}-00001-abc"}, "spec": spec},
                     "traffic": [{"latestRevision": True, "percent": 100}]},
            "status": {"observedGeneration": 1, "url": url, "address": {"url": url},
                       "latestReadyRevisionName": f"{name}-00001-abc",
                       "latestCreatedRevisionName": f"{name}-00001-abc",
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }
        self.services[(project, location, name)] = res
        return res

    def touch_service(self, project: str, location: str, name: str, **annotations: str) -> None:
        """Another administrator's change: annotations set, a new resource version."""
        with self.cloud.lock:
            res = self.services[(project, location, name)]
            res["metadata"]["annotations"].update(annotations)
            res["metadata"]["resourceVersion"] = self.cloud._tag()

    def route(self, method: str, path: str, q: dict[str, list[str]],
              body: Any) -> Reply | None:
        m = re.fullmatch(r"/run/v1/projects/([^/]+)/locations/([^/]+)/services/([^/:]+)", path)
        if m is None:
            return None
        with self.cloud.lock:
            res = self.services.get((m.group(1), m.group(2), m.group(3)))
            if res is None:
                return 404, None
            if method == "GET":
                return 200, res
            if method != "PUT":
                return 405, None
            self.cloud._record(method, path, q, body)
            refused = self._refusal(m.group(1), res, body)
            if refused is not None:
                return refused
            return 200, self._replace(res, body)

    def _refusal(self, project: str, res: dict[str, Any], body: Any) -> Reply | None:
        meta = body.get("metadata") or {}
        old = res["metadata"]
        if body.get("apiVersion") != "serving.knative.dev/v1" or body.get("kind") != "Service":
            return 400, "apiVersion must be serving.knative.dev/v1 and kind Service"
        if meta.get("name") != old["name"]:
            return 400, "metadata.name must be the name of the service being replaced"
        if meta.get("namespace") not in (project, self.numbers.get(project), None):
            return 400, "metadata.namespace must be the project's id or number"
        sent = meta.get("resourceVersion")
        if sent is not None and sent != old["resourceVersion"]:
            return 409, "the service was modified since it was read (resourceVersion)"
        for key, value in meta.items():
            if key not in (*MUTABLE_METADATA, "name", "namespace") and value != old.get(key):
                return 400, f"metadata.{key} is set by Cloud Run and cannot be changed"
        ingress = (meta.get("annotations") or {}).get(INGRESS)
        if ingress is not None and ingress not in INGRESS_VALUES:
            return 400, f"{INGRESS} must be one of {', '.join(INGRESS_VALUES)}"
        if not isinstance(body.get("spec"), dict):
            return 400, "spec is required"
        return None

    def _replace(self, res: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        meta = res["metadata"]
        given = body.get("metadata") or {}
        annotations = dict(given.get("annotations") or {})
        annotations.setdefault(INGRESS, "all")  # Cloud Run's default ingress
        annotations["run.googleapis.com/ingress-status"] = annotations[INGRESS]
        meta["annotations"] = annotations
        if "labels" in given:
            meta["labels"] = copy.deepcopy(given["labels"])
        if body["spec"] != res["spec"]:
            meta["generation"] = int(meta["generation"]) + 1
            res["status"]["observedGeneration"] = meta["generation"]
        res["spec"] = copy.deepcopy(body["spec"])
        meta["resourceVersion"] = self.cloud._tag()
        return res
