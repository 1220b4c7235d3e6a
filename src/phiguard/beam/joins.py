"""Which joins of a rule pack the Beam engine keys, and the keys of each side.

A keyed join is done the Beam way, as request and response: each judged asset names the keys
of the join targets its rules may read (`asks`), each join target names the keys it answers
to (`offers`), and a group by key brings every asset exactly the targets that match one of its
keys. Each key is a pure filter of the local engine's join: whatever a rule's `let` finds
among all held assets, it finds among the assets delivered under the subject's keys (extra
targets delivered under another key never match), so findings stay the local engine's.

What each let form asks for (the subject's side) and offers (the target's side):

- `ref` / `refs`: the key of each reference at the path, in both project spellings / the
  target's name, selfLink and (a service account) email forms;
- `referrers`: the subject's own name keys, in both project spellings / the key of each
  reference at the path in the target's data;
- `find within: project`: the project id and number, on both sides;
- `find within: ancestry`: each ancestor of the subject and its project / the node the
  target's name sits under;
- `find` whose `where` requires `item.P equals Q` (Q read from the subject): Q's value / P's
  value (compared as `equals` compares: 1, 1.0 and true are one key).

Every other join (a `find` over all assets, `grants`, the hierarchy views) needs the whole
type: such a type is broadcast, and so is every type any unkeyable let joins to. A rule that
has a keyed join and also scans a broadcast type whole keeps its joins broadcast (its scan
would be redone for every asset), as does a rule judging directory users or every type (users
are judged on the broadcast part alone).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.inventory import Inventory, _account_keys
from phiguard.inventory.refs import ref_key
from phiguard.inventory.types import (
    HIERARCHY_TYPES,
    SOURCE_DEPENDENT_TYPES,
    extract,
    principals_of,
)
from phiguard.policy.compiler import (
    _KEY_TYPE,
    AssetView,
    CompiledRule,
    Env,
    _equality_key,
    _key_account,
    _owner_node,
)
from phiguard.policy.language import FORMAT_FIELD, LET_FORMS, let_kind, referrers_path
from phiguard.policy.paths import MISSING, Path, Unresolved, parse_path
from phiguard.policy.rule import Rule

__all__ = ["PER_PROJECT_TYPES", "Join", "KeyPlan", "asks", "name_keys", "offers", "plan_joins"]

# Types that exist once per project (Compute Engine's project metadata): every instance of the
# project would ask for the same one, so they are broadcast with the hierarchy (they grow with
# the projects, not the assets) instead of being copied to every asker.
PER_PROJECT_TYPES = frozenset({"compute.googleapis.com/Project"})
_SUBJECT_ROOTS = frozenset({"data", "asset", "iam_policy", "org_policy"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # facts and references never read the time


@dataclass(frozen=True)
class Join:
    """One keyed let: `kind` is ref, referrers, project, ancestry or equals."""

    kind: str
    types: tuple[str, ...]
    rule: str
    path: str = ""  # referrers: the path in the referrers' data
    # Paths as text (a parsed path's `[*]` is a sentinel object, which pickling would copy):
    subject: str = ""  # ref: the references; equals: Q
    item: str = ""  # equals: P (rooted at the find's variable)


@dataclass(frozen=True)
class KeyPlan:
    keyed: frozenset[str]  # join target types delivered by key (the rest is broadcast)
    rules: frozenset[str]  # rules with a keyed join: judged against the asset's own targets
    joins: tuple[Join, ...]
    # The grants of service accounts are delivered by key (to the service accounts and keys
    # judged) and only directory users' are broadcast: every `grants` let of the pack is in a
    # rule on users alone, or keyed.
    grants: bool = False

    def by_rule(self) -> dict[str, list[Join]]:
        out: dict[str, list[Join]] = {}
        for join in self.joins:
            out.setdefault(join.rule, []).append(join)
        return out

    def by_type(self) -> dict[str, list[Join]]:
        out: dict[str, list[Join]] = {}
        for join in self.joins:
            for t in join.types:
                out.setdefault(t, []).append(join)
        return out


def _roots_of(form: Mapping[str, Any]) -> set[str]:
    if "value" in form:
        return {parse_path(form["value"]).root}
    if "format" in form:
        return {parse_path(p).root for p in FORMAT_FIELD.findall(form["format"])}
    return {"?"}


def _subject_lets(rule: Rule) -> set[str]:
    """Lets whose value is read from the judged asset alone (value / format of its fields)."""
    found: set[str] = set()
    while True:
        more = {name for name, form in rule.let.items()
                if name not in found and ("value" in form or "format" in form)
                and _roots_of(form) <= _SUBJECT_ROOTS | {"params"} | found}
        if not more:
            return found
        found |= more


def _equality(where: Any, var: str) -> tuple[Path, Path] | None:
    """(P, Q) when `where` (or a conjunct of its top-level `all`) is `{path: <var>.P,
    equals: {path: Q}}` with Q not on the candidate: `where` can PASS only for a candidate
    whose P equals Q. The local engine's own test (`compiler._equality_key`), so both engines
    key the same finds (neither path may fan out: a `[*]` compares element by element)."""
    return _equality_key(where, var) if isinstance(where, Mapping) else None


def _join_of(rule: Rule, form: Mapping[str, Any], subject: set[str]) -> Join | None:
    kind = let_kind(form)
    types = tuple(LET_FORMS[kind].types_in(form))
    on_subject = _SUBJECT_ROOTS | subject
    if kind in ("ref", "refs"):
        path = parse_path(form[kind])
        return Join("ref", types, rule.id, subject=path.text) if path.root in on_subject \
            else None
    if kind == "referrers":
        return Join("referrers", types, rule.id, path=referrers_path(form["referrers"]))
    if kind == "grants":  # the bindings naming the subject (or a key's account), by member
        return Join("grants", (), rule.id)
    if kind != "find":
        return None
    spec = form["find"]
    within = spec.get("within", "all")
    if within in ("project", "ancestry"):
        return Join(within, types, rule.id)
    found = _equality(spec.get("where"), spec.get("as", "item"))
    if found is not None and found[1].root in on_subject:
        return Join("equals", types, rule.id, subject=found[1].text, item=found[0].text)
    return None


def plan_joins(rules: Iterable[Rule], context_types: Iterable[str],
               broadcast: Iterable[str] = ()) -> KeyPlan:
    """The keyed joins of these (enabled) rules; `broadcast`: types to broadcast anyway."""
    rules = list(rules)
    keyed = set(context_types) - HIERARCHY_TYPES - PER_PROJECT_TYPES - set(broadcast)
    lets: list[tuple[Rule, tuple[str, ...], Join | None, str]] = []
    users = set(SOURCE_DEPENDENT_TYPES) | {"*"}
    for rule in rules:
        subject = _subject_lets(rule)
        for form in rule.let.values():
            kind = let_kind(form)
            types = tuple(LET_FORMS[kind].types_in(form))
            join = _join_of(rule, form, subject)
            if kind == "grants":
                # `grants` looks a key's service account up (broadcast); on a rule judging
                # users, their grants come from the broadcast.
                keyed -= set(types)
                types = ()
                if users & set(rule.asset_types):
                    join = None
            lets.append((rule, types, join, kind))
    dropped: set[str] = set()  # rules whose keyed joins are undone
    while True:
        before, dropped_before = len(keyed), len(dropped)
        for _, types, join, _ in lets:
            if types and (join is None or not set(types) <= keyed):
                keyed -= set(types)
        for rule in rules:
            mine = [(types, join, kind) for r, types, join, kind in lets if r is rule]
            uses = [types for types, join, _ in mine if join is not None
                    and set(types) <= keyed]
            if not uses or rule.id in dropped:
                continue
            scans = any(kind == "org_domains" or (kind == "find" and (
                join is None or join.kind != "project") and not set(types) <= keyed)
                for types, join, kind in mine)
            if scans or users & set(rule.asset_types):
                dropped.add(rule.id)
                for types in uses:
                    keyed -= set(types)
        if len(keyed) == before and len(dropped) == dropped_before:
            break
    frozen = frozenset(keyed)
    joins = tuple(join for rule, types, join, _ in lets
                  if join is not None and rule.id not in dropped and set(types) <= frozen)
    # A `grants` let left unkeyed on a rule that may judge a service account: every grant
    # stays broadcast, as do those rules' grants joins.
    grants = all(set(rule.asset_types) <= set(SOURCE_DEPENDENT_TYPES)
                 or any(j.rule == rule.id and j.kind == "grants" for j in joins)
                 for rule, _, _, kind in lets if kind == "grants")
    if not grants:
        joins = tuple(j for j in joins if j.kind != "grants")
    return KeyPlan(frozen, frozenset(j.rule for j in joins), joins,
                   grants and any(j.kind == "grants" for j in joins))


# keys ---------------------------------------------------------------------------------------


def name_keys(asset: Asset) -> set[str]:
    """Every key a held asset is found by (`Inventory.lookup`)."""
    keys = {ref_key(asset.name)}
    link = asset.data.get("selfLink")
    if isinstance(link, str):
        keys.add(ref_key(link))
    keys.update(_account_keys(asset))
    return keys


def _spelled(inv: Inventory, keys: Iterable[str]) -> set[str]:
    out = set(keys)
    out |= {alt for key in out for alt in inv._project_spellings(key)}
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _canon(value: Any) -> Any:
    """A form of a JSON value equal for values Python finds equal (`==`: 1, 1.0 and True)."""
    if isinstance(value, bool | int | float):
        try:
            return ["n", float(value)]
        except OverflowError:
            return ["n", str(value)]
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ["d", sorted([str(k), _canon(v)] for k, v in value.items())]
    if isinstance(value, list):
        return ["l", [_canon(v) for v in value]]
    return ["?", repr(value)]


def _value_key(value: Any) -> str | None:
    if value is MISSING or value is None or isinstance(value, UnknownValue | Unresolved):
        return None
    try:
        return orjson.dumps(_canon(value)).decode()
    except TypeError:
        return None


def _facts_keys(inv: Inventory, asset: Asset) -> set[str]:
    facts = inv.facts(asset)
    return {k for k in (facts["project"], facts["project_number"]) if k}


def offers(inv: Inventory, joins: Iterable[Join], asset: Asset) -> set[tuple[str, ...]]:
    """The keys a join target answers to, for the keyed joins naming its type."""
    out: set[tuple[str, ...]] = set()
    t = asset.asset_type
    for join in joins:
        if join.kind == "ref":
            out.update(("r", key) for key in name_keys(asset))
        elif join.kind == "referrers":
            out.update(("f", t, join.path, ref_key(v)) for v in extract(asset.data, join.path)
                       if isinstance(v, str))
        elif join.kind == "project":
            out.update(("p", t, key) for key in _facts_keys(inv, asset))
        elif join.kind == "ancestry":
            out.add(("n", t, _owner_node(asset.name)))
        elif join.kind == "equals":
            item = _parsed(join.item)
            view = AssetView(asset, inv)
            env = Env(view, inv, _EPOCH, {}, {})
            env.vars[item.root] = (view, item.root)
            key = _value_key(env.resolve(item)[0])
            if key is not None:
                out.add(("e", t, _item_text(join.item), key))
    return out


_PATHS: dict[str, Path] = {}


def _parsed(text: str) -> Path:
    path = _PATHS.get(text)
    if path is None:
        path = _PATHS[text] = parse_path(text)
    return path


def _item_text(text: str) -> str:
    return text.partition(".")[2]


def asks(inv: Inventory, joins: Iterable[Join], rules: Mapping[str, CompiledRule],
         asset: Asset, now: datetime) -> set[tuple[str, ...]]:
    """The keys of the join targets a judged asset's rules may read."""
    out: set[tuple[str, ...]] = set()
    view = AssetView(asset, inv)
    envs: dict[str, Env] = {}

    def resolve(join: Join) -> Any:
        env = envs.get(join.rule)
        if env is None:
            rule = rules[join.rule]
            env = envs[join.rule] = Env(view, inv, now, rule.params, rule.lets)
        return env.resolve(_parsed(join.subject))[0]

    for join in joins:
        if join.kind == "ref":
            out.update(("r", key) for key in _spelled(
                inv, (ref_key(r) for r in _strings(resolve(join)))))
        elif join.kind == "referrers":
            keys = _spelled(inv, name_keys(asset))
            out.update(("f", t, join.path, key) for t in join.types for key in keys)
        elif join.kind == "project":
            facts = view.facts()
            out.update(("p", t, key) for t in join.types
                       for key in (facts["project"], facts["project_number"]) if key)
        elif join.kind == "ancestry":
            facts = view.facts()
            nodes = set(asset.ancestors)
            nodes |= {f"projects/{k}" for k in (facts["project"], facts["project_number"])
                      if k}
            out.update(("n", t, node) for t in join.types for node in nodes)
        elif join.kind == "equals":
            key = _value_key(resolve(join))
            if key is not None:
                out.update(("e", t, _item_text(join.item), key) for t in join.types)
        elif join.kind == "grants":
            account: Asset | UnknownValue = asset
            if asset.asset_type == _KEY_TYPE:  # a key's grants are its service account's
                account = _key_account(asset, inv)
            if isinstance(account, Asset):
                out.update(("g", member) for member in principals_of(account.asset_type,
                                                                     account.data))
    return out
