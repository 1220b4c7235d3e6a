"""Google's definitions as phiguard ships them: the CAI asset-type list, the asset type ->
discovery schema table, trimmed discovery documents, and the documented exceptions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "ALL",
    "Exception_",
    "Method",
    "Problem",
    "SchemaRef",
    "asset_types_with_schema",
    "cai_absent",
    "cai_asset_types",
    "discovery",
    "discovery_documents",
    "enum_values",
    "field_exceptions",
    "field_exists",
    "field_schema",
    "is_cai_asset_type",
    "method",
    "parse_field_path",
    "schema_of",
    "validate_body",
    "validate_resource",
]

ALL = "[*]"  # a list element in a field path
_SEGMENT = re.compile(r"\.?([A-Za-z_$@][A-Za-z0-9_$@-]*)|\[(\*|-?\d+)\]|\[(['\"])(.*?)\3\]")


@dataclass(frozen=True)
class SchemaRef:
    """Where the `data` of an asset type is defined: discovery document and schema name."""

    asset_type: str
    api: str
    version: str
    schema: str
    cai: bool  # False for phiguard's own synthetic type (directory users)


@dataclass(frozen=True)
class Problem:
    """One way a body departs from its discovery schema."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Method:
    """An API method of a discovery document."""

    id: str
    http_method: str
    path: str
    request: str | None
    response: str | None
    parameters: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Exception_:
    """A documented departure of CAI data from the REST schema (see data/exceptions.yaml)."""

    kind: str  # "cai_only": CAI writes it, the schema lacks it; "cai_absent": the reverse
    asset_type: str
    path: str
    reason: str
    schema: Mapping[str, Any]


def _data(name: str) -> str:
    return resources.files("phiguard.google").joinpath("data", name).read_text("utf-8")


