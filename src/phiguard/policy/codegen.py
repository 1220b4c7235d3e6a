"""Rule conditions generated as Python source and compiled once, instead of interpreted.

`compile_condition` (compiler.py) turns a condition into a tree of closures; judging an asset
then costs a call and a result tuple per node, about 40 % of rule evaluation on a large
organization. `generate_condition` writes the same tree out as the straight-line body of one
function (combinators and quantifiers become `if` chains and loops over locals) and compiles
it with `compile()` once per rule. It gives exactly what `compile_condition` gives: the same
verdicts, reasons, blame and evidence in the same order (the closures stay as the reference
that tests compare it with, and as the fallback for a condition too deep to compile).

Security: the source is generated from the *shape* of a validated condition only (which
combinator, quantifier or operator), never from its text. Every value a rule carries (paths,
literal arguments, parameter names, `because` messages, operator names) reaches the function
as a constant bound in its namespace (`K<n>`), never as source text, and the identifiers in
the source are generated (`v3`, `K12`). A rule pack can choose which of a fixed set of
templates run, never what they say: no rule file can inject code. Nothing here evaluates a
string a user wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import CodeType
from typing import Any

from phiguard.findings import Finding
from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.coverage import PARTIAL_OPS, PartialItems
from phiguard.inventory.inventory import Inventory, MaybeItems, MaybeMember
from phiguard.policy.compiler import (
    _BLOCKING,
    _NO_REASONS,
    DIFFERS,
    FAIL,
    MAX_EVIDENCE,
    PASS,
    UNKNOWN,
    AssetView,
    CompiledRule,
    Cond,
    Env,
    Result,
    _blocked,
    _get,
    _is_literal,
    _reads_params,
    _roots,
    _Why,
    compile_condition,
    defaulted_path,
    mistyped,
    other_type,
    resolver,
    use_generated,
)
from phiguard.policy.language import QUANTIFIERS, let_kind
from phiguard.policy.operators import OPERATORS
from phiguard.policy.paths import MISSING, parse_path, walk

__all__ = ["LazyCondition", "compiled", "evaluator_source", "generate_condition",
           "generate_evaluator", "generate_source", "interpreted"]

# What every generated function may use, besides its own constants.
_BASE: dict[str, Any] = {
    "PASS": PASS, "FAIL": FAIL, "UNKNOWN": UNKNOWN, "MISSING": MISSING, "CAP": MAX_EVIDENCE,
    "NO": _NO_REASONS, "BLOCKING": _BLOCKING, "_blocked": _blocked, "_Why": _Why,
    "MAYBE": MaybeMember, "MAYBE_ITEMS": MaybeItems, "PARTIAL": PartialItems,
    "_SLD": (str, list, dict), "walk": walk, "_get": _get, "_AssetView": AssetView,
    "__builtins__": {"isinstance": isinstance, "len": len, "enumerate": enumerate,
                     "list": list, "type": type, "dict": dict},
}
# Roots `resolver` fetches from the asset itself or the parameters: never a bound name.
_FIXED_ROOTS = frozenset({"data", "iam_policy", "org_policy", "asset", "params"})
# Those fetched through `AssetView.field` (`data` is read directly).
_SUBJECT_ROOTS = frozenset({"iam_policy", "org_policy", "asset"})


def _arg_unknown(arg: Any, cpath: str) -> str:
    """The reason a leaf is UNKNOWN when the value it compares with is not known."""
    why = f": {arg.why.removeprefix('unknown: ')}" if isinstance(arg, UnknownValue) else ""
    return f"the value compared with {cpath} is not known{why}"


_BASE["_arg_unknown"] = _arg_unknown
_BASE["MIS"] = mistyped
_BASE["OTHER"] = other_type


def _builtin(name: str) -> bool:
    """Whether `name` is still phiguard's own operator (plugins cannot replace one, but the
    inlined forms below are only used when the function is the one they copy)."""
    op = OPERATORS.get(name)
    return op is not None and op.origin == "" and op.fn is _BUILTIN_FNS.get(name)


_BUILTIN_FNS = {name: OPERATORS[name].fn
                for name in ("equals", "not_equals", "in", "not_in", "exists", "empty")}


class _Writer:
    def __init__(self, consts: frozenset[str], lets: frozenset[str]) -> None:
        self.consts = consts
        self.lets = lets
        self.uses_lets = False
        self.ns: dict[str, Any] = dict(_BASE)
        self.lines: list[str] = []
        self.nodes = 0
        self.uses_vars = False
        self.uses_data = False
        # Names the enclosing quantifiers bind: name -> (local of the element, of its path).
        self.scope: dict[str, tuple[str, str]] = {}

    def const(self, value: Any) -> str:
        name = f"K{len(self.ns) - len(_BASE)}"
        self.ns[name] = value
        return name

    def put(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def node(self, node: Mapping[str, Any], d: int) -> str:
        """Write the statements that judge `node`; returns its suffix `k`: the verdict is then
        in `v<k>` and the reasons in `r<k>`."""
        k = str(self.nodes)
        self.nodes += 1
        if "all" in node or "any" in node:
            self.combine(node, k, d)
        elif "not" in node:
            self.negate(node, k, d)
        else:
            for quant in QUANTIFIERS:
                if quant in node:
                    self.quantifier(node, quant, k, d)
                    break
            else:
                self.leaf(node, k, d)
        return k

    def because(self, node: Mapping[str, Any], otherwise: str) -> str:
        """`[because or <otherwise>]`, decided when the rule compiles."""
        because = node.get("because")
        return f"[{self.const(because)}]" if because else f"[{otherwise}]"

    def combine(self, node: Mapping[str, Any], k: str, d: int) -> None:
        is_all = "all" in node
        because = node.get("because")
        put = self.put
        put(d, f"v{k} = None")
        put(d, f"u{k} = None")
        put(d, f"s{k} = len(blame)")
        if not is_all:
            put(d, f"f{k} = []")
        for i, child in enumerate(node["all" if is_all else "any"]):
            inner = d
            if i:
                put(d, f"if v{k} is None:")
                inner = d + 1
            put(inner, f"m{k} = len(blame)")
            c = self.node(child, inner)
            if is_all:
                put(inner, f"if v{c} == FAIL:")
                put(inner + 1, f"del blame[s{k}:m{k}]")
                put(inner + 1, f"v{k}, r{k} = FAIL, "
                    + (f"[{self.const(because)}]" if because else f"r{c}"))
                put(inner, f"elif v{c} == UNKNOWN:")
            else:
                put(inner, f"if v{c} == PASS:")
                put(inner + 1, f"del blame[s{k}:]")
                put(inner + 1, f"v{k}, r{k} = PASS, NO")
                put(inner, f"elif v{c} == UNKNOWN:")
            put(inner + 1, f"if u{k} is None:")
            put(inner + 2, f"u{k} = []")
            put(inner + 1, f"u{k}.extend(r{c})")
            put(inner + 1, f"del blame[m{k}:]")
            if not is_all:
                put(inner, f"elif v{c} == FAIL:")
                put(inner + 1, f"f{k}.extend(r{c})")
        put(d, f"if v{k} is None:")
        put(d + 1, f"if u{k}:")
        put(d + 2, f"del blame[s{k}:]")
        put(d + 2, f"v{k}, r{k} = UNKNOWN, u{k}")
        put(d + 1, "else:")
        if is_all:
            put(d + 2, f"v{k}, r{k} = PASS, NO")
        else:
            put(d + 2, f"v{k}, r{k} = FAIL, "
                + (f"[{self.const(because)}]" if because else f"f{k}"))

    def negate(self, node: Mapping[str, Any], k: str, d: int) -> None:
        inner = node["not"]
        put = self.put
        put(d, f"s{k} = len(blame)")
        c = self.node(inner, d)
        put(d, f"del blame[s{k}:]")
        put(d, f"if v{c} == PASS:")
        if "path" in inner and not any(q in inner for q in QUANTIFIERS):
            # A negated leaf fails on the value it passed for: that value is what to show.
            self.fetch(inner["path"], f"n{k}", f"o{k}", d + 1)
            put(d + 1, f"blame.append((o{k}, n{k}))")
        put(d + 1, f"v{k}, r{k} = FAIL, "
            + self.because(node, self.const("a forbidden condition holds")))
        put(d, f"elif v{c} == FAIL:")
        put(d + 1, f"v{k}, r{k} = PASS, NO")
        put(d, "else:")
        put(d + 1, f"v{k}, r{k} = UNKNOWN, r{c}")

    def quantifier(self, node: Mapping[str, Any], quant: str, k: str, d: int) -> None:
        put = self.put
        self.uses_vars = True
        var = self.const(node.get("as", "item"))
        because = node.get("because")
        default = node.get("default", MISSING)
        self.fetch(node["path"], f"x{k}", f"c{k}", d)
        put(d, f"if x{k} is MISSING:")
        put(d + 1, f"x{k} = " + (self.const(default) if default is not MISSING else "[]"))
        put(d, f"z{k} = None")  # why more elements than those judged may exist
        put(d, f"if type(x{k}) is MAYBE_ITEMS:")  # each element a MaybeMember
        put(d + 1, f"x{k} = x{k}.items")
        put(d, f"elif type(x{k}) is PARTIAL:")  # known in part: `PartialItems`
        put(d + 1, f"z{k}, x{k} = x{k}.why, x{k}.items")
        put(d, f"if isinstance(x{k}, BLOCKING):")
        put(d + 1, f"v{k}, r{k} = _blocked(x{k}, c{k})")
        put(d, f"elif not isinstance(x{k}, list):")
        self.record(d + 1, f"c{k}", f"x{k}")
        put(d + 1, f'v{k}, r{k} = UNKNOWN, [f"{{c{k}}} is not a list"]')
        put(d, "else:")
        d += 1
        put(d, f"if not x{k}:")
        self.record(d + 1, f"c{k}", "[]")
        put(d, f"w{k} = vars.get({var})")
        put(d, f"u{k} = []")
        put(d, f"s{k} = len(blame)")
        put(d, f"v{k} = None")
        put(d, "try:")
        put(d + 1, f"for i{k}, e{k} in enumerate(x{k}):")
        body = d + 2
        put(body, f'p{k} = f"{{c{k}}}[{{i{k}}}]"')
        # An element only if what is not known holds (`MaybeMember`): judged, deciding nothing.
        put(body, f"q{k} = type(e{k}) is MAYBE")
        put(body, f"if q{k}:")
        put(body + 1, f"y{k} = e{k}.why")
        put(body + 1, f"e{k} = e{k}.value")
        put(body, f"vars[{var}] = (e{k}, p{k})")
        name = node.get("as", "item")
        outer = self.scope.get(name)
        self.scope[name] = (f"e{k}", f"p{k}")
        c = self.node(node[quant], body)
        if outer is None:
            del self.scope[name]
        else:
            self.scope[name] = outer
        put(body, f"if v{c} == UNKNOWN:")
        put(body + 1, f"u{k}.extend(r{c}[:1])")
        put(body, f"elif q{k}:")
        put(body + 1, f"if v{c} == {'FAIL' if quant == 'every' else 'PASS'}:")
        put(body + 2, f'u{k}.append(f"{{p{k}}} is {{y{k}}}")')
        if quant == "some":
            put(body, f"elif v{c} == PASS:")
            put(body + 1, f"del blame[s{k}:]")
            put(body + 1, f"v{k}, r{k} = PASS, NO")
            put(body + 1, "break")
        elif quant == "every":
            put(body, f"elif v{c} == FAIL:")
            put(body + 1, f"blame.append((p{k}, e{k}))")
            put(body + 1, f"v{k}, r{k} = FAIL, "
                + (f"[{self.const(because)}]" if because else f"r{c}"))
            put(body + 1, "break")
        else:
            put(body, f"elif v{c} == PASS:")
            put(body + 1, f"del blame[s{k}:]")
            put(body + 1, f"blame.append((p{k}, e{k}))")
            put(body + 1, f"v{k}, r{k} = FAIL, " + self.because(
                node, f'f"{{c{k}}}[{{i{k}}}] matches a forbidden condition"'))
            put(body + 1, "break")
        put(body, f"del blame[s{k}:]")
        put(d, "finally:")
        put(d + 1, f"if w{k} is None:")
        put(d + 2, f"vars.pop({var}, None)")
        put(d + 1, "else:")
        put(d + 2, f"vars[{var}] = w{k}")
        put(d, f"if v{k} is None:")
        put(d + 1, f"if z{k} is not None:")
        put(d + 2, f'u{k}.append(f"{{c{k}}} is {{z{k}}}")')
        put(d + 1, f"if u{k}:")
        put(d + 2, f"v{k}, r{k} = UNKNOWN, u{k}")
        if quant == "some":
            put(d + 1, "else:")
            put(d + 2, f"blame.append((c{k}, x{k}))")
            put(d + 2, f"v{k}, r{k} = FAIL, " + self.because(
                node, f'f"no element of {{c{k}}} satisfies the condition"'))
        else:
            put(d + 1, "else:")
            put(d + 2, f"v{k}, r{k} = PASS, NO")

    def fetch(self, text: str, x: str, c: str, d: int) -> None:
        """`x, c = resolver(parse_path(text), consts)(env)`: a chain of object keys from the
        asset's `data` or from an element a quantifier of this condition binds is written
        out (what `resolver` does for them, without a call); anything else calls it."""
        path = parse_path(text)
        root, segments, keys = path.root, path.segments, path.keys_only
        put = self.put
        bound = None if root in _FIXED_ROOTS else self.scope.get(root)
        if bound is not None:
            value, prefix = bound
            if not segments:
                put(d, f"{x}, {c} = {value}, {prefix}")
                return
            if keys is None:
                put(d, f"{x}, {c} = walk({value}, {prefix}, {self.const(segments)}, _get)")
                return
            self.chain(segments, keys, value, prefix, None, x, c, d, views=True)
            return
        if root == "data" and keys is not None and segments:
            self.uses_data = True
            self.chain(segments, keys, "data", self.const(root), root, x, c, d)
            return
        if bound is None and root in self.lets:
            # `Env.root` of a let no quantifier or `find` of the rule binds: computed once per
            # rule and asset, kept in the rule's let cache.
            self.uses_lets = True
            name, y = self.const(root), f"l{x}"
            put(d, f"if {name} in lc:")
            put(d + 1, f"{y} = lc[{name}]")
            put(d, "else:")
            put(d + 1, f"{y} = lc[{name}] = lt[{name}](env)")
            if not segments:
                put(d, f"{x}, {c} = {y}, {name}")
            elif keys is None:
                put(d, f"{x}, {c} = walk({y}, {name}, {self.const(segments)}, _get)")
            else:
                self.chain(segments, keys, y, name, root, x, c, d, views=True)
            return
        if root in _SUBJECT_ROOTS and keys is not None and segments:
            # `resolver`'s `finish(env.subject.field(root))`, written out.
            f = f"f{x}"
            put(d, f"{f} = env.subject.field({self.const(root)})")
            self.chain(segments, keys, f, self.const(root), root, x, c, d)
            return
        put(d, f"{x}, {c} = {self.const(resolver(path, self.consts))}(env)")

    def chain(self, segments: tuple[Any, ...], keys: tuple[str, ...], value: str, prefix: str,
              text: str | None, x: str, c: str, d: int, views: bool = False) -> None:
        """Walk object keys from `value` (concrete path `prefix`, the constant `text` when
        known) as `resolver` does: absent at the first missing key, the general `walk` from
        the first value that is not an object. `views`: the value may be an asset (a joined
        one, bound by a let, a quantifier or `find`), whose first key is its field, as `walk`
        reads it."""
        put = self.put
        y = f"y{x}"

        def at(i: int) -> str:
            if text is not None:
                return self.const(text + keys[i])
            return f"{prefix} + {self.const(keys[i])}"

        def keys_from(start: int, depth: int) -> None:
            # `y` is an object: its keys from segments[start] on.
            for i in range(start, len(segments)):
                put(depth, f"{y} = {y}.get({self.const(segments[i])})")
                put(depth, f"if {y} is None:")
                put(depth + 1, f"{x}, {c} = MISSING, {at(i)}")
                if i + 1 == len(segments):
                    put(depth, "else:")
                    put(depth + 1, f"{x}, {c} = {y}, {at(i)}")
                else:
                    put(depth, f"elif type({y}) is not dict:")
                    put(depth + 1, f"{x}, {c} = walk({y}, {at(i)}, "
                        f"{self.const(segments[i + 1:])}, _get)")
                    put(depth, "else:")
                    depth += 1
        put(d, f"{y} = {value}")
        put(d, f"if type({y}) is dict:")
        keys_from(0, d + 1)
        if views:
            put(d, f"elif type({y}) is _AssetView:")
            put(d + 1, f"{y} = {y}.field({self.const(segments[0])})")
            if len(segments) == 1:
                put(d + 1, f"{x}, {c} = {y}, {at(0)}")
            else:
                put(d + 1, f"if type({y}) is dict:")
                keys_from(1, d + 2)
                put(d + 1, "else:")
                put(d + 2, f"{x}, {c} = walk({y}, {at(0)}, {self.const(segments[1:])}, _get)")
        put(d, "else:")
        put(d + 1, f"{x}, {c} = walk({value}, {prefix}, {self.const(segments)}, _get)")

    def record(self, d: int, path: str, value: str) -> None:
        """`Env.record(path, value)`: the first value seen at a path, within the cap."""
        self.put(d, f"if {path} not in ev and len(ev) < CAP:")
        self.put(d + 1, f"ev[{path}] = {value}")

    def leaf(self, node: Mapping[str, Any], k: str, d: int) -> None:
        put = self.put
        (op_name,) = set(node) - {"path", "default", "because"}
        op = OPERATORS[op_name]
        raw = node[op_name]
        default = node.get("default", MISSING)
        name = self.const(op_name)
        self.fetch(node["path"], f"x{k}", f"c{k}", d)
        if default is not MISSING:
            put(d, f"if x{k} is MISSING:")
            put(d + 1, f"x{k} = {self.const(default)}")
            path = parse_path(node["path"])
            if path.root in _FIXED_ROOTS and path.keys_only:
                # (object keys from the asset or the parameters: the full path is known now)
                put(d + 1, f"c{k} = {self.const(path.root + path.keys_only[-1])}")
            else:
                put(d + 1, f"c{k} = {self.const(defaulted_path(path))}(c{k})")
        self.record(d, f"c{k}", f"x{k}")
        put(d, f"if isinstance(x{k}, BLOCKING):")
        if op_name in PARTIAL_OPS:
            # a list known in part (`PartialItems`): judged as the interpreted leaf does
            put(d + 1, f"v{k}, r{k} = {self.const(compile_condition(node, self.consts))}(env) "
                f"if type(x{k}) is PARTIAL else _blocked(x{k}, c{k})")
        else:
            put(d + 1, f"v{k}, r{k} = _blocked(x{k}, c{k})")
        if not op.judges_absence:
            put(d, f"elif x{k} is MISSING:")
            put(d + 1, f'v{k}, r{k} = UNKNOWN, [f"{{c{k}}} is absent"]')
        put(d, "else:")
        d += 1
        if _is_literal(raw):
            arg = self.const(raw)
            test = self.inline(op_name, f"x{k}", arg, raw)
        else:
            arg = f"a{k}"
            if set(raw) == {"param"}:
                put(d, f"a{k} = env.params.get({self.const(raw['param'])}, MISSING)")
            else:
                self.fetch(raw["path"], f"a{k}", f"b{k}", d)
                self.record(d, f"b{k}", f"a{k}")
            put(d, f"if a{k} is MISSING or isinstance(a{k}, BLOCKING):")
            put(d + 1, f"v{k}, r{k} = UNKNOWN, [_arg_unknown(a{k}, c{k})]")
            put(d, "else:")
            d += 1
            # The comparisons compare with any value (`item.key equals key`): written out too.
            test = (self.inline(op_name, f"x{k}", arg, None)
                    if op_name in ("equals", "not_equals", "in", "not_in") else None)
        failed = self.because(node, f"_Why(c{k}, x{k}, {name}, {arg})")
        differs = DIFFERS.get(op_name) if test is not None else None
        if differs is not None:
            # A comparison a value of another JSON type than Google's decides alone: asked
            # only when the value differs and is of another type than the argument.
            if not _is_literal(raw):
                cross = f"OTHER(x{k}, {arg}, {name})"
            elif op_name in ("in", "not_in"):
                cross = f"type(x{k}) not in {self.const(frozenset(type(a) for a in raw))}"
            else:
                cross = f"type(x{k}) is not {self.const(type(raw))}"
            mis = f"{cross} and (m{k} := MIS(env, c{k}, x{k})) is not None"
            if differs:
                put(d, f"if {test}:")
                put(d + 1, f"if {mis}:")
                put(d + 2, f"v{k}, r{k} = UNKNOWN, [m{k}]")
                put(d + 1, "else:")
                put(d + 2, f"v{k}, r{k} = PASS, NO")
            else:
                put(d, f"if {test}:")
                put(d + 1, f"v{k}, r{k} = PASS, NO")
                put(d, f"elif {mis}:")
                put(d + 1, f"v{k}, r{k} = UNKNOWN, [m{k}]")
        elif test is not None:
            # A built-in operator that never answers None, written out.
            put(d, f"if {test}:")
            put(d + 1, f"v{k}, r{k} = PASS, NO")
        else:
            put(d, f"t{k} = {self.const(op.fn)}(x{k}, {arg}, env)")
            put(d, f"if t{k} is None:")
            put(d + 1, f'v{k}, r{k} = UNKNOWN, [_Why(c{k}, x{k}, "", {name})]')
            put(d, f"elif t{k}:")
            put(d + 1, f"v{k}, r{k} = PASS, NO")
        put(d, "else:")
        put(d + 1, f"blame.append((c{k}, x{k}))")
        put(d + 1, f"v{k}, r{k} = FAIL, {failed}")

    def inline(self, op_name: str, value: str, arg: str, raw: Any) -> str | None:
        """The test of a built-in operator with a literal argument, as an expression with the
        operator's truth value (None: call the operator)."""
        if not _builtin(op_name):
            return None
        if op_name == "equals":
            return f"{value} == {arg}"
        if op_name == "not_equals":
            return f"{value} != {arg}"
        if op_name == "in":
            return f"{value} in {arg}"
        if op_name == "not_in":
            return f"{value} not in {arg}"
        present = f"({value} is not MISSING and {value} is not None)"
        if op_name == "exists":
            return present if raw else f"not {present}"
        if op_name == "empty":
            blank = (f"({value} is MISSING or {value} is None or "
                     f"(isinstance({value}, _SLD) and not {value}))")
            return blank if raw else f"not {blank}"
        return None


