"""A record's envelope: what the first pass needs of each record (name, type, update time,
first ancestor), read from its bytes or from its decoded value without a full parse, for the
records nothing joins to (most of a large org); and the full decode for every other one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from phiguard.inventory.readers import RawItem, SnapshotFiles, decode_line, iter_raw
from phiguard.inventory.records import Record, parse_record, valid_time

__all__ = ["Envelope", "Held", "decode", "envelope", "held_line", "iter_items", "light_envelope",
           "raw_envelope", "value_of"]


def iter_items(files: SnapshotFiles) -> Iterator[RawItem]:
    """Every record of every data file, in a stable order."""
    for path in files.asset_files:
        yield from iter_raw(path)


def value_of(item: RawItem) -> Any:
    """The item's JSON value (NDJSON lines arrive as bytes, decoded here)."""
    return decode_line(item.raw, item.file, item.line) if item.raw is not None else item.value


def decode(item: RawItem) -> Record:
    return parse_record(value_of(item), item.file, item.line)


_POLICY_KEYS = frozenset({"iam_policy", "iamPolicy", "org_policy", "orgPolicy", "access_policy",
                          "accessPolicy", "access_level", "accessLevel", "service_perimeter",
                          "servicePerimeter"})


@dataclass(frozen=True, slots=True)
class Envelope:
    name: str
    asset_type: str
    update_time: str | None
    ancestors: list[str]
    resource: dict[str, Any]


class _Head(msgspec.Struct):
    """The top-level keys pass 1 reads of a line, typed as a plain RESOURCE record has them;
    every other key is skipped unread. A policy key with a value (`null` is none, as in
    `parse_record`) or an envelope field of another type fails the decode, and the record
    takes the full parse, which says what is wrong with it."""

    name: str
    asset_type: str | None = None
    assetType: str | None = None  # the REST flavour's keys are camelCase
    resource: msgspec.Raw = msgspec.Raw()
    ancestors: list[str] | None = None
    update_time: str | None = None
    updateTime: str | None = None
    iam_policy: None = None
    iamPolicy: None = None
    org_policy: None = None
    orgPolicy: None = None
    v2_org_policies: None = None
    v2OrgPolicies: None = None
    access_policy: None = None
    accessPolicy: None = None
    access_level: None = None
    accessLevel: None = None
    service_perimeter: None = None
    servicePerimeter: None = None


_HEAD = msgspec.json.Decoder(_Head)


def raw_envelope(raw: bytes, wanted: set[str]) -> tuple[str, str, str | None, list[str]] | None:
    """Name, type, update time and ancestors of a plain RESOURCE line, decoding only those.

    Pass 1 only needs these for the records nothing joins to (most of a large org); pass 2
    decodes and validates every line anyway. Lines with policy content, of joined types, with
    an envelope field of another type than expected, or that are not JSON take the full
    decode and parse (which says what is wrong with them).
    """
    try:
        head = _HEAD.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    name = head.name
    asset_type = head.asset_type if head.asset_type is not None else head.assetType
    if (not name or not asset_type or asset_type in wanted
            or memoryview(head.resource)[:1].tobytes() != b"{"):
        return None
    update_time = head.update_time if head.update_time is not None else head.updateTime
    return name, asset_type, update_time, head.ancestors or []


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
    if not value.keys().isdisjoint(_POLICY_KEYS):
        return None
    update_time = value.get("update_time") or value.get("updateTime")
    if update_time is not None and type(update_time) is not str:
        return None
    ancestors = value.get("ancestors")
    if ancestors is None:
        ancestors = []
    elif type(ancestors) is not list:
        return None
    for ancestor in ancestors:
        if type(ancestor) is not str:
            return None
    data = resource.get("data")
    if data is not None and type(data) is not dict:
        return None
    return Envelope(name, asset_type, update_time, ancestors, resource)


class _Object(msgspec.Struct, gc=False):
    """Any JSON object, its keys skipped unread."""


class _Resource(msgspec.Struct, gc=False):
    """A line's `resource` object, its `data` an object (or null, or absent), as `light_envelope`
    and `parse_record` require; nothing else read."""

    data: _Object | None = None


