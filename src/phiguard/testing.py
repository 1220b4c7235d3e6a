"""Helpers for rule authors: build assets, run one rule, and check a rule's examples.

    from phiguard.testing import run_rule, check_examples
    outcome = run_rule(rule, [asset_record, ...])[subject_name]
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from phiguard._util.times import parse_time
from phiguard.errors import RuleError, SnapshotError
from phiguard.findings import Finding
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.readers import user_asset
from phiguard.inventory.records import Record, merge_records, parse_record
from phiguard.inventory.scope import PhiConfig, network_problem
from phiguard.policy.engine import Engine
from phiguard.policy.language import EXAMPLES_DIR
from phiguard.policy.rule import Rule, RulePack, param_problem, validate_param_value

__all__ = ["DEFAULT_AT", "Example", "ExampleResult", "assets_from_records", "check_examples",
           "check_pack", "load_example", "run_rule"]

DEFAULT_AT = "2026-11-25T00:00:00Z"
_OUTCOME_OF_FOLDER = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}


def assets_from_records(records: list[Any], file: str = "<records>",
                        users: list[Any] | None = None) -> list[Asset]:
    """CAI records (any flavour; content types merged by name) and directory users as assets."""
    merged: dict[str, Record] = {}
    for i, raw in enumerate(records):
        record = parse_record(raw, file, i + 1)
        prior = merged.get(record.name)
        merged[record.name] = merge_records(prior, record) if prior else record
    assets = [r.to_asset() for r in merged.values()]
    assets += [user_asset(u, file, i + 1) for i, u in enumerate(users or [])]
    return assets


_PHI_KEYS = ("all", "projects", "folders", "project_labels", "networks")


def _phi(config: dict[str, Any] | None) -> PhiConfig:
    config = config if config is not None else {"phi": {"all": True}}
    if not isinstance(config, dict) or set(config) - {"phi"}:
        raise RuleError("an example's `config` takes only `phi`")
    phi = config.get("phi") or {}
    unknown = set(phi) - set(_PHI_KEYS) if isinstance(phi, dict) else {"?"}
    if unknown:
        # A misspelt key would silently put nothing in PHI scope.
        raise RuleError(f"unknown `config.phi` keys: {', '.join(sorted(unknown))} "
                        f"(expected: {', '.join(_PHI_KEYS)})")
    for entry in phi.get("networks", []):
        problem = network_problem(str(entry))
        if problem:
            raise RuleError(f"`config.phi.networks`: {problem}")
    return PhiConfig(
        all=bool(phi.get("all", False)),
        projects=frozenset(str(p) for p in phi.get("projects", [])),
        folders=frozenset(phi.get("folders", [])),
        project_labels=dict(phi.get("project_labels", {})),
        networks=frozenset(phi.get("networks", [])),
    )


def _projected(asset: Asset, fields: dict[str, frozenset[str] | None]) -> Asset:
    keep = fields.get(asset.asset_type)
    if keep is None:
        return asset
    return replace(asset, data={k: v for k, v in asset.data.items() if k in keep})


def run_rule(rule: Rule, assets: list[Asset], *, config: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None,
             at: datetime | str = DEFAULT_AT) -> dict[str, Finding]:
    """Evaluate one rule over a small set of assets; findings by asset name."""
    now = parse_time(at) if isinstance(at, str) else at
    if now is None:
        raise RuleError(f"`at` {at!r} is not an RFC 3339 time", file=rule.path)
    for name, value in (params or {}).items():
        # A misspelt parameter would silently leave the default in force.
        spec = rule.params.get(name)
        if spec is None:
            raise RuleError(f"rule {rule.id} has no parameter {name!r} "
                            f"(it has: {', '.join(rule.params) or 'none'})", file=rule.path)
        if not validate_param_value(spec, value):
            raise RuleError(f"parameter {name} of rule {rule.id} takes a {spec['type']}, "
                            f"got {value!r}", file=rule.path)
        problem = param_problem(rule, name, value)  # e.g. a regex RE2 cannot run
        if problem:
            raise RuleError(problem, file=rule.path)
    has_users = any(a.asset_type == "admin.googleapis.com/User" for a in assets)
    engine = Engine([rule], params={rule.id: params or {}}, enable=[rule.id])
    # As in a scan: the Inventory holds joined assets cut down to the fields the rule reads,
    # so an example also proves the projection keeps everything the rule needs.
    fields = engine.context_fields()
    held = [_projected(a, fields) for a in assets]
    inv = Inventory(held, phi=_phi(config),
                    missing_sources=() if has_users else ["admin.googleapis.com/User"])
    out: dict[str, Finding] = {}
    for asset in assets:
        for finding in engine.evaluate_asset(asset, inv, now):
            out[finding.asset] = finding
    return out


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    example: str
    asset: str
    expected: str
    actual: str
    message: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


_EXAMPLE_KEYS = {"description", "subject", "at", "config", "params", "assets", "users", "expect"}
_SHARED_KEYS = {"description", "assets", "users"}
INCLUDE = "include"


def _read_json(path: Path, positions: bool) -> tuple[Any, dict[int, int], str]:
    """A JSON file, and (when asked) where each object in it starts: id(object) -> offset."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RuleError("not valid UTF-8", file=str(path)) from None
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    starts: dict[int, int] = {}
    decoder = json.JSONDecoder()
    if positions:
        # The pure-Python scanner calls the decoder's parse_object, which records each object's
        # opening brace (the C scanner would not call it).
        def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
            obj, end = json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
            starts[id(obj)] = s_and_end[1] - 1
            return obj, end

        decoder.parse_object = parse_object  # type: ignore[attr-defined]
        decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        return decoder.decode(text), starts, text
    except json.JSONDecodeError as exc:
        raise RuleError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno,
                        column=exc.colno) from None


