"""The asset: one Cloud Asset Inventory record, all content types merged, immutable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from phiguard._util.slots import slot_maker

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




# `Asset(...)` / `Source(file, line)` with every field given in order, built through their slots
# (half the cost of the frozen dataclass's __init__; the read path makes one per judged record).
new_asset: Callable[..., Asset] = slot_maker(Asset)
new_source: Callable[..., Source] = slot_maker(Source, fixed={"address": None})


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
