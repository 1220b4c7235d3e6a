"""The converter machinery: one small table per google_* type turns a planned resource into the
Asset CAI would show after apply; the tables themselves live in `tables/`, one module per service.

A table (`Converter`) names the CAI asset type, the asset name template, the fields (Terraform
attribute path -> REST field path, with an optional transform), API defaults for attributes the
user left to the provider. The Terraform fix for a rule is the rule's own
(`remediation.terraform_fixes`, per resource type), read through `Fix.of_rule`.
Values known only after apply become `UnknownValue`; one that comes from another planned
resource (`google_compute_ssl_policy.x.id`) is resolved through the plan's `configuration`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phiguard._util.slots import slot_maker
from phiguard.inventory.asset import Asset, Source, UnknownValue, new_asset
from phiguard.inventory.refs import project_of_name, ref_key
from phiguard.policy.rule import Rule
from phiguard.terraform.plan import Plan, ResourceChange
from phiguard.terraform.values import is_unknown, set_path, tf_get, with_unknowns

__all__ = ["ABSENT", "CONVERTERS", "PARTS", "Context", "Converter", "Field", "Fix", "Part",
           "register"]

Transform = Callable[[Any, "Context"], Any]
_ABSENT: Any = object()
_UNSEEN: Any = object()  # not looked up yet
ABSENT = _ABSENT  # a transform's answer for "the API shows no such field"


@dataclass(frozen=True, slots=True)
class Fix:
    """The Terraform change that makes a rule pass: set `attribute` to `value` (no attribute:
    `note` says what to do instead). Rules declare it per resource type in
    `remediation.terraform_fixes`."""

    attribute: str
    value: Any
    note: str = ""

    @classmethod
    def of_rule(cls, rule: Rule | None, tf_type: str) -> Fix | None:
        """The fix `rule` declares for resources of `tf_type`, or None."""
        spec = rule.terraform_fixes.get(tf_type) if rule is not None else None
        if spec is None:
            return None
        return cls(spec["attribute"], _plain(spec["value"]), spec["note"])

    def to_json(self, address: str) -> dict[str, Any]:
        out = {"address": address, "attribute": self.attribute, "value": self.value}
        if self.note:
            out["note"] = self.note
        return out

    def text(self, address: str) -> str:
        value = self.value if isinstance(self.value, str) and self.value.startswith(
            ("google_", "[", "{", "(")) else _hcl(self.value)
        note = f" ({self.note})" if self.note else ""
        return f"fix: set {self.attribute} = {value} in {address}{note}"


def _plain(value: Any) -> Any:
    """YAML's position-carrying containers as plain lists and dicts (for any JSON writer)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _hcl(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True, slots=True)
class Field:
    """One Terraform attribute (dotted path, blocks entered) -> one REST field (dotted path).

    `ref` marks a reference to another resource: a bare name is expanded with the template
    (`projects/{project}/global/networks/{}`) and an unknown value is resolved through the
    configuration. `api_default` is what the API shows when the configuration leaves the
    attribute to the provider and the plan therefore has it only after apply.
    """

    src: str
    dst: str
    fn: Transform | None = None
    ref: str | None = None
    api_default: Any = _ABSENT


@dataclass(frozen=True)
class Converter:
    """How one google_* type becomes an asset."""

    tf_type: str
    asset_type: str
    name: str  # template with {project} {name} {region} {zone} {location} and `names` keys
    fields: tuple[Field, ...] = ()
    names: Mapping[str, Field] = field(default_factory=dict)  # extra name variables
    location: str | None = None  # template, e.g. "{zone}", "{region}", "global"
    constants: Mapping[str, Any] = field(default_factory=dict)
    build: Callable[[dict[str, Any], Any, Context], None] | None = None  # extra shaping
    project_from: Field | None = None  # where the project is when there is no `project`


@dataclass(frozen=True)
class Part:
    """A Terraform resource that is not an asset of its own but changes one: IAM members,
    bindings and policies, audit configs, peerings, disk policy attachments, org policies.

    `parent` gives the (asset type, CAI name) it changes; `piece` the data `merge.py` applies.
    """

    tf_type: str
    kind: str  # iam_member | iam_binding | iam_policy | audit_config | org_policy | append
    parent: Callable[[Any, Context], tuple[str, str] | None]
    piece: Callable[[Any, Context], Any]
    target: str = ""  # for `append`: the REST list field of the parent
    # for `append`: the field naming an item of that list (a firewall policy's rules by
    # `priority`): a piece replaces, or removes, the item of its name, as the API keys them
    key: str = ""


