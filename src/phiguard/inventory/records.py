"""Parse one CAI record of any producer's flavour into a validated `Record`.

Producers differ in envelope casing: `gcloud asset export` writes proto names (`asset_type`,
`iam_policy`), the REST API and `gcloud asset list --format=json` write camelCase (`assetType`,
`iamPolicy`). IAM audit configs may carry numeric log types. Everything is normalized here, so
rules see one shape: envelope policies in camelCase with string enums, `data` untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phiguard._util.slots import slot_maker
from phiguard._util.times import parse_time
from phiguard.errors import SnapshotError
from phiguard.inventory.asset import Asset, Source, content_set, new_asset, new_source

__all__ = ["ACCESS_FIELDS", "CONDITIONAL", "Record", "access_objects", "merge_records",
           "new_record", "parse_record", "project_data", "resource_asset", "resource_record",
           "valid_time"]

RESOURCE, IAM_POLICY = "RESOURCE", "IAM_POLICY"
ORG_POLICY, ACCESS_POLICY = "ORG_POLICY", "ACCESS_POLICY"

# An asset's ACCESS_POLICY content: (proto field, camelCase field, group). A record carries one
# access policy, access level or service perimeter; an asset may carry several records of them
# (CAI hangs them on the organization), so `access_policy` groups them by each object's own
# name: {"servicePerimeters": {"accessPolicies/P/servicePerimeters/X": {...}}, ...}.
ACCESS_FIELDS = (("access_policy", "accessPolicy", "accessPolicies"),
                 ("access_level", "accessLevel", "accessLevels"),
                 ("service_perimeter", "servicePerimeter", "servicePerimeters"))

_LOG_TYPES = {0: "LOG_TYPE_UNSPECIFIED", 1: "ADMIN_READ", 2: "DATA_WRITE", 3: "DATA_READ"}
_ALL_VALUES = {0: "ALL_VALUES_UNSPECIFIED", 1: "ALLOW", 2: "DENY"}
_SNAKE = re.compile(r"_([a-z0-9])")


def _camel(key: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def _camelize(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camelize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camelize(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed record: the content types it carries, validated and normalized."""

    name: str
    asset_type: str
    kinds: frozenset[str]
    data: dict[str, Any] | None
    iam_policy: dict[str, Any] | None
    org_policy: tuple[dict[str, Any], ...] | None
    access_policy: dict[str, Any] | None
    ancestors: tuple[str, ...]
    location: str | None
    parent: str | None
    update_time: str | None
    source: Source

    def to_asset(self) -> Asset:
        return new_asset(self.name, self.asset_type, self.data or {}, self.iam_policy,
                         self.org_policy or (), self.access_policy, self.ancestors,
                         self.location, self.parent, self.update_time, self.source,
                         content_set(self.kinds))




# `Record(...)` with every field given in order, built through its slots as `asset.new_asset`
# builds assets (pass 1 makes one per record it reads whole).
new_record: Callable[..., Record] = slot_maker(Record)


def _get(obj: dict[str, Any], snake: str, camel: str) -> Any:
    value = obj.get(snake)
    return obj.get(camel) if value is None else value