class _Line(msgspec.Struct, gc=False):
    """`_Head`, telling a policy key that is absent from one that is null (`Raw`: empty when
    absent), and checking that `resource` and its `data` are objects."""

    name: str
    asset_type: str | None = None
    assetType: str | None = None
    resource: _Resource | None = None
    ancestors: list[str] | None = None
    update_time: str | None = None
    updateTime: str | None = None
    iam_policy: msgspec.Raw = msgspec.Raw()
    iamPolicy: msgspec.Raw = msgspec.Raw()
    org_policy: msgspec.Raw = msgspec.Raw()
    orgPolicy: msgspec.Raw = msgspec.Raw()
    v2_org_policies: msgspec.Raw = msgspec.Raw()
    v2OrgPolicies: msgspec.Raw = msgspec.Raw()
    access_policy: msgspec.Raw = msgspec.Raw()
    accessPolicy: msgspec.Raw = msgspec.Raw()
    access_level: msgspec.Raw = msgspec.Raw()
    accessLevel: msgspec.Raw = msgspec.Raw()
    service_perimeter: msgspec.Raw = msgspec.Raw()
    servicePerimeter: msgspec.Raw = msgspec.Raw()


_LINE = msgspec.json.Decoder(_Line)


def _policy_keys(line: _Line) -> int:
    """0: no policy key at all; 1: only policy keys whose value is null (which `parse_record`
    reads as absent, and `_Head` accepts); 2: policy content."""
    found = 0
    for value in (line.iam_policy, line.iamPolicy, line.org_policy, line.orgPolicy,
                  line.v2_org_policies, line.v2OrgPolicies, line.access_policy,
                  line.accessPolicy, line.access_level, line.accessLevel,
                  line.service_perimeter, line.servicePerimeter):
        if value:
            if bytes(value) != b"null":
                return 2
            found = 1
    return found


def envelope(raw: bytes, wanted: set[str]) -> tuple[str, str, str | None, list[str], bool] | None:
    """`raw_envelope`, and whether the line is plain: no policy key at all, and its `resource`
    and `resource.data` objects (or no data). Pass 2 reads a plain line of a type no rule
    judges only to check what `light_envelope` checks, so such lines need not be read again.
    """
    try:
        head = _LINE.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        found = raw_envelope(raw, wanted)  # e.g. a `resource.data` that is not an object
        return None if found is None else (*found, False)
    name = head.name
    asset_type = head.asset_type if head.asset_type is not None else head.assetType
    if not name or not asset_type or asset_type in wanted or head.resource is None:
        return None
    keyed = 0
    if (head.iam_policy or head.iamPolicy or head.org_policy or head.orgPolicy
            or head.v2_org_policies or head.v2OrgPolicies or head.access_policy
            or head.accessPolicy or head.access_level or head.accessLevel
            or head.service_perimeter or head.servicePerimeter):
        keyed = _policy_keys(head)
        if keyed == 2:
            return None
    update_time = head.update_time if head.update_time is not None else head.updateTime
    return name, asset_type, update_time, head.ancestors or [], not keyed


class _HeldResource(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A `resource` object as Cloud Asset Inventory writes it (either flavour): every field a
    string, but `data`, kept as its bytes; any other key fails the decode."""

    version: str | None = None
    discovery_document_uri: str | None = None
    discoveryDocumentUri: str | None = None
    discovery_name: str | None = None
    discoveryName: str | None = None
    resource_url: str | None = None
    resourceUrl: str | None = None
    parent: str | None = None
    location: str | None = None
    data: msgspec.Raw = msgspec.Raw()


class _HeldLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A line carrying RESOURCE content and nothing else, no policy key at all (not even a
    null one), every envelope field of the type `parse_record` wants; any other key fails."""

    name: str
    resource: _HeldResource
    asset_type: str | None = None
    assetType: str | None = None
    ancestors: list[str] | None = None
    update_time: str | None = None
    updateTime: str | None = None


_HELD = msgspec.json.Decoder(_HeldLine)

# name, type, `resource.data` (None: absent or null), ancestors (None: absent or null),
# location, parent, update time
Held = tuple[str, str, dict[str, Any] | None, list[str] | None, str | None, str | None,
             str | None]


def held_line(raw: bytes) -> Held | None:
    """The fields of a plain RESOURCE line (no policy key, `data` an object or null) as
    `parse_record` reads them, its `data` decoded by orjson and the rest of the line checked
    by type, so a line it answers is one `decode_line` and `parse_record` accept and read
    alike; None for any other line (a key of any other name, a value of another type, a bad
    update time, JSON either decoder refuses), which takes the full decode and parse."""
    try:
        head = _HELD.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    name = head.name
    asset_type = head.asset_type if head.asset_type is not None else head.assetType
    if not name or not asset_type:
        return None
    resource = head.resource
    data: Any = None
    if resource.data:
        try:
            data = orjson.loads(memoryview(resource.data))
        except orjson.JSONDecodeError:
            return None
        if data is not None and type(data) is not dict:
            return None
    update_time = head.update_time if head.update_time is not None else head.updateTime
    if update_time is not None and not valid_time(update_time):
        return None
    return (name, asset_type, data, head.ancestors, resource.location, resource.parent,
            update_time)
