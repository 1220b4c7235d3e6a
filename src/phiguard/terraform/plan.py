"""Read `terraform show -json` output once and index it by resource address.

Accepts plan `format_version` 0.1 through 1.x (Terraform 0.12 to today). Anything that is not
such a plan (not JSON, another format version, a missing or mistyped key) raises `PlanError`
naming the file and what was expected, so a broken input never passes the gate.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import orjson

from phiguard._util.slots import slot_maker
from phiguard.errors import InputError

__all__ = ["Plan", "PlanError", "ResourceChange", "load_plan", "parse_plan"]

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")
_ACTIONS = frozenset({"no-op", "create", "read", "update", "delete", "forget"})
# `module.a["x"].module.b[0].google_x.y["k"]`: the module path, then type.name, then the key.
_ADDRESS = re.compile(r"^(?P<module>(?:module\.[^.\[]+(?:\[[^\]]*\])?\.)*)"
                      r"(?P<type>[^.\[]+)\.(?P<name>[^.\[]+)(?P<index>\[[^\]]*\])?$")

_INSTANCE_KEY = re.compile(r"\[[^\]]*\]")
_MODULE_PATHS: dict[str, str] = {}  # module address -> its configuration path (keys dropped)


class PlanError(InputError):
    """The file is not a Terraform plan in JSON form that phiguard can read."""


@dataclass(frozen=True, slots=True)
class ResourceChange:
    """One managed resource of the plan: its address, actions and before/after values."""

    address: str
    module: str  # "" for the root module, else `module.a.module.b` (instance keys kept)
    type: str
    name: str
    index: Any  # count index (int), for_each key (str) or None
    actions: tuple[str, ...]
    before: Any
    after: Any
    after_unknown: Any
    provider: str = ""

    @property
    def config_address(self) -> str:
        """The address of the configuration block: module keys and the instance key dropped."""
        mod = _MODULE_PATHS.get(self.module)
        if mod is None:
            mod = _MODULE_PATHS[self.module] = _INSTANCE_KEY.sub("", self.module)
        return f"{mod}.{self.type}.{self.name}" if mod else f"{self.type}.{self.name}"

    @property
    def is_create(self) -> bool:
        return "create" in self.actions

    @property
    def is_delete(self) -> bool:
        return "delete" in self.actions

    @property
    def is_update(self) -> bool:
        return "update" in self.actions

    @property
    def exists_after(self) -> bool:
        """Whether the resource exists once the plan is applied."""
        return "create" in self.actions or "delete" not in self.actions


@dataclass
class Plan:
    """A parsed plan: changes by address, configuration references by config address."""

    file: str
    format_version: str
    terraform_version: str | None
    changes: list[ResourceChange]
    by_address: dict[str, ResourceChange]
    # config address -> attribute path ("ssl_policy", "settings.ip_configuration.private_network")
    # -> the references of its expression, as Terraform wrote them
    references: Mapping[str, dict[str, list[str]]]
    module_sources: dict[str, str]  # module config path (`module.a.module.b`) -> source
    data_sources: int = 0
    instances_of: dict[str, list[ResourceChange]] = field(default_factory=dict)
    # the moment the world after apply is judged (the gate's evaluation time): what a
    # resource created by this plan shows as its creation time
    applied_at: str | None = None
    # the google provider's `project` (a constant in its configuration): where a resource
    # without `project` goes, as the provider (and Google's converter) put it
    default_project: str | None = None
    _of_types: dict[tuple[str, ...], tuple[int, list[ResourceChange]]] = field(
        default_factory=dict, repr=False, compare=False)

    def of_types(self, *types: str) -> list[ResourceChange]:
        """The changes of these resource types, in plan order (kept, not scanned for again:
        tables look up planned resources of a type per resource they convert)."""
        got = self._of_types.get(types)
        if got is None or got[0] != len(self.changes):
            wanted = frozenset(types)
            got = self._of_types[types] = (len(self.changes),
                                           [c for c in self.changes if c.type in wanted])
        return got[1]


def _fail(file: str, what: str) -> PlanError:
    return PlanError(what, file=file)


def _check_version(doc: dict[str, Any], file: str) -> str:
    version = doc.get("format_version")
    if version is not None and not isinstance(version, str):
        raise _fail(file, f"format_version must be a string like \"1.2\", got {version!r}")
    if not isinstance(version, str):
        raise _fail(file, "not a Terraform plan: no format_version (expected the output of "
                          "`terraform show -json PLANFILE`)")
    match = _VERSION.match(version)
    if match is None or not (match.group(1) == "1" or (match.group(1) == "0"
                                                       and int(match.group(2)) >= 1)):
        raise _fail(file, f"unsupported plan format_version {version!r} "
                          "(phiguard reads 0.1 through 1.x)")
    return version


def _parse_index(text: str | None) -> Any:
    if not text:
        return None
    inner = text[1:-1]
    if inner.isdigit():
        return int(inner)
    if len(inner) >= 2 and inner[0] == inner[-1] == '"':
        return inner[1:-1]
    return inner


def _change(item: Any, i: int, file: str) -> ResourceChange | None:
    if not isinstance(item, dict):
        raise _fail(file, f"resource_changes[{i}] must be an object")
    address = item.get("address")
    if not isinstance(address, str) or not address:
        raise _fail(file, f"resource_changes[{i}] has no address")
    if item.get("mode", "managed") != "managed":
        return None
    rtype, name, change = item.get("type"), item.get("name"), item.get("change")
    if not (isinstance(rtype, str) and isinstance(name, str) and isinstance(change, dict)):
        _refuse(item, i, file)
    actions = change.get("actions")
    if not (isinstance(actions, list) and actions and _known_actions(actions)):
        _refuse(item, i, file)
    before, after = change.get("before"), change.get("after")
    unknown = change.get("after_unknown")
    if not ((before is None or isinstance(before, dict))
            and (after is None or isinstance(after, dict))
            and (unknown is None or isinstance(unknown, dict | bool))):
        _refuse(item, i, file)
    module = item.get("module_address") or ""
    index = item.get("index")
    # without `index`, the address tells the instance key and the module (only when it has
    # a key or a module part: otherwise neither would change)
    if "index" not in item and ("[" in address or address.startswith("module.")):
        match = _ADDRESS.match(address)
        if match is not None:
            index = _parse_index(match.group("index"))
            module = module or match.group("module").rstrip(".")
    return _new_change(address, module, rtype, name, index, tuple(actions), before, after,
                       unknown or {}, str(item.get("provider_name") or ""))


# `ResourceChange(...)` with every field given in order, built through its slots (the frozen
# dataclass's __init__ was a tenth of the cost of reading a large plan).
_new_change: Callable[..., ResourceChange] = slot_maker(ResourceChange)


def _known_actions(actions: list[Any]) -> bool:
    """Whether every action is one of `_ACTIONS` (strings all)."""
    try:
        return _ACTIONS.issuperset(actions)
    except TypeError:  # an unhashable item
        return False


def _refuse(item: dict[str, Any], i: int, file: str) -> NoReturn:
    """Raise the `PlanError` that says what is wrong with a resource change `_change`
    could not take."""
    where = f"resource_changes[{i}]"
    address = item.get("address")
    rtype, name = item.get("type"), item.get("name")
    if not isinstance(rtype, str) or not isinstance(name, str):
        raise _fail(file, f"{where} ({address}) has no type or name")
    change = item.get("change")
    if not isinstance(change, dict):
        raise _fail(file, f"{where} ({address}) has no change object")
    actions = change.get("actions")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        raise _fail(file, f"{where} ({address}) has no change.actions list")
    unknown_actions = [a for a in actions if a not in _ACTIONS]
    if unknown_actions:
        raise _fail(file, f"{where} ({address}) change.actions has {unknown_actions[0]!r} "
                          f"(expected {', '.join(sorted(_ACTIONS))})")
    for key in ("before", "after"):
        value = change.get(key)
        if value is not None and not isinstance(value, dict):
            raise _fail(file, f"{where} ({address}) change.{key} must be an object or null")
    raise _fail(file, f"{where} ({address}) change.after_unknown must be an object")


def _expression_refs(expressions: Any, prefix: str, out: dict[str, list[str]]) -> None:
    """Flatten a configuration block's expressions into attribute path -> references."""
    if not isinstance(expressions, dict):
        return
    for key, expr in expressions.items():
        path = f"{prefix}{key}"
        if isinstance(expr, list):  # nested blocks: a list of expression maps
            for i, block in enumerate(expr):
                # each block's own (`networks[1].network_url`), and the path without the
                # index, which the last block sets (for readers that do not know the index)
                _expression_refs(block, f"{path}[{i}].", out)
                _expression_refs(block, path + ".", out)
        elif isinstance(expr, dict):
            refs = expr.get("references")
            if isinstance(refs, list):
                out[path] = [r for r in refs if isinstance(r, str)]
            elif "constant_value" in expr:
                out[path] = []  # set, to a literal
            else:  # a nested block written as one object
                _expression_refs(expr, path + ".", out)


