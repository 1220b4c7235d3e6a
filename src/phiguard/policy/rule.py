"""Rules: the YAML model, its validation (positions in every error) and the rule pack."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any

from phiguard._util.yamlloc import LocDict, LocList, load_yaml
from phiguard.errors import PluginError, RuleError
from phiguard.policy.language import (
    ASSET_TYPE,
    CATALOG_NAME,
    COMBINATORS,
    CONTENT_TYPES,
    CONTROL_ID,
    CONTROL_KEYS,
    DEFINITION_KEYS,
    DEFINITION_SECTIONS,
    DEFINITIONS_FILE,
    FORMAT_FIELD,
    IDENTIFIER,
    LET_FORMS,
    PARAM_KEYS,
    PARAM_TYPES,
    QUANTIFIERS,
    REMEDIATION_KEYS,
    ROOTS,
    RULE_ID,
    RULE_KEYS,
    SCOPES,
    TF_FIX_KEYS,
    TF_TYPE,
    UNKNOWN_IN_PLAN_KEYS,
    USE,
    Key,
)
from phiguard.policy.operators import OPERATORS
from phiguard.policy.paths import PathSyntaxError, parse_path
from phiguard.policy.regex import RegexError, compile_regex

__all__ = ["Catalog", "Control", "Definition", "Definitions", "Rule", "RulePack",
           "definitions_beside", "is_catalog_file", "load_definitions", "load_pack", "load_rule",
           "param_problem", "validate_param_value"]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    section: str
    standard: str
    kind: str
    covered: bool
    # A benchmark's profile level (CIS 1 or 2), when the catalog gives one.
    level: int | None = None
    # False for a recommendation that is assessed by hand (reported as "not automatable").
    automated: bool = True

    @property
    def catalog(self) -> str:
        """The catalog this control belongs to: its id's prefix (`hipaa`, `cis-gcp-5.0`)."""
        return self.id.split("/", 1)[0]


@dataclass(frozen=True)
class Rule:
    """A validated rule; the raw mappings stay as data for the compiler and for display."""

    id: str
    title: str
    severity: str
    controls: tuple[str, ...]
    description: str
    asset_types: tuple[str, ...]
    scope: str
    optional: bool
    params: Mapping[str, Mapping[str, Any]]
    when: Mapping[str, Any] | None
    let: Mapping[str, Mapping[str, Any]]
    assert_: Mapping[str, Any]
    evidence: tuple[str, ...]
    remediation: Mapping[str, Any]
    references: tuple[str, ...]
    path: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    # CAI content types an asset must carry for this rule to judge it (empty: any asset).
    content_types: tuple[str, ...] = ()
    # Parameters some operator uses as a regular expression (their values must compile).
    regex_params: frozenset[str] = frozenset()
    # Terraform resource type -> the change that makes this rule pass on a plan
    # ({attribute, value, note}), from `remediation.terraform_fixes`.
    terraform_fixes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Terraform resource type -> why this rule cannot judge a planned one (`unknown_in_plan`).
    unknown_in_plan: Mapping[str, str] = field(default_factory=dict)
    # The pack definitions this rule names with `use:` (in order of first use), and the
    # definitions file they come from. `when`, `let`, `assert_` and `params` above hold them
    # expanded: nothing downstream (compiler, projection, plan gate) sees a `use`.
    uses: tuple[Definition, ...] = ()
    definitions_file: str = ""

    def defaults(self) -> dict[str, Any]:
        return {name: spec.get("default") for name, spec in self.params.items()}


@dataclass(frozen=True)
class RulePack:
    """Every rule found under one or more directories, with the control catalogs beside them."""

    rules: tuple[Rule, ...]
    controls: Mapping[str, Control]
    digest: str
    roots: tuple[str, ...]
    # Every control catalog of the pack (and of plugins, and given with --rules), by name.
    catalogs: Mapping[str, Catalog] = field(default_factory=dict)
    # The catalog a framework view of the pack reports against (see `for_framework`); the
    # full pack has none and its `controls` are those of every catalog.
    framework: Catalog | None = None

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def for_framework(self, name: str) -> RulePack:
        """The pack as seen by one framework: its `controls` are that catalog's only (in
        catalog order), each rule keeps only that catalog's controls, and rules naming none
        of them are left out. The default (hipaa) of a pack without a hipaa catalog (a pack
        of one's own, a plugin's) is the pack unchanged, every control of every catalog.
        Raises RuleError naming the catalogs there are."""
        catalog = self.catalogs.get(name)
        if catalog is None:
            if name == DEFAULT_FRAMEWORK:
                return self
            known = ", ".join(sorted(self.catalogs)) or "none"
            raise RuleError(f"no control catalog named {name!r} (catalogs: {known})")
        mine = catalog.controls
        rules = []
        for rule in self.rules:
            kept = tuple(c for c in rule.controls if c in mine)
            if kept:
                rules.append(replace(rule, controls=kept) if kept != rule.controls else rule)
        return replace(self, rules=tuple(rules), controls=dict(mine), framework=catalog)


@dataclass(frozen=True)
class Definition:
    """One named definition of a pack's `_definitions.yaml`, validated and with every `use`
    inside it expanded: a condition, a let entry or a parameter declaration."""

    section: str  # conditions | lets | params
    name: str
    description: str
    needs: tuple[str, ...]
    body: Mapping[str, Any] = field(repr=False, compare=False)
    file: str = ""
    line: int = 0


_SINGULAR = {"conditions": "condition", "lets": "let", "params": "parameter"}