CONVERTERS: dict[str, Converter] = {}
PARTS: dict[str, Part] = {}


def register(*items: Converter | Part) -> None:
    for item in items:
        if isinstance(item, Part):
            PARTS[item.tf_type] = item
        else:
            CONVERTERS[item.tf_type] = item


_REF = re.compile(r"^(?P<type>google_[a-z0-9_]+)\.(?P<name>[A-Za-z0-9_-]+)"
                  r"(?:\[(?P<index>[^\]]*)\])?(?:\.(?P<attr>[a-z0-9_]+))?")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")


def _region_of_zone(zone: Any) -> Any:
    if isinstance(zone, str):
        zone = zone.rstrip("/").rsplit("/", 1)[-1]
        match = _ZONE.match(zone)
        return match.group(1) if match else zone
    return zone


def _project_parent_node(values: Any) -> str | None:
    """The folder or organization a google_project's values place it under (None: neither)."""
    if not isinstance(values, dict):
        return None
    folder, org = values.get("folder_id"), values.get("org_id")
    return (f"folders/{folder}" if isinstance(folder, str) and folder else
            f"organizations/{org}" if isinstance(org, str) and org else None)


class Context:
    """One side (`before` or `after`) of a plan being converted; resolves references between
    planned resources and memoizes converted assets by address."""

    def __init__(self, plan: Plan, side: str, project_numbers: Mapping[str, str] | None = None,
                 ancestors: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.plan = plan
        self.side = side
        self.project_numbers = dict(project_numbers or {})
        self.project_ancestors = dict(ancestors or {})
        for change in plan.changes:  # an existing google_project shows its number
            values = change.after if side == "after" else change.before
            if change.type == "google_project" and isinstance(values, dict):
                pid, number = values.get("project_id"), values.get("number")
                if isinstance(pid, str) and isinstance(number, str) and number:
                    self.project_numbers.setdefault(pid, number)
                if isinstance(pid, str) and pid not in self.project_ancestors:
                    node = f"projects/{self.project_numbers.get(pid, pid)}"
                    parent = _project_parent_node(values)
                    self.project_ancestors[pid] = (node, parent) if parent else (node,)
        # whether the plan has a configuration to read (asked for every unknown attribute)
        self._any_refs = bool(plan.references)
        self._assets: dict[str, Asset | None] = {}
        self._busy: set[str] = set()
        self._values: dict[str, Any] = {}
        self._scopes: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._configured: dict[str, frozenset[str]] = {}  # config address -> paths it sets
        self._configured_at: dict[str, Any] = {}  # resource address -> the same, or None
        self.change: ResourceChange | None = None
        self.path = ""

    # values ----------------------------------------------------------------------------------

    def values(self, change: ResourceChange) -> Any:
        """The resource's attributes on this side, unknowns marked (computed once)."""
        if self.side == "before":
            return change.before
        got = self._values.get(change.address)
        if got is None:
            got = with_unknowns(change.after, change.after_unknown)
            self._values[change.address] = got
        return got

    def configured(self, change: ResourceChange, path: str) -> bool | None:
        """Whether the configuration sets this attribute (None: no configuration in the plan)."""
        paths = self._configured_at.get(change.address, _UNSEEN)
        if paths is _UNSEEN:
            paths = self._configured_at[change.address] = self._configured_paths(change)
        return None if paths is None else path in paths

    def _configured_paths(self, change: ResourceChange) -> frozenset[str] | None:
        """The attribute paths the resource's configuration block sets, and every path one
        of them lies under (None: no configuration for it in the plan)."""
        if not self._any_refs:
            return None
        address = change.config_address
        paths = self._configured.get(address)
        if paths is None:
            refs = self.plan.references.get(address)
            if refs is None:
                return None
            # every attribute path set, and every path a set one lies under
            found = set(refs)
            for key in refs:
                at = key.find(".")
                while at != -1:
                    found.add(key[:at])
                    at = key.find(".", at + 1)
            paths = self._configured[address] = frozenset(found)
        return paths

    def resolve(self, change: ResourceChange, path: str, want_ref: bool) -> Any:
        """The value of an attribute that is unknown in the plan, from the planned resource its
        expression references; an `UnknownValue` when it cannot be known before apply."""
        refs = self.plan.references.get(change.config_address, {}).get(path)
        for ref in refs or ():
            match = _REF.match(ref)
            if match is None:
                continue
            target = self._target(change, match.group("type"), match.group("name"),
                                  match.group("index"))
            if target is None:
                continue
            attr = match.group("attr") or "id"
            asset = self.asset_of(target)
            if asset is None:
                continue
            if want_ref or attr in ("id", "self_link", "self_link_unique"):
                return ref_key(asset.name)
            value = tf_get(self.values(target), attr)
            if value is not None and not is_unknown(value):
                return value
            conv = CONVERTERS.get(target.type)
            for f in conv.fields if conv else ():
                if f.src == attr:
                    got = _dig(asset.data, f.dst)
                    if got is not None and not is_unknown(got):
                        return got
            return UnknownValue(f"known only after apply ({ref})")
        return UnknownValue("known only after apply")

    def _target(self, change: ResourceChange, rtype: str, rname: str,
                index: str | None) -> ResourceChange | None:
        found = self.plan.instances_of.get(f"{change.module}|{rtype}.{rname}")
        if not found:
            return None
        if index is not None:
            key: Any = int(index) if index.isdigit() else index.strip('"')
            for cand in found:
                if cand.index == key:
                    return cand
            return None
        if len(found) == 1:
            return found[0]
        for cand in found:  # `x[count.index]` / `x[each.key]`: the same instance key
            if cand.index == change.index:
                return cand
        return None

    def asset_of(self, change: ResourceChange) -> Asset | None:
        """The converted asset of a planned resource on this side (memoized)."""
        if change.address in self._assets:
            return self._assets[change.address]
        if change.address in self._busy:
            return None
        conv = CONVERTERS.get(change.type)
        if conv is None:
            return None
        self._busy.add(change.address)
        try:
            asset = convert(conv, change, self)
        finally:
            self._busy.discard(change.address)
        self._assets[change.address] = asset
        return asset

    # reading attributes ----------------------------------------------------------------------

    def read(self, change: ResourceChange, values: Any, f: Field, expand: bool = True) -> Any:
        """One field's value: known, resolved through a reference, an API default, or unknown.
        With `expand` false a bare name stays bare (the scope is not consulted)."""
        return self.settle(change, values, f, tf_get(values, f.src, _ABSENT), expand)

    def settle(self, change: ResourceChange, values: Any, f: Field, value: Any,
               expand: bool = True) -> Any:
        """`read` of a field whose attribute value (`tf_get(values, f.src, ABSENT)`) is known
        to the caller already."""
        if isinstance(value, UnknownValue):
            if f.ref is not None or self._any_refs:
                configured = self.configured(change, f.src)
                if configured is False and f.api_default is not _ABSENT:
                    return f.api_default
                if configured:
                    value = self.resolve(change, f.src, f.ref is not None)
            elif f.api_default is not _ABSENT:
                return value
        if value is _ABSENT:
            return _ABSENT
        if isinstance(value, UnknownValue):
            return value
        if expand and f.ref is not None and isinstance(value, str) and value and "/" not in value:
            value = _expand(f.ref, value, self.scope(change, values))
        if f.fn is None:
            return value
        self.change, self.path = change, f.src
        return f.fn(value, self)

    def find_planned(self, ref: Any, tf_types: tuple[str, ...]) -> Asset | None:
        """The converted planned asset of these types that a reference names, if any."""
        if not isinstance(ref, str):
            return None
        key = ref_key(ref)
        for change in self.plan.of_types(*tf_types):
            asset = self.asset_of(change)
            if asset is not None and ref_key(asset.name) == key:
                return asset
        return None

    def project_of(self, change: ResourceChange, values: Any) -> str:
        conv = CONVERTERS.get(change.type)
        if conv is not None and conv.project_from is not None:
            # read without expanding a bare name: expanding needs the scope, which needs the
            # project (a bare key ring name would recurse forever)
            got = self.read(change, values, conv.project_from, expand=False)
            found = (project_of_name(got) or (got if "/" not in got else None)) \
                if isinstance(got, str) and got else None
            if found:
                return found
        project = tf_get(values, "project")
        if is_unknown(project):
            resolved = self.resolve(change, "project", False)
            project = resolved if isinstance(resolved, str) else None
            if project is None and not self.configured(change, "project"):
                project = self.plan.default_project  # the provider's project
        elif project is None:
            project = self.plan.default_project
        return project if isinstance(project, str) and project else "(unknown project)"

    def scope(self, change: ResourceChange, values: Any) -> dict[str, Any]:
        """Name variables every template may use."""
        cached = self._scopes.get(change.address)
        if cached is not None and cached[0] is values:
            return dict(cached[1])
        key = f"scope|{change.address}"
        if key in self._busy:  # a table whose project needs its own scope: no project then
            return self._scope(change, values, own_project=False)
        self._busy.add(key)
        try:
            found = self._scope(change, values)
        finally:
            self._busy.discard(key)
        self._scopes[change.address] = (values, found)
        return dict(found)

    def _scope(self, change: ResourceChange, values: Any,
               own_project: bool = True) -> dict[str, Any]:
        if isinstance(values, dict):  # as tf_get reads a top-level attribute
            zone, region, location = values.get("zone"), values.get("region"), values.get(
                "location")
        else:
            zone, region, location = (tf_get(values, "zone"), tf_get(values, "region"),
                                      tf_get(values, "location"))
        if not isinstance(region, str) and isinstance(zone, str):
            region = _region_of_zone(zone)
        if not isinstance(region, str) and isinstance(location, str):
            region = location
        name = tf_get(values, "name")
        if not isinstance(name, str):
            name = f"({change.address})"  # known only after apply: the address stands in
        if own_project:
            project = self.project_of(change, values)
        else:
            got = tf_get(values, "project")
            got = self.plan.default_project if got is None else got
            project = got if isinstance(got, str) and got else "(unknown project)"
        return {"project": project, "name": name,
                "project_ref": self.project_numbers.get(project, project),
                "zone": zone if isinstance(zone, str) else "(unknown zone)",
                "region": region if isinstance(region, str) else "(unknown region)",
                "location": location if isinstance(location, str) else "(unknown location)"}

    def ancestors_of(self, project: str) -> tuple[str, ...]:
        known = self.project_ancestors.get(project)
        if known:
            return known
        number = self.project_numbers.get(project)
        return (f"projects/{number or project}",)


def _expand(template: str, value: str, scope: Mapping[str, Any]) -> str:
    """A bare name made a reference: `projects/{project}/global/networks/{}` with the name in
    `{}` (the value itself is never read as a template)."""
    head, _, tail = template.partition("{}")
    return head.format(**scope) + value + tail.format(**scope)


def _dig(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def convert(conv: Converter, change: ResourceChange, ctx: Context) -> Asset | None:
    """The asset one planned resource becomes on the context's side (None if it has no values)."""
    values = ctx.values(change)
    if not isinstance(values, dict):
        return None
    saved = ctx.change, ctx.path
    try:
        return _convert(conv, change, ctx, values)
    finally:
        ctx.change, ctx.path = saved


# A converter's fields, compiled once. Attribute paths share their leading blocks (Cloud SQL
# reads twenty attributes under `settings`), so each block a path enters is a node read once
# per resource: `nodes` lists (parent node, key) in an order where a parent comes first (node
# 0 is the resource's values), and each field is (field, parent node, last key, the REST
# field's keys, whether a known value is stored as it is: no transform, no reference).
_Fields = tuple[tuple[Field, int, str, tuple[str, ...], bool], ...]
_Compiled = tuple[tuple[tuple[int, str], ...], _Fields]
_COMPILED: dict[int, tuple[Converter, _Compiled]] = {}


def _compiled(conv: Converter) -> _Compiled:
    got = _COMPILED.get(id(conv))
    if got is None or got[0] is not conv:
        nodes: list[tuple[int, str]] = []
        index: dict[tuple[str, ...], int] = {}
        fields = []
        for f in conv.fields:
            keys = tuple(f.src.split("."))
            parent = 0
            for depth in range(1, len(keys)):
                found = index.get(keys[:depth])
                if found is None:
                    nodes.append((parent, keys[depth - 1]))
                    found = index[keys[:depth]] = len(nodes)
                parent = found
            fields.append((f, parent, keys[-1], tuple(f.dst.split(".")),
                           f.fn is None and f.ref is None))
        got = _COMPILED[id(conv)] = (conv, (tuple(nodes), tuple(fields)))
    return got[1]


def _entered(value: Any) -> Any:
    """A block as `tf_get` steps into it: the first element of a list of blocks; a dict or an
    `UnknownValue` (which every path through it reads), else ABSENT."""
    if isinstance(value, list):
        if not value:
            return _ABSENT
        value = value[0]
    return value if isinstance(value, dict | UnknownValue) else _ABSENT


def _convert(conv: Converter, change: ResourceChange, ctx: Context, values: Any) -> Asset:
    ctx.change = change
    scope = ctx.scope(change, values)
    for key, f in conv.names.items():
        got = ctx.read(change, values, f)
        if got is _ABSENT or is_unknown(got) or not isinstance(got, str) or not got:
            got = f"({change.address}.{f.src})"
        scope[key] = got
    data: dict[str, Any] = dict(conv.constants)
    blocks, fields = _compiled(conv)
    nodes: list[Any] = [values]  # `tf_get(values, path, ABSENT)` of each field, shared
    for parent, key in blocks:
        node = nodes[parent]
        if isinstance(node, dict):
            got = node.get(key)
            nodes.append(_ABSENT if got is None else _entered(got))
        else:
            nodes.append(node)  # unknown or absent, as everything under it
    for f, parent, key, dst, plain in fields:
        node = nodes[parent]
        if isinstance(node, dict):
            value = node.get(key)
            if value is None:
                continue
        elif node is _ABSENT:
            continue
        else:
            value = node  # an unknown block: its attributes are unknown
        if not plain or isinstance(value, UnknownValue):
            value = ctx.settle(change, values, f, value)
            if value is _ABSENT:
                continue
        if len(dst) == 1:
            data[dst[0]] = value
        else:
            target = data
            for part in dst[:-1]:
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    nxt = target[part] = {}
                target = nxt
            target[dst[-1]] = value
    if conv.build is not None:
        ctx.change = change
        conv.build(data, values, ctx)
    project = scope["project"]
    name = conv.name.format(**scope)
    location = conv.location.format(**scope) if conv.location else None
    ancestors = ctx.ancestors_of(project)
    if conv.tf_type == "google_project" and len(ancestors) == 1:
        # a project whose id is known only after apply still shows where it goes: its own
        # folder_id / org_id (else the folder's policies would silently read as none)
        above = _project_parent_node(values)
        if above is not None:
            ancestors = (*ancestors, above)
    # (built through its slots: see `new_asset`)
    return new_asset(name, conv.asset_type, data, None, (), None, ancestors,
                     location, f"//cloudresourcemanager.googleapis.com/projects/"
                               f"{ctx.project_numbers.get(project, project)}",
                     None, _new_source(ctx.plan.file, 0, change.address), None)


# `Source(file, line, address)` built through its slots, as the asset is
_new_source: Callable[..., Source] = slot_maker(Source)


# transforms used by the tables ---------------------------------------------------------------

def upper(value: Any, ctx: Context) -> Any:
    return value.upper() if isinstance(value, str) else value


def each(*fields: Field) -> Transform:
    """Map a list of Terraform blocks to a list of REST objects, field by field."""
    def mapper(value: Any, ctx: Context) -> Any:
        if not isinstance(value, list):
            return value
        change = ctx.change
        out = []
        for i, item in enumerate(value):
            if is_unknown(item):
                out.append(item)
                continue
            obj: dict[str, Any] = {}
            for f in fields:
                got = tf_get(item, f.src, _ABSENT)
                if got is _ABSENT:
                    continue
                if is_unknown(got) and f.ref is not None and change is not None:
                    got = ctx.resolve(change, f"{ctx.path}[{i}].{f.src}", True)
                if f.ref is not None and isinstance(got, str) and got and "/" not in got \
                        and change is not None:
                    got = _expand(f.ref, got, ctx.scope(change, ctx.values(change)))
                if f.fn is not None and not is_unknown(got):
                    got = f.fn(got, ctx)
                    if got is _ABSENT:  # the transform says the API shows no such field
                        continue
                set_path(obj, f.dst, got)
            out.append(obj)
        return out
    return mapper


def seconds(value: Any, ctx: Context) -> Any:
    """Terraform durations are strings like "7776000s" already; numbers become such strings."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{int(value)}s"
    return value


def as_int(value: Any, ctx: Context) -> Any:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def kv_items(value: Any, ctx: Context) -> Any:
    """A Terraform map (metadata) -> the REST `[{key, value}]` list."""
    if isinstance(value, dict):
        return [{"key": k, "value": v} for k, v in value.items()]
    return value