def _add_unchanged(module: Any, changes: list[ResourceChange],
                   by_address: dict[str, ResourceChange],
                   instances: dict[str, list[ResourceChange]]) -> None:
    """Resources in `planned_values` that `resource_changes` leaves out (some Terraform
    versions omit unchanged ones) join the plan as no-op changes."""
    if not isinstance(module, dict):
        return
    for res in module.get("resources") or ():
        if not isinstance(res, dict):
            continue
        address = res.get("address")
        if isinstance(address, str) and address in by_address:
            continue  # the usual case: resource_changes has it
        if res.get("mode", "managed") != "managed":
            continue
        rtype, name = res.get("type"), res.get("name")
        values = res.get("values")
        if not (isinstance(address, str) and isinstance(rtype, str) and isinstance(name, str)) \
                or address in by_address or not isinstance(values, dict):
            continue
        match = _ADDRESS.match(address)
        mod = match.group("module").rstrip(".") if match else ""
        change = ResourceChange(address=address, module=mod, type=rtype, name=name,
                                index=res.get("index"), actions=("no-op",), before=values,
                                after=values, after_unknown={},
                                provider=str(res.get("provider_name") or ""))
        changes.append(change)
        by_address[address] = change
        instances.setdefault(f"{mod}|{rtype}.{name}", []).append(change)
    for child in module.get("child_modules") or ():
        _add_unchanged(child, changes, by_address, instances)


