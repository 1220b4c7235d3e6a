"""Helpers for rule authors: build assets, run one rule, and check a rule's examples.

    from phiguard.testing import run_rule, check_examples
    outcome = run_rule(rule, [asset_record, ...])[subject_name]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.engine import Engine
from phiguard.policy.rule import Rule, RulePack, param_problem, validate_param_value

__all__ = ["DEFAULT_AT", "ExampleResult", "assets_from_records", "check_examples", "check_pack",
           "run_rule"]

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


def _load_example(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuleError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno,
                        column=exc.colno) from None
    except UnicodeDecodeError:
        raise RuleError("not valid UTF-8", file=str(path)) from None
    allowed = {"description", "subject", "at", "config", "params", "assets", "users", "expect"}
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), list) or not doc["assets"]:
        raise RuleError("an example is an object with a non-empty `assets` list", file=str(path))
    unknown = set(doc) - allowed
    if unknown:
        raise RuleError(f"unknown example keys: {', '.join(sorted(unknown))}", file=str(path))
    return doc


def check_examples(rule: Rule) -> list[ExampleResult]:
    """Evaluate every example beside a rule; each names the outcome its folder expects."""
    folder = Path(rule.path).parent
    results: list[ExampleResult] = []
    found = {"pass": 0, "fail": 0}
    for sub, expected in _OUTCOME_OF_FOLDER.items():
        for path in sorted((folder / sub).glob("*.json")):
            doc = _load_example(path)
            try:
                assets = assets_from_records(doc["assets"], str(path), doc.get("users"))
            except SnapshotError as exc:
                raise RuleError(exc.message, file=str(path), line=exc.line) from None
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