def generate_source(node: Mapping[str, Any], consts: frozenset[str] = frozenset(),
                    lets: frozenset[str] = frozenset()) -> tuple[str, dict[str, Any]]:
    """The source of the function that judges `node`, and the namespace it runs in. `lets`:
    the rule's let names that nothing binds (read from the let cache directly)."""
    writer = _Writer(consts, lets)
    k = writer.node(node, 1)
    head = ["def condition(env):", "    ev = env.evidence", "    blame = env.blame"]
    if writer.uses_vars:
        head.append("    vars = env.vars")
    if writer.uses_data:
        head.append("    data = env.subject.data")
    if writer.uses_lets:
        head += ["    lc = env.let_cache", "    lt = env.lets"]
    source = "\n".join([*head, *writer.lines, f"    return v{k}, r{k}", ""])
    return source, writer.ns


# Code objects by source: the same condition compiles once per process (an Engine built again,
# e.g. unpickled in a worker forked after the parent judged, reuses the parent's).
_CODE: dict[str, CodeType] = {}


def _compiled(node: Mapping[str, Any], consts: frozenset[str], lets: frozenset[str],
              name: str) -> Cond:
    try:
        source, ns = generate_source(node, consts, lets)
        code = _CODE.get(source)
        if code is None:
            code = _CODE[source] = compile(source, f"<phiguard {name}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return compile_condition(node, consts)
    exec(code, ns)  # generated from the condition's shape only: see the module docstring
    fn: Cond = ns["condition"]
    return fn


class LazyCondition:
    """A generated condition compiled when first judged: compiling the whole pack costs about
    0.2 CPU s, which a plan of a few resource types, or a scan, need not pay for the rules of
    types it never meets. `compiled()` is the function itself (the engine calls that)."""

    __slots__ = ("_closures", "_fn", "consts", "lets", "name", "node")

    def __init__(self, node: Mapping[str, Any], consts: frozenset[str], lets: frozenset[str],
                 name: str) -> None:
        self.node, self.consts, self.lets, self.name = node, consts, lets, name
        self._fn: Cond | None = None
        self._closures: Cond | None = None

    def compiled(self) -> Cond:
        fn = self._fn
        if fn is None:
            fn = self._fn = _compiled(self.node, self.consts, self.lets, self.name)
        return fn

    def interpreted(self) -> Cond:
        """What judges without compiling: the function itself once compiled, else the
        closures of `compile_condition` (what it gives, a third slower to run, but a
        twentieth of the cost of compiling it: for the first assets of a type, see `Engine`)."""
        fn = self._fn
        if fn is None:
            fn = self._closures
            if fn is None:
                fn = self._closures = compile_condition(self.node, self.consts)
        return fn

    def __call__(self, env: Env) -> Result:
        return self.compiled()(env)


def generate_condition(node: Mapping[str, Any], consts: frozenset[str] = frozenset(),
                       name: str = "condition", lets: frozenset[str] = frozenset()) -> Cond:
    """What `compile_condition(node, consts)` gives, as one compiled function (see the module
    docstring), compiled when first called; a condition nested too deeply for Python's
    compiler is interpreted instead."""
    return LazyCondition(node, consts, lets, name)


def compiled(cond: Cond) -> Cond:
    """The function a condition runs: a `LazyCondition` compiled now, anything else as is."""
    return cond.compiled() if isinstance(cond, LazyCondition) else cond


def interpreted(cond: Cond) -> Cond:
    """The function a condition runs without compiling one (`LazyCondition.interpreted`)."""
    return cond.interpreted() if isinstance(cond, LazyCondition) else cond


def _generate(node: Mapping[str, Any], consts: frozenset[str], name: str,
              lets: frozenset[str]) -> Cond:
    return generate_condition(node, consts, name, lets)  # looked up when called


use_generated(_generate)  # rules compiled from now on use generated conditions


# One evaluator per asset type ----------------------------------------------------------------
#
# `Engine._judge` judges an asset by looping over its type's rules: per rule it unpacks the
# rule's step, checks content and PHI scope, sets parameters and lets, calls `when`, each
# evidence resolver and `assert`, and builds the finding. `generate_evaluator` writes that loop
# out for one asset type as one function: each rule's block in turn, with its constants bound,
# its declared evidence paths fetched inline (as `fetch` writes a condition's paths), its
# `when` and `assert` functions called directly, a PASS built in place. It gives exactly what
# the loop gives (the loop stays as the reference tests compare it with). Same safety as the
# conditions: the rule's values (ids, titles, parameters, paths, messages, its condition
# functions) are constants of the namespace, never source text.

# Names the evaluator's namespace must be given (see `generate_evaluator`).
EVALUATOR_RUNTIME = frozenset({"_new", "_shown", "_finish", "_carries", "_phi", "_facts_phi",
                               "_source",
                               "_PASSED", "AssetView", "Env", "NO_LETS", "NO_CACHE"})


def _operator_names(node: Any) -> set[str]:
    """Every operator a condition uses (a key of any of its mappings that names one)."""
    if isinstance(node, dict):
        found = {k for k in node if k in OPERATORS}
        for value in node.values():
            found |= _operator_names(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_operator_names, node)) if node else set()
    return set()


