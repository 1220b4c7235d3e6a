"""The asset: one Cloud Asset Inventory record, all content types merged, immutable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CONTENT_TYPES", "USER_TYPE", "Asset", "Source", "UnknownValue", "content_set",
           "new_asset", "new_source"]

# Directory users are not CAI assets; phiguard gives them a type so one engine judges everything.
USER_TYPE = "admin.googleapis.com/User"

# The CAI content types a record can carry.
CONTENT_TYPES = ("RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY")
_SETS: dict[frozenset[str], frozenset[str]] = {}


def content_set(kinds: frozenset[str]) -> frozenset[str]:
    """One shared frozenset per combination of content types (a million assets hold a few)."""
    return _SETS.setdefault(kinds, kinds)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from: a file and line, or a plan resource address."""

    file: str
    line: int = 0
    address: str | None = None

    def __str__(self) -> str:
        if self.address:
            return f"{self.file}#{self.address}"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class Asset:
    """One resource: CAI envelope fields plus the REST body in `data` (never mutated)."""

    name: str
    asset_type: str
    data: dict[str, Any] = field(default_factory=dict)
    iam_policy: dict[str, Any] | None = None
    org_policy: tuple[dict[str, Any], ...] = ()
    # ACCESS_POLICY content by kind and each object's own name: {"accessPolicies" |
    # "accessLevels" | "servicePerimeters": {"accessPolicies/P/...": {...}}}
    access_policy: dict[str, Any] | None = None
    ancestors: tuple[str, ...] = ()
    location: str | None = None
    parent: str | None = None
    update_time: str | None = None
    source: Source | None = None
    # The CAI content types the snapshot holds for this asset; None when the producer does not
    # say (a plan, a directory user, a hand-built asset): then `data` is the resource.
    content: frozenset[str] | None = None


_ASSET_FIELDS = ("name", "asset_type", "data", "iam_policy", "org_policy", "access_policy",
                 "ancestors", "location", "parent", "update_time", "source", "content")


def _asset_maker() -> Callable[..., Asset]:
    """`Asset(...)` with every field given in order, built without the frozen dataclass's
    `__init__` (one `object.__setattr__` per field, half the cost of making one; the read
    path makes one per judged record): a new instance's slots set through their descriptors.
    The plain constructor if the fields are not the ones expected."""
    if tuple(f.name for f in fields(Asset)) != _ASSET_FIELDS:  # pragma: no cover - dev error
        return Asset
    (s_name, s_type, s_data, s_iam, s_org, s_access, s_ancestors, s_location, s_parent,
     s_time, s_source, s_content) = (getattr(Asset, name).__set__ for name in _ASSET_FIELDS)
    make = object.__new__

    def new(name: str, asset_type: str, data: dict[str, Any], iam_policy: dict[str, Any] | None,
            org_policy: tuple[dict[str, Any], ...], access_policy: dict[str, Any] | None,
            ancestors: tuple[str, ...], location: str | None, parent: str | None,
            update_time: str | None, source: Source | None,
            content: frozenset[str] | None) -> Asset:
        out: Asset = make(Asset)
        s_name(out, name)
        s_type(out, asset_type)
        s_data(out, data)
        s_iam(out, iam_policy)
        s_org(out, org_policy)
        s_access(out, access_policy)
        s_ancestors(out, ancestors)
        s_location(out, location)
        s_parent(out, parent)
        s_time(out, update_time)
        s_source(out, source)
        s_content(out, content)
        return out
    return new


def _source_maker() -> Callable[[str, int], Source]:
    """`Source(file, line)`, built as `_asset_maker` builds assets."""
    if tuple(f.name for f in fields(Source)) != ("file", "line", "address"):  # pragma: no cover
        return Source
    s_file, s_line, s_address = (getattr(Source, name).__set__
                                 for name in ("file", "line", "address"))
    make = object.__new__

    def new(file: str, line: int) -> Source:
        out: Source = make(Source)
        s_file(out, file)
        s_line(out, line)
        s_address(out, None)
        return out
    return new


new_asset = _asset_maker()
new_source = _source_maker()


class UnknownValue:
    """A value that exists but is not known yet (a plan's "known after apply")."""

    __slots__ = ("why",)

    def __init__(self, why: str = "known only after apply") -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<unknown: {self.why}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnknownValue)

    def __hash__(self) -> int:
        return hash(UnknownValue)