class Definitions:
    """A pack's definitions file: parsed, then every entry validated once, in order, with the
    uses between definitions expanded (a cycle is an error at the `use` that closes it)."""

    def __init__(self, file: str, raw: Any, digest: bytes) -> None:
        self.file = file
        self.digest = digest
        self.entries: dict[str, dict[str, Definition]] = {s: {} for s in DEFINITION_SECTIONS}
        v = _V(file)
        doc = v.mapping(raw if raw is not None else LocDict(), "a definitions file")
        for key in doc:
            if key not in DEFINITION_SECTIONS:
                raise v.err(f"unknown key `{key}` in a definitions file (expected one of: "
                            f"{', '.join(DEFINITION_SECTIONS)})", doc, key)
        self._raw: dict[str, LocDict] = {}
        for section in DEFINITION_SECTIONS:
            entries = v.mapping(doc.get(section) or LocDict(), f"`{section}`", doc, section)
            self._raw[section] = entries
            for name, entry in entries.items():
                if not _identifier(name) or name in ROOTS or name == "item":
                    raise v.err(f"definition name {name!r} must be an identifier other than "
                                "a root name", entries, name)
                v.mapping(entry, f"definition {name}", entries, name)
        self._stack: list[tuple[str, str]] = []
        for section in DEFINITION_SECTIONS:
            for name in self._raw[section]:
                self._resolve(section, name, None, None)

    def _resolve(self, section: str, name: str, user: _V | None, at: LocDict | None
                 ) -> Definition:
        done = self.entries[section].get(name)
        if done is not None:
            return done
        if (section, name) in self._stack:
            chain = " -> ".join(n for _, n in [*self._stack[self._stack.index((section, name)):],
                                                (section, name)])
            assert user is not None and at is not None
            raise user.err(f"definition {name} uses itself ({chain}): definitions may not "
                           "form a cycle", at, USE)
        entries = self._raw[section]
        entry: LocDict = entries[name]
        v = _V(self.file)
        v.defs = self
        needs: list[str] = []
        self._stack.append((section, name))
        try:
            if section == "params":
                _param_spec(v, name, entry)
                body: Mapping[str, Any] = entry
                description = str(entry.get("description", ""))
            else:
                keys = DEFINITION_KEYS[section]
                _known_keys(v, entry, keys, f" in definition {name}", listing=True)
                _required_keys(v, entry, keys, f"definition {name} needs `{{}}`")
                for key in keys:
                    if key.expect and key.name in entry:
                        _checked(v, entry, key)
                needs = list(entry.get("needs") or [])
                names = ROOTS | set(needs)
                description = entry["description"].strip()
                if section == "conditions":
                    body = v.condition(entry["condition"], frozenset(names), {}, entry,
                                       "condition")
                else:
                    form = v.mapping(entry["let"], f"definition {name}'s `let`", entry, "let")
                    _let_form(v, name, form, frozenset(names), {})
                    body = form
        finally:
            self._stack.pop()
        line = entries.pos(name)[0] if isinstance(entries, LocDict) else 0
        done = Definition(section, name, description, tuple(needs), body, self.file, line)
        self.entries[section][name] = done
        return done

    def use(self, section: str, v: _V, node: LocDict, names: frozenset[str]) -> Definition:
        """The definition a `{use: NAME}` node names, checked where it is used: it exists, and
        every name it needs is in scope there."""
        what = _SINGULAR[section]
        name = node[USE]
        if not isinstance(name, str):
            raise v.err(f"`use` takes the name of a {what} definition", node, USE)
        if name not in self.entries[section] and name not in self._raw[section]:
            known = ", ".join(sorted(self._raw[section])) or "none"
            raise v.err(f"unknown {what} definition {name!r} (defined in {self.file}: "
                        f"{known})", node, USE)
        found = self._resolve(section, name, v, node)
        missing = [n for n in found.needs if n not in names]
        if missing:
            raise v.err(f"{what} definition {name} reads {', '.join(missing)}, which "
                        f"{'is' if len(missing) == 1 else 'are'} not defined here (define "
                        "it as a `let` before this use)", node, USE)
        return found


_DEFINITIONS_CACHE: dict[tuple[str, bytes], Definitions] = {}


def load_definitions(path: FsPath) -> Definitions:
    """A pack's definitions file, validated (cached by path and content: a pack loads it once
    however many rules use it)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError(f"cannot read the definitions file: {exc.strerror}",
                        file=str(path)) from None
    key = (str(path), hashlib.sha256(data).digest())
    cached = _DEFINITIONS_CACHE.get(key)
    if cached is None:
        cached = Definitions(str(path), load_yaml(path, RuleError), key[1])
        if len(_DEFINITIONS_CACHE) > 32:
            _DEFINITIONS_CACHE.clear()
        _DEFINITIONS_CACHE[key] = cached
    return cached


def definitions_beside(rule_file: FsPath) -> FsPath:
    """Where the definitions of a rule's pack live: `_definitions.yaml` beside its folder."""
    return rule_file.parent.parent / DEFINITIONS_FILE