@dataclass(frozen=True)
class Example:
    """One example file with its includes resolved: `doc` is the file as written but for its
    `assets` and `users`, where each `{"include": NAME}` is replaced, in place, by the records
    of `_examples/NAME.json` beside the rule folders. `origins` says where each asset and user
    record is written ("file:line")."""

    path: Path
    doc: dict[str, Any]
    assets: list[Any]
    users: list[Any]
    asset_origins: list[tuple[str, int]] = field(default_factory=list)
    user_origins: list[tuple[str, int]] = field(default_factory=list)
    includes: tuple[str, ...] = ()


def _line(text: str, starts: dict[int, int], obj: Any) -> int | None:
    offset = starts.get(id(obj))
    return text.count("\n", 0, offset) + 1 if offset is not None else None


def _shared(folder: Path, name: Any, key: str, cache: dict[str, Any], where: RuleError
            ) -> tuple[list[Any], list[tuple[str, int]]]:
    """The `key` records of one shared example file, with where each is written."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name \
            or name.startswith("."):
        raise RuleError(f"`include` takes the name of a file in {EXAMPLES_DIR}/ (without .json)",
                        file=where.file, line=where.line)
    path = folder / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise RuleError(f"unknown include {name!r}: no {path} (known: "
                        f"{', '.join(known) or 'none'})", file=where.file, line=where.line)
    if str(path) not in cache:
        doc, starts, text = _read_json(path, True)
        if not isinstance(doc, dict) or set(doc) - _SHARED_KEYS or not isinstance(
                doc.get("description"), str) or not ({"assets", "users"} & set(doc)):
            raise RuleError("a shared example file is an object with a `description` and "
                            "`assets` and/or `users` lists", file=str(path))
        for list_key in ("assets", "users"):
            if list_key not in doc:
                continue
            items = doc[list_key]
            if not isinstance(items, list) or not items:
                raise RuleError(f"`{list_key}` must be a non-empty list", file=str(path))
            for item in items:
                if isinstance(item, dict) and INCLUDE in item:
                    raise RuleError("a shared example file cannot include another",
                                    file=str(path), line=_line(text, starts, item))
        cache[str(path)] = (doc, [(str(path), _line(text, starts, item) or 0)
                                  for item in doc.get("assets", [])],
                            [(str(path), _line(text, starts, item) or 0)
                             for item in doc.get("users", [])])
    doc, asset_origins, user_origins = cache[str(path)]
    if key not in doc:
        raise RuleError(f"include {name!r} has no `{key}` ({path})", file=where.file,
                        line=where.line)
    return doc[key], asset_origins if key == "assets" else user_origins


def _kinds(record: Any) -> set[str]:
    """The CAI content types a raw record carries (for the duplicate check)."""
    if not isinstance(record, dict):
        return set()
    pairs = (("resource", "RESOURCE"), ("iam_policy", "IAM_POLICY"), ("iamPolicy", "IAM_POLICY"),
             ("org_policy", "ORG_POLICY"), ("orgPolicy", "ORG_POLICY"))
    return {kind for key, kind in pairs if record.get(key) is not None}


def _check_duplicate(seen: dict[str, list[tuple[set[str], str, bool]]], key: str, record: Any,
                     where: str, included: bool, at: RuleError) -> None:
    """An included record may not repeat content another record of the example gives (the
    same asset's resource twice, say): which one counts would depend on the order."""
    if not isinstance(record, dict):
        return
    name = record.get("name") if key == "assets" else record.get("primaryEmail")
    if not isinstance(name, str):
        return
    kinds = _kinds(record) if key == "assets" else {"USER"}
    for other_kinds, other_where, other_included in seen.get(name, []):
        if (included or other_included) and kinds & other_kinds:
            raise RuleError(f"conflicting duplicate: {name} is given by {other_where} and "
                            f"again by {where}", file=at.file, line=at.line)
    seen.setdefault(name, []).append((kinds, where, included))


def load_example(path: Path) -> Example:
    """Read one example file and resolve its includes. A missing or malformed include, and a
    record that an include gives twice or that the file also gives with the same content
    (conflicting duplicate), are errors with the example file and line."""
    cache: dict[str, Any] = {}
    with_includes = b'"include"' in path.read_bytes() if path.is_file() else False
    doc, starts, text = _read_json(path, with_includes)
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), list) or not doc["assets"]:
        raise RuleError("an example is an object with a non-empty `assets` list", file=str(path))
    unknown = set(doc) - _EXAMPLE_KEYS
    if unknown:
        raise RuleError(f"unknown example keys: {', '.join(sorted(unknown))}", file=str(path))
    folder = path.parent.parent.parent / EXAMPLES_DIR
    resolved: dict[str, tuple[list[Any], list[tuple[str, int]]]] = {}
    names: list[str] = []
    for key in ("assets", "users"):
        items = doc.get(key)
        if items is None:
            resolved[key] = ([], [])
            continue
        if not isinstance(items, list):
            raise RuleError(f"`{key}` must be a list", file=str(path))
        out: list[Any] = []
        origins: list[tuple[str, int]] = []
        # name -> (content types, where it is given, whether an include gave it)
        seen: dict[str, list[tuple[set[str], str, bool]]] = {}
        for i, item in enumerate(items):
            line = _line(text, starts, item) if with_includes else None
            if isinstance(item, dict) and INCLUDE in item:
                where = RuleError("", file=str(path), line=line)
                if set(item) != {INCLUDE}:
                    raise RuleError("an include entry is {\"include\": NAME} alone",
                                    file=str(path), line=line)
                records, record_origins = _shared(folder, item[INCLUDE], key, cache,
                                                  where)
                names.append(item[INCLUDE])
                given = [(r, o, f"include {item[INCLUDE]!r} (line {line})")
                         for r, o in zip(records, record_origins, strict=True)]
            else:
                given = [(item, (str(path), line or i + 1), "")]
            for record, origin, via in given:
                _check_duplicate(seen, key, record, via or f"line {origin[1]}", bool(via),
                                 RuleError("", file=str(path), line=line))
                out.append(record)
                origins.append(origin)
        resolved[key] = (out, origins)
    if not names:
        return Example(path, doc, doc["assets"], doc.get("users") or [],
                       resolved["assets"][1], resolved["users"][1])
    full = {**doc, "assets": resolved["assets"][0]}
    if "users" in doc:
        full["users"] = resolved["users"][0]
    return Example(path, full, resolved["assets"][0], resolved["users"][0],
                   resolved["assets"][1], resolved["users"][1], tuple(names))


