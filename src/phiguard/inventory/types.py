"""What phiguard knows about particular asset types, kept as data rather than code paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from phiguard.inventory.asset import USER_TYPE

__all__ = [
    "HIERARCHY_TYPES",
    "NETWORK_PATHS",
    "PROJECT_TYPE",
    "SOURCE_DEPENDENT_TYPES",
    "extract",
    "path_levels",
    "principals_of",
]

PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
FOLDER_TYPE = "cloudresourcemanager.googleapis.com/Folder"
ORG_TYPE = "cloudresourcemanager.googleapis.com/Organization"
HIERARCHY_TYPES = frozenset({PROJECT_TYPE, FOLDER_TYPE, ORG_TYPE})

# Where each type names the VPC network it sits on (a resource is PHI through its network).
NETWORK_PATHS: dict[str, tuple[str, ...]] = {
    "compute.googleapis.com/Network": ("selfLink",),
    "compute.googleapis.com/Subnetwork": ("network",),
    "compute.googleapis.com/Firewall": ("network",),
    "compute.googleapis.com/Route": ("network",),
    "compute.googleapis.com/Instance": ("networkInterfaces[*].network",),
    "compute.googleapis.com/ForwardingRule": ("network",),
    "compute.googleapis.com/Address": ("network",),
    "sqladmin.googleapis.com/Instance": ("settings.ipConfiguration.privateNetwork",),
    "redis.googleapis.com/Instance": ("authorizedNetwork",),
    "container.googleapis.com/Cluster": ("networkConfig.network",),
    "dns.googleapis.com/Policy": ("networks[*].networkUrl",),
}

# Snapshot parts that come from a separate source; when it is absent, rules on these types are
# UNKNOWN for the whole organization instead of silently having nothing to judge.
SOURCE_DEPENDENT_TYPES: dict[str, str] = {
    USER_TYPE: "directory users (Admin SDK Directory users.list with 2-Step Verification fields)",
}


def path_levels(data: Any, path: str, *, keep: bool = False) -> Iterator[list[Any]]:
    """The values at each step of a dotted path, from `data` itself to the path's end: a key
    absent gives nothing; a `[*]` step fans a list out, and with `keep` a value there that is
    not a list stays (so a placeholder standing for the list is seen)."""
    values = [data]
    yield values
    for part in path.split("."):
        fan = part.endswith("[*]")
        key = part[:-3] if fan else part
        nxt: list[Any] = []
        for value in values:
            if isinstance(value, dict) and key in value:
                child = value[key]
                if fan and isinstance(child, list):
                    nxt.extend(child)
                elif keep or not fan:
                    nxt.append(child)
        values = nxt
        yield values


def extract(data: Any, path: str) -> list[Any]:
    """Values at a dotted path with `[*]` fan-out; absent parts give nothing."""
    *_, values = path_levels(data, path)
    return [v for v in values if v is not None]


def _user_members(data: dict[str, Any]) -> list[str]:
    emails = [data.get("primaryEmail", "")]
    emails += list(data.get("aliases") or []) + list(data.get("nonEditableAliases") or [])
    return [f"user:{e.lower()}" for e in emails if isinstance(e, str) and e]


def _service_account_members(data: dict[str, Any]) -> list[str]:
    email = data.get("email")
    return [f"serviceaccount:{email.lower()}"] if isinstance(email, str) else []


# The IAM member strings (lower-cased) under which a principal asset appears in bindings.
_PRINCIPALS = {
    USER_TYPE: _user_members,
    "iam.googleapis.com/ServiceAccount": _service_account_members,
}


def principals_of(asset_type: str, data: dict[str, Any]) -> list[str]:
    """IAM members that denote this asset, or none if the type is not a principal."""
    fn = _PRINCIPALS.get(asset_type)
    return fn(data) if fn else []