def _when_key(cr: CompiledRule) -> str | None:
    """What a rule's `when` is, when its verdict and the evidence it records depend on the
    asset alone (no let, no parameter, only phiguard's own operators): rules of a type with the
    same key (`not_gke_node`, say) judge it once per asset and each records what it read."""
    node = cr.rule.when
    if node is None:
        return None
    roots = _roots(node)
    if "params" in roots or roots & set(cr.rule.let) or _reads_params(node):
        return None
    if any(OPERATORS[name].origin != "" for name in _operator_names(node)):
        return None
    return json.dumps(node, sort_keys=True, default=repr)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, Mapping):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list | tuple):
        return [s for value in node for s in _strings(value)]
    return []


def _reads_facts(cr: CompiledRule) -> bool:
    """Whether a rule may read the asset's facts beyond `phi`: a path from its `asset` root, a
    `find` let (it looks the asset's project up). Only a choice of speed: the `scope: phi` test
    of an evaluator whose rules (those judging any asset with content) read them computes all
    the facts at once and reads `phi` from them; otherwise it asks for `phi` alone."""
    rule = cr.rule
    if any(let_kind(form) == "find" for form in rule.let.values()):
        return True
    texts = _strings([rule.assert_, rule.when, list(rule.evidence), list(rule.let.values())])
    return any(t == "asset" or t.startswith(("asset.", "asset[")) for t in texts)


