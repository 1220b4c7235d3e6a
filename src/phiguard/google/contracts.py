"""Contracts between phiguard's own data and Google's definitions: which resource fields a rule
reads (with the literals it compares them to), and whether each exists in the discovery schema
of its asset type; whether a CAI record validates against its schema.

A rule author can run `check_rule(rule)` on a new rule: it names every `data.` path that Google
does not define for the asset type, every enum literal Google does not define for the field,
every asset type CAI does not define, and every read of a field CAI never writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phiguard.google._definitions import (
    ALL,
    Problem,
    cai_absent,
    enum_values,
    field_schema,
    is_cai_asset_type,
    schema_of,
    validate_body,
    validate_resource,
)
from phiguard.policy.paths import ALL as PATH_ALL
from phiguard.policy.paths import PathSyntaxError, parse_path
from phiguard.policy.rule import Rule

__all__ = ["FieldRead", "check_record", "check_rule", "rule_asset_types", "rule_reads"]

_COMPARE = ("equals", "not_equals", "iequals", "in", "not_in", "version_gte", "version_lt")
_QUANTS = ("some", "every", "none")
_FORMAT_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class FieldRead:
    """One read of a resource field by a rule: where, of which types, and literals compared."""

    rule: str
    where: str  # "assert", "let policy", "evidence", ...
    asset_types: tuple[str, ...]
    path: tuple[str, ...]  # inside `data`; `[*]` for list elements
    literals: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        out = "data"
        for seg in self.path:
            out += seg if seg == ALL else f".{seg}"
        return out


@dataclass(frozen=True)
class _Assets:
    types: tuple[str, ...]
    many: bool


@dataclass(frozen=True)
class _Field:
    types: tuple[str, ...]
    path: tuple[str, ...]


_Binding = _Assets | _Field | None


def _segments(raw: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(ALL if (s is PATH_ALL or isinstance(s, int)) else str(s) for s in raw)


class _Walker:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        subject = tuple(t for t in rule.asset_types if t != "*")
        self.env: dict[str, _Binding] = {"asset": _Assets(subject, False),
                                         "data": _Field(subject, ())}
        self.subject = subject
        self.reads: list[FieldRead] = []

    def resolve(self, text: Any, env: Mapping[str, _Binding]) -> _Binding:
        try:
            path = parse_path(text)
        except (PathSyntaxError, TypeError):
            return None
        segs = _segments(path.segments)
        bound = env.get(path.root)
        if isinstance(bound, _Field):
            return _Field(bound.types, bound.path + segs)
        if isinstance(bound, _Assets):
            if bound.many:
                if not segs or segs[0] != ALL:
                    return None
                segs = segs[1:]
            if segs[:1] == ("data",):
                return _Field(bound.types, segs[1:])
            return _Assets(bound.types, False) if not segs else None
        return None

    def read(self, text: Any, env: Mapping[str, _Binding], where: str,
             literals: tuple[str, ...] = ()) -> None:
        bound = self.resolve(text, env)
        if isinstance(bound, _Field) and bound.types:
            self.reads.append(FieldRead(self.rule.id, where, bound.types, bound.path, literals))

    def literals(self, arg: Any) -> tuple[str, ...]:
        if isinstance(arg, dict) and set(arg) == {"param"}:
            spec = self.rule.params.get(arg["param"], {})
            arg = spec.get("default")
        if isinstance(arg, str):
            return (arg,)
        if isinstance(arg, list):
            return tuple(a for a in arg if isinstance(a, str))
        return ()

    def condition(self, node: Any, env: dict[str, _Binding], where: str) -> None:
        if isinstance(node, list):
            for item in node:
                self.condition(item, env, where)
            return
        if not isinstance(node, Mapping):
            return
        if "all" in node:
            self.condition(node["all"], self.narrowed(node["all"], env), where)
        if "any" in node:
            self.condition(node["any"], env, where)
        if "not" in node:
            self.condition(node["not"], env, where)
        quant = next((q for q in _QUANTS if q in node), None)
        if quant is not None and "path" in node:
            self.read(node["path"], env, where)
            inner = dict(env)
            inner[str(node.get("as", "item"))] = self.element(node["path"], env)
            self.condition(node[quant], inner, where)
            return
        if "path" not in node:
            return
        ops = set(node) - {"path", "default", "because"}
        literals: tuple[str, ...] = ()
        for op in ops:
            arg = node[op]
            if isinstance(arg, Mapping) and set(arg) == {"path"}:
                self.read(arg["path"], env, where)
            elif op in _COMPARE:
                literals += self.literals(arg)
        if isinstance(node.get("default"), str) and ops & set(_COMPARE):
            literals += (node["default"],)
        self.read(node["path"], env, where, literals)

    def narrowed(self, group: Any, env: dict[str, _Binding]) -> dict[str, _Binding]:
        """Within an `all` group that requires `asset.asset_type` to be certain types, the
        subject's `data` is of those types only."""
        if not isinstance(group, list):
            return env
        for leaf in group:
            if not (isinstance(leaf, Mapping) and leaf.get("path") == "asset.asset_type"):
                continue
            wanted = leaf.get("equals", leaf.get("in"))
            wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted or ())
            if wanted:
                inner = dict(env)
                inner["data"] = _Field(tuple(wanted), ())
                inner["asset"] = _Assets(tuple(wanted), False)
                return inner
        return env

    def element(self, text: Any, env: Mapping[str, _Binding]) -> _Binding:
        bound = self.resolve(text, env)
        if isinstance(bound, _Assets):
            return _Assets(bound.types, False) if bound.many else None
        if isinstance(bound, _Field):
            return _Field(bound.types, (*bound.path, ALL))
        return None

    def let(self, name: str, form: Mapping[str, Any]) -> None:
        where = f"let {name}"
        kind = next(iter(form), "")
        spec = form[kind]
        if kind in ("ref", "refs"):
            self.read(spec, self.env, where)
            self.env[name] = _Assets(tuple(form.get("types", ())), kind == "refs")
        elif kind == "referrers":
            types = tuple(spec.get("types", ()))
            path = str(spec.get("path", ""))
            path = path if path.startswith("data.") else f"data.{path}"
            for t in types:
                self.reads.append(FieldRead(self.rule.id, where, (t,),
                                            _segments(parse_path(path).segments)))
            self.env[name] = _Assets(types, True)
        elif kind == "find":
            types = tuple(spec.get("types", ()))
            inner = dict(self.env)
            inner[str(spec.get("as", "item"))] = _Assets(types, False)
            if "where" in spec:
                self.condition(spec["where"], inner, where)
            self.env[name] = _Assets(types, not spec.get("one", False))
        elif kind == "value":
            self.env[name] = self.resolve(spec, self.env)
            self.read(spec, self.env, where)
        elif kind == "format":
            for inner_path in _FORMAT_FIELD.findall(str(spec)):
                self.read(inner_path.strip(), self.env, where)
            self.env[name] = None
        else:
            self.env[name] = None

    def walk(self) -> list[FieldRead]:
        for name, form in self.rule.let.items():
            if isinstance(form, Mapping):
                self.let(name, form)
        if self.rule.when is not None:
            self.condition(self.rule.when, dict(self.env), "when")
        self.condition(self.rule.assert_, dict(self.env), "assert")
        for text in self.rule.evidence:
            self.read(text, self.env, "evidence")
        return self.reads