class References(Mapping[str, dict[str, list[str]]]):
    """Config address -> attribute path -> the references of its expression, flattened on
    first use (most resources of a large plan never need theirs)."""

    def __init__(self) -> None:
        self.raw: dict[str, Any] = {}
        self._flat: dict[str, dict[str, list[str]]] = {}

    def __getitem__(self, address: str) -> dict[str, list[str]]:
        flat = self._flat.get(address)
        if flat is None:
            if address not in self.raw:
                raise KeyError(address)
            flat = {}
            _expression_refs(self.raw[address], "", flat)
            self._flat[address] = flat
        return flat

    def get(self, address: str, default: Any = None) -> Any:
        """`Mapping.get` without its `KeyError` round trip (converters ask once per resource)."""
        flat = self._flat.get(address)
        if flat is not None:
            return flat
        if address not in self.raw:
            return default
        return self[address]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


def _walk_modules(module: Any, path: str, refs: References, sources: dict[str, str]) -> None:
    if not isinstance(module, dict):
        return
    for res in module.get("resources") or ():
        if not isinstance(res, dict) or res.get("mode", "managed") != "managed":
            continue
        local = res.get("address")
        if not isinstance(local, str):
            continue
        refs.raw[f"{path}.{local}" if path else local] = res.get("expressions")
    for call_name, call in (module.get("module_calls") or {}).items():
        if not isinstance(call, dict):
            continue
        sub = f"{path}.module.{call_name}" if path else f"module.{call_name}"
        if isinstance(call.get("source"), str):
            sources[sub] = call["source"]
        _walk_modules(call.get("module"), sub, refs, sources)


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