def _on_first_call(cells: list[Cond], i: int, cond: Cond) -> Cond:
    """The function of `cells[i]`: a generated condition not compiled yet compiles when first
    called, and from then on is called directly."""
    if not isinstance(cond, LazyCondition) or cond._fn is not None:
        return compiled(cond)

    def first(env: Env) -> Result:
        fn = cells[i] = cond.compiled()
        return fn(env)
    return first


def evaluator_source(rules: Sequence[CompiledRule],
                     runtime: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The source of `evaluate(asset, inv, now) -> list[Finding]`, judging an asset by every
    rule of `rules` in order as the engine's loop does, and its namespace (`runtime`: the
    engine's helpers, named as in EVALUATOR_RUNTIME)."""
    if set(runtime) != EVALUATOR_RUNTIME:  # pragma: no cover - a development error
        raise ValueError(f"evaluator runtime names differ: {sorted(set(runtime))}")
    w = _Writer(frozenset(), frozenset())
    w.ns.update(runtime)
    put = w.put
    # Each rule's conditions are called through a cell of CELL that compiles them when first
    # called: a rule whose `when` never holds for the assets of a run (the MySQL rules of a
    # plan of PostgreSQL instances) never compiles its assertion.
    cells: list[Cond] = []
    w.ns["CELL"] = cells

    def cell(cond: Cond) -> str:
        cells.append(_on_first_call(cells, len(cells), cond))
        return f"CELL[{len(cells) - 1}]"
    # Half the assets of an organization meet no rule that applies (out of PHI scope, without
    # the content a rule judges): what only judging or a finding needs (the Env, the source
    # text, the evidence renderings) is made when the first rule applies or finds.
    put(1, "view = AssetView(asset, inv)")
    put(1, "env = None")
    put(1, "data = view.data")
    put(1, "out = []")
    put(1, "source = MISSING")
    put(1, "name = asset.name")
    put(1, "asset_type = asset.asset_type")
    put(1, "phi = None")
    # A `when` several rules share: its verdict (`when<n>`, None until judged for this asset)
    # and what it recorded (`seen<n>`).
    keys = [_when_key(cr) for cr in rules]
    repeated = [key for key, n in Counter(k for k in keys if k is not None).items() if n > 1]
    shared = {key: str(i) for i, key in enumerate(repeated)}
    phi_of = "_facts_phi" if any(_reads_facts(cr) for cr in rules
                                 if not cr.rule.content_types) else "_phi"
    for i in shared.values():
        put(1, f"when{i} = None")
    for cr, key in zip(rules, keys, strict=True):
        rule, check, when = cr.rule, cr.check, cr.when
        # Each rule's block assigns its locals before reading them: the next one reuses their
        # names, so the function has the locals of its largest rule, not of all of them.
        w.nodes = 0
        d = 1
        if rule.content_types:
            put(d, f"if _carries(asset, {w.const(rule.content_types)}):")
            d += 1
        if rule.scope == "phi":
            put(d, "if phi is None:")
            put(d + 1, f"phi = {phi_of}(view)")
            put(d, "if phi:")
            d += 1
        put(d, "if env is None:")
        put(d + 1, "env = Env(view, inv, now, NO_LETS, NO_LETS)")
        put(d + 1, "blame = env.blame")
        put(d, f"env.params = {w.const(cr.params)}")
        lets = w.const(cr.lets)
        put(d, f"env.lets = lt = {lets}")
        put(d, "env.let_cache = lc = {}" if cr.lets else "env.let_cache = lc = NO_CACHE")
        put(d, "env.evidence = ev = {}")
        put(d, "blame.clear()")
        if when is not None:
            fn = cell(when)
            if key in shared:
                j = shared[key]
                put(d, f"if when{j} is None:")
                put(d + 1, f"v, r = {fn}(env)")
                # ev held only what `when` read
                put(d + 1, f"when{j}, why{j}, seen{j} = v, r, dict(ev)")
                put(d, "else:")
                put(d + 1, f"v, r = when{j}, why{j}")
                put(d + 1, f"ev.update(seen{j})")
            else:
                put(d, f"v, r = {fn}(env)")
            put(d, "if v != FAIL:")
            d += 1
            # An UNKNOWN `when`: whether the rule applies is not known (see engine._finish).
            put(d, "u = None if v == PASS else r")
        w.consts, w.lets = cr.consts, cr.direct
        for path in cr.evidence:
            n = str(w.nodes)
            w.nodes += 1
            w.fetch(path.text, f"x{n}", f"c{n}", d)
            put(d, f"if c{n} not in ev:")  # the declared evidence is never crowded out
            put(d + 1, f"ev[c{n}] = x{n}")
        put(d, "blame.clear()")
        put(d, f"v, r = {cell(check)}(env)")
        put(d, "if source is MISSING:")  # this asset's first finding
        put(d + 1, "source = _source(asset)")
        put(d + 1, "rendered = {}")
        put(d, "if v == PASS:")
        put(d + 1, f"out.append(_new({w.const(rule.id)}, name, asset_type, _PASSED, "
            f"{w.const(rule.severity)}, {w.const(rule.controls)}, {w.const(rule.title)}, "
            "_shown(env.evidence, rendered), None, source))")
        put(d, "else:")
        step = w.const((rule.id, rule.severity, rule.controls, rule.title))
        put(d + 1, f"out.append(_finish({step}, v, r, env.evidence, blame, rendered, "
            f"name, asset_type, source, {'u' if when is not None else 'None'}))")
    source = "\n".join(["def evaluate(asset, inv, now):", *w.lines, "    return out", ""])
    return source, w.ns


Evaluator = Callable[[Asset, Inventory, datetime], list[Finding]]


def generate_evaluator(rules: Sequence[CompiledRule],
                       runtime: Mapping[str, Any]) -> Evaluator | None:
    """`evaluator_source` compiled (None, which Python's compiler should never refuse: the
    engine's loop judges these rules)."""
    try:
        source, ns = evaluator_source(rules, runtime)
        code = _CODE.get(source)
        if code is None:
            code = _CODE[source] = compile(source, "<phiguard evaluator>", "exec")
    except (SyntaxError, RecursionError, MemoryError):
        return None
    exec(code, ns)  # generated from the rules' shapes only: see the notes above
    fn: Evaluator = ns["evaluate"]
    return fn
