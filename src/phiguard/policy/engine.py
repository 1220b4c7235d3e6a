"""The engine: judges assets against compiled rules. Pure: no files, network or clock.

`Engine` indexes rules by asset type, so each asset meets only the rules that apply to it.
It holds nothing but compiled rules, so it pickles into worker processes unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from itertools import islice
from types import MappingProxyType
from typing import Any

from phiguard._util.slots import slot_maker
from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import Asset
from phiguard.inventory.coverage import RESOURCE
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.types import HIERARCHY_TYPES, SOURCE_DEPENDENT_TYPES
from phiguard.policy.codegen import Evaluator, compiled, generate_evaluator, interpreted
from phiguard.policy.compiler import (
    FAIL,
    PASS,
    AssetView,
    CompiledRule,
    Cond,
    Env,
    LetFn,
    Resolver,
    compile_rule,
    evidence_value,
)
from phiguard.policy.language import LET_FORMS, let_kind
from phiguard.policy.paths import MISSING
from phiguard.policy.rule import Rule
from phiguard.redaction import (
    REDACTED,
    field_flags,
    path_context,
    plain_is_secret,
    redact,
    redact_field,
)

__all__ = ["Engine", "evaluate"]

# What `evaluate_asset` needs of one compiled rule, unpacked once per asset type: rule id,
# severity, controls, title, content types, scope phi, when, check, evidence resolvers,
# params, lets.
_Step = tuple[str, str, tuple[str, ...], str, tuple[str, ...], bool, Cond | None, Cond,
              tuple[Resolver, ...], Mapping[str, Any], Mapping[str, LetFn]]
_PLAIN = frozenset({str, int, float, bool, type(None)})
_EVIDENCE_ITEMS = 50  # what `evidence_value` keeps of a list or mapping


_PASSED, _FAILED, _UNKNOWN = Outcome.PASS, Outcome.FAIL, Outcome.UNKNOWN
_NO_LETS: Mapping[str, Any] = MappingProxyType({})
_NO_CACHE: dict[str, Any] = {}  # the let cache of a rule without lets: never written


# `Finding(...)` with every field given in order, built through its slots (one per rule and
# asset judged: the frozen dataclass's __init__ would double what making it costs).
_new_finding: Callable[..., Finding] = slot_maker(Finding)


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
    kind = type(value)
    if kind is dict or kind is list:
        last, in_metadata, in_env = path_context(path)
        out = (_shown(value, last) if not (in_metadata or in_env)
               else _shown_secretive(value, last, in_metadata, in_env))
    else:
        out = redact(path, evidence_value(value))
    rendered[key] = (value, out)
    return out


def _shown_secretive(value: Any, last: str, in_metadata: bool, in_env: bool) -> Any:
    """`redact_field(evidence_value(value), last, in_metadata, in_env)` for a value read in
    instance metadata or environment variables: a list of flat objects (metadata `items`,
    `env` pairs: each item's values scalars, nothing for `evidence_value` to change or cut)
    redacted item by item without copying it first."""
    if (type(value) is not list or len(value) > _EVIDENCE_ITEMS
            or (last and field_flags(last)[0])):
        return redact_field(evidence_value(value), last, in_metadata, in_env)
    shown: list[Any] = []
    for item in value:
        if type(item) is not dict or len(item) > _EVIDENCE_ITEMS or not all(
                type(v) in _PLAIN for v in item.values()):
            return redact_field(evidence_value(value), last, in_metadata, in_env)
        out = redact_field(item, last, in_metadata, in_env)
        shown.append(dict(item) if out is item else out)
    return shown


def _shown(value: Any, last: str) -> Any:
    """`redact_field(evidence_value(value), last, False, False)` in one pass, for a dict or
    list read outside instance metadata and environment variables (nearly all evidence)."""
    if last and field_flags(last)[0]:
        return REDACTED
    if type(value) is dict:
        out: dict[Any, Any] = {}
        for k, item in islice(value.items(), _EVIDENCE_ITEMS):
            kind = type(item)
            name = str(k)
            if kind in _PLAIN:
                out[k] = item if item is None or not field_flags(name)[0] else REDACTED
            elif kind is dict or kind is list:
                _, metadata, env, _ = field_flags(name)
                out[k] = (_shown(item, name) if not (metadata or env)
                          else redact_field(evidence_value(item), name, metadata, env))
            else:
                out[k] = _field(evidence_value(item), name)
        return out
    shown: list[Any] = []
    for item in value[:_EVIDENCE_ITEMS]:
        kind = type(item)
        if kind in _PLAIN:
            shown.append(item)
        elif kind is dict or kind is list:
            shown.append(_shown(item, last))
        else:
            rendered = evidence_value(item)
            shown.append(rendered if type(rendered) in _PLAIN
                         else redact_field(rendered, last, False, False))
    return shown


def _field(rendered: Any, name: str) -> Any:
    """What the redaction of a mapping makes of a rendered field value (`_child`)."""
    secret, metadata, env, _ = field_flags(name)
    if type(rendered) in _PLAIN:
        return rendered if rendered is None or not secret else REDACTED
    return redact_field(rendered, name, metadata, env)


_Rendered = dict[tuple[str, int], tuple[Any, Any]]


def _shown_evidence(recorded: dict[str, Any], rendered: _Rendered) -> tuple[tuple[str, Any], ...]:
    """A finding's evidence as shown: each value redacted here, once, so no output can show a
    secret the rule read (a scalar as `redact` does it: by its path alone; an absent value,
    a third of what is not a scalar, as null)."""
    secret = plain_is_secret
    return tuple([(p, REDACTED if v is not None and secret(p) else v)
                  if type(v) in _PLAIN else (p, None) if v is MISSING
                  else (p, _render(p, v, rendered))
                  for p, v in recorded.items()])


def _finish(step: tuple[str, str, tuple[str, ...], str], verdict: int, reasons: list[Any],
            recorded: dict[str, Any], blame: list[tuple[str, Any]],
            rendered: dict[tuple[str, int], tuple[Any, Any]], name: str, asset_type: str,
            source: str | None, undecided: list[Any] | None = None) -> Finding:
    """The finding of a rule whose assertion did not PASS (`step`: id, severity, controls,
    title). `undecided`: the reasons of a `when` that was UNKNOWN (None when it PASSed or the
    rule has none): whether the rule applies is then not known, so a failing assertion is
    UNKNOWN, never a FAIL resting on missing data."""
    rule_id, severity, controls, title = step
    if verdict == FAIL and undecided is not None:
        outcome = _UNKNOWN
        message = ("Cannot evaluate: " + ("; ".join(_dedupe(undecided)[:3]) or "data absent")
                   + " (if it applies: " + ("; ".join(_dedupe(reasons)[:3]) or title) + ")")
        recorded = _failed_first(blame, recorded)
    elif verdict == FAIL:
        outcome = _FAILED
        message = "; ".join(_dedupe(reasons)[:3]) or f"Not met: {title}"
        recorded = _failed_first(blame, recorded)
    else:
        outcome = _UNKNOWN
        message = "Cannot evaluate: " + ("; ".join(_dedupe(reasons)[:3]) or "data absent")
    return _new_finding(rule_id, name, asset_type, outcome, severity, controls, message,
                        _shown_evidence(recorded, rendered), None, source)


def _source_of(asset: Asset) -> str | None:
    return str(asset.source) if asset.source else None


def _phi_of(view: AssetView) -> bool:
    """Whether the asset is in PHI scope: its facts' `phi`, without the other facts unless a
    rule has read them already."""
    facts = view._facts
    return bool(facts["phi"] if facts is not None else view.inv.phi(view.asset))


def _facts_phi(view: AssetView) -> bool:
    """`_phi_of` for an asset whose rules read its other facts too: all of them, once."""
    return bool(view.facts()["phi"])


def _nothing(asset: Asset, inv: Inventory, now: datetime) -> list[Finding]:
    return []


# What a generated evaluator calls (see codegen.generate_evaluator).
_RUNTIME: dict[str, Any] = {
    "_new": _new_finding, "_shown": _shown_evidence, "_finish": _finish, "_carries": _carries,
    "_phi": _phi_of, "_facts_phi": _facts_phi, "_source": _source_of, "_PASSED": _PASSED,
    "AssetView": AssetView, "Env": Env, "NO_LETS": _NO_LETS, "NO_CACHE": _NO_CACHE,
}


class Engine:
    """Compiled rules, indexed by the asset types they judge.

    Compiled rules are closures, which pickle cannot carry; an Engine pickles as the rules and
    settings it was built from and compiles them again on arrival (each worker process once).

    The first `interpret_first` assets of a type are judged by the loop over its rules with
    their conditions interpreted (`_interpret`); from the next one on, by its generated
    evaluator. Interpreted conditions run a third slower, but compiling a type's generated
    code costs what judging hundreds of its assets does (the 33 rules of a project: about
    55 ms of CPU, against 25 ms to judge one interpreted). Both give exactly the same
    findings. Off (0) by default: measured at 100k assets, once the loop has judged even one
    asset of each type, the generated evaluators run 10-15 % slower for the rest of the run
    (CPU, in-process, same minute; why is not known yet), which costs more than the compiling
    it saves.
    """

    interpret_first = 0

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
        self._plans: dict[str, list[_Step]] = {}
        self._evaluators: dict[str, Evaluator] = {}
        self._interpreted: dict[str, list[_Step]] = {}
        self._seen: dict[str, int] = {}  # assets of a type judged by `_interpret`

    def __getstate__(self) -> dict[str, Any]:
        rules, params, enabled, disabled = self._spec
        return {"rules": rules, "params": params, "enable": enabled, "disable": disabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["rules"], params=state["params"],  # type: ignore[misc]
                      enable=state["enable"], disable=state["disable"])

    def context_types(self) -> set[str]:
        """Types the rules join to: the Inventory must hold these in full (or the `data` keys
        `context_fields` names); with `grants within: phi`, also the types whose own data
        puts them in PHI scope (REACH_TYPES), so that a grant on one is judged by it."""
        out = set(HIERARCHY_TYPES)
        for cr in self.rules:
            out |= cr.context_types()
        if self._asks_reach():
            from phiguard.inventory.inventory import REACH_TYPES

            out |= REACH_TYPES
        return out

    def _asks_reach(self) -> bool:
        """Whether a rule asks which grants reach PHI (`grants: {within: phi}`)."""
        return any(let_kind(form) == "grants" and (form["grants"] or {}).get("within") == "phi"
                   for cr in self.rules for form in cr.rule.let.values())

    def reach_only_types(self) -> frozenset[str]:
        """Of `context_types`, those held only for `grants within: phi` (no rule joins to
        them): a held one that carries no IAM policy is never asked about, so a reader may
        leave it out."""
        if not self._asks_reach():
            return frozenset()
        from phiguard.inventory.inventory import REACH_TYPES

        joined: set[str] = set()
        for cr in self.rules:
            joined |= cr.context_types()
        return REACH_TYPES - joined

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
        from phiguard.policy.projection import ALWAYS_KEPT, context_fields

        fields = context_fields(cr.rule for cr in self.rules)
        if self._asks_reach():
            from phiguard.inventory.inventory import REACH_TYPES, reach_fields

            for asset_type in REACH_TYPES - set(fields):  # a joined one keeps its network
                fields[asset_type] = ALWAYS_KEPT | reach_fields(asset_type)
        return fields

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

    def _plan(self, asset_type: str, steps: dict[str, list[_Step]] | None = None,
              ready: Callable[[Cond], Cond] = compiled) -> list[_Step]:
        """The steps of a type's rules, their conditions made `ready` (compiled; or
        `interpreted`, kept in `steps`)."""
        plans = self._plans if steps is None else steps
        found = plans.get(asset_type)
        if found is None:
            found = plans[asset_type] = [
                (cr.rule.id, cr.rule.severity, cr.rule.controls, cr.rule.title,
                 cr.rule.content_types, cr.rule.scope == "phi",
                 ready(cr.when) if cr.when is not None else None, ready(cr.check),
                 cr.resolvers, cr.params, cr.lets)
                for cr in self.rules_for(asset_type)]
        return found

    def evaluate_asset(self, asset: Asset, inv: Inventory, now: datetime) -> list[Finding]:
        """Every applicable rule's outcome for one asset."""
        evaluate = self._evaluators.get(asset.asset_type)
        if evaluate is None:
            seen = self._seen.get(asset.asset_type, 0)
            if seen < self.interpret_first:
                self._seen[asset.asset_type] = seen + 1
                return self._interpret(asset, inv, now)
            evaluate = self._evaluator(asset.asset_type)
        return evaluate(asset, inv, now)

    def _interpret(self, asset: Asset, inv: Inventory, now: datetime) -> list[Finding]:
        """`_judge` with the conditions interpreted: nothing compiled."""
        return self._judge(asset, inv, now,
                           self._plan(asset.asset_type, self._interpreted, interpreted))

    def prepare(self, asset_types: Iterable[str] | Mapping[str, int]) -> None:
        """Generate the evaluator of each asset type now, not at its first asset: before a
        scan forks its workers, so they share the generated code instead of each generating
        it again. Given how many assets of each type there are (a mapping), a type of no more
        than `interpret_first` is left to be judged interpreted, as it would be anyway."""
        counts = asset_types if isinstance(asset_types, Mapping) else None
        for asset_type in asset_types:
            if counts is not None and counts[asset_type] <= self.interpret_first:
                continue
            if asset_type not in self._evaluators:
                self._evaluator(asset_type)

    def _evaluator(self, asset_type: str) -> Evaluator:
        """How assets of a type are judged: one generated function for all its rules (see
        codegen.generate_evaluator), else the loop of `_judge` over them."""
        rules = self.rules_for(asset_type)
        found: Evaluator | None = _nothing if not rules else generate_evaluator(rules, _RUNTIME)
        if found is None:
            found = self._judge
        self._evaluators[asset_type] = found
        return found

    def _judge(self, asset: Asset, inv: Inventory, now: datetime,
               plan: list[_Step] | None = None) -> list[Finding]:
        """The rules of the asset's type judged one by one: what a generated evaluator does,
        and the reference it is tested against (`plan`: the steps, by default `_plan`'s)."""
        if plan is None:
            plan = self._plan(asset.asset_type)
        if not plan:
            return []
        view = AssetView(asset, inv)
        # One Env for the asset's rules: each rule gets its own parameters, lets, evidence
        # and blame; quantifiers leave `vars` as they found it.
        env = Env(view, inv, now, _NO_LETS, _NO_LETS)
        blame = env.blame
        new = _new_finding
        out: list[Finding] = []
        # Several rules of a type record the same values (`data.networkInterfaces`): each is
        # rendered once per asset. The entry holds the value, so its id stays its own.
        rendered: dict[tuple[str, int], tuple[Any, Any]] = {}
        source = str(asset.source) if asset.source else None
        name, asset_type = asset.name, asset.asset_type
        phi: bool | None = None
        for (rule_id, severity, controls, title, kinds, phi_only, when, check, resolvers,
             params, lets) in plan:
            if kinds and not _carries(asset, kinds):
                continue
            if phi_only:
                if phi is None:
                    phi = bool(view.facts()["phi"])
                if not phi:
                    continue
            env.params, env.lets = params, lets
            env.let_cache = {} if lets else _NO_CACHE  # written only for a name in `lets`
            evidence: dict[str, Any] = {}
            env.evidence = evidence
            blame.clear()
            undecided: list[Any] | None = None
            if when is not None:
                verdict, why = when(env)
                if verdict == FAIL:
                    continue
                if verdict != PASS:
                    undecided = why
            for resolve in resolvers:
                value, cpath = resolve(env)
                if cpath not in evidence:  # the declared evidence is never crowded out
                    evidence[cpath] = value
            blame.clear()
            verdict, reasons = check(env)
            recorded = env.evidence
            if verdict == PASS:
                out.append(new(rule_id, name, asset_type, _PASSED, severity, controls, title,
                               _shown_evidence(recorded, rendered), None, source))
            else:
                out.append(_finish((rule_id, severity, controls, title), verdict, reasons,
                                   recorded, blame, rendered, name, asset_type, source,
                                   undecided))
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