class _V:
    """Validator state: the file being checked."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.params: Mapping[str, Any] = {}
        self.regex_params: set[str] = set()
        # The pack's definitions (None: the pack has none) and those this file uses.
        self.defs: Definitions | None = None
        self.def_file = ""
        self.uses: list[Definition] = []

    def use(self, section: str, node: Any, names: frozenset[str]) -> Definition:
        if self.defs is None:
            raise self.err(f"`use: {node[USE]}` names a definition, but the pack has no "
                           f"definitions file ({self.def_file or DEFINITIONS_FILE} beside "
                           "the rule folders)", node, USE)
        found = self.defs.use(section, self, node, names)
        if found not in self.uses:
            self.uses.append(found)
        return found

    def err(self, msg: str, node: Any = None, key: Any = None) -> RuleError:
        line = col = None
        if isinstance(node, LocDict):
            line, col = node.pos(key) if key is not None else (node.line, node.column)
        elif isinstance(node, LocList):
            line, col = node.pos(key) if isinstance(key, int) else (node.line, node.column)
        return RuleError(msg, file=self.file, line=line or None, column=col or None)

    def mapping(self, node: Any, what: str, parent: Any = None, key: Any = None) -> LocDict:
        if not isinstance(node, dict):
            raise self.err(f"{what} must be a mapping", parent, key)
        return node  # type: ignore[return-value]

    def str_list(self, node: Any, what: str, parent: Any, key: Any) -> list[str]:
        if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
            raise self.err(f"{what} must be a list of strings", parent, key)
        return list(node)

    def path(self, text: Any, names: frozenset[str], parent: Any, key: Any) -> None:
        if not isinstance(text, str):
            raise self.err("`path` must be a string", parent, key)
        try:
            parsed = parse_path(text)
        except PathSyntaxError as exc:
            raise self.err(str(exc), parent, key) from None
        if parsed.root not in names:
            known = ", ".join(sorted(names))
            raise self.err(f"path {text!r} starts with unknown name {parsed.root!r} "
                           f"(known here: {known})", parent, key)
        if parsed.root == "params" and parsed.segments:
            first = parsed.segments[0]
            if not isinstance(first, str) or first not in self.params:
                declared = ", ".join(self.params) or "none"
                raise self.err(f"path {text!r} names unknown parameter {first!r} "
                               f"(declared: {declared})", parent, key)

    def arg(self, op: str, value: Any, names: frozenset[str], params: Mapping[str, Any],
            parent: LocDict) -> None:
        if isinstance(value, dict) and set(value) == {"param"}:
            if not isinstance(value["param"], str) or value["param"] not in params:
                raise self.err(f"unknown parameter {value['param']!r} (declare it under params)",
                               parent, op)
            if OPERATORS[op].arg.get("format") == "regex":
                self.regex_params.add(value["param"])
            return
        if isinstance(value, dict) and set(value) == {"path"}:
            self.path(value["path"], names, parent, op)
            return
        schema = OPERATORS[op].arg
        problem = _check_schema(value, schema)
        if problem:
            raise self.err(f"operator `{op}` {problem}", parent, op)

    def condition(self, node: Any, names: frozenset[str], params: Mapping[str, Any],
                  parent: Any = None, key: Any = None) -> Any:
        """Check a condition; returns it with every `{use: NAME}` in it replaced by the named
        definition's condition (the same node when it has none)."""
        node = self.mapping(node, "a condition", parent, key)
        keys = set(node) - {"because"}
        if "because" in node and not isinstance(node["because"], str):
            raise self.err("`because` must be a sentence", node, "because")
        if USE in keys:
            if len(keys) != 1:
                raise self.err(f"`use` cannot be combined with "
                               f"{', '.join(sorted(keys - {USE}))} (only `because`)", node)
            body = self.use("conditions", node, names).body
            if "because" not in node:
                return body
            # The user's own sentence replaces the definition's.
            return {**body, "because": node["because"]}
        kinds = keys & {*COMBINATORS}
        if kinds:
            if len(keys) != 1:
                raise self.err(f"`{next(iter(kinds))}` cannot be combined with "
                               f"{', '.join(sorted(keys - kinds))}", node)
            kind = kinds.pop()
            if kind == "not":
                node["not"] = self.condition(node["not"], names, params, node, "not")
                return node
            children = node[kind]
            if not isinstance(children, list) or not children:
                raise self.err(f"`{kind}` takes a non-empty list of conditions", node, kind)
            for i, child in enumerate(children):
                children[i] = self.condition(child, names, params, children, i)
            return node
        if "path" not in node:
            raise self.err("a condition needs `all`, `any`, `not`, or a `path` with an operator "
                           f"(got {', '.join(sorted(keys)) or 'nothing'})", node)
        self.path(node["path"], names, node, "path")
        quants = keys & set(QUANTIFIERS)
        if quants:
            extra = keys - quants - {"path", "as", "default"}
            if len(quants) > 1 or extra:
                raise self.err(f"unexpected {', '.join(sorted(extra | quants))} beside a "
                               "quantifier", node)
            quant = quants.pop()
            var = node.get("as", "item")
            if not _identifier(var) or var in ROOTS:
                raise self.err("`as` must be a name that is not a root", node, "as")
            node[quant] = self.condition(node[quant], names | {var}, params, node, quant)
            return node
        ops = keys - {"path", "default"}
        unknown = ops - set(OPERATORS)
        if unknown:
            op = sorted(unknown)[0]
            raise self.err(f"unknown operator `{op}` (see `phiguard rules operators`)", node, op)
        if len(ops) != 1:
            raise self.err(f"a leaf takes exactly one operator, got {len(ops)}: "
                           f"{', '.join(sorted(ops)) or 'none'}", node)
        op = ops.pop()
        self.arg(op, node[op], names, params, node)
        return node


_TAKES = {"boolean": "true or false", "string": "a string", "number": "a number",
          "integer": "an integer", "array": "a list", "object": "a mapping", "null": "null"}


def _check_schema(value: Any, schema: Mapping[str, Any]) -> str | None:
    """What is wrong with a value under a JSON Schema of the subset the language uses (None:
    nothing), as the end of a sentence: "takes a list". Operator arguments (the registry's
    schemas) and the language tables' keys are both checked with it; `$ref` parts are checked
    by the loader's own code."""
    if "$ref" in schema:
        return None
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind
    if kinds is not None and not any(_is_json_type(value, k) for k in kinds):
        return "takes " + " or ".join(_TAKES.get(k, k) for k in kinds)
    if "const" in schema and not _same(value, schema["const"]):
        return f"takes {schema['const']!r}"
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        return "takes one of " + ", ".join(str(e) for e in schema["enum"])
    if "anyOf" in schema:
        problems = [_check_schema(value, s) for s in schema["anyOf"]]
        if all(problems):
            return str(problems[-1])
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"takes a list of at least {schema['minItems']}"
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            return "takes a list without repeats"
        items = schema.get("items")
        if items:
            for item in value:
                problem = _check_schema(item, items)
                if problem:
                    return f"takes a list whose items are each: {problem[6:]}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return "takes non-empty text"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"takes text matching {schema['pattern']}"
    if schema.get("format") == "regex":
        problem = regex_problem(value)
        if problem:
            return f"has an invalid regex: {problem}"
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        return f"takes a value of at least {schema['minimum']}"
    return None