class _Check:
    def __init__(self, file: str, line: int) -> None:
        self.file, self.line = file, line

    def fail(self, what: str) -> SnapshotError:
        return SnapshotError(what, file=self.file, line=self.line)

    def listed(self, value: Any, what: str) -> list[Any]:
        """A list field: absent (null) is empty, anything else must be an array."""
        return [] if value is None else list(self.typed(value, list, what))

    def strings(self, value: Any, what: str) -> list[str]:
        """A list of strings: absent (null) is empty."""
        items = self.listed(value, what)
        for i, item in enumerate(items):
            self.typed(item, str, f"{what}[{i}]")
        return items

    def typed(self, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            expected = {"dict": "an object", "list": "an array", "str": "a string",
                        "bool": "true or false"}.get(names, names)
            raise self.fail(f"{what} must be {expected}, got {_json_type(value)}")
        return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def _iam_policy(raw: Any, check: _Check) -> dict[str, Any]:
    policy = check.typed(raw, dict, "iam_policy")
    out: dict[str, Any] = {}
    for key in ("etag", "version"):
        if key in policy:
            out[key] = policy[key]
    bindings = []
    for i, binding in enumerate(check.listed(policy.get("bindings"), "iam_policy.bindings")):
        b = check.typed(binding, dict, f"iam_policy.bindings[{i}]")
        role = check.typed(b.get("role"), str, f"iam_policy.bindings[{i}].role")
        members = check.strings(b.get("members"), f"iam_policy.bindings[{i}].members")
        item: dict[str, Any] = {"role": role, "members": list(members)}
        if b.get("condition") is not None:
            item["condition"] = check.typed(b["condition"], dict,
                                            f"iam_policy.bindings[{i}].condition")
        bindings.append(item)
    out["bindings"] = bindings
    raw_audit = _get(policy, "audit_configs", "auditConfigs")
    audit = []
    for i, cfg in enumerate(check.listed(raw_audit, "iam_policy.audit_configs")):
        c = check.typed(cfg, dict, f"iam_policy.audit_configs[{i}]")
        service = check.typed(c.get("service"), str, f"iam_policy.audit_configs[{i}].service")
        logs = []
        where = f"iam_policy.audit_configs[{i}].audit_log_configs"
        raw_logs = _get(c, "audit_log_configs", "auditLogConfigs")
        for j, log in enumerate(check.listed(raw_logs, where)):
            lg = check.typed(log, dict, f"{where}[{j}]")
            log_type = _get(lg, "log_type", "logType")
            if isinstance(log_type, int) and not isinstance(log_type, bool):
                log_type = _LOG_TYPES.get(log_type, str(log_type))
            check.typed(log_type, str, f"{where}[{j}].log_type")
            exempted = check.strings(_get(lg, "exempted_members", "exemptedMembers"),
                                     f"{where}[{j}].exempted_members")
            logs.append({"logType": log_type, "exemptedMembers": list(exempted)})
        audit.append({"service": service, "auditLogConfigs": logs})
    if audit:
        out["auditConfigs"] = audit
    return out


def _org_policies(raw: Any, check: _Check) -> tuple[dict[str, Any], ...]:
    policies = check.typed(raw, list, "org_policy")
    out = []
    for i, pol in enumerate(policies):
        p = _camelize(check.typed(pol, dict, f"org_policy[{i}]"))
        check.typed(p.get("constraint"), str, f"org_policy[{i}].constraint")
        lp = p.get("listPolicy")
        if lp is not None:
            where = f"org_policy[{i}].list_policy"
            check.typed(lp, dict, where)
            for key, snake in (("allowedValues", "allowed_values"),
                               ("deniedValues", "denied_values")):
                if key in lp:
                    check.strings(lp[key], f"{where}.{snake}")
            all_values = lp.get("allValues")
            if isinstance(all_values, int) and not isinstance(all_values, bool):
                lp["allValues"] = _ALL_VALUES.get(all_values, str(all_values))
            elif all_values is not None:
                check.typed(all_values, str, f"{where}.all_values")
            if lp.get("inheritFromParent") is not None:
                check.typed(lp["inheritFromParent"], bool, f"{where}.inherit_from_parent")
        bp = p.get("booleanPolicy")
        if bp is not None:
            check.typed(bp, dict, f"org_policy[{i}].boolean_policy")
            if bp.get("enforced") is not None:
                check.typed(bp["enforced"], bool, f"org_policy[{i}].boolean_policy.enforced")
        out.append(p)
    return tuple(out)


# Marks a normalized org policy whose v2 rules carry a condition: phiguard does not evaluate
# conditions (tags), so what the policy enforces on a given resource is unknown.
CONDITIONAL = "_conditional"


def _v2_org_policies(raw: Any, check: _Check) -> tuple[dict[str, Any], ...]:
    """Org Policy v2 policies (`{name: .../policies/C, spec: {rules, reset, ...}}`, as Google's
    Terraform converter writes them) in the v1 form the rules read."""
    out = []
    for i, pol in enumerate(check.typed(raw, list, "v2_org_policies")):
        where = f"v2_org_policies[{i}]"
        p = _camelize(check.typed(pol, dict, where))
        name = check.typed(p.get("name"), str, f"{where}.name")
        if "/policies/" not in name:
            raise check.fail(f"{where}.name {name!r} is not PARENT/policies/CONSTRAINT")
        v1: dict[str, Any] = {"constraint": "constraints/" + name.rsplit("/policies/", 1)[1]}
        spec = p.get("spec") or {}
        check.typed(spec, dict, f"{where}.spec")
        rules = check.typed(spec.get("rules") or [], list, f"{where}.spec.rules")
        conditional = [j for j, r in enumerate(rules) if isinstance(r, dict) and r.get("condition")]
        if conditional:  # a rule that applies only where a (tag) condition holds
            v1[CONDITIONAL] = (f"{where}.spec.rules[{conditional[0]}] applies only where its "
                               "condition holds, which the snapshot does not evaluate")
        if spec.get("reset") is True:
            v1["restoreDefault"] = {}
        elif any(isinstance(r, dict) and "enforce" in r for r in rules):
            enforce = next(r["enforce"] for r in rules if isinstance(r, dict) and "enforce" in r)
            v1["booleanPolicy"] = {"enforced": enforce is True or str(enforce).upper() == "TRUE"}
        else:
            lp: dict[str, Any] = {}
            if spec.get("inheritFromParent") is True:
                lp["inheritFromParent"] = True
            for j, rule in enumerate(rules):
                rule = check.typed(rule, dict, f"{where}.spec.rules[{j}]")
                values = check.typed(rule.get("values") or {}, dict,
                                     f"{where}.spec.rules[{j}].values")
                for key in ("allowedValues", "deniedValues"):
                    if key in values:
                        lp[key] = [*lp.get(key, []),
                                   *check.strings(values[key], f"{where}.spec.rules[{j}]")]
                for key, word in (("allowAll", "ALLOW"), ("denyAll", "DENY")):
                    if rule.get(key) is True or str(rule.get(key)).upper() == "TRUE":
                        lp["allValues"] = word
            v1["listPolicy"] = lp
        out.append(v1)
    return tuple(out)


def parse_record(obj: Any, file: str, line: int,
                 data_keys: frozenset[str] | None = None) -> Record:
    """Validate and normalize one decoded JSON record; raise `SnapshotError` naming the line.

    `data_keys`: keep only these keys of `resource.data` (all of it is validated as ever).
    """
    fast = _fast_record(obj, file, line, data_keys)
    if fast is not None:
        return fast
    try:
        record = _parse_record(obj, _Check(file, line))
    except RecursionError:
        raise SnapshotError("record nested too deeply to be a CAI record", file=file,
                            line=line) from None
    return record if data_keys is None else project_data(record, data_keys)


def project_data(record: Record, keep: frozenset[str]) -> Record:
    """The record with only the `keep` keys of its `data` (in their order there)."""
    data = record.data
    if not data:
        return record
    r = record
    return new_record(r.name, r.asset_type, r.kinds,
                      {k: v for k, v in data.items() if k in keep}, r.iam_policy, r.org_policy,
                      r.access_policy, r.ancestors, r.location, r.parent, r.update_time,
                      r.source)


# The common shapes, checked without building a message per field: a record with no keys but
# these (every export flavour's RESOURCE and IAM_POLICY records) whose every field has the
# expected JSON type. `_fast_record` gives exactly what `_parse_record` gives for it; anything
# else (another key, a value of another type, a bad time) returns None and takes the full
# parse, which says what is wrong.
_FAST_KEYS = frozenset({"name", "asset_type", "assetType", "resource", "ancestors",
                        "update_time", "updateTime", "iam_policy", "iamPolicy"})
_FAST_RESOURCE_ONLY = frozenset({RESOURCE})
_FAST_IAM_ONLY = frozenset({IAM_POLICY})
_FAST_BOTH = frozenset({RESOURCE, IAM_POLICY})
_VALID_TIMES: set[str] = set()  # update_time texts already parsed as RFC 3339 (bounded)


def _instant(text: str) -> datetime | None:
    """`parse_time(text)`, and at once for the usual `...Z` text: Python reads a UTC time
    written with `Z` as it reads it with `+00:00` (which `parse_time` writes for it, after
    cutting a fraction to the microseconds Python keeps, as Python cuts it), so where
    `fromisoformat` reads the text as it is, `parse_time` gives the same instant. (A text it
    does not read goes to `parse_time`, which may read it, stripped or lower-case.)"""
    if text[-1:] == "Z":
        try:
            return _from_iso(text)
        except ValueError:
            pass
    return parse_time(text)


_from_iso = datetime.fromisoformat


def valid_time(text: str) -> bool:
    """Whether `parse_time` reads `text`, remembered for the texts seen (most repeat)."""
    if text in _VALID_TIMES:
        return True
    if _instant(text) is None:
        return False
    if len(_VALID_TIMES) >= 1 << 16:
        _VALID_TIMES.clear()
    _VALID_TIMES.add(text)
    return True


def _fast_strings(value: Any) -> list[str] | None:
    """A copy of a list of strings (None: empty), or None when it is anything else."""
    if value is None:
        return []
    if type(value) is not list:
        return None
    for item in value:
        if type(item) is not str:
            return None
    return list(value)


def _fast_iam(policy: Any) -> dict[str, Any] | None:
    """`_iam_policy` for a well-typed policy, or None (then the full check says why)."""
    if type(policy) is not dict:
        return None
    out: dict[str, Any] = {}
    if "etag" in policy:
        out["etag"] = policy["etag"]
    if "version" in policy:
        out["version"] = policy["version"]
    raw_bindings = policy.get("bindings")
    if raw_bindings is not None and type(raw_bindings) is not list:
        return None
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    share = _SHARED.setdefault
    bindings = []
    for binding in raw_bindings or ():
        if type(binding) is not dict:
            return None
        role = binding.get("role")
        members = _fast_strings(binding.get("members"))
        if type(role) is not str or members is None:
            return None
        # (roles and members repeat across policies: one object each, as `_SHARED` says)
        item: dict[str, Any] = {"role": share(role, role),
                                "members": [share(m, m) for m in members]}
        condition = binding.get("condition")
        if condition is not None:
            if type(condition) is not dict:
                return None
            item["condition"] = condition
        bindings.append(item)
    out["bindings"] = bindings
    raw_audit = _get(policy, "audit_configs", "auditConfigs")
    if raw_audit is None:
        return out
    if type(raw_audit) is not list:
        return None
    audit = []
    for cfg in raw_audit:
        if type(cfg) is not dict:
            return None
        service = cfg.get("service")
        raw_logs = _get(cfg, "audit_log_configs", "auditLogConfigs")
        if type(service) is not str or (raw_logs is not None and type(raw_logs) is not list):
            return None
        logs = []
        for log in raw_logs or ():
            if type(log) is not dict:
                return None
            log_type = _get(log, "log_type", "logType")
            if type(log_type) is int:
                log_type = _LOG_TYPES.get(log_type, str(log_type))
            exempted = _fast_strings(_get(log, "exempted_members", "exemptedMembers"))
            if type(log_type) is not str or exempted is None:
                return None
            logs.append({"logType": log_type, "exemptedMembers": exempted})
        audit.append({"service": service, "auditLogConfigs": logs})
    if audit:
        out["auditConfigs"] = audit
    return out


_Fields = tuple[str, str, frozenset[str], dict[str, Any] | None, dict[str, Any] | None,
                tuple[str, ...], str | None, str | None, str | None]


def _fast_fields(obj: Any) -> _Fields | None:
    """(name, type, kinds, data, iam policy, ancestors, location, parent, update time) of a
    record of the common shapes, as `_parse_record` gives them, or None."""
    if type(obj) is not dict or not obj.keys() <= _FAST_KEYS:
        return None
    name = obj.get("name")
    asset_type = obj.get("asset_type")
    if asset_type is None:
        asset_type = obj.get("assetType")
    if type(name) is not str or not name or type(asset_type) is not str or not asset_type:
        return None
    resource = obj.get("resource")
    data = location = parent = None
    if resource is not None:
        if type(resource) is not dict:
            return None
        data = resource.get("data")
        if data is None:
            data = {}
        elif type(data) is not dict:
            return None
        location = resource.get("location")
        parent = resource.get("parent")
        if (location is not None and type(location) is not str) or (
                parent is not None and type(parent) is not str):
            return None
    raw_iam = obj.get("iam_policy")
    if raw_iam is None:
        raw_iam = obj.get("iamPolicy")
    iam = None
    if raw_iam is not None:
        iam = _fast_iam(raw_iam)
        if iam is None:
            return None
        kinds = _FAST_BOTH if resource is not None else _FAST_IAM_ONLY
    elif resource is not None:
        kinds = _FAST_RESOURCE_ONLY
    else:
        return None
    ancestors = obj.get("ancestors")
    if ancestors is None:
        ancestors = ()
    elif type(ancestors) is list:
        for item in ancestors:
            if type(item) is not str:
                return None
        ancestors = tuple(ancestors)
    else:
        return None
    update_time = obj.get("update_time")
    if update_time is None:
        update_time = obj.get("updateTime")
    if update_time is not None and (type(update_time) is not str or (
            update_time not in _VALID_TIMES and not valid_time(update_time))):
        return None
    return name, asset_type, kinds, data, iam, ancestors, location, parent, update_time


def _fast_record(obj: Any, file: str, line: int,
                 data_keys: frozenset[str] | None = None) -> Record | None:
    fields = _fast_fields(obj)
    if fields is None:
        return None
    name, asset_type, kinds, data, iam, ancestors, location, parent, update_time = fields
    if data_keys is not None and data:
        data = {k: v for k, v in data.items() if k in data_keys}
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    share = _SHARED.setdefault
    return new_record(name, asset_type, kinds, data, iam, None, None,
                      _shared_ancestors(ancestors) if ancestors else ancestors,
                      share(location, location) if location else location,
                      share(parent, parent) if parent else parent, update_time,
                      new_source(file, line))


_RESOURCE_CONTENT = content_set(_FAST_RESOURCE_ONLY)


def resource_record(name: str, asset_type: str, data: dict[str, Any] | None,
                    ancestors: list[str] | None, location: str | None, parent: str | None,
                    update_time: str | None, file: str, line: int,
                    data_keys: frozenset[str] | None = None) -> Record:
    """`parse_record(obj, file, line, data_keys)` of a record carrying only RESOURCE content
    whose fields are given already checked as `_fast_fields` checks them: a non-empty name
    and type, `data` an object (None: absent or null), strings, a valid update time."""
    if data is None:
        data = {}
    elif data_keys is not None and data:
        data = {k: v for k, v in data.items() if k in data_keys}
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.clear()
    share = _SHARED.setdefault
    held = tuple(ancestors) if ancestors else ()
    return new_record(name, asset_type, _FAST_RESOURCE_ONLY, data, None, None, None,
                      _shared_ancestors(held) if held else held,
                      share(location, location) if location else location,
                      share(parent, parent) if parent else parent, update_time,
                      new_source(file, line))


# The ancestries, locations and parents of the records pass 1 holds, one object per value:
# held records repeat a few thousand of them (at 100,000 assets, 13 of the 81 MiB pass 1
# keeps were copies). Bounded: the frequent ones come back at once after a clear.
_SHARED: dict[Any, Any] = {}
_SHARED_MAX = 1 << 16


def _shared_ancestors(ancestors: tuple[str, ...]) -> tuple[str, ...]:
    """The shared ancestry equal to `ancestors`, its names shared too (an organization's
    projects repeat its folders and organization)."""
    held: tuple[str, ...] | None = _SHARED.get(ancestors)
    if held is None:
        share = _SHARED.setdefault
        held = _SHARED[ancestors] = tuple([share(name, name) for name in ancestors])
    return held


def resource_asset(obj: Any, file: str, line: int) -> Asset | None:
    """`parse_record(obj, file, line).to_asset()` for a record of the common shapes that
    carries only RESOURCE content, without the Record in between; None for any other record
    (which `parse_record` reads, or says what is wrong with)."""
    fields = _fast_fields(obj)
    if fields is None or fields[2] is not _FAST_RESOURCE_ONLY:
        return None
    name, asset_type, _, data, _, ancestors, location, parent, update_time = fields
    return new_asset(name, asset_type, data or {}, None, (), None, ancestors, location, parent,
                     update_time, new_source(file, line), _RESOURCE_CONTENT)


def _parse_record(obj: Any, check: _Check) -> Record:
    file, line = check.file, check.line
    if not isinstance(obj, dict):
        raise check.fail(f"expected a CAI asset object, got {_json_type(obj)}")
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise check.fail(f"`name` must be a string (the CAI asset name), got {_json_type(name)}")
    if not name:
        raise check.fail("record has no `name` (expected the CAI asset name, //service/path)")
    asset_type = _get(obj, "asset_type", "assetType")
    if asset_type is not None and not isinstance(asset_type, str):
        raise check.fail(f"record {name}: `asset_type` must be a string, got "
                         f"{_json_type(asset_type)}")
    if not asset_type:
        raise check.fail(f"record {name} has no `asset_type` (or `assetType`)")
    kinds: set[str] = set()
    data = location = parent = None
    resource = obj.get("resource")
    if resource is not None:
        check.typed(resource, dict, "resource")
        raw_data = resource.get("data")
        data = check.typed(raw_data, dict, "resource.data") if raw_data is not None else {}
        location = resource.get("location")
        if location is not None:
            check.typed(location, str, "resource.location")
        parent = resource.get("parent")
        if parent is not None:
            check.typed(parent, str, "resource.parent")
        kinds.add(RESOURCE)
    raw_iam = _get(obj, "iam_policy", "iamPolicy")
    iam = _iam_policy(raw_iam, check) if raw_iam is not None else None
    if iam is not None:
        kinds.add(IAM_POLICY)
    raw_org = _get(obj, "org_policy", "orgPolicy")
    org = _org_policies(raw_org, check) if raw_org is not None else None
    raw_v2 = _get(obj, "v2_org_policies", "v2OrgPolicies")  # Google's Terraform converter
    if raw_v2 is not None:
        org = (*(org or ()), *_v2_org_policies(raw_v2, check))
    if org is not None:
        kinds.add(ORG_POLICY)
    access: dict[str, Any] | None = None
    for snake, camel, group in ACCESS_FIELDS:
        raw = _get(obj, snake, camel)
        if raw is not None:
            content = _camelize(check.typed(raw, dict, snake))
            own = content.get("name", "")
            check.typed(own, str, f"{snake}.name")
            access = access or {}
            access.setdefault(group, {})[own] = content
            kinds.add(ACCESS_POLICY)
    if not kinds:
        raise check.fail(
            f"record {name} carries no content (expected resource, iam_policy, org_policy, "
            "v2_org_policies or an access policy)"
        )
    ancestors = check.strings(obj.get("ancestors"), "ancestors")
    update_time = _get(obj, "update_time", "updateTime")
    if update_time is not None:
        check.typed(update_time, str, "update_time")
        if parse_time(update_time) is None:
            raise check.fail(f"update_time {update_time!r} is not an RFC 3339 time")
    return Record(
        name=name,
        asset_type=asset_type,
        kinds=frozenset(kinds),
        data=data,
        iam_policy=iam,
        org_policy=org,
        access_policy=access,
        ancestors=tuple(ancestors),
        location=location,
        parent=parent,
        update_time=update_time,
        source=Source(file, line),
    )


def merge_records(first: Record, second: Record) -> Record:
    """Merge two records of one asset that carry different content types."""
    if first.asset_type != second.asset_type:
        raise SnapshotError(
            f"{second.name} has asset type {second.asset_type} here but {first.asset_type} "
            f"at {first.source}",
            file=second.source.file,
            line=second.source.line,
        )
    overlap = first.kinds & second.kinds - {ACCESS_POLICY}
    if overlap:
        raise SnapshotError(
            f"conflicting duplicate: {second.name} already has {', '.join(sorted(overlap))} "
            f"content from {first.source}",
            file=second.source.file,
            line=second.source.line,
        )
    resource, other = (first, second) if RESOURCE in first.kinds else (second, first)
    return new_record(
        first.name,
        first.asset_type,
        first.kinds | second.kinds,
        resource.data if RESOURCE in resource.kinds else None,
        first.iam_policy if first.iam_policy is not None else second.iam_policy,
        first.org_policy if first.org_policy is not None else second.org_policy,
        _merge_access(first, second),
        resource.ancestors or other.ancestors,
        resource.location or other.location,
        resource.parent or other.parent,
        _latest(first.update_time, second.update_time),
        # the resource's place; of policy records alone, the earliest
        resource.source if RESOURCE in resource.kinds else first.source,
    )


def access_objects(access: dict[str, Any] | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(group, object name, object) of each access policy, level and perimeter an asset holds."""
    return [(group, own, content) for group, objects in (access or {}).items()
            for own, content in objects.items()]


def _merge_access(first: Record, second: Record) -> dict[str, Any] | None:
    """Both records' access-context objects: the same object twice is one; two different
    objects of one name are a conflict."""
    if first.access_policy is None or second.access_policy is None:
        return first.access_policy if first.access_policy is not None else second.access_policy
    merged = {group: dict(objects) for group, objects in first.access_policy.items()}
    for group, own, content in access_objects(second.access_policy):
        held = merged.setdefault(group, {})
        if own in held and held[own] != content:
            raise SnapshotError(
                f"conflicting duplicate: {second.name} carries {group} {own!r} with other "
                f"content than at {first.source}",
                file=second.source.file,
                line=second.source.line,
            )
        held[own] = content
    return merged


def _latest(first: str | None, second: str | None) -> str | None:
    """The later of two RFC 3339 times, compared as times (precision and zones differ)."""
    if first is None or second is None:
        return first or second
    if first == second:
        return first
    a, b = _instant(first), _instant(second)
    if a is None or b is None:
        return first
    return second if b > a else first