@cache
def cai_asset_types() -> frozenset[str]:
    """Every asset type in the shipped CAI list."""
    lines = (line.strip() for line in _data("cai-asset-types.txt").splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_cai_asset_type(asset_type: str) -> bool:
    """True when Cloud Asset Inventory defines `asset_type` (per the shipped list)."""
    return asset_type in cai_asset_types()


@cache
def _table() -> dict[str, SchemaRef]:
    raw = json.loads(_data("asset-schemas.json"))
    table = {t: SchemaRef(t, api, version, schema, True)
             for t, (api, version, schema) in raw["types"].items()}
    table.update({t: SchemaRef(t, api, version, schema, False)
                  for t, (api, version, schema) in raw["synthetic"].items()})
    return table


def schema_of(asset_type: str) -> SchemaRef | None:
    """The discovery schema of `asset_type`'s resource data, or None when phiguard has none."""
    return _table().get(asset_type)


def asset_types_with_schema() -> tuple[str, ...]:
    return tuple(sorted(_table()))


@cache
def discovery(api: str, version: str) -> Mapping[str, Any]:
    """The trimmed discovery document of `api` `version` shipped in data/discovery/."""
    try:
        text = _data(f"discovery/{api}.{version}.json")
    except FileNotFoundError:
        raise KeyError(f"no discovery document {api}.{version} is shipped") from None
    doc: dict[str, Any] = json.loads(text)
    return doc


def discovery_documents() -> tuple[tuple[str, str], ...]:
    folder = resources.files("phiguard.google").joinpath("data", "discovery")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    return tuple((n.split(".")[0], n[len(n.split(".")[0]) + 1:-len(".json")]) for n in names)


def method(method_id: str, api: str | None = None, version: str | None = None
           ) -> Method | None:
    """The method `method_id` (e.g. `compute.firewalls.patch`) of a shipped document."""
    docs = [(api, version)] if api and version else discovery_documents()
    for a, v in docs:
        if api and a != api:
            continue
        raw = discovery(a, v)["methods"].get(method_id)
        if raw is not None:
            return Method(raw["id"], raw["httpMethod"], raw["path"],
                          raw.get("request", {}).get("$ref"),
                          raw.get("response", {}).get("$ref"), raw.get("parameters", {}))
    return None


@cache
def field_exceptions() -> tuple[Exception_, ...]:
    """The documented exceptions, each with its reason."""
    raw = yaml.safe_load(_data("exceptions.yaml")) or {}
    found = []
    for kind in ("cai_only", "cai_absent"):
        for entry in raw.get(kind) or []:
            found.append(Exception_(kind, entry["asset_type"], entry["path"],
                                    " ".join(str(entry["reason"]).split()),
                                    entry.get("schema") or {}))
    return tuple(found)


def _exception(kind: str, asset_type: str, path: str) -> Exception_ | None:
    for exc in field_exceptions():
        if exc.kind == kind and exc.asset_type == asset_type and exc.path == path:
            return exc
    return None


def parse_field_path(path: str | Sequence[str]) -> tuple[str, ...]:
    """`a.b[*].c`, `a.b[0].c` or `labels['x.y']` as segments; every index becomes `[*]`."""
    if not isinstance(path, str):
        return tuple(ALL if (s.startswith("[") and s != ALL and s[1:-1].lstrip("-").isdigit())
                     else s for s in path)
    out: list[str] = []
    pos = 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad field path {path!r} at {pos}")
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(ALL)
        else:
            out.append(m.group(4))
        pos = m.end()
    return tuple(out)


def _text(segments: Sequence[str]) -> str:
    text = ""
    for s in segments:
        text += s if s == ALL or s.startswith("[") else (("." if text else "") + s)
    return text


def _resolve(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 50:
        schema = doc["schemas"][schema["$ref"]]
        seen += 1
    return schema


def _step(doc: Mapping[str, Any], schema: Mapping[str, Any], segment: str
          ) -> Mapping[str, Any] | None:
    schema = _resolve(doc, schema)
    if segment == ALL:
        if schema.get("type") == "array":
            return _resolve(doc, schema.get("items", {}))
        return None
    props = schema.get("properties")
    if props is not None and segment in props:
        return _resolve(doc, props[segment])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return _resolve(doc, extra)
    if schema.get("type") == "any" or (schema.get("type") == "object" and props is None):
        return {"type": "any"}
    return None


def _walk(ref: SchemaRef, segments: Sequence[str]) -> Mapping[str, Any] | None:
    doc = discovery(ref.api, ref.version)
    schema: Mapping[str, Any] | None = doc["schemas"][ref.schema]
    for i, segment in enumerate(segments):
        assert schema is not None
        exc = _exception("cai_only", ref.asset_type, _text(segments[:i + 1]))
        nxt = _step(doc, schema, segment)
        if nxt is None and exc is not None:
            nxt = exc.schema or {"type": "any"}
        if nxt is None:
            return None
        schema = nxt
    return schema


def field_schema(asset_type: str, path: str | Sequence[str]) -> Mapping[str, Any] | None:
    """The schema at `path` inside `asset_type`'s data (a `data.` prefix is accepted), or None
    when the path does not exist there. Documented CAI-only fields count as existing."""
    ref = schema_of(asset_type)
    if ref is None:
        return None
    segments = parse_field_path(path)
    if segments[:1] == ("data",):
        segments = segments[1:]
    return _walk(ref, segments)


def field_exists(asset_type: str, path: str | Sequence[str]) -> bool:
    """True when `path` exists in the discovery schema of `asset_type`'s data."""
    return field_schema(asset_type, path) is not None


def enum_values(asset_type: str, path: str | Sequence[str]) -> tuple[str, ...] | None:
    """The enum values Google defines at `path`, or None when the field is not an enum."""
    schema = field_schema(asset_type, path)
    if schema is None or "enum" not in schema:
        return None
    return tuple(schema["enum"])


def cai_absent(asset_type: str, path: str | Sequence[str]) -> Exception_ | None:
    """The documented reason CAI never writes `path` of `asset_type`, if it is such a field."""
    segments = parse_field_path(path)
    if segments[:1] == ("data",):
        segments = segments[1:]
    for i in range(1, len(segments) + 1):
        exc = _exception("cai_absent", asset_type, _text(segments[:i]))
        if exc is not None:
            return exc
    return None


_INT_FORMATS = {"int64", "uint64"}


def _check(doc: Mapping[str, Any], schema: Mapping[str, Any], value: Any, at: list[str],
           asset_type: str | None) -> Iterator[Problem]:
    schema = _resolve(doc, schema)
    where = _text(at) or "(body)"
    kind = schema.get("type")
    if kind in (None, "any"):
        return
    if kind == "object":
        if not isinstance(value, dict):
            yield Problem(where, f"expected an object, found {_json_type(value)}")
            return
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            path = [*at, key]
            if props is not None and key in props:
                yield from _check(doc, props[key], item, path, asset_type)
            elif isinstance(extra, dict):
                yield from _check(doc, extra, item, path, asset_type)
            elif props is None and extra is None:
                continue  # a free-form object (google.protobuf.Struct and the like)
            else:
                exc = (_exception("cai_only", asset_type, _text(path[1:]))
                       if asset_type else None)
                if exc is None:
                    yield Problem(_text(path), "unknown field: the discovery schema "
                                  f"{schema.get('id', '')} has no such property".replace(
                                      "schema  has", "schema has"))
                elif exc.schema:
                    yield from _check(doc, exc.schema, item, path, asset_type)
        return
    if kind == "array":
        if not isinstance(value, list):
            yield Problem(where, f"expected an array, found {_json_type(value)}")
            return
        for item in value:
            yield from _check(doc, schema.get("items", {}), item, [*at, ALL], asset_type)
        return
    if kind == "string":
        if schema.get("format") in _INT_FORMATS and isinstance(value, int) \
                and not isinstance(value, bool):
            return  # JSON readers of Google's APIs accept a number for an int64 string
        if "enum" in schema and isinstance(value, int) and not isinstance(value, bool) \
                and value >= 0:
            return  # proto JSON accepts an enum's number (clients send `enum-encoding=int`)
        if not isinstance(value, str):
            yield Problem(where, f"expected a string, found {_json_type(value)}")
            return
        if "enum" in schema and value not in schema["enum"]:
            yield Problem(where, f"{value!r} is not one of {', '.join(schema['enum'])}")
        return
    if kind == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or (
                isinstance(value, str) and value.lstrip("-").isdigit())):
            yield Problem(where, f"expected an integer, found {_json_type(value)}")
        return
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield Problem(where, f"expected a number, found {_json_type(value)}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        yield Problem(where, f"expected a boolean, found {_json_type(value)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def validate_body(api: str, version: str, schema: str, body: Any, *, prefix: str = ""
                  ) -> list[Problem]:
    """Problems of `body` against schema `schema` of `api` `version`: unknown fields, wrong
    JSON types, values outside an enum. Null values are accepted (absent)."""
    doc = discovery(api, version)
    at = [prefix] if prefix else []
    return list(_check(doc, {"$ref": schema}, _drop_nulls(body), at, None))


def validate_resource(asset_type: str, data: Any, *, cai: bool = True) -> list[Problem]:
    """Problems of a CAI record's `data` against its asset type's discovery schema (paths
    start with `data`); documented CAI-only fields are allowed, and with `cai`, fields CAI
    never writes are problems. An asset type without a shipped schema is a problem."""
    ref = schema_of(asset_type)
    if ref is None:
        return [Problem("asset_type", f"no discovery schema is known for {asset_type}")]
    doc = discovery(ref.api, ref.version)
    problems = list(_check(doc, {"$ref": ref.schema}, _drop_nulls(data), ["data"], asset_type))
    if cai and isinstance(data, dict):
        for path in _leaf_paths(data, ()):
            exc = cai_absent(asset_type, path)
            if exc is not None:
                problems.append(Problem(_text(("data", *path)), f"CAI never writes this field: "
                                        f"{exc.reason}"))
                break
    return problems


def _leaf_paths(value: Any, at: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*at, key)
            yield from _leaf_paths(item, (*at, key))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
