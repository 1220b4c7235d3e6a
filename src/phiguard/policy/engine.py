"""The engine: judges assets against compiled rules. Pure: no files, network or clock.

`Engine` indexes rules by asset type, so each asset meets only the rules that apply to it.
It holds nothing but compiled rules, so it pickles into worker processes unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import Asset
from phiguard.inventory.coverage import RESOURCE
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.types import HIERARCHY_TYPES, SOURCE_DEPENDENT_TYPES
from phiguard.policy.compiler import (
    FAIL,
    PASS,
    AssetView,
    CompiledRule,
    Env,
    compile_rule,
    evidence_value,
)
from phiguard.policy.language import LET_FORMS, let_kind
from phiguard.policy.rule import Rule
from phiguard.redaction import redact

__all__ = ["Engine", "evaluate"]

_OUTCOME = {PASS: Outcome.PASS, FAIL: Outcome.FAIL}
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _dedupe(reasons: Iterable[object]) -> list[str]:
    out: list[str] = []
    for item in reasons:
        reason = str(item)
        if reason not in out:
            out.append(reason)
    return out


def _carries(asset: Asset, kinds: tuple[str, ...]) -> bool:
    for kind in kinds:
        if kind == "IAM_POLICY" and asset.iam_policy is not None:
            return True
        if kind == "ORG_POLICY" and asset.org_policy:
            return True
        if kind == "ACCESS_POLICY" and asset.access_policy is not None:
            return True
        if kind == "RESOURCE" and (RESOURCE in asset.content if asset.content is not None
                                   else bool(asset.data)):
            return True
    return False


def _failed_first(blame: list[tuple[str, Any]], recorded: dict[str, Any]) -> dict[str, Any]:
    """A FAIL's evidence: what failed first (the failing value, then the list element that
    held it), then the rule's declared evidence and the rest of what it read."""
    if not blame:
        return recorded
    out: dict[str, Any] = {}
    for path, value in blame:
        out.setdefault(path, value)
    for path, value in recorded.items():
        out.setdefault(path, value)
    return out


def _render(path: str, value: Any, rendered: dict[tuple[str, int], tuple[Any, Any]]) -> Any:
    """The evidence form of a value read at `path`: JSON-safe and redacted."""
    key = (path, id(value))
    hit = rendered.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    out = redact(path, evidence_value(value))
    rendered[key] = (value, out)
    return out


