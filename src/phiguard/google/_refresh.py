"""Regenerate the trimmed discovery documents in `data/discovery/` from the ones
google-api-python-client ships.

    python -m phiguard.google._refresh            # rewrite the trimmed copies
    python -m phiguard.google._refresh --check    # exit 1 if a copy differs from what it would be

A trimmed copy keeps, of each discovery document, its identity (name, version, revision), the
schemas reachable from the roots phiguard needs (the CAI `data` schema of each asset type in
`asset-schemas.json`, the request and response bodies of the API methods below) and those
methods, without descriptions. Types, formats, enums, `$ref`s, `readOnly` markers and method
parameters are kept exactly as Google wrote them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["METHODS", "ROOTS", "main", "trim"]

DATA = Path(__file__).parent / "data"
OUT = DATA / "discovery"

# API methods phiguard calls (fix, collect) or the emulator serves, by discovery id.
METHODS: dict[tuple[str, str], tuple[str, ...]] = {
    ("compute", "v1"): (
        "compute.sslPolicies.get", "compute.sslPolicies.patch", "compute.sslPolicies.list",
        "compute.sslPolicies.insert", "compute.regionSslPolicies.get",
        "compute.regionSslPolicies.patch", "compute.firewalls.get", "compute.firewalls.patch",
        "compute.firewalls.update", "compute.targetHttpsProxies.get",
        "compute.targetHttpsProxies.setSslPolicy", "compute.targetSslProxies.get",
        "compute.targetSslProxies.setSslPolicy", "compute.regionTargetHttpsProxies.get",
        "compute.regionTargetHttpsProxies.patch", "compute.globalOperations.get",
        "compute.regionOperations.get", "compute.zoneOperations.get",
        "compute.zoneOperations.wait", "compute.instances.get", "compute.instances.setMetadata",
    ),
    ("sqladmin", "v1"): ("sql.instances.get", "sql.instances.patch", "sql.operations.get"),
    ("sqladmin", "v1beta4"): ("sql.instances.get", "sql.instances.patch",
                              "sql.operations.get"),
    ("storage", "v1"): ("storage.buckets.get", "storage.buckets.patch",
                        "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy",
                        "storage.objects.get", "storage.objects.list",
                        "storage.objects.insert", "storage.objects.delete",
                        "storage.buckets.testIamPermissions"),
    ("cloudresourcemanager", "v3"): (
        "cloudresourcemanager.projects.getIamPolicy",
        "cloudresourcemanager.projects.setIamPolicy", "cloudresourcemanager.projects.get",
        "cloudresourcemanager.projects.list", "cloudresourcemanager.folders.list",
    ),
    ("cloudresourcemanager", "v1"): ("cloudresourcemanager.projects.getIamPolicy",
                                     "cloudresourcemanager.projects.setIamPolicy"),
    ("iam", "v1"): ("iam.projects.serviceAccounts.keys.get",
                    "iam.projects.serviceAccounts.keys.disable",
                    "iam.projects.serviceAccounts.get"),
    ("pubsub", "v1"): ("pubsub.projects.topics.getIamPolicy",
                     "pubsub.projects.topics.setIamPolicy"),
    ("secretmanager", "v1"): ("secretmanager.projects.secrets.getIamPolicy",
                            "secretmanager.projects.secrets.setIamPolicy"),
    ("bigquery", "v2"): ("bigquery.datasets.get", "bigquery.datasets.patch"),
    ("admin", "directory_v1"): ("directory.users.list", "directory.users.get"),
    ("cloudasset", "v1"): ("cloudasset.assets.list", "cloudasset.exportAssets",
                           "cloudasset.operations.get"),
    ("run", "v1"): ("run.projects.locations.services.get",
                    "run.projects.locations.services.replaceService"),
}

# Schemas needed beyond the asset table and the methods' bodies.
ROOTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("admin", "directory_v1"): ("User", "Users"),
    ("cloudresourcemanager", "v1"): ("Policy",),
    ("cloudresourcemanager", "v3"): ("Policy",),
}

_KEEP_SCHEMA = ("id", "type", "format", "$ref", "enum", "items", "properties",
                "additionalProperties", "readOnly", "repeated")
_KEEP_PARAM = ("type", "format", "location", "required", "repeated", "enum", "pattern")


def _source(api: str, version: str) -> Path:
    import googleapiclient

    return (Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
            / f"{api}.{version}.json")


def _client_version() -> str:
    from importlib.metadata import version

    return version("google-api-python-client")


def _strip(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key in _KEEP_SCHEMA:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties":
            out[key] = {name: _strip(v) for name, v in sorted(value.items())}
        elif key in ("items", "additionalProperties"):
            out[key] = _strip(value)
        else:
            out[key] = value
    return out


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            yield schema["$ref"]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _methods(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource in resources.values():
        yield from resource.get("methods", {}).values()
        yield from _methods(resource.get("resources", {}))


def trim(doc: dict[str, Any], roots: Iterable[str], method_ids: Iterable[str]
         ) -> dict[str, Any]:
    """The part of a discovery document reachable from `roots` and `method_ids`."""
    wanted = set(method_ids)
    methods: dict[str, Any] = {}
    for method in _methods(doc.get("resources", {})):
        if method.get("id") not in wanted:
            continue
        kept: dict[str, Any] = {k: method[k] for k in ("id", "httpMethod", "path", "flatPath",
                                       "parameterOrder", "request", "response",
                                       "supportsMediaUpload", "mediaUpload",
                                       "supportsMediaDownload")
                if k in method}
        kept["parameters"] = {name: {k: p[k] for k in _KEEP_PARAM if k in p}
                              for name, p in sorted(method.get("parameters", {}).items())}
        methods[method["id"]] = kept
    missing = wanted - set(methods)
    if missing:
        raise SystemExit(f"{doc['name']} {doc['version']}: no method {sorted(missing)}")
    todo = list(roots) + [m[k]["$ref"] for m in methods.values()
                          for k in ("request", "response") if k in m]
    schemas: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        if name not in doc["schemas"]:
            raise SystemExit(f"{doc['name']} {doc['version']}: no schema {name}")
        schemas[name] = _strip(doc["schemas"][name])
        todo.extend(_refs(schemas[name]))
    return {
        "name": doc["name"], "version": doc["version"], "revision": doc.get("revision"),
        "rootUrl": doc.get("rootUrl"), "servicePath": doc.get("servicePath"),
        "parameters": {name: {k: p[k] for k in _KEEP_PARAM if k in p}
                       for name, p in sorted(doc.get("parameters", {}).items())},
        "methods": dict(sorted(methods.items())),
        "schemas": dict(sorted(schemas.items())),
    }


def _wanted() -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    table = json.loads((DATA / "asset-schemas.json").read_text())
    wanted: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for group in ("types", "synthetic"):
        for api, version, schema in table[group].values():
            wanted.setdefault((api, version), (set(), set()))[0].add(schema)
    for key, names in ROOTS.items():
        wanted.setdefault(key, (set(), set()))[0].update(names)
    for key, ids in METHODS.items():
        wanted.setdefault(key, (set(), set()))[1].update(ids)
    return wanted


def render(api: str, version: str, roots: set[str], method_ids: set[str]) -> str:
    doc = json.loads(_source(api, version).read_text())
    trimmed = trim(doc, sorted(roots), sorted(method_ids))
    trimmed["_source"] = (f"google-api-python-client {_client_version()}, "
                          f"googleapiclient/discovery_cache/documents/{api}.{version}.json "
                          "(Apache-2.0), trimmed by phiguard.google._refresh")
    return json.dumps(trimmed, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for (api, version), (roots, method_ids) in sorted(_wanted().items()):
        text = render(api, version, roots, method_ids)
        target = OUT / f"{api}.{version}.json"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"{target.name}: {len(text) // 1024} KiB")
    if stale:
        print("stale: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