def regex_problem(pattern: Any) -> str | None:
    """Why a pattern cannot be run (None if it can): rules run regexes with RE2."""
    if not isinstance(pattern, str):
        return "a regular expression must be text"
    try:
        compile_regex(pattern)
    except RegexError as exc:
        return str(exc)
    return None


_JSON_KIND: dict[type, str] = {dict: "a mapping", list: "a list", bool: "true/false",
                               int: "a number", float: "a number", type(None): "null"}


def validate_param_value(spec: Mapping[str, Any], value: Any) -> bool:
    """Whether a value has the parameter's type (a `list` is a list of strings)."""
    kind = PARAM_TYPES[spec["type"]]
    if isinstance(value, bool) and spec["type"] in ("integer", "number"):
        return False
    if spec["type"] == "list" and isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def param_problem(rule: Rule, name: str, value: Any) -> str | None:
    """What is wrong with a value for one of a rule's parameters (None: nothing)."""
    spec = rule.params[name]
    where = f"{rule.id}.{name}"
    if spec["type"] == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                what = next((text for kind, text in _JSON_KIND.items()
                             if isinstance(item, kind)), type(item).__name__)
                return f"{where} must be a list of strings: item {i + 1} is {what}"
    if not validate_param_value(spec, value):
        return f"{where} must be of type {spec['type']}"
    if name in rule.regex_params:
        problem = regex_problem(value)
        if problem:
            return f"{where} is not a regular expression phiguard can run: {problem}"
    return None


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: true is not 1 (Python's == says it is)."""
    return value == expected and isinstance(value, bool) == isinstance(expected, bool)


def fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether a value satisfies a schema of the language's subset (see `_check_schema`)."""
    return _check_schema(value, schema) is None


def _is_json_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return value is None if kind == "null" else False


def _known_keys(v: _V, node: LocDict, table: tuple[Key, ...], where: str,
                listing: bool = False) -> None:
    """Every key of `node` is one of the table's (the error names it, at its position)."""
    names = [k.name for k in table]
    for key in node:
        if key not in names:
            expected = f" (expected one of: {', '.join(names)})" if listing else ""
            raise v.err(f"unknown key `{key}`{where}{expected}", node, key)


def _required_keys(v: _V, node: LocDict, table: tuple[Key, ...], needs: str) -> None:
    for k in table:
        if k.required and k.name not in node:
            raise v.err(needs.format(k.name), node)


def _checked(v: _V, node: LocDict, key: Key) -> Any:
    """The value of a key that is present, checked against its schema with its sentence."""
    value = node[key.name]
    if not fits(value, key.schema):
        raise v.err(key.expect, node, key.name)
    return value


_TOP = {k.name: k for k in RULE_KEYS}
_IDENTIFIER = re.compile(IDENTIFIER)


def _identifier(name: Any) -> bool:
    """An ASCII identifier: the names the JSON Schema allows too (not every Python one)."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def _catalog_pattern(control: str, patterns: Mapping[str, re.Pattern[str]]) -> re.Pattern[str]:
    """The id pattern of the catalog a control id names (`catalog/...`); the bundled
    catalog's shape for a catalog that declares none."""
    return patterns.get(control.split("/", 1)[0], CONTROL_ID)


def _param_spec(v: _V, name: str, spec: Any, parent: Any = None) -> None:
    """One parameter declaration: `{type, default, description}`, the default of its type."""
    spec = v.mapping(spec, f"parameter {name}", parent, name)
    _known_keys(v, spec, PARAM_KEYS, f" in parameter {name}")
    if not isinstance(spec.get("type"), str) or spec["type"] not in PARAM_TYPES:
        raise v.err(f"parameter {name} needs a type: {', '.join(PARAM_TYPES)}", spec, "type")
    if "default" not in spec or not validate_param_value(spec, spec["default"]):
        kind = "list of strings" if spec["type"] == "list" else spec["type"]
        raise v.err(f"parameter {name} needs a default of type {kind}", spec)


def _validate(raw: Any, file: str, folder_id: str | None,
              patterns: Mapping[str, re.Pattern[str]] | None = None,
              definitions: Definitions | None = None, definitions_file: str = "") -> Rule:
    v = _V(file)
    v.defs = definitions
    v.def_file = definitions_file
    doc = v.mapping(raw, "a rule file")
    _known_keys(v, doc, RULE_KEYS, "", listing=True)
    _required_keys(v, doc, RULE_KEYS, "missing required key `{}`")
    rid = doc["id"]
    if not isinstance(rid, str) or not RULE_ID.match(rid):
        raise v.err(_TOP["id"].expect, doc, "id")
    if folder_id is not None and rid != folder_id:
        raise v.err(f"`id` {rid} differs from its folder name {folder_id}", doc, "id")
    title = doc["title"]
    if not isinstance(title, str) or not title.strip():
        raise v.err(_TOP["title"].expect, doc, "title")
    if title.lower().startswith("ensure"):
        raise v.err("`title` states what is true when the rule passes; don't start with 'Ensure'",
                    doc, "title")
    _checked(v, doc, _TOP["severity"])
    controls = v.str_list(doc["controls"], "`controls`", doc, "controls")
    if not controls:
        raise v.err("`controls` must name at least one control", doc, "controls")
    for i, control in enumerate(controls):
        pattern = _catalog_pattern(control, patterns or {})
        if not pattern.match(control):
            example = ("hipaa/164.312(e)(1)" if pattern is CONTROL_ID
                       else f"its catalog's pattern {pattern.pattern}")
            raise v.err(f"control id {control!r} does not look like {example}",
                        doc["controls"], i)
    _checked(v, doc, _TOP["description"])
    types = v.str_list(doc["asset_types"], "`asset_types`", doc, "asset_types")
    if not types:
        raise v.err("`asset_types` must name at least one type", doc, "asset_types")
    for i, t in enumerate(types):
        if t != "*" and not ASSET_TYPE.match(t):
            raise v.err(f"{t!r} is not a CAI asset type (service.googleapis.com/Kind)",
                        doc["asset_types"], i)
    scope = _checked(v, doc, _TOP["scope"]) if "scope" in doc else SCOPES[0]
    optional = _checked(v, doc, _TOP["optional"]) if "optional" in doc else False
    params = v.mapping(doc.get("params") or LocDict(), "`params`", doc, "params")
    for name, spec in params.items():
        if not _identifier(name):
            raise v.err(f"parameter name {name!r} must be an identifier", params, name)
        if isinstance(spec, dict) and USE in spec:
            if len(spec) != 1:
                raise v.err(f"parameter {name}: `use` stands alone (the definition declares "
                            "type, default and description)", spec)
            params[name] = v.use("params", spec, ROOTS).body
            continue
        _param_spec(v, name, spec, params)
    v.params = params
    names = ROOTS
    lets = v.mapping(doc.get("let") or LocDict(), "`let`", doc, "let")
    for name, form in lets.items():
        if not _identifier(name) or name in ROOTS or name == "item":
            raise v.err(f"`let` name {name!r} must be an identifier other than a root name",
                        lets, name)
        form = v.mapping(form, f"let {name}", lets, name)
        if USE in form:
            if len(form) != 1:
                raise v.err(f"let {name}: `use` stands alone", form)
            lets[name] = v.use("lets", form, names).body
        else:
            _let_form(v, name, form, names, params)
        names = names | {name}
    if "when" in doc:
        doc["when"] = v.condition(doc["when"], names, params, doc, "when")
    doc["assert"] = v.condition(doc["assert"], names, params, doc, "assert")
    evidence = v.str_list(doc.get("evidence") or [], "`evidence`", doc, "evidence")
    for i, path in enumerate(evidence):
        v.path(path, names, doc["evidence"], i)
    rem = v.mapping(doc["remediation"], "`remediation`", doc, "remediation")
    _known_keys(v, rem, REMEDIATION_KEYS, " in remediation")
    for key in REMEDIATION_KEYS:
        if key.name in rem and key.name != "terraform_fixes":
            _checked(v, rem, key)
    _required_keys(v, rem, REMEDIATION_KEYS, "remediation needs a `{}`")
    if "fix" in rem and "manual" in rem:
        raise v.err("remediation names a `fix` action and says why there is none (`manual`): "
                    "keep one", rem, "manual")
    tf_fixes = _terraform_fixes(v, rem)
    unknown_in_plan = _unknown_in_plan(v, doc)
    for name in sorted(v.regex_params):
        if params[name]["type"] != "string":
            raise v.err(f"parameter {name} is used as a regular expression, so its type must "
                        "be string", params, name)
        problem = regex_problem(params[name]["default"])
        if problem:
            raise v.err(f"parameter {name} is used as a regular expression, but its default is "
                        f"not one phiguard can run: {problem}", params, name)
    refs = v.str_list(doc.get("references") or [], "`references`", doc, "references")
    content = v.str_list(doc.get("content_types") or [], "`content_types`", doc, "content_types")
    for i, kind in enumerate(content):
        if kind not in CONTENT_TYPES:
            raise v.err(f"content type {kind!r} is not one of {', '.join(CONTENT_TYPES)}",
                        doc["content_types"], i)
    return Rule(
        id=rid, title=title.strip(), severity=doc["severity"], controls=tuple(controls),
        description=doc["description"].strip(), asset_types=tuple(types), scope=scope,
        optional=optional, params={k: dict(s) for k, s in params.items()},
        when=doc.get("when"), let=dict(lets), assert_=doc["assert"], evidence=tuple(evidence),
        remediation=dict(rem), references=tuple(refs), path=file, raw=doc,
        content_types=tuple(content), regex_params=frozenset(v.regex_params),
        terraform_fixes=tf_fixes, unknown_in_plan=unknown_in_plan, uses=tuple(v.uses),
        definitions_file=definitions.file if definitions is not None else "",
    )


def _let_form(v: _V, name: str, form: LocDict, names: frozenset[str],
              params: Mapping[str, Any]) -> None:
    """One `let` entry, checked by its form's declaration in the language tables."""
    kinds = set(form) & set(LET_FORMS)
    if len(kinds) != 1:
        raise v.err(f"let {name} needs exactly one of: {', '.join(LET_FORMS)}", form)
    kind = kinds.pop()
    decl = LET_FORMS[kind]
    extra = set(form) - {kind, "types"}
    if extra or ("types" in form) != decl.with_types:
        need = "with `types`" if decl.with_types else "alone"
        raise v.err(f"let {name}: `{kind}` is used {need}", form)
    arg = form[kind]
    if decl.arg == "path":
        v.path(arg, names, form, kind)
    elif decl.arg == "format":
        if not isinstance(arg, str) or not FORMAT_FIELD.search(arg):
            raise v.err("`format` takes text with {path} fields, e.g. \"{data.project}:"
                        "{data.name}\"", form, kind)
        for field_path in FORMAT_FIELD.findall(arg):
            v.path(field_path, names, form, kind)
    elif decl.arg == "true":
        if arg is not True:
            raise v.err(f"`{kind}` takes true", form, kind)
    elif decl.arg == "constraint":
        if not fits(arg, decl.schema):
            raise v.err(f"`{kind}` takes a constraint name like constraints/iam.x", form, kind)
    else:
        _let_object(v, kind, v.mapping(arg, f"{kind} arguments", form, kind), names, params)
    if "types" in form:
        v.str_list(form["types"], "`types`", form, "types")


def _let_object(v: _V, kind: str, sub: LocDict, names: frozenset[str],
                params: Mapping[str, Any]) -> None:
    """A let form whose argument is a mapping: its keys, required keys and enums from the
    form's schema; a `where` is a condition with the form's `as` name in scope."""
    schema = LET_FORMS[kind].schema
    props: Mapping[str, Any] = schema.get("properties", {})
    for key in sub:
        if key not in props:
            raise v.err(f"unknown key `{key}` in {kind}", sub, key)
    for key in schema.get("required", ()):
        if key not in sub:
            raise v.err(f"{kind} needs `{key}`" + (
                " (in the referring assets' data)" if key == "path" else ""), sub)
    for key, prop in props.items():
        if key not in sub or key == "where":
            continue
        value = sub[key]
        if key == "types":
            v.str_list(value, "`types`", sub, key)
        elif "enum" in prop and not fits(value, prop):
            raise v.err(f"{kind} `{key}` must be one of {', '.join(prop['enum'])}", sub, key)
        elif prop.get("type") == "boolean" and not isinstance(value, bool):
            raise v.err(f"`{key}` must be true or false", sub, key)
        elif not fits(value, prop):
            raise v.err(f"{kind} `{key}` must be {_describe(prop)}", sub, key)
    if "where" in sub:
        var = sub.get("as", "item")
        sub["where"] = v.condition(sub["where"], names | {var}, params, sub, "where")


def _describe(schema: Mapping[str, Any]) -> str:
    if schema.get("type") == "string":
        return "an identifier" if "pattern" in schema else "text"
    return "a " + str(schema.get("type", "value"))


def load_rule(path: FsPath, patterns: Mapping[str, re.Pattern[str]] | None = None) -> Rule:
    """Load and validate one rule.yaml; its folder name must be its id. `patterns` are the
    control id patterns of catalogs that declare their own (by catalog name). The pack's
    definitions (`_definitions.yaml` beside the rule folders), when there is such a file, are
    loaded once and expanded into the rule where it names them (`use:`)."""
    raw = load_yaml(path, RuleError)
    if patterns is None:
        # Alone: the id patterns of the catalogs beside the pack (rules/controls/*.yaml).
        patterns = {c.name: c.pattern for c in map(_load_controls, _find_controls([path.parent]))
                    if c.pattern is not None}
    defs_path = definitions_beside(path)
    definitions = load_definitions(defs_path) if defs_path.is_file() else None
    return _validate(raw, str(path), path.parent.name, patterns, definitions, str(defs_path))


# The framework reports follow when none is chosen.
DEFAULT_FRAMEWORK = "hipaa"


@dataclass(frozen=True)
class Catalog:
    """One control catalog file: its name (`catalog:`), id pattern and controls."""

    name: str
    pattern: re.Pattern[str] | None
    controls: dict[str, Control]
    title: str = ""
    path: str = ""
    # control id -> the rules its `rules:` list links to it (a baseline over the pack's rules)
    links: Mapping[str, tuple[tuple[str, int, int], ...]] = field(default_factory=dict)
    # controls whose `covered` the file leaves out: covered when some rule names them
    implied: frozenset[str] = frozenset()
    # what reports call the framework under its title, and one of its controls
    subtitle: str = ""
    control_noun: str = "control"

    @property
    def label(self) -> str:
        """The short name reports print (HIPAA, CIS-GCP-5.0)."""
        return self.name.upper()


def is_catalog_file(path: FsPath) -> bool:
    """Whether `path` is a control catalog file given where rules are expected (`--rules
    acme.yaml`): a YAML mapping with `catalog` and `controls` and no rule `id`."""
    if not path.is_file() or path.name == "rule.yaml" or path.suffix not in (".yaml", ".yml"):
        return False
    try:
        doc = load_yaml(path, RuleError)
    except RuleError:
        return False
    return isinstance(doc, dict) and "catalog" in doc and "controls" in doc and "id" not in doc


def _load_controls(path: FsPath, origin: str = "") -> Catalog:
    raw = load_yaml(path, RuleError)
    v = _V(str(path))
    doc = v.mapping(raw, "a control catalog")
    name = doc.get("catalog", "")
    if not isinstance(name, str) or (name and not CATALOG_NAME.match(name)):
        raise v.err("`catalog` must be a lower-case name like hipaa or cis-gcp-5.0", doc,
                    "catalog")
    for key in ("title", "subtitle", "control_noun"):
        if not isinstance(doc.get(key, ""), str):
            raise v.err(f"`{key}` must be text", doc, key)
    title = doc.get("title", "")
    pattern: re.Pattern[str] | None = None
    if "id_pattern" in doc:
        if not name:
            raise v.err("a catalog with its own `id_pattern` needs its `catalog` name",
                        doc, "id_pattern")
        try:
            pattern = re.compile(doc["id_pattern"]) if isinstance(doc["id_pattern"], str) \
                else None
        except re.error as exc:
            raise v.err(f"`id_pattern` is not a regular expression: {exc}", doc,
                        "id_pattern") from None
        if pattern is None:
            raise v.err("`id_pattern` must be a regular expression", doc, "id_pattern")
    elif origin:
        raise v.err(f"a catalog from {origin} needs its `catalog` name and `id_pattern`", doc)
    items = doc.get("controls")
    if not isinstance(items, list):
        raise v.err("a control catalog needs a `controls` list", doc)
    out: dict[str, Control] = {}
    links: dict[str, tuple[tuple[str, int, int], ...]] = {}
    implied: set[str] = set()
    for i, item in enumerate(items):
        item = v.mapping(item, "a control", items, i)
        _known_keys(v, item, CONTROL_KEYS, " in a control")
        for ckey in CONTROL_KEYS[5:]:
            if ckey.name in item and not fits(item[ckey.name], ckey.schema):
                raise v.err(f"control `{ckey.name}` must be "
                            + {"covered": "true or false", "level": "a whole number from 1",
                               "automated": "true or false",
                               "rules": "a list of rule ids like NET-001"}[ckey.name],
                            item, ckey.name)
        cid = item.get("id")
        if pattern is not None:
            if not isinstance(cid, str) or not cid.startswith(f"{name}/") \
                    or not pattern.match(cid):
                raise v.err(f"control `id` must start with {name}/ and match the catalog's "
                            f"id_pattern {pattern.pattern}", item, "id")
        elif not isinstance(cid, str) or not CONTROL_ID.match(cid):
            raise v.err("control `id` must look like hipaa/164.312(e)(1)", item, "id")
        if cid in out:
            raise v.err(f"duplicate control {cid}", item, "id")
        if not isinstance(item.get("title"), str):
            raise v.err(f"control {cid} needs its official `title`", item)
        if "covered" not in item:
            implied.add(cid)
        if "rules" in item:
            node = item["rules"]
            links[cid] = tuple((rid, *node.pos(j)) for j, rid in enumerate(node))
        out[cid] = Control(cid, item["title"], str(item.get("section", "")),
                           str(item.get("standard", "")), str(item.get("kind", "")),
                           bool(item.get("covered", False)), item.get("level"),
                           bool(item.get("automated", True)))
    if not name and out:
        name = next(iter(out)).split("/", 1)[0]
    return Catalog(name, pattern, out, title, str(path), links, frozenset(implied),
                   doc.get("subtitle", "") or title, doc.get("control_noun", "") or "control")


def _rule_files(root: FsPath) -> list[FsPath]:
    if root.is_file():
        return [root]
    return sorted(root.rglob("rule.yaml"))


def _find_controls(roots: Iterable[FsPath]) -> list[FsPath]:
    found: list[FsPath] = []
    for root in roots:
        base = root if root.is_dir() else root.parent
        for candidate in (base / "controls", base.parent / "controls",
                          base.parent.parent / "controls"):
            if candidate.is_dir():
                found.extend(sorted(candidate.glob("*.yaml")))
                break
    return sorted(set(found))


def _tf_types(v: _V, node: Any, parent: Any, key: Any, seen: dict[str, str]) -> list[str]:
    types = v.str_list(node, "`resource_types`", parent, key)
    if not types:
        raise v.err("`resource_types` must list at least one Terraform resource type",
                    parent, key)
    for i, tf_type in enumerate(types):
        if not TF_TYPE.match(tf_type):
            raise v.err(f"{tf_type!r} is not a Terraform resource type of the google provider "
                        "(google_...)", node, i)
        if tf_type in seen:
            raise v.err(f"{tf_type} is listed twice", node, i)
        seen[tf_type] = tf_type
    return types


def _terraform_fixes(v: _V, rem: LocDict) -> dict[str, dict[str, Any]]:
    """`remediation.terraform_fixes`: [{resource_types, attribute, value, note}] -> by type.

    An entry either sets `attribute` to `value` (with an optional `note`), or, without an
    attribute, says in `note` what to do instead (delete the resource)."""
    if "terraform_fixes" not in rem:
        return {}
    node = rem["terraform_fixes"]
    if not isinstance(node, list) or not node:
        raise v.err("remediation `terraform_fixes` must be a non-empty list", rem,
                    "terraform_fixes")
    out: dict[str, dict[str, Any]] = {}
    seen: dict[str, str] = {}
    for i, entry in enumerate(node):
        entry = v.mapping(entry, "a terraform_fixes entry", node, i)
        _known_keys(v, entry, TF_FIX_KEYS, " in a terraform_fixes entry")
        _required_keys(v, entry, TF_FIX_KEYS, "a terraform_fixes entry needs `{}`")
        for key in TF_FIX_KEYS:
            if key.expect and key.name in entry:
                _checked(v, entry, key)
        if ("attribute" in entry) != ("value" in entry):
            raise v.err("a terraform_fixes entry sets an `attribute` to a `value`: give both "
                        "(or neither, and say what to do in `note`)", entry)
        if "attribute" not in entry and "note" not in entry:
            raise v.err("a terraform_fixes entry without an attribute needs a `note`", entry)
        fix = {"attribute": entry.get("attribute", ""), "value": entry.get("value"),
               "note": entry.get("note", "")}
        for tf_type in _tf_types(v, entry["resource_types"], entry, "resource_types", seen):
            out[tf_type] = fix
    return out


def _unknown_in_plan(v: _V, doc: LocDict) -> dict[str, str]:
    """`unknown_in_plan: {resource_types, reason}`: planned resources of these types are
    UNKNOWN to this rule (its evidence exists only after apply)."""
    if "unknown_in_plan" not in doc:
        return {}
    node = v.mapping(doc["unknown_in_plan"], "`unknown_in_plan`", doc, "unknown_in_plan")
    _known_keys(v, node, UNKNOWN_IN_PLAN_KEYS, " in unknown_in_plan")
    reason_key = UNKNOWN_IN_PLAN_KEYS[1]
    reason = node.get("reason")
    if not fits(reason, reason_key.schema):
        raise v.err(reason_key.expect, node, "reason" if "reason" in node else None)
    _required_keys(v, node, UNKNOWN_IN_PLAN_KEYS, "unknown_in_plan needs `{}`")
    types = _tf_types(v, node["resource_types"], node, "resource_types", {})
    return {t: str(reason) for t in types}


def load_pack(roots: Iterable[FsPath]) -> RulePack:
    """Load every rule under the roots and the control catalogs; check ids and control links.

    Installed plugins are loaded first (once): their operators may be used by the rules, their
    control catalogs named by them. A pack loaded before from the very same inputs comes from
    the cache (phiguard.policy.pack_cache)."""
    from phiguard.policy.pack_cache import cached_pack
    from phiguard.policy.plugins import load_operator_plugins

    load_operator_plugins()
    return cached_pack(list(roots), _load_pack, pack_inputs, RulePack)


def pack_inputs(roots: list[FsPath]) -> list[FsPath]:
    """Every file `load_pack` reads for these roots (plugins' catalogs aside): the cache key."""
    out: list[FsPath] = []
    for root in roots:
        if is_catalog_file(root):
            out.append(root)
            continue
        for rule_file in _rule_files(root):
            out.append(rule_file)
            beside = definitions_beside(rule_file)
            if beside.is_file():
                out.append(beside)
    return [*out, *_find_controls(roots)]


def _load_pack(roots: list[FsPath]) -> RulePack:
    from phiguard.policy.plugins import catalog_files

    # A catalog file given where rules are expected (`--rules acme.yaml`) adds that catalog.
    catalog_roots = [r for r in roots if is_catalog_file(r)]
    roots = [r for r in roots if r not in catalog_roots]
    controls: dict[str, Control] = {}
    patterns: dict[str, re.Pattern[str]] = {}
    catalogs: dict[str, Catalog] = {}
    plugin_catalogs: dict[str, str] = {}  # catalog name -> the plugin that provides it
    seen_files: set[FsPath] = set()
    for path in _find_controls(roots):
        seen_files.add(path.resolve())
        catalog = _load_controls(path)
        if catalog.name in catalogs:
            raise RuleError(f"control catalog {catalog.name!r} is also defined in "
                            f"{catalogs[catalog.name].path}", file=str(path))
        catalogs[catalog.name] = catalog
        controls.update(catalog.controls)
        if catalog.pattern is not None:
            patterns[catalog.name] = catalog.pattern
    own_catalogs = bool(controls)
    for path in catalog_roots:
        if path.resolve() in seen_files:
            continue
        seen_files.add(path.resolve())
        catalog = _load_controls(path, f"--rules {path}")
        if catalog.name in catalogs:
            raise RuleError(f"control catalog {catalog.name!r} is also defined in "
                            f"{catalogs[catalog.name].path}", file=str(path))
        catalogs[catalog.name] = catalog
        plugin_catalogs[catalog.name] = f"--rules {path}"
        controls.update(catalog.controls)
        assert catalog.pattern is not None
        patterns[catalog.name] = catalog.pattern
    extra = catalog_files()
    for who, path in extra:
        try:
            catalog = _load_controls(path, who)
        except RuleError as exc:
            raise RuleError(f"{exc.message} (in {who})", file=exc.file, line=exc.line,
                            column=exc.column) from None
        taken = plugin_catalogs.get(catalog.name) or (
            "the rule pack" if any(c.startswith(f"{catalog.name}/") for c in controls) else "")
        if taken:
            raise PluginError(f"{who}: control catalog {catalog.name!r} is already defined by "
                              f"{taken}")
        plugin_catalogs[catalog.name] = who
        catalogs[catalog.name] = catalog
        controls.update(catalog.controls)
        assert catalog.pattern is not None
        patterns[catalog.name] = catalog.pattern
    if not roots and catalog_roots:
        raise RuleError("only control catalogs were given: add the rules they describe "
                        "(--rules DIR)", file=str(catalog_roots[0]))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    digest = hashlib.sha256()
    for root in roots:
        if not root.exists():
            raise RuleError("no such rule directory or file", file=str(root))
        files = _rule_files(root)
        if not files and not _find_controls([root]):
            raise RuleError("no rules found (expected ID/rule.yaml folders or a rule.yaml)",
                            file=str(root))
        for path in files:
            rule = load_rule(path, patterns)
            if rule.id in seen:
                raise RuleError(f"rule {rule.id} is also defined in {seen[rule.id]}",
                                file=str(path))
            seen[rule.id] = str(path)
            for i, control in enumerate(rule.controls):
                checked = own_catalogs or control.split("/", 1)[0] in plugin_catalogs
                if checked and control not in controls:
                    line, col = rule.raw["controls"].pos(i)
                    raise RuleError(f"control {control} is not in the control catalog",
                                    file=str(path), line=line, column=col)
            rules.append(rule)
            digest.update(rule.id.encode() + b"\0" + path.read_bytes() + b"\0")
    rules = _link_catalogs(rules, catalogs, controls)
    # The definitions the rules expand decide verdicts too.
    for defs_file in sorted({r.definitions_file for r in rules if r.definitions_file}):
        digest.update(b"definitions\0" + FsPath(defs_file).read_bytes() + b"\0")
    for control_file in _find_controls(roots):
        digest.update(control_file.read_bytes())
    for control_file in catalog_roots:
        digest.update(control_file.read_bytes())
    for _, control_file in extra:
        digest.update(control_file.read_bytes())
    # Installed operators decide verdicts too: the digest names each (and its distribution).
    for op in sorted((o for o in OPERATORS.values() if o.origin), key=lambda o: o.name):
        digest.update(f"operator {op.name} {op.origin}\0".encode())
    rules.sort(key=lambda r: r.id)
    return RulePack(tuple(rules), controls, digest.hexdigest(),
                    tuple(str(r) for r in [*roots, *catalog_roots]), catalogs)


def _link_catalogs(rules: list[Rule], catalogs: dict[str, Catalog],
                   controls: dict[str, Control]) -> list[Rule]:
    """Apply the catalogs' `rules:` links (each linked rule gains the control) and settle
    `covered` for controls whose catalog leaves it out: covered when some rule names them.
    Rewrites `catalogs` and `controls` in place; returns the rules."""
    by_id = {r.id: r for r in rules}
    for catalog in catalogs.values():
        for cid, linked in catalog.links.items():
            for rid, line, col in linked:
                rule = by_id.get(rid)
                if rule is None:
                    raise RuleError(f"control {cid} links rule {rid}, which is not in the "
                                    "rule pack", file=catalog.path, line=line, column=col)
                if cid not in rule.controls:
                    by_id[rid] = replace(rule, controls=(*rule.controls, cid))
    named = {c for r in by_id.values() for c in r.controls}
    for name, catalog in list(catalogs.items()):
        if not catalog.implied:
            continue
        settled = {cid: replace(c, covered=cid in named) if cid in catalog.implied else c
                   for cid, c in catalog.controls.items()}
        catalogs[name] = replace(catalog, controls=settled)
        controls.update(settled)
    return [by_id[r.id] for r in rules]
