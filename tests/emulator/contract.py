"""What Google refuses, the emulator refuses: asset types Cloud Asset does not define, request
bodies with fields (or values) the discovery schema lacks, query parameters a method does not
take. And what it serves must be what Google could serve: response bodies are checked against
the method's response schema, and a departure is an emulator bug (500), not a silent pass.

The definitions come from `phiguard.google` (Google's discovery documents and the CAI asset-type
list shipped with phiguard), so the emulator and the code under test share no invented schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from phiguard.google import (
    Problem,
    cai_asset_types,
    discovery,
    schema_of,
    validate_body,
    validate_resource,
)

__all__ = ["ApiError", "ServedMethod", "check_asset_types", "check_request", "check_response",
           "served_method"]

# emulator path prefix -> the discovery document whose methods are served under it
SERVED_APIS = {
    "/compute/v1/": ("compute", "v1"),
    "/sqladmin/": ("sqladmin", "v1"),
    "/storage/v1/": ("storage", "v1"),
    "/crm/": ("cloudresourcemanager", "v3"),
    "/iam/": ("iam", "v1"),
    "/pubsub/": ("pubsub", "v1"),
    "/secretmanager/": ("secretmanager", "v1"),
    "/bigquery/v2/": ("bigquery", "v2"),
    "/run/": ("run", "v1"),
    "/cloudasset/": ("cloudasset", "v1"),
    "/": ("admin", "directory_v1"),  # the Admin SDK's own paths start admin/directory/v1/
}
# Query parameters every client library may add that no discovery document lists.
_TRANSPORT_PARAMS = {"$alt", "alt", "prettyPrint", "fields", "key", "quotaUser", "userIp",
                     "uploadType", "upload_protocol", "callback", "access_token", "oauth_token",
                     "$.xgafv", "trace"}


class ApiError(Exception):
    """An answer Google would give instead of serving the request: status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ServedMethod:
    api: str
    version: str
    id: str
    raw: dict[str, Any]


def _pattern(prefix: str, template: str, params: dict[str, Any]) -> re.Pattern[str]:
    """The request paths a discovery path template stands for: `{x}` one segment, `{+x}` the
    parameter's own pattern (e.g. `^projects/[^/]+$`) or anything."""
    out = re.escape(prefix)
    for literal, plus, name in re.findall(r"([^{]*)(?:\{(\+?)([^}]+)\})?", template):
        out += re.escape(literal)
        if name:
            own = str(params.get(name, {}).get("pattern", "")).removeprefix("^")
            own = own.removesuffix("$")
            out += f"({own})" if plus and own else "(.+?)" if plus else "([^/]+)"
    return re.compile(out)


@cache
def _methods() -> tuple[tuple[str, re.Pattern[str], ServedMethod], ...]:
    found = []
    for prefix, (api, version) in SERVED_APIS.items():
        for raw in discovery(api, version)["methods"].values():
            # flatPath names each segment ({projectsId}); path has {+name} with a pattern
            found.append((raw["httpMethod"], _pattern(prefix, raw.get("flatPath", raw["path"]),
                                                      raw.get("parameters", {})),
                          ServedMethod(api, version, raw["id"], raw)))
            # a media upload goes to its own path (Cloud Storage: /upload/storage/v1/...)
            simple = raw.get("mediaUpload", {}).get("protocols", {}).get("simple", {})
            if simple.get("path"):
                found.append((raw["httpMethod"], _pattern("", simple["path"],
                                                          raw.get("parameters", {})),
                              ServedMethod(api, version, raw["id"], raw)))
    return tuple(found)


def served_method(http_method: str, path: str) -> ServedMethod | None:
    """The discovery method a request to the emulator stands for, if phiguard ships it."""
    for verb, pattern, served in _methods():
        if verb == http_method and pattern.fullmatch(path):
            return served
    return None


def check_request(http_method: str, path: str, query: dict[str, list[str]],
                  payload: Any) -> None:
    """Raise ApiError(400) for a body field, value or query parameter Google would refuse."""
    served = served_method(http_method, path)
    if served is None:
        return
    doc = discovery(served.api, served.version)
    known = set(served.raw.get("parameters", {})) | set(doc.get("parameters", {}))
    unknown = sorted(set(query) - known - _TRANSPORT_PARAMS)
    if unknown:
        raise ApiError(400, f"Invalid request to {served.id}: unknown query parameter "
                            f"{', '.join(unknown)} (Cannot bind query parameter)")
    ref = served.raw.get("request", {}).get("$ref")
    if ref is None:
        return
    problems = validate_body(served.api, served.version, ref, payload)
    if problems:
        raise ApiError(400, f"Invalid JSON payload received for {served.id} ({ref}): "
                            + "; ".join(str(p) for p in problems))


def check_response(http_method: str, path: str, status: int, body: Any) -> None:
    """Raise ApiError(500) when the emulator is about to serve a body Google's response schema
    does not allow: a test seeded an invented field, and the emulator must not hide it."""
    served = served_method(http_method, path)
    if served is None or status != 200 or not isinstance(body, dict):
        return
    ref = served.raw.get("response", {}).get("$ref")
    if ref is None:
        return
    problems = validate_body(served.api, served.version, ref, body)
    if served.id == "cloudasset.assets.list":  # `resource.data` is a Struct: its own schema
        for asset in body.get("assets", []):
            if asset.get("assetType") not in cai_asset_types():
                problems.append(Problem("assets[*].assetType", f"{asset.get('assetType')!r} is "
                                        "not a Cloud Asset Inventory asset type"))
            resource = asset.get("resource") or {}
            if "data" in resource and schema_of(asset.get("assetType", "")) is not None:
                problems += validate_resource(asset["assetType"], resource["data"])
    if problems:
        raise ApiError(500, f"emulator bug: {served.id} would serve a {ref} that Google's "
                            "schema does not allow: " + "; ".join(str(p) for p in problems))


def check_asset_types(types: set[str]) -> list[str]:
    """The asset types a ListAssets/ExportAssets request may name, as Cloud Asset reads them:
    exact types or RE2-style regular expressions; a type or pattern matching no supported type
    is INVALID_ARGUMENT, as the API answers."""
    supported = cai_asset_types()
    matched: set[str] = set()
    for asset_type in sorted(types):
        if asset_type in supported:
            matched.add(asset_type)
            continue
        try:
            pattern = re.compile(asset_type)
        except re.error:
            pattern = None
        hits = {t for t in supported if pattern and pattern.fullmatch(t)} if any(
            c in asset_type for c in ".*+?[]()|^$") else set()
        if not hits:
            raise ApiError(400, f"Invalid asset type: {asset_type} is not a supported asset "
                                "type (see Supported asset types)")
        matched |= hits
    return sorted(matched)