def rule_reads(rule: Rule) -> list[FieldRead]:
    """Every resource field `rule` reads, with the asset types it reads it on."""
    return _Walker(rule).walk()


def rule_asset_types(rule: Rule) -> set[str]:
    """Every asset type a rule names: its subjects and the types of its joins."""
    found = {t for t in rule.asset_types if t != "*"}
    for form in rule.let.values():
        if not isinstance(form, Mapping):
            continue
        found.update(form.get("types", ()))
        for spec in form.values():
            if isinstance(spec, Mapping):
                found.update(spec.get("types", ()))
    return found


def check_rule(rule: Rule) -> list[str]:
    """What in `rule` Google does not define: asset types, `data.` paths, enum literals, and
    reads of fields CAI never writes. Types without a shipped schema are not checked."""
    problems: list[str] = []
    for t in sorted(rule_asset_types(rule)):
        ref = schema_of(t)
        if not is_cai_asset_type(t) and (ref is None or ref.cai):
            problems.append(f"{rule.id}: {t} is not a Cloud Asset Inventory asset type")
    for read in rule_reads(rule):
        # A rule over several types may read a field some of them lack (it is absent there),
        # and compare it to literals of each type's enum: the path must exist in at least one
        # of the types and each literal must be a value there.
        known = [t for t in read.asset_types if schema_of(t) is not None]
        having = [t for t in known if field_schema(t, read.path) is not None]
        if known and not having:
            problems.append(f"{rule.id} ({read.where}): {read.text} does not exist in the "
                            f"discovery schema of {' or '.join(known)}")
            continue
        for t in having:
            absent = cai_absent(t, read.path)
            if absent is not None:
                problems.append(f"{rule.id} ({read.where}): {read.text} of {t} is never in "
                                f"CAI data: {absent.reason}")
        enums = [v for t in having if (v := enum_values(t, read.path)) is not None]
        if not enums or len(enums) < len(having):
            continue
        for literal in read.literals:
            if not any(literal in allowed for allowed in enums):
                values = sorted({v for allowed in enums for v in allowed})
                problems.append(f"{rule.id} ({read.where}): {literal!r} is not a value of "
                                f"{read.text} on {' or '.join(having)} ({', '.join(values)})")
    return sorted(set(problems))


def check_record(record: Mapping[str, Any]) -> list[Problem]:
    """Problems of one CAI record (either envelope flavour): an asset type CAI does not define,
    `resource.data` against its discovery schema, and `iam_policy` against the IAM `Policy`
    schema (the export writes that protobuf message with snake_case names, the API with
    camelCase: both are read). Records of a type without a shipped schema are checked for
    the type and the IAM policy only."""
    asset_type = str(record.get("asset_type") or record.get("assetType") or "")
    ref = schema_of(asset_type)
    problems: list[Problem] = []
    if not is_cai_asset_type(asset_type) and (ref is None or ref.cai):
        problems.append(Problem("asset_type", f"{asset_type!r} is not a Cloud Asset Inventory "
                                "asset type"))
    resource = record.get("resource")
    if isinstance(resource, Mapping) and "data" in resource and ref is not None:
        problems.extend(validate_resource(asset_type, resource["data"], cai=ref.cai))
    for key in ("iam_policy", "iamPolicy"):
        if isinstance(record.get(key), Mapping):
            problems.extend(validate_body("cloudresourcemanager", "v1", "Policy",
                                          _camel_keys(record[key]), prefix=key))
    return problems


def _camel_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {_camel(str(k)): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