def _example_assets(example: Example) -> list[Asset]:
    """The example's records and users as assets; an error names the file and line the bad
    record is written at (its shared file, for an included one)."""
    merged: dict[str, Record] = {}
    for raw, (file, line) in zip(example.assets, example.asset_origins, strict=True):
        record = parse_record(raw, file, line)
        prior = merged.get(record.name)
        merged[record.name] = merge_records(prior, record) if prior else record
    assets = [r.to_asset() for r in merged.values()]
    assets += [user_asset(u, file, line)
               for u, (file, line) in zip(example.users, example.user_origins, strict=True)]
    return assets


def check_examples(rule: Rule) -> list[ExampleResult]:
    """Evaluate every example beside a rule; each names the outcome its folder expects."""
    folder = Path(rule.path).parent
    results: list[ExampleResult] = []
    found = {"pass": 0, "fail": 0}
    for sub, expected in _OUTCOME_OF_FOLDER.items():
        for path in sorted((folder / sub).glob("*.json")):
            example = load_example(path)
            doc = example.doc
            try:
                assets = _example_assets(example)
            except SnapshotError as exc:
                raise RuleError(exc.message, file=exc.file, line=exc.line) from None
            subject = doc.get("subject") or assets[0].name
            expect = {subject: expected, **(doc.get("expect") or {})}
            try:
                findings = run_rule(rule, assets, config=doc.get("config"),
                                    params=doc.get("params"), at=doc.get("at", DEFAULT_AT))
            except RuleError as exc:
                raise RuleError(exc.message, file=str(path)) from None
            for name, want in expect.items():
                got = findings.get(name)
                results.append(ExampleResult(
                    rule.id, str(path), name, want, got.outcome.value if got else "NO RESULT",
                    got.message if got else "the rule did not apply to this asset"))
            if sub in found:
                found[sub] += 1
    for sub, count in found.items():
        if count == 0:
            raise RuleError(f"rule {rule.id} has no {sub}/ example (every rule needs pass and "
                            "fail examples)", file=rule.path)
    return results


def check_pack(pack: RulePack) -> list[ExampleResult]:
    """Every example of every rule in the pack."""
    out: list[ExampleResult] = []
    for rule in pack.rules:
        out.extend(check_examples(rule))
    return out