class Engine:
    """Compiled rules, indexed by the asset types they judge.

    Compiled rules are closures, which pickle cannot carry; an Engine pickles as the rules and
    settings it was built from and compiles them again on arrival (each worker process once).
    """

    def __init__(self, rules: Iterable[Rule], *,
                 params: Mapping[str, Mapping[str, Any]] | None = None,
                 enable: Iterable[str] = (), disable: Iterable[str] = ()) -> None:
        rules = tuple(rules)
        enabled, disabled = set(enable), set(disable)
        params = {k: dict(v) for k, v in (params or {}).items()}
        self._spec = (rules, params, frozenset(enabled), frozenset(disabled))
        self.rules: list[CompiledRule] = [
            compile_rule(r, params.get(r.id))
            for r in sorted(rules, key=lambda r: r.id)
            if (not r.optional or r.id in enabled) and r.id not in disabled
        ]
        self._by_type: dict[str, list[CompiledRule]] = {}
        self._any: list[CompiledRule] = []
        for cr in self.rules:
            if "*" in cr.rule.asset_types:
                self._any.append(cr)
            for t in cr.rule.asset_types:
                if t != "*":
                    self._by_type.setdefault(t, []).append(cr)
        self._merged: dict[str, list[CompiledRule]] = {}

    def __getstate__(self) -> dict[str, Any]:
        rules, params, enabled, disabled = self._spec
        return {"rules": rules, "params": params, "enable": enabled, "disable": disabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rules"], params=state["params"],  # type: ignore[misc]
                      enable=state["enable"], disable=state["disable"])

    def context_types(self) -> set[str]:
        """Types the rules join to: the Inventory must hold these in full."""
        out = set(HIERARCHY_TYPES)
        for cr in self.rules:
            out |= cr.context_types()
        return out

    def warm(self, inv: Inventory) -> None:
        """Build every Inventory index these rules will use (see `Inventory.warm`)."""
        referrers: set[tuple[tuple[str, ...], str]] = set()
        projects: set[tuple[str, ...]] = set()
        for cr in self.rules:
            for form in cr.rule.let.values():
                need = LET_FORMS[let_kind(form)].index(form)
                if need is not None:
                    kind, key = need
                    (referrers if kind == "referrers" else projects).add(key)
        inv.warm(sorted(referrers), sorted(projects))

    def context_fields(self) -> dict[str, frozenset[str] | None]:
        """The `data` keys of each joined type that the rules read (None: all of them)."""
        from phiguard.policy.projection import context_fields

        return context_fields(cr.rule for cr in self.rules)

    def subject_types(self) -> frozenset[str]:
        """Types some rule names explicitly (rules on `*` are described by `any_type_needs`)."""
        return frozenset(self._by_type)

    def any_type_needs(self) -> frozenset[str] | None:
        """What makes an asset of any other type a subject: None, nothing (no rule on `*`);
        an empty set, every asset; else the content types one of those rules requires."""
        if not self._any:
            return None
        needs: set[str] = set()
        for cr in self._any:
            if not cr.rule.content_types:
                return frozenset()
            needs.update(cr.rule.content_types)
        return frozenset(needs)

    def rules_for(self, asset_type: str) -> list[CompiledRule]:
        found = self._merged.get(asset_type)
        if found is None:
            found = sorted([*self._by_type.get(asset_type, ()), *self._any],
                           key=lambda cr: cr.rule.id)
            self._merged[asset_type] = found
        return found

    def evaluate_asset(self, asset: Asset, inv: Inventory, now: datetime) -> list[Finding]:
        """Every applicable rule's outcome for one asset."""
        rules = self.rules_for(asset.asset_type)
        if not rules:
            return []
        view = AssetView(asset, inv)
        out: list[Finding] = []
        # Several rules of a type record the same values (`data.networkInterfaces`): each is
        # rendered once per asset. The entry holds the value, so its id stays its own.
        rendered: dict[tuple[str, int], tuple[Any, Any]] = {}
        source = str(asset.source) if asset.source else None
        for cr in rules:
            rule = cr.rule
            if rule.content_types and not _carries(asset, rule.content_types):
                continue
            if rule.scope == "phi" and not view.facts()["phi"]:
                continue
            env = Env(view, inv, now, cr.params, cr.lets)
            if cr.when is not None:
                verdict, _ = cr.when(env)
                if verdict == FAIL:
                    continue
            for resolve in cr.resolvers:
                value, cpath = resolve(env)
                env.record(cpath, value, always=True)
            env.blame.clear()
            verdict, reasons = cr.check(env)
            outcome = _OUTCOME.get(verdict, Outcome.UNKNOWN)
            recorded = env.evidence
            if outcome is Outcome.PASS:
                message = rule.title
            elif outcome is Outcome.FAIL:
                message = "; ".join(_dedupe(reasons)[:3]) or f"Not met: {rule.title}"
                recorded = _failed_first(env.blame, recorded)
            else:
                message = "Cannot evaluate: " + ("; ".join(_dedupe(reasons)[:3]) or "data absent")
            # Redacted here, once, so no output can show a secret the rule read.
            evidence = tuple([(p, redact(p, v)) if type(v) in _PLAIN
                              else (p, _render(p, v, rendered))
                              for p, v in recorded.items()])
            out.append(Finding(rule.id, asset.name, asset.asset_type, outcome, rule.severity,
                               rule.controls, message, evidence, None, source))
        return out

    def missing_source_findings(self, inv: Inventory, organization: str | None) -> list[Finding]:
        """UNKNOWN for rules whose every asset type comes from a source the snapshot lacks."""
        out: list[Finding] = []
        subject = f"//cloudresourcemanager.googleapis.com/organizations/{organization or 'unknown'}"
        for cr in self.rules:
            types = [t for t in cr.rule.asset_types if t != "*"]
            if types and all(t in inv.missing_sources for t in types):
                what = "; ".join(SOURCE_DEPENDENT_TYPES[t] for t in types)
                out.append(Finding(
                    cr.rule.id, subject, "cloudresourcemanager.googleapis.com/Organization",
                    Outcome.UNKNOWN, cr.rule.severity, cr.rule.controls,
                    f"Cannot evaluate: the snapshot has no {what}", (("source", None),)))
        return out


def evaluate(assets: Iterable[Asset], inv: Inventory, engine: Engine, now: datetime,
             organization: str | None = None) -> list[Finding]:
    """Judge every asset; the in-memory form of a scan, for tests and small inputs."""
    out: list[Finding] = []
    for asset in assets:
        out.extend(engine.evaluate_asset(asset, inv, now))
    out.extend(engine.missing_source_findings(inv, organization))
    return out
