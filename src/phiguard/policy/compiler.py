"""Compile validated rules into closures, and evaluate them against one asset at a time.

Three-valued logic throughout: PASS, FAIL, UNKNOWN. A leaf whose path is absent (and has no
default), passes through an unresolved reference, or meets a value known only after apply is
UNKNOWN; `all` fails if any child fails, `any` passes if any child passes, UNKNOWN otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from phiguard.inventory.asset import USER_TYPE, Asset, UnknownValue
from phiguard.inventory.coverage import (
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    PartialItems,
    judge_partial,
)
from phiguard.inventory.inventory import Inventory, MaybeItems, MaybeMember
from phiguard.inventory.refs import ref_key
from phiguard.inventory.types import ORG_TYPE, principals_of
from phiguard.policy.language import (
    LET_FORMS,
    QUANTIFIERS,
    joined_types,
    let_kind,
    referrers_path,
)
from phiguard.policy.operators import OPERATORS
from phiguard.policy.paths import (
    ALL,
    MISSING,
    Path,
    Unresolved,
    _suffix,
    misshapen,
    parse_path,
    walk,
)
from phiguard.policy.rule import Rule

__all__ = ["FAIL", "PASS", "UNKNOWN", "CompiledRule", "Env", "compile_rule"]

PASS, FAIL, UNKNOWN = 1, 0, 2
MAX_EVIDENCE = 40
Result = tuple[int, list[str]]
Cond = Callable[["Env"], Result]
_NO_REASONS: list[str] = []


class AssetView:
    """An asset as rules see it: `data`, `iam_policy`, `org_policy`, `asset` (derived facts)."""

    __slots__ = ("_facts", "asset", "data", "inv", "resolved", "shared")

    def __init__(self, asset: Asset, inv: Inventory) -> None:
        self.asset = asset
        self.inv = inv
        self._facts: dict[str, Any] | None = None
        # Paths of this asset resolved so far, by text (see `resolver`).
        self.resolved: dict[str, tuple[Any, str]] = {}
        # Values of lets that several rules declare alike (see `_per_asset`), by form.
        self.shared: dict[str, Any] = {}
        # The `data` root, decided once per view (rules read it more than anything else).
        content = asset.content
        self.data: Any = (asset.data if content is None or RESOURCE in content
                          else inv.content_gap(RESOURCE, asset))

    def facts(self) -> dict[str, Any]:
        if self._facts is None:
            self._facts = self.inv.facts(self.asset)
        return self._facts

    def field(self, key: str) -> Any:
        # Content the snapshot does not hold for this asset is an unknown value, never an empty
        # one: no resource record is not "no settings", no IAM export is not "no bindings".
        if key == "data":
            return self.data
        if key == "asset":
            return self.facts()
        if key == "iam_policy":
            if self.asset.iam_policy is not None:
                return self.asset.iam_policy
            return self.inv.content_gap(IAM_POLICY, self.asset) or MISSING
        if key == "org_policy":
            if self.asset.org_policy:
                return list(self.asset.org_policy)
            return self.inv.content_gap(ORG_POLICY, self.asset) or []
        if key in ("name", "asset_type"):
            return getattr(self.asset, key)
        return MISSING

    def __repr__(self) -> str:
        return f"<asset {self.asset.name}>"


def _get(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        got = value.get(key, MISSING)
        return MISSING if got is None else got
    if isinstance(value, AssetView):
        return value.field(key)
    return MISSING


class Env:
    """One evaluation of one rule on one asset: names in scope, evidence collected."""

    __slots__ = ("blame", "ctx", "evidence", "inv", "let_cache", "lets", "now", "params",
                 "subject", "vars")

    def __init__(self, subject: AssetView, inv: Inventory, now: datetime,
                 params: Mapping[str, Any], lets: Mapping[str, Callable[[Env], Any]]) -> None:
        self.subject = subject
        self.inv = inv
        self.now = now
        self.params = params
        self.lets = lets
        self.let_cache: dict[str, Any] = {}
        self.vars: dict[str, tuple[Any, str]] = {}
        self.evidence: dict[str, Any] = {}
        # What made the verdict FAIL, innermost first: (concrete path, value) of each failing
        # leaf and of each list element a quantifier failed on. Conditions that do not FAIL
        # take back what their children added, so after a FAIL only the deciding parts remain.
        self.blame: list[tuple[str, Any]] = []

    # EvalContext for operators
    def network_is_phi(self, ref: str) -> bool:
        return self.inv.scope.network_is_phi(ref)

    def project_is_phi(self, key: str) -> bool:
        return self.inv.scope.project_is_phi(key)

    def root(self, name: str) -> tuple[Any, str]:
        bound = self.vars.get(name)
        if bound is not None:
            return bound
        if name in self.lets:
            if name not in self.let_cache:
                self.let_cache[name] = self.lets[name](self)
            return self.let_cache[name], name
        if name == "params":
            return self.params, name
        return self.subject.field(name), name

    def resolve(self, path: Path) -> tuple[Any, str]:
        value, prefix = self.root(path.root)
        segments = path.segments
        if not segments:
            return value, prefix
        keys = path.keys_only
        if keys is not None and type(value) is dict:
            # The common case, a chain of JSON object keys, without the general walk.
            for i, seg in enumerate(segments):
                got = value.get(seg)
                if got is None:
                    return MISSING, prefix + keys[i]
                value = got
                if type(value) is not dict and i + 1 < len(segments):
                    return walk(value, prefix + keys[i], segments[i + 1:], _get)
            return value, prefix + keys[-1]
        return walk(value, prefix, segments, _get)

    def record(self, path: str, value: Any, *, always: bool = False) -> None:
        """Keep the first value seen at a concrete path; `always` ignores the size cap (the
        rule's declared `evidence` must not be crowded out by a long list's elements)."""
        if path not in self.evidence and (always or len(self.evidence) < MAX_EVIDENCE):
            self.evidence[path] = value


Resolver = Callable[[Env], tuple[Any, str]]
_SUBJECT_FIELDS = frozenset({"data", "iam_policy", "org_policy", "asset"})


def resolver(path: Path, consts: frozenset[str] = frozenset(),
             lets: frozenset[str] = frozenset()) -> Resolver:
    """`Env.resolve` of one path, specialised when the path is compiled: a root that names the
    asset itself or the parameters is never shadowed (let names and quantifier variables cannot
    be roots), so it is fetched directly; a chain of object keys is walked without the general
    `walk`; a root in `lets` (the rule's lets that nothing binds) is read from the let cache.
    Gives exactly what `Env.resolve(path)` gives."""
    root, segments, keys = path.root, path.segments, path.keys_only
    n = len(segments)
    full = root + keys[-1] if keys else root
    prefixes = tuple(root + k for k in keys) if keys is not None else ()
    if root in consts:
        # Read through a let computed once per scan: the same value for every asset too.
        cell: list[Any] = [None, None]

        def constant(env: Env) -> tuple[Any, str]:
            if cell[0] is not env.inv:
                cell[1] = env.resolve(path)
                cell[0] = env.inv
            return cell[1]  # type: ignore[no-any-return]
        return constant

    def finish(value: Any) -> tuple[Any, str]:
        # The general case of `Env.resolve` after the root.
        if not segments:
            return value, root
        if keys is not None and type(value) is dict:
            for i, seg in enumerate(segments):
                got = value.get(seg)
                if got is None:
                    return MISSING, prefixes[i]
                value = got
                if type(value) is not dict and i + 1 < n:
                    return walk(value, prefixes[i], segments[i + 1:], _get)
            return value, full
        return walk(value, root, segments, _get)

    if root == "data" and keys is not None and n == 1:
        (key,) = segments

        def data_key(env: Env) -> tuple[Any, str]:
            value = env.subject.data
            if type(value) is dict:
                got = value.get(key)
                return (MISSING if got is None else got), full
            return walk(value, root, segments, _get)
        return data_key
    if root == "data" and keys is not None and n:
        def data_keys(env: Env) -> tuple[Any, str]:
            value = env.subject.data
            if type(value) is dict:
                for i, seg in enumerate(segments):
                    got = value.get(seg)
                    if got is None:
                        return MISSING, prefixes[i]
                    value = got
                    if type(value) is not dict and i + 1 < n:
                        return walk(value, prefixes[i], segments[i + 1:], _get)
                return value, full
            return walk(value, root, segments, _get)
        return data_keys
    if root in _SUBJECT_FIELDS and keys is None:
        # A walk through lists (`data.nics[*].network`): several rules of a type read the
        # same ones, so each asset's view keeps what it resolved.
        text = path.text

        def cached(env: Env) -> tuple[Any, str]:
            view = env.subject
            found = view.resolved.get(text)
            if found is None:
                found = view.resolved[text] = finish(view.field(root))
            return found
        return cached
    if root in _SUBJECT_FIELDS:
        return lambda env: finish(env.subject.field(root))
    if root == "params":
        return lambda env: finish(env.params)
    if root in lets:
        # A let of the rule that nothing binds (see `compile_rule`): `Env.root` reads it from
        # the rule's let cache, and so does this, without the calls in between.
        def let_root(env: Env) -> tuple[Any, str]:
            cache = env.let_cache
            if root in cache:
                return finish(cache[root])
            value = cache[root] = env.lets[root](env)
            return finish(value)
        return let_root

    def named(env: Env) -> tuple[Any, str]:
        bound = env.vars.get(root)
        if bound is not None:
            value, prefix = bound
            if not segments:
                return value, prefix
            if keys is not None and type(value) is dict:
                for i, seg in enumerate(segments):
                    got = value.get(seg)
                    if got is None:
                        return MISSING, prefix + keys[i]
                    value = got
                    if type(value) is not dict and i + 1 < n:
                        return walk(value, prefix + keys[i], segments[i + 1:], _get)
                return value, prefix + keys[-1]
            return walk(value, prefix, segments, _get)
        return env.resolve(path)
    return named


def evidence_value(value: Any) -> Any:
    """A JSON-safe rendering of a value for evidence."""
    if value is MISSING:
        return None
    if isinstance(value, AssetView):
        return value.asset.name
    if isinstance(value, Unresolved):
        return f"<not in snapshot: {value.ref}>"
    if isinstance(value, UnknownValue):
        if type(value) is PartialItems:  # the items known, then why more may exist
            return [*(evidence_value(v) for v in value.items[:49]), f"<{value.why}>"]
        return f"<{value.why}>"
    if isinstance(value, list):
        return [evidence_value(v) for v in value[:50]]
    if isinstance(value, dict):
        return {k: evidence_value(v) for k, v in list(value.items())[:50]}
    return value


class _Why:
    """A leaf's failure reason, formatted only if a message needs it (most are discarded)."""

    __slots__ = ("arg", "cpath", "op", "value")

    def __init__(self, cpath: str, value: Any, op: str, arg: Any) -> None:
        self.cpath, self.value, self.op, self.arg = cpath, value, op, arg

    def __str__(self) -> str:
        if self.op == "":
            return f"{self.cpath} = {_short(self.value)} cannot be judged by `{self.arg}`"
        return f"{self.cpath} is {_short(self.value)}; expected {self.op} {_short(self.arg)}"


def _short(value: Any) -> str:
    text = repr(evidence_value(value))
    return text if len(text) <= 120 else text[:117] + "..."


def _blocked(value: Any, cpath: str) -> Result | None:
    if isinstance(value, Unresolved):
        return UNKNOWN, [f"{cpath}: {value.ref} is not in the snapshot"]
    if isinstance(value, UnknownValue):
        return UNKNOWN, [f"{cpath} is {value.why}"]
    return None


def _arg_getter(arg: Any, consts: frozenset[str] = frozenset()) -> Callable[[Env], Any]:
    if isinstance(arg, dict) and set(arg) == {"param"}:
        name = arg["param"]
        return lambda env: env.params.get(name, MISSING)
    if isinstance(arg, dict) and set(arg) == {"path"}:
        resolve = resolver(parse_path(arg["path"]), consts)

        def from_path(env: Env) -> Any:
            value, cpath = resolve(env)
            env.record(cpath, value)
            return value
        return from_path
    return lambda env: arg


_BLOCKING = (Unresolved, UnknownValue)

# The comparisons a value of another JSON type than Google's always decides the same way (it
# differs from every literal), with the verdict their operator gives then.
DIFFERS = {"equals": False, "in": False, "not_equals": True, "not_in": True}


def other_type(value: Any, arg: Any, op_name: str) -> bool:
    """Whether `value`'s type is none of the argument's (`in`: of its elements)."""
    if op_name in ("in", "not_in"):
        return isinstance(arg, list) and all(type(value) is not type(a) for a in arg)
    return type(value) is not type(arg)


def mistyped(env: Env, cpath: str, value: Any) -> str | None:
    """Why a compared value is not of the JSON type Google defines at `cpath` (None: it is,
    or nothing says). Asked only when the comparison found it different and of another type
    than the argument, so the table behind it (and its module) is read only then."""
    from phiguard.policy import field_types

    return field_types.mistyped(env.subject.asset.asset_type, cpath, value)


def defaulted_path(path: Path) -> Callable[[str], str]:
    """The concrete path a leaf's default stands for, from where the walk found nothing: the
    walk stops at the first absent key (`data.serviceConfig`), the default is the value of the
    whole path (`data.serviceConfig.ingressSettings`). The walk's concrete path is its root's
    (the root's name, or a list element's `...[i]`) and then the segments it took, so the
    segments it did not take are found from the end."""
    taken: list[tuple[str, str]] = []  # (text of segments[:i+1], text of segments[i+1:])
    segments, text = path.segments, ""
    for i, seg in enumerate(segments):
        if seg is ALL:
            break  # a fan-out gives a list, never an absent value
        text += _suffix(seg)
        rest = "".join("[*]" if s is ALL else _suffix(s) for s in segments[i + 1:])
        taken.append((text, rest))
    taken.reverse()
    root = path.root

    def full(cpath: str) -> str:
        for text, rest in taken:
            if cpath.endswith(text):
                head = cpath[:-len(text)]
                if head == root or head.endswith("]"):
                    return cpath + rest
        return cpath
    return full


def _compile_leaf(node: Mapping[str, Any], consts: frozenset[str] = frozenset()) -> Cond:
    path = parse_path(node["path"])
    (op_name,) = set(node) - {"path", "default", "because"}
    op = OPERATORS[op_name]
    fn, judges_absence = op.fn, op.judges_absence
    default = node.get("default", MISSING)
    because = node.get("because")
    raw_arg = node[op_name]
    get_arg = _arg_getter(raw_arg, consts)
    resolve = resolver(path, consts)
    full_path = defaulted_path(path)
    # (None: an operator the type of the value does not decide alone)
    differs = DIFFERS.get(op_name) if op.origin == "" else None
    cap = MAX_EVIDENCE

    def partial(env: Env, value: PartialItems, cpath: str) -> Result:
        # A list known in part (`PartialItems`): what its known elements decide stands.
        arg = get_arg(env)
        verdict = (None if arg is MISSING or isinstance(arg, _BLOCKING)
                   else judge_partial(op_name, fn, value, arg, env))
        if verdict is None:
            return _blocked(value, cpath)  # type: ignore[return-value]
        if verdict:
            return PASS, _NO_REASONS
        env.blame.append((cpath, value.items))
        return FAIL, [because or _Why(cpath, value.items, op_name, arg)]  # type: ignore[list-item]

    def leaf(env: Env) -> Result:
        value, cpath = resolve(env)
        if value is MISSING and default is not MISSING:
            value, cpath = default, full_path(cpath)
        evidence = env.evidence
        if cpath not in evidence and len(evidence) < cap:
            evidence[cpath] = value
        if isinstance(value, _BLOCKING):
            if type(value) is PartialItems:
                return partial(env, value, cpath)
            return _blocked(value, cpath)  # type: ignore[return-value]
        if value is MISSING and not judges_absence:
            return UNKNOWN, [f"{cpath} is absent"]
        arg = get_arg(env)
        if arg is MISSING or isinstance(arg, _BLOCKING):
            why = f": {arg.why.removeprefix('unknown: ')}" if isinstance(arg, UnknownValue) else ""
            return UNKNOWN, [f"the value compared with {cpath} is not known{why}"]
        verdict = fn(value, arg, env)
        if verdict is None:
            return UNKNOWN, [_Why(cpath, value, "", op_name)]  # type: ignore[list-item]
        if verdict is differs and other_type(value, arg, op_name):
            shape = mistyped(env, cpath, value)
            if shape is not None:
                return UNKNOWN, [shape]
        if verdict:
            return PASS, _NO_REASONS
        env.blame.append((cpath, value))
        return FAIL, [because or _Why(cpath, value, op_name, arg)]  # type: ignore[list-item]

    if _is_literal(raw_arg):
        # A literal argument is known when the rule compiles: no getter, no check per call.
        def literal_leaf(env: Env) -> Result:
            value, cpath = resolve(env)
            if value is MISSING and default is not MISSING:
                value, cpath = default, full_path(cpath)
            evidence = env.evidence
            if cpath not in evidence and len(evidence) < cap:
                evidence[cpath] = value
            if isinstance(value, _BLOCKING):
                if type(value) is PartialItems:
                    return partial(env, value, cpath)
                return _blocked(value, cpath)  # type: ignore[return-value]
            if value is MISSING and not judges_absence:
                return UNKNOWN, [f"{cpath} is absent"]
            verdict = fn(value, raw_arg, env)
            if verdict is None:
                return UNKNOWN, [_Why(cpath, value, "", op_name)]  # type: ignore[list-item]
            if verdict is differs and other_type(value, raw_arg, op_name):
                shape = mistyped(env, cpath, value)
                if shape is not None:
                    return UNKNOWN, [shape]
            if verdict:
                return PASS, _NO_REASONS
            env.blame.append((cpath, value))
            return FAIL, [because or _Why(cpath, value, op_name, raw_arg)]  # type: ignore[list-item]
        return literal_leaf
    return leaf


def _is_literal(arg: Any) -> bool:
    """An operator argument that is neither `{param: ...}` nor `{path: ...}`."""
    return not (isinstance(arg, dict) and set(arg) in ({"param"}, {"path"}))


def _compile_quantifier(node: Mapping[str, Any], quant: str,
                        consts: frozenset[str] = frozenset()) -> Cond:
    path = parse_path(node["path"])
    var = node.get("as", "item")
    child = compile_condition(node[quant], consts)
    because = node.get("because")
    default = node.get("default", MISSING)

    resolve = resolver(path, consts)

    def quantifier(env: Env) -> Result:
        value, cpath = resolve(env)
        if value is MISSING:
            value = default if default is not MISSING else []
        more = None  # why more elements than those judged may exist (`PartialItems`)
        if type(value) is MaybeItems:
            value = value.items  # each element a MaybeMember, judged below
        elif type(value) is PartialItems:
            more, value = value.why, value.items
        blocked = _blocked(value, cpath)
        if blocked:
            return blocked
        if not isinstance(value, list):
            env.record(cpath, value)
            return UNKNOWN, [f"{cpath} is not a list"]
        if not value:
            env.record(cpath, [])
        saved = env.vars.get(var)
        unknown: list[str] = []
        blame = env.blame
        start = len(blame)
        try:
            for i, item in enumerate(value):
                if type(item) is MaybeMember:
                    # An element only if what is not known holds: it decides nothing.
                    env.vars[var] = (item.value, f"{cpath}[{i}]")
                    verdict, reasons = child(env)
                    del blame[start:]
                    if verdict == UNKNOWN:
                        unknown.extend(reasons[:1])
                    elif verdict == (FAIL if quant == "every" else PASS):
                        unknown.append(f"{cpath}[{i}] is {item.why}")
                    continue
                env.vars[var] = (item, f"{cpath}[{i}]")
                verdict, reasons = child(env)
                if verdict == UNKNOWN:
                    unknown.extend(reasons[:1])
                elif quant == "some" and verdict == PASS:
                    del blame[start:]
                    return PASS, _NO_REASONS
                elif quant == "every" and verdict == FAIL:
                    blame.append((f"{cpath}[{i}]", item))
                    return FAIL, [because] if because else reasons
                elif quant == "none" and verdict == PASS:
                    del blame[start:]
                    blame.append((f"{cpath}[{i}]", item))
                    return FAIL, [because or f"{cpath}[{i}] matches a forbidden condition"]
                del blame[start:]
        finally:
            if saved is None:
                env.vars.pop(var, None)
            else:
                env.vars[var] = saved
        if more is not None:
            unknown.append(f"{cpath} is {more}")
        if unknown:
            return UNKNOWN, unknown
        if quant == "some":
            blame.append((cpath, value))
            return FAIL, [because or f"no element of {cpath} satisfies the condition"]
        return PASS, _NO_REASONS
    return quantifier


def compile_condition(node: Mapping[str, Any], consts: frozenset[str] = frozenset()) -> Cond:
    """Turn a validated condition mapping into a closure over an `Env`. `consts`: let names
    whose value is the same for every asset (see `resolver`)."""
    because = node.get("because")
    if "all" in node or "any" in node:
        is_all = "all" in node
        children = [compile_condition(c, consts) for c in node["all" if is_all else "any"]]

        def all_of(env: Env) -> Result:
            unknown: list[str] | None = None
            blame = env.blame
            start = len(blame)
            for child in children:
                mark = len(blame)
                verdict, reasons = child(env)
                if verdict == FAIL:
                    del blame[start:mark]  # what earlier, unknown children left behind
                    return FAIL, [because] if because else reasons
                if verdict == UNKNOWN:
                    if unknown is None:
                        unknown = []
                    unknown.extend(reasons)
                    del blame[mark:]
            if unknown:
                del blame[start:]
                return UNKNOWN, unknown
            return PASS, _NO_REASONS

        def any_of(env: Env) -> Result:
            unknown: list[str] | None = None
            failed: list[str] = []
            blame = env.blame
            start = len(blame)
            for child in children:
                mark = len(blame)
                verdict, reasons = child(env)
                if verdict == PASS:
                    del blame[start:]
                    return PASS, _NO_REASONS
                if verdict == UNKNOWN:
                    if unknown is None:
                        unknown = []
                    unknown.extend(reasons)
                    del blame[mark:]
                elif verdict == FAIL:
                    failed.extend(reasons)
            if unknown:
                del blame[start:]
                return UNKNOWN, unknown
            return FAIL, [because] if because else failed
        return all_of if is_all else any_of
    if "not" in node:
        child = compile_condition(node["not"], consts)
        inner = node["not"]
        # A negated leaf fails on the value it passed for: that value is what to show.
        leaf_path = resolver(parse_path(inner["path"]), consts) if "path" in inner and not any(
            q in inner for q in QUANTIFIERS) else None

        def negate(env: Env) -> Result:
            start = len(env.blame)
            verdict, reasons = child(env)
            del env.blame[start:]
            if verdict == PASS:
                if leaf_path is not None:
                    env.blame.append(leaf_path(env)[::-1])
                return FAIL, [because or "a forbidden condition holds"]
            if verdict == FAIL:
                return PASS, _NO_REASONS
            return UNKNOWN, reasons
        return negate
    for quant in QUANTIFIERS:
        if quant in node:
            return _compile_quantifier(node, quant, consts)
    return _compile_leaf(node, consts)


# let forms ------------------------------------------------------------------------------------

LetFn = Callable[[Env], Any]


def _let_ref(form: Mapping[str, Any], many: bool) -> LetFn:
    resolve = resolver(parse_path(form["refs" if many else "ref"]))
    types = tuple(form["types"])

    def one(env: Env, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref:
            return MISSING
        asset = env.inv.lookup(ref, types)
        return AssetView(asset, env.inv) if asset is not None else Unresolved(ref)

    def ref_fn(env: Env) -> Any:
        value, cpath = resolve(env)
        env.record(cpath, value)
        if value is MISSING or _blocked(value, cpath):
            return [] if many and value is MISSING else value
        if many:
            return [one(env, r) for r in (value if isinstance(value, list) else [value])]
        return one(env, value)
    return ref_fn


def _let_referrers(form: Mapping[str, Any]) -> LetFn:
    spec = form["referrers"]
    types, path = tuple(spec["types"]), referrers_path(spec)

    def referrers(env: Env) -> Any:
        inv = env.inv
        subject = env.subject.asset
        # No asset of a type the snapshot may not hold is not "none refers to it" (unless the
        # subject is new: what refers to it is new too, so declared where it is).
        gap = _types_gap(inv, types, None)
        found = [AssetView(a, inv) for a in inv.referrers(types, path, subject)]
        if gap is not None and subject.name not in inv.coverage.new:
            # those of the types collected are referrers; others may exist
            return (PartialItems(gap.why, found) if inv.coverage.known_in_part(types, None)
                    else gap)
        return found
    return referrers


def _types_gap(inv: Inventory, types: tuple[str, ...],
               nodes: tuple[str, ...] | None) -> UnknownValue | None:
    """Why assets of these types may exist that the snapshot does not hold: a type not known
    to be collected (`Coverage.type_gap`), or resources not collected below one of `nodes`
    (the subject's ancestry; None: anywhere, as the candidates may be anywhere)."""
    coverage = inv.coverage
    gap = coverage.type_gap(types)
    if gap is None and RESOURCE in coverage.gaps:
        gap = (coverage.gap_anywhere(RESOURCE) if nodes is None
               else coverage.gap_for(RESOURCE, nodes))
    return gap


def _owner_node(name: str) -> str:
    parts = ref_key(name).split("/")
    return "/".join(parts[:2])


Generator = Callable[[Mapping[str, Any], frozenset[str], str, frozenset[str]], Cond]
# How rules' conditions are compiled: the closures of `compile_condition`, unless
# `phiguard.policy.codegen` (which the engine imports) has installed its generated form with
# `use_generated`. A hook, so that codegen, which builds on this module, is not imported back.
_generators: list[Generator] = []


def use_generated(generate: Generator) -> None:
    _generators[:] = [generate]


def _condition(node: Mapping[str, Any], consts: frozenset[str] = frozenset(),
               name: str = "condition", lets: frozenset[str] = frozenset()) -> Cond:
    if _generators:
        return _generators[0](node, consts, name, lets)
    return compile_condition(node, consts)


def ready(cond: Cond) -> Cond:
    """The function a condition runs: a generated one compiled now (see codegen), as is
    otherwise."""
    compiled: Callable[[], Cond] | None = getattr(cond, "compiled", None)
    return compiled() if compiled is not None else cond


def _let_find(form: Mapping[str, Any]) -> LetFn:
    spec = form["find"]
    types = tuple(spec["types"])
    within = spec.get("within", "all")
    var = spec.get("as", "item")
    lazy_where = _condition(spec["where"], name="find where") if "where" in spec else None
    where: Cond | None = None
    one = bool(spec.get("one", False))
    # `uncollected: none`: the assets the snapshot holds, even of a type it does not say it
    # collected or owned by ancestors it lacks (a join that can only take a failure away, such
    # as a compensating control: nothing found, no credit)
    complete = spec.get("uncollected") == "none"

    required = _required_path(spec["where"], var) if "where" in spec else None
    latest: list[Any] = [None, None]  # (inventory, its candidates that have `required`)
    # `where` requires item.P == <a value of the subject>: look candidates up by P instead of
    # testing each (a scan of every candidate per asset is quadratic in the org's size).
    keyed = _equality_key(spec["where"], var) if "where" in spec else None
    by_key: list[Any] = [None, None]  # (inventory, {value of P: candidates})
    every: list[Any] = [None, None]  # (inventory, its assets of `types`)
    # `within: ancestry` keeps the candidates whose owner (project, folder, organization) is
    # the asset's: looked up by owner, not tested one by one per asset (quadratic otherwise).
    owners: list[Any] = [None, None]  # (candidates, {owner node: their positions in it})

    def find(env: Env) -> Any:
        nonlocal where
        if where is None and lazy_where is not None:
            where = ready(lazy_where)
        inv = env.inv
        # No asset of a type the snapshot may not hold is not "none exist"; those of the types
        # collected are found, and others may exist (`PartialItems`).
        below = env.subject.asset.ancestors if within in ("project", "ancestry") else None
        gap = None if complete else _types_gap(inv, types, below)
        if gap is not None and (one or not inv.coverage.known_in_part(types, below)):
            return gap
        facts = env.subject.facts()
        if within == "project":
            candidates = inv.in_project(types, facts["project"]) or inv.in_project(
                types, facts["project_number"])
            if required is not None:
                candidates = [c for c in candidates if _has_path(c, required, inv)]
        elif keyed is not None and _key_value(env, keyed[1]) is not None:
            if by_key[0] is not inv:
                index: dict[Any, list[Asset]] = {}
                for cand in inv.of_types(types):
                    value, _ = walk(AssetView(cand, inv), keyed[0].root, keyed[0].segments, _get)
                    if isinstance(value, str | int | float | bool):
                        index.setdefault(value, []).append(cand)
                by_key[0], by_key[1] = inv, index
            candidates = by_key[1].get(_key_value(env, keyed[1]), [])
        elif required is not None:
            if latest[0] is not inv:
                latest[0], latest[1] = inv, [c for c in inv.of_types(types)
                                             if _has_path(c, required, inv)]
            candidates = latest[1]
        else:
            if every[0] is not inv:
                every[0], every[1] = inv, inv.of_types(types)
            candidates = every[1]
        if within == "ancestry":
            nodes = set(env.subject.asset.ancestors)
            keys = {facts["project"], facts["project_number"]} - {None}
            nodes |= {f"projects/{k}" for k in keys}
            if owners[0] is not candidates:
                places: dict[str, list[int]] = {}
                for i, cand in enumerate(candidates):
                    places.setdefault(_owner_node(cand.name), []).append(i)
                owners[0], owners[1] = candidates, places
            at = sorted(i for node in nodes for i in owners[1].get(node, ()))
            candidates = [candidates[i] for i in at]  # in their order, as a filter keeps them
            if gap is None and not complete:
                # a folder or organization above the subject that the input does not hold (a
                # project-scoped export) may own assets of these types (its log sinks): those
                # found are elements, more may exist there
                gap = _absent_owners(inv, env.subject.asset, types, owners[1])
        out: list[Any] = []
        for cand in candidates:
            view = AssetView(cand, inv)
            # `phi` of a planned asset may be unknown (its network known only after apply):
            # not surely PHI, not surely outside it. `within: phi` leaves it out; `within:
            # nonphi` keeps it as that unknown value (below), never as a non-PHI asset.
            scope: Any = True
            if within == "phi" and view.facts()["phi"] is not True:
                continue
            if within == "nonphi":
                scope = view.facts()["phi"]
                if scope is True:
                    continue
            if where is not None:
                saved = env.vars.get(var)
                env.vars[var] = (view, f"{var}")
                # The filter's reads are about candidates, not the subject: recorded under
                # `item...` they would show whichever candidate came first as if it decided.
                kept = env.evidence
                env.evidence = {}
                mark = len(env.blame)
                try:
                    verdict, _ = where(env)
                finally:
                    env.evidence = kept
                    del env.blame[mark:]
                    if saved is None:
                        env.vars.pop(var, None)
                    else:
                        env.vars[var] = saved
                if verdict != PASS:
                    continue
            if isinstance(scope, UnknownValue):
                if one:
                    return scope
                out.append(scope)
                continue
            out.append(view)
            if one:
                return view
        if gap is not None:
            return gap if one else PartialItems(gap.why, out)
        return MISSING if one else out
    return find


def _absent_owners(inv: Inventory, asset: Asset, types: tuple[str, ...],
                   owned: Mapping[str, Any]) -> UnknownValue | None:
    """Why assets of these types owned by the subject's ancestors may exist that the input
    does not hold: ancestors it holds no record of (`Inventory.absent_ancestors`) and owns no
    asset of these types in it (one that does was exported with its own)."""
    absent = [n for n in inv.absent_ancestors(asset) if n not in owned]
    if not absent:
        return None
    return UnknownValue(f"unknown: the input holds no record of {', '.join(absent)} (above "
                        f"{asset.name}), so the {' or '.join(types)} assets they own are not "
                        "known (a project-scoped export? export or collect at the organization)")


def _equality_key(where: Mapping[str, Any], var: str) -> tuple[Path, Path] | None:
    """(item path, subject path) when `where` demands `{path: <var>.P, equals: {path: Q}}`
    as itself or as a conjunct of a top-level `all`, with Q not reading the candidate."""
    leaves = where.get("all", []) if "all" in where else [where]
    for leaf in leaves:
        if not isinstance(leaf, Mapping) or "default" in leaf or "path" not in leaf:
            continue
        arg = leaf.get("equals")
        if set(leaf) - {"path", "equals", "because"} or not (
                isinstance(arg, Mapping) and set(arg) == {"path"}):
            continue
        item_path, other = parse_path(leaf["path"]), parse_path(arg["path"])
        if item_path.root == var and not item_path.fans_out and other.root != var \
                and not other.fans_out:
            return item_path, other
    return None


def _key_value(env: Env, path: Path) -> Any:
    value, _ = env.resolve(path)
    return value if isinstance(value, str | int | float | bool) else None


def _required_path(where: Mapping[str, Any], var: str) -> Path | None:
    """A path every kept candidate must have: the first `all` conjunct that is a leaf on
    `<var>.…` with no default and an operator that does not judge absence (a candidate without
    a value there is UNKNOWN for that leaf, so `where` can never PASS for it)."""
    leaves = where.get("all", [where]) if "all" in where or "path" in where else []
    for leaf in leaves:
        if not isinstance(leaf, Mapping) or "path" not in leaf or "default" in leaf:
            continue
        ops = set(leaf) - {"path", "because"}
        if len(ops) != 1 or any(k in leaf for k in ("some", "every", "none", "as")):
            continue
        (op,) = ops
        path = parse_path(leaf["path"])
        if path.root == var and path.segments and op in OPERATORS \
                and not OPERATORS[op].judges_absence and not path.fans_out:
            return path
    return None


def _has_path(asset: Asset, path: Path, inv: Inventory) -> bool:
    value, _ = walk(AssetView(asset, inv), path.root, path.segments, _get)
    return value is not MISSING


def _let_format(form: Mapping[str, Any]) -> LetFn:
    template = form["format"]
    pieces = re.split(r"\{([^{}]+)\}", template)  # text, path, text, path, ..., text
    paths = [parse_path(p) for p in pieces[1::2]]

    def fmt(env: Env) -> Any:
        out = [pieces[0]]
        for i, path in enumerate(paths):
            value, cpath = env.resolve(path)
            if value is MISSING or isinstance(value, Unresolved | UnknownValue):
                return value if value is not MISSING else MISSING
            if not isinstance(value, str | int | float):
                # an object or a list is no text: a shape the rule does not read
                if type(value) not in (dict, list):
                    return MISSING
                shape = misshapen(value, cpath, "a string")
                shape.why = f"made from {cpath}, {shape.why}"
                return shape
            out.append(str(value))
            out.append(pieces[2 * i + 2])
        return "".join(out)
    return fmt


def _let_value(form: Mapping[str, Any]) -> LetFn:
    path = parse_path(form["value"])
    return lambda env: env.resolve(path)[0]


_SA_TYPE = "iam.googleapis.com/ServiceAccount"
_KEY_TYPE = "iam.googleapis.com/ServiceAccountKey"


def _key_account(key: Asset, inv: Inventory) -> Asset | UnknownValue:
    """The service account a key belongs to (its CAI name up to `/keys/`), held or, when the
    name spells it by email, a stand-in that carries the email."""
    account_name = key.name.partition("/keys/")[0]
    found = inv.lookup(account_name, (_SA_TYPE,))
    if found is not None:
        return found
    account = account_name.rpartition("/serviceAccounts/")[2]
    if "@" in account:
        return Asset(account_name, _SA_TYPE, {"email": account})
    return UnknownValue(f"unknown: the key's service account ({account or key.name}) is not "
                        f"in the snapshot, so the bindings that name it cannot be found")


def _let_grants(form: Mapping[str, Any]) -> LetFn:
    within = (form["grants"] or {}).get("within", "all")

    def grants(env: Env) -> Any:
        asset = env.subject.asset
        # A grant may sit on any resource: IAM content missing anywhere leaves them unknown.
        gap = env.inv.coverage.gap_anywhere(IAM_POLICY)
        if gap is not None:
            return gap
        if asset.asset_type == _KEY_TYPE:  # a key's grants are its service account's
            account = _key_account(asset, env.inv)
            if isinstance(account, UnknownValue):
                return account
            asset = account
        if not principals_of(asset.asset_type, asset.data):
            missing = env.inv.content_gap(RESOURCE, asset)
            return missing or UnknownValue(
                "unknown: the principal's identity (its email) is absent, so the bindings "
                "that name it cannot be found")
        return env.inv.grants(asset, within)
    return grants


def _let_effective(kind: str, view: Callable[[Inventory, Asset], Any]) -> LetFn:
    def effective(env: Env) -> Any:
        gap = env.inv.coverage.gap_for(kind, env.subject.asset.ancestors)
        return gap if gap is not None else view(env.inv, env.subject.asset)
    return effective


def _let_org_policy(form: Mapping[str, Any]) -> LetFn:
    constraint = form["org_policy"]

    def org_policy(env: Env) -> Any:
        gap = env.inv.coverage.gap_for(ORG_POLICY, env.subject.asset.ancestors)
        if gap is not None:
            return gap
        found = env.inv.org_policy(env.subject.asset, constraint)
        return MISSING if found is None else found
    return org_policy


_NO_DIRECTORY = UnknownValue(
    "unknown: the snapshot has no directory users, so the organization's domains other than "
    "the Organization's displayName are not known (collect the directory, or set the rule's "
    "allowed_domains)")


def _domain_of(email: Any) -> str | None:
    if not isinstance(email, str) or "@" not in email:
        return None
    domain = email.rpartition("@")[2].strip().lower()
    return domain or None


def _let_org_domains(form: Mapping[str, Any]) -> LetFn:
    cell: list[Any] = [None, None]  # (inventory, value): the same for every asset of a scan

    def org_domains(env: Env) -> Any:
        inv = env.inv
        if cell[0] is inv:
            return cell[1]
        # An Organization's displayName is its primary domain (set by Google, not editable).
        organization = sorted({str(o.data["displayName"]).strip().lower()
                               for o in inv.of_types([ORG_TYPE])
                               if isinstance(o.data.get("displayName"), str)
                               and "." in o.data["displayName"]})
        directory: Any
        users = inv.of_types([USER_TYPE])
        # No users at all is no directory (a plan's world holds none): a real directory has
        # at least its administrator.
        if USER_TYPE in inv.missing_sources or not users:
            directory = _NO_DIRECTORY
        else:
            found: set[str] = set()
            for user in users:
                emails = [user.data.get("primaryEmail"), *(user.data.get("aliases") or [])]
                found.update(d for d in map(_domain_of, emails) if d)
            directory = sorted(found)
        cell[0], cell[1] = inv, {"organization": organization, "directory": directory}
        return cell[1]
    return org_domains


LET_COMPILERS: dict[str, Callable[[Mapping[str, Any]], LetFn]] = {
    "ref": lambda f: _let_ref(f, many=False),
    "refs": lambda f: _let_ref(f, many=True),
    "referrers": _let_referrers,
    "find": _let_find,
    "grants": _let_grants,
    "effective_iam": lambda f: _let_effective(IAM_POLICY, Inventory.effective_iam),
    "effective_audit_configs": lambda f: _let_effective(IAM_POLICY,
                                                        Inventory.effective_audit_configs),
    "org_policy": _let_org_policy,
    "org_domains": _let_org_domains,
    "value": _let_value,
    "format": _let_format,
}
# The language tables declare the forms; this is how each one runs. A form declared without a
# way to run (or the reverse) is a bug caught at import, not a KeyError in the middle of a scan.
if set(LET_COMPILERS) != set(LET_FORMS):  # pragma: no cover - a development error
    raise RuntimeError(f"let forms without a compiler or declaration: "
                       f"{sorted(set(LET_COMPILERS) ^ set(LET_FORMS))}")


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    when: Cond | None
    check: Cond
    lets: Mapping[str, LetFn]
    evidence: tuple[Path, ...]
    params: Mapping[str, Any]
    resolvers: tuple[Resolver, ...] = ()  # of `evidence`, compiled
    # Let names whose value is the same for every asset, and those read from the rule's let
    # cache directly (see `compile_rule`): how its paths are resolved.
    consts: frozenset[str] = frozenset()
    direct: frozenset[str] = frozenset()

    def context_types(self) -> set[str]:
        """Asset types this rule joins to: they must be held in the Inventory."""
        return _joined_types(self.rule)


def _joined_types(rule: Rule) -> set[str]:
    return joined_types(rule.let)


_SUBJECT_ROOTS = frozenset({"data", "iam_policy", "org_policy", "asset"})


def _roots(node: Any) -> set[str]:
    """Every path root a condition reads (operator arguments included)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and isinstance(value, str):
                found.add(parse_path(value).root)
            else:
                found |= _roots(value)
    elif isinstance(node, list):
        for item in node:
            found |= _roots(item)
    return found


def _bound_names(node: Any) -> set[str]:
    """Names quantifiers inside a condition bind (`as:`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if "as" in node and isinstance(node["as"], str):
            found.add(node["as"])
        for value in node.values():
            found |= _bound_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _bound_names(item)
    return found


def _independent(form: Mapping[str, Any], independent: set[str]) -> bool:
    """Whether a let gives the same value for every asset (so it is computed once per scan)."""
    if "value" in form:
        root = parse_path(form["value"]).root
        return root == "params" or root in independent
    if "format" in form:
        roots = {parse_path(p).root for p in re.findall(r"\{([^{}]+)\}", form["format"])}
        return roots <= {"params", *independent}
    if "find" in form:
        spec = form["find"]
        if spec.get("within", "all") not in ("all", "phi", "nonphi"):
            return False
        where = spec.get("where", {})
        allowed = {"params", "item", spec.get("as", "item"), *independent, *_bound_names(where)}
        return _roots(where) <= allowed
    return False


def _once_per_inventory(fn: LetFn) -> LetFn:
    cell: list[Any] = [None, None]

    def memo(env: Env) -> Any:
        if cell[0] is not env.inv:
            cell[0], cell[1] = env.inv, fn(env)
        return cell[1]
    return memo


# Let forms whose value depends on the form, the asset and the Inventory alone, and which
# record nothing: rules that declare one alike share its value for an asset (`find` too, when
# its filter reads only the candidate and the asset; see `_shareable`).
_PURE_LETS = frozenset({"referrers", "grants", "effective_iam", "effective_audit_configs",
                        "org_policy"})


def _shareable(kind: str, form: Mapping[str, Any]) -> bool:
    if kind in _PURE_LETS:
        return True
    if kind != "find":
        return False
    spec = form["find"]
    where = spec.get("where", {})
    allowed = {spec.get("as", "item"), *_bound_names(where), *_SUBJECT_ROOTS}
    return _roots(where) <= allowed and not _reads_params(where)


def _reads_params(node: Any) -> bool:
    """Whether a condition takes an operator argument from the rule's parameters."""
    if isinstance(node, dict):
        return "param" in node or any(_reads_params(v) for v in node.values())
    if isinstance(node, list):
        return any(_reads_params(v) for v in node)
    return False


def _per_asset(form: Mapping[str, Any], fn: LetFn) -> LetFn:
    key = json.dumps(form, sort_keys=True, default=repr)

    def shared(env: Env) -> Any:
        memo = env.subject.shared
        if key in memo:
            return memo[key]
        value = memo[key] = fn(env)
        return value
    return shared


def compile_rule(rule: Rule, overrides: Mapping[str, Any] | None = None) -> CompiledRule:
    """Compile one validated rule with its parameters (defaults, then overrides)."""
    params = rule.defaults()
    params.update(overrides or {})
    lets: dict[str, LetFn] = {}
    independent: set[str] = set()
    for name, form in rule.let.items():
        fn = LET_COMPILERS[let_kind(form)](form)
        # A let that reads nothing of the asset (all non-PHI subnetworks, say) is computed
        # once per scan: per asset it would make a rule quadratic in the organization's size.
        if _independent(form, independent):
            independent.add(name)
            fn = _once_per_inventory(fn)
        elif _shareable(let_kind(form), form):
            fn = _per_asset(form, fn)
        lets[name] = fn
    # A constant let's paths are resolved once per scan too, unless some quantifier or `find`
    # of the rule binds its name (then the name means that element there).
    bound = _bound_names([rule.when, rule.assert_, list(rule.let.values())])
    consts = frozenset(independent - bound)
    direct = frozenset(set(rule.let) - bound - consts)  # read from the let cache
    evidence = tuple(parse_path(p) for p in rule.evidence)
    # The conditions as generated code (see `use_generated`): what the closures of
    # `compile_condition` give, faster.
    return CompiledRule(
        rule=rule,
        when=(_condition(rule.when, consts, f"{rule.id} when", direct)
              if rule.when is not None else None),
        check=_condition(rule.assert_, consts, f"{rule.id} assert", direct),
        lets=lets,
        evidence=evidence,
        params=params,
        resolvers=tuple(resolver(p, consts, direct) for p in evidence),
        consts=consts,
        direct=direct,
    )