def _int(text: str) -> int | float:
    value = int(text)  # as orjson: beyond 64 bits an integer is read as a float
    return value if -(1 << 63) <= value < (1 << 64) else float(value)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is infinity")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_TOKEN = re.compile(r'[ \t\n\r]*(?:([][{}",:])|(-?[0-9][0-9.eE+-]*|true|false|null))')
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _duplicate_at(text: str) -> int | None:
    """The index of the first key written twice in one object (the second one's quote)."""
    stack: list[set[str] | None] = []  # a set of keys per open object, None per array
    expect_key = False
    pos = 0
    while True:
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        char = match.group(1)
        if char == '"':
            value, end = json.decoder.scanstring(text, pos)  # type: ignore[attr-defined]
            keys = stack[-1] if stack else None
            if expect_key and keys is not None:
                if value in keys:
                    return pos - 1
                keys.add(value)
                expect_key = False
            pos = end
        elif char == "{":
            stack.append(set())
            expect_key = True
        elif char == "[":
            stack.append(None)
        elif char in ("}", "]"):
            if not stack:
                return None
            stack.pop()
            if not stack:
                return None
        elif char == ",":
            expect_key = bool(stack) and stack[-1] is not None


_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


def _fast_loads(raw: bytes) -> Any:
    """The document by a fast parser when it provably has no key written twice in one object
    and is what orjson reads, else None (then `_loads` decides, slowly, with the place of the
    repeated key).

    msgspec reads a large one (a third faster than orjson; below `_MSGSPEC_FROM` bytes its
    import costs more than it saves), and orjson encodes back what it read; when either
    refuses (msgspec: a number beyond a double, a lone surrogate, nesting past its limit;
    orjson: an integer beyond 64 bits, which orjson itself would have read as a float, or
    nesting past its own limit) the same test is made with orjson's own reading. The two
    agree on everything else they accept (strings, floats to the last bit, integers within
    64 bits, key order).

    Both keep the last of two equal keys without a word, so the colons are counted twice: in
    the text and in orjson's compact re-encoding of what was read. Every key is followed by
    one colon and every other colon is inside a string; a repeated key takes its colon, and
    those of the value it drops, out of the document, so its count is smaller. The counts are
    comparable when no string spells a colon as an escape (`\\u003a`); otherwise, and for
    anything orjson refuses or cannot encode back (nesting deeper than its limit), None."""
    if _ESCAPED_COLON.search(raw) is not None:
        return None
    doc = again = None
    if len(raw) >= _MSGSPEC_FROM:
        import msgspec

        try:
            doc = msgspec.json.decode(raw)
            again = orjson.dumps(doc)
        except (msgspec.DecodeError, orjson.JSONEncodeError, RecursionError, TypeError):
            again = None
    if again is None:
        try:
            doc = orjson.loads(raw)
            again = orjson.dumps(doc)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
            return None
    return doc if raw.count(b":") == again.count(b":") else None


_MSGSPEC_FROM = 4 << 20  # bytes of plan JSON (about 3,000 resources)


