"""Which fields of joined assets the rules read, so the Inventory holds only those.

A scan keeps every asset of a joined type in memory (all snapshots, because BAK-004 looks for
a disk's snapshots). Most of each body is never read: a snapshot is joined for `sourceDisk`,
`status` and `creationTimestamp`. This walks every rule's paths, follows `let` joins and the
quantifier variables bound to them, and returns the top-level `data` keys each joined type
needs. A type read in a way the walk cannot follow keeps its whole body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from phiguard.inventory.types import HIERARCHY_TYPES, NETWORK_PATHS
from phiguard.policy.language import FORMAT_FIELD
from phiguard.policy.paths import ALL, Path, parse_path
from phiguard.policy.rule import Rule

__all__ = ["ALWAYS_KEPT", "context_fields"]

# Read by phiguard itself: the reference key, the location, what names a service account.
# (Project labels and ids come from the hierarchy types, which are always kept whole.)
ALWAYS_KEPT = frozenset({"selfLink", "name", "region", "zone", "location", "email"})

Scope = Mapping[str, frozenset[str]]


class _Fields:
    def __init__(self) -> None:
        self.keys: dict[str, set[str]] = {}
        self.whole: set[str] = set()

    def joined(self, types: Iterable[str]) -> None:
        for t in types:
            self.keys.setdefault(t, set())

    def read(self, types: Iterable[str], path_after_asset: tuple[Any, ...]) -> None:
        """A path read below a joined asset: (`data`, key, ...) marks `key` needed."""
        segments = list(path_after_asset)
        if not segments or segments[0] != "data":
            return  # `asset`, `iam_policy`, `org_policy` or the whole asset: envelope only
        if len(segments) < 2 or not isinstance(segments[1], str):
            self.whole.update(types)  # the whole body, or a fan-out over it
            return
        for t in types:
            self.keys.setdefault(t, set()).add(segments[1])


def _strip_fanout(path: Path) -> tuple[Any, ...]:
    """Segments after leading `[*]` / `[N]` (an element of a joined list is an asset too)."""
    segments = path.segments
    i = 0
    while i < len(segments) and (segments[i] is ALL or isinstance(segments[i], int)):
        i += 1
    return segments[i:]


def _visit_path(text: str, scope: Scope, out: _Fields) -> None:
    path = parse_path(text)
    types = scope.get(path.root)
    if types is not None:
        out.read(types, _strip_fanout(path))


def _visit(node: Any, scope: Scope, out: _Fields) -> None:
    if isinstance(node, list):
        for child in node:
            _visit(child, scope, out)
        return
    if not isinstance(node, dict):
        return
    inner = scope
    if "path" in node and isinstance(node["path"], str):
        _visit_path(node["path"], scope, out)
        for quant in ("some", "every", "none"):
            if quant in node:
                var = node.get("as", "item")
                path = parse_path(node["path"])
                elements = scope.get(path.root)
                if elements is not None and not _strip_fanout(path):
                    inner = {**scope, var: elements}
                else:
                    inner = {k: v for k, v in scope.items() if k != var}
    for key, value in node.items():
        if key == "path":
            continue
        if isinstance(value, dict) and set(value) == {"path"} and isinstance(value["path"], str):
            _visit_path(value["path"], scope, out)
        else:
            _visit(value, inner, out)


def _rule_fields(rule: Rule, out: _Fields) -> None:
    scope: dict[str, frozenset[str]] = {}
    for name, form in rule.let.items():
        for kind in ("referrers", "find"):
            if kind in form:
                out.joined(form[kind]["types"])
        if "types" in form:
            out.joined(form["types"])
        if "ref" in form or "refs" in form:
            _visit_path(form.get("ref") or form["refs"], scope, out)
            scope[name] = frozenset(form["types"])
        elif "referrers" in form:
            spec = form["referrers"]
            types = frozenset(spec["types"])
            path = spec["path"]
            path = path if path.startswith("data.") else f"data.{path}"
            out.read(types, parse_path(f"x.{path}").segments)
            scope[name] = types
        elif "find" in form:
            spec = form["find"]
            types = frozenset(spec["types"])
            if "where" in spec:
                _visit(spec["where"], {**scope, spec.get("as", "item"): types}, out)
            scope[name] = types
        elif "value" in form:
            path = parse_path(form["value"])
            if path.root in scope and not _strip_fanout(path):
                scope[name] = scope[path.root]  # another name for the same joined assets
            else:
                _visit_path(form["value"], scope, out)
        elif "format" in form:
            for field_path in FORMAT_FIELD.findall(form["format"]):
                _visit_path(field_path, scope, out)
    for node in (rule.when, rule.assert_):
        if node is not None:
            _visit(node, scope, out)
    for path_text in rule.evidence:
        _visit_path(path_text, scope, out)


def context_fields(rules: Iterable[Rule]) -> dict[str, frozenset[str] | None]:
    """For every joined asset type, the top-level `data` keys to keep (None: keep it all)."""
    out = _Fields()
    for rule in rules:
        _rule_fields(rule, out)
    result: dict[str, frozenset[str] | None] = {}
    for asset_type in set(out.keys) | out.whole:
        if asset_type in out.whole or asset_type in HIERARCHY_TYPES:
            result[asset_type] = None
            continue
        network = {p.split(".", 1)[0].removesuffix("[*]")
                   for p in NETWORK_PATHS.get(asset_type, ())}
        result[asset_type] = frozenset(out.keys[asset_type] | ALWAYS_KEPT | network)
    return result
