"""A record's envelope: what the first pass needs of each record (name, type, update time,
first ancestor), read from its bytes or from its decoded value without a full parse, for the
records nothing joins to (most of a large org); and the full decode for every other one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from phiguard.inventory.readers import RawItem, SnapshotFiles, decode_line, iter_raw
from phiguard.inventory.records import Record, parse_record

__all__ = ["Envelope", "decode", "iter_items", "light_envelope", "raw_envelope", "value_of"]


def iter_items(files: SnapshotFiles) -> Iterator[RawItem]:
    """Every record of every data file, in a stable order."""
    for path in files.asset_files:
        yield from iter_raw(path)


def value_of(item: RawItem) -> Any:
    """The item's JSON value (NDJSON lines arrive as bytes, decoded here)."""
    return decode_line(item.raw, item.file, item.line) if item.raw is not None else item.value


def decode(item: RawItem) -> Record:
    return parse_record(value_of(item), item.file, item.line)


_POLICY_KEYS = ("iam_policy", "iamPolicy", "org_policy", "orgPolicy", "access_policy",
                "accessPolicy", "access_level", "accessLevel", "service_perimeter",
                "servicePerimeter")


@dataclass(frozen=True, slots=True)
class Envelope:
    name: str
    asset_type: str
    update_time: str | None
    ancestors: list[str]
    resource: dict[str, Any]


_POLICY_BYTES = re.compile(
    rb'"(?:iam_policy|iamPolicy|org_policy|orgPolicy|access_policy|accessPolicy|access_level|'
    rb'accessLevel|service_perimeter|servicePerimeter|v2_org_policies|v2OrgPolicies)"')
_NAME_BYTES = re.compile(rb'"name"\s*:\s*"([^"\\]+)"')
_TYPE_BYTES = re.compile(rb'"(?:asset_type|assetType)"\s*:\s*"([^"\\]+)"')
_ANCESTOR_BYTES = re.compile(rb'"ancestors"\s*:\s*\[\s*"([^"\\]+)"')
_TIME_BYTES = re.compile(rb'"(?:update_time|updateTime)"\s*:\s*"([^"\\]+)"')


def raw_envelope(raw: bytes, wanted: set[str]) -> tuple[str, str, str | None, list[str]] | None:
    """Name, type, update time and first ancestor of a plain RESOURCE line, without decoding.

    Pass 1 only needs these for the records nothing joins to (most of a large org); pass 2
    decodes and validates every line anyway. Lines with policy content, of joined types, or
    that do not look like an export record's envelope take the full decode.
    """
    if _POLICY_BYTES.search(raw):
        return None
    type_match = _TYPE_BYTES.search(raw)
    name_match = _NAME_BYTES.search(raw)
    if type_match is None or name_match is None:
        return None
    # The envelope's `name` precedes `resource` in every producer's key order; a `name` found
    # after the type's position but inside `resource` would be the body's, so require order.
    resource_at = raw.find(b'"resource"')
    if resource_at != -1 and name_match.start() > resource_at:
        return None
    asset_type = type_match.group(1).decode()
    if asset_type in wanted:
        return None
    update_time = None
    for key in (b'"update_time"', b'"updateTime"'):
        at = raw.rfind(key)
        if at != -1:
            time_match = _TIME_BYTES.match(raw, at)
            if time_match is None:
                return None
            update_time = time_match.group(1).decode()
            break
    ancestor = _ANCESTOR_BYTES.search(raw)
    ancestors = [ancestor.group(1).decode()] if ancestor else []
    return name_match.group(1).decode(), asset_type, update_time, ancestors


def light_envelope(value: Any, wanted: set[str]) -> Envelope | None:
    """The envelope of a plain RESOURCE record of a type nothing joins to, or None.

    Such records (most of a large org) are judged, and fully validated, in pass 2; pass 1 only
    needs their name, type, time, ancestry and a digest. Anything unusual takes the full parse.
    """
    if type(value) is not dict:
        return None
    name = value.get("name")
    asset_type = value.get("asset_type") or value.get("assetType")
    if type(name) is not str or not name or type(asset_type) is not str or not asset_type:
        return None
    resource = value.get("resource")
    if asset_type in wanted or type(resource) is not dict:
        return None
    for key in _POLICY_KEYS:
        if key in value:
            return None
    update_time = value.get("update_time") or value.get("updateTime")
    if update_time is not None and type(update_time) is not str:
        return None
    ancestors = value.get("ancestors")
    if ancestors is None:
        ancestors = []
    if type(ancestors) is not list or not all(type(a) is str for a in ancestors):
        return None
    data = resource.get("data")
    if data is not None and type(data) is not dict:
        return None
    return Envelope(name, asset_type, update_time, ancestors, resource)