def _loads(raw: bytes, file: str) -> Any:
    """The JSON document; a key written twice in one object is refused with its place.

    orjson reads it when a count of its keys shows none repeated (`_fast_loads`). Otherwise
    the standard library's C parser reports each object's keys to a hook; anything it refuses
    is parsed again by orjson, whose messages name the line and column."""
    doc = _fast_loads(raw)
    if doc is not None:
        return doc
    try:
        text = raw.decode("utf-8")
        if _LONE_SURROGATE.search(raw):
            orjson.loads(raw)  # refuses lone surrogates, accepts pairs
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_int, parse_float=_float,
                          parse_constant=_constant)
    except _Duplicate as dup:
        at = _duplicate_at(text)
        line = column = None
        if at is not None:
            line = text.count("\n", 0, at) + 1
            column = at - text.rfind("\n", 0, at)
        raise PlanError(f"duplicate key {dup.key!r} in one object (JSON parsers keep one of "
                        "the values silently; write each key once)", file=file, line=line,
                        column=column) from None
    except (ValueError, RecursionError, orjson.JSONDecodeError):
        pass
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise PlanError(f"not valid UTF-8 (byte {bad.start})", file=file,
                            line=raw.count(b"\n", 0, bad.start) + 1) from None
        if not raw.strip():
            raise _fail(file, "empty file (expected the output of "
                              "`terraform show -json PLANFILE`)") from None
        raise PlanError(f"not JSON: {exc.msg}", file=file, line=exc.lineno,
                        column=exc.colno) from None
    del doc
    raise _fail(file, "not JSON phiguard reads: nested too deeply or a number out of range")


def _provider_project(providers: Any) -> str | None:
    """The constant `project` of the google / google-beta providers without an alias, when
    they agree on one."""
    found = set()
    for key, provider in (providers or {}).items() if isinstance(providers, dict) else ():
        if key not in ("google", "google-beta") or not isinstance(provider, dict):
            continue
        expr = (provider.get("expressions") or {}).get("project")
        value = expr.get("constant_value") if isinstance(expr, dict) else None
        if isinstance(value, str) and value:
            found.add(value)
        elif expr is not None:
            return None  # set from a variable: not known
    return found.pop() if len(found) == 1 else None


def parse_plan(raw: bytes, file: str) -> Plan:
    """Parse plan JSON bytes; raise `PlanError` for anything that is not a readable plan."""
    doc = _loads(raw, file)
    if not isinstance(doc, dict):
        raise _fail(file, "not a Terraform plan: the document is not a JSON object")
    version = _check_version(doc, file)
    if "resource_changes" not in doc and "planned_values" not in doc:
        raise _fail(file, "not a Terraform plan: neither resource_changes nor planned_values "
                          "(a state file? use `terraform show -json PLANFILE`)")
    raw_changes = doc.get("resource_changes")
    if raw_changes is None:
        raw_changes = []
    if not isinstance(raw_changes, list):
        raise _fail(file, "resource_changes must be a list")
    changes: list[ResourceChange] = []
    data_sources = 0
    by_address: dict[str, ResourceChange] = {}
    instances: dict[str, list[ResourceChange]] = {}
    twice: str | None = None  # the first address seen again (said once every item is read)
    for i, item in enumerate(raw_changes):
        change = _change(item, i, file)
        if change is None:
            data_sources += 1
            continue
        changes.append(change)
        address = change.address
        if twice is None and address in by_address:
            twice = address
        by_address[address] = change
        instances.setdefault(f"{change.module}|{change.type}.{change.name}", []).append(change)
    if twice is not None:
        raise _fail(file, f"resource address {twice} appears twice in resource_changes")
    planned = doc.get("planned_values")
    if planned is not None and not isinstance(planned, dict):
        raise _fail(file, "planned_values must be an object")
    if isinstance(planned, dict):
        _add_unchanged(planned.get("root_module"), changes, by_address, instances)
    refs = References()
    sources: dict[str, str] = {}
    config = doc.get("configuration")
    if config is not None and not isinstance(config, dict):
        raise _fail(file, "configuration must be an object")
    _walk_modules((config or {}).get("root_module"), "", refs, sources)
    default_project = _provider_project((config or {}).get("provider_config"))
    tf_version = doc.get("terraform_version")
    return Plan(file=file, format_version=version,
                terraform_version=tf_version if isinstance(tf_version, str) else None,
                changes=changes, by_address=by_address, references=refs,
                module_sources=sources, data_sources=data_sources, instances_of=instances,
                default_project=default_project)


def load_plan(path: Path) -> Plan:
    """Read and parse a plan file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(str(path), f"cannot read: {exc.strerror}") from None
    return parse_plan(raw, str(path))
