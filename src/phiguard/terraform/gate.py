"""The PR gate: judge what a plan creates or changes (or, with `everything`, all of it), report
deletions that remove a control another asset relies on, and drop what a baseline already has.

`PlanGate(...).findings()` gives `PlanFinding`s: ordinary findings whose `source` is
`PLANFILE#ADDRESS` and which carry the Terraform fix for the rule (`terraform_fix`).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from phiguard import __version__
from phiguard._util.slots import slot_maker
from phiguard._util.times import format_time
from phiguard.config import Config
from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.coverage import (
    IAM_POLICY,
    PLAN,
    PLAN_AND_SNAPSHOT,
    RESOURCE,
    coverage_from_manifest,
    types_from_manifest,
)
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.refs import ref_key
from phiguard.policy.engine import Engine
from phiguard.policy.rule import Rule, RulePack
from phiguard.policy.waivers import WaiverBook
from phiguard.terraform.convert import CONVERTERS, Fix
from phiguard.terraform.plan import Plan, ResourceChange
from phiguard.terraform.world import World, build_world

__all__ = ["PlanFinding", "PlanGate", "SnapshotBase", "fingerprint", "reads_only_bindings",
           "snapshot_base"]


@dataclass(frozen=True, slots=True)
class PlanFinding(Finding):
    """A finding on a planned change: the resource address and the Terraform fix."""

    address: str | None = None
    terraform_fix: dict[str, Any] | None = None
    change: str | None = None  # create | update | delete | no-op | replace
    location: dict[str, Any] | None = None  # {"file", "line"} of the .tf block (--tf-root)

    def json_tail(self) -> dict[str, Any]:
        out = Finding.json_tail(self)
        if self.address:
            out["address"] = self.address
        if self.change:
            out["change"] = self.change
        if self.terraform_fix is not None:
            out["terraform_fix"] = self.terraform_fix
        if self.location is not None:
            out["location"] = self.location
        return out


# `PlanFinding(...)` with its fields given in order, built through its slots (half the cost of
# judging a passing resource's finding in a large plan was the frozen dataclass's __init__).
_planned: Callable[..., PlanFinding] = slot_maker(PlanFinding, defaults={"location": None})


def _change_kind(change: ResourceChange) -> str:
    if change.is_create and change.is_delete:
        return "replace"
    for kind in ("create", "update", "delete"):
        if kind in change.actions:
            return kind
    return change.actions[0] if change.actions else "no-op"


def fingerprint(rule_id: str, asset: str, ids: dict[str, str] | None = None) -> str:
    """A stable key for "the same finding": rule id + normalized asset name (host lower-cased,
    no doubled or trailing slashes, a project number replaced by its id when known)."""
    text = asset.strip()
    if text.startswith("//"):
        host, _, path = text[2:].partition("/")
        text = "//" + host.lower() + "/" + re.sub(r"/{2,}", "/", path).strip("/")
    if ids:
        text = _PROJECT.sub(lambda m: m.group(1) + ids.get(m.group(2), m.group(2)), text)
    return f"{rule_id.upper()}|{text}"


_PROJECT = re.compile(r"(/projects/)([^/]+)")


def _paths(node: Any, out: list[str], names: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "path" and isinstance(value, str):
                out.append(value)
            elif key == "as" and isinstance(value, str):
                names.add(value)
            else:
                _paths(value, out, names)
    elif isinstance(node, list):
        for item in node:
            _paths(item, out, names)


def reads_only_bindings(rule: Rule) -> bool:
    """Whether a rule's verdict depends only on IAM bindings (own or effective), so it can be
    judged on an asset the plan shows only through its IAM pieces."""
    # org_domains reads the Organization record and the directory, not the judged asset
    lets_ok = {name for name, form in rule.let.items()
               if "effective_iam" in form or "org_domains" in form}
    if len(lets_ok) != len(rule.let):
        return False
    paths: list[str] = []
    names = {"item", "params", *lets_ok}
    _paths(rule.assert_, paths, names)
    if rule.when is not None:
        _paths(rule.when, paths, names)
    for path in paths:
        root = path.split(".", 1)[0].split("[", 1)[0]
        if root == "iam_policy":
            if not path.startswith("iam_policy.bindings"):
                return False
        elif root == "asset":
            if path != "asset.phi_reach":  # derived from the asset's name and the PHI scope
                return False
        elif root not in names:
            return False
    return True


class PlanGate:
    """One evaluation of a plan, optionally over a current snapshot."""

    def __init__(self, plan: Plan, pack: RulePack, config: Config, *, at: datetime,
                 base: dict[str, Asset] | None = None, numbers: dict[str, str] | None = None,
                 ancestors: dict[str, tuple[str, ...]] | None = None, everything: bool = False,
                 baseline: Iterable[str] = (), snapshot_inputs: list[dict[str, str]] | None = None,
                 jobs: int = 1, content: Iterable[str] | None = None,
                 content_gaps: Iterable[tuple[str, str]] = (),
                 baseline_fails: Mapping[str, str] | None = None,
                 asset_types: Iterable[str] | None = None) -> None:
        """`content` and `content_gaps`: the snapshot's coverage (see `SnapshotBase`), so
        content it lacks is UNKNOWN in the overlay as in a scan of it. `baseline`: the
        `fingerprint`s of the baseline's non-passing findings; `baseline_fails`: of its FAILs,
        each with its severity (the highest when several). Only those excuse a FAIL now (see
        `excused`). `asset_types`: the asset types the snapshot was collected with (see
        `SnapshotBase`; None: those it holds a resource of): a planned asset does not tell
        what a partial snapshot lacks. A plan alone declares every asset it is judged against
        (see `Coverage`)."""
        config.check_against(pack)
        self.plan = plan
        self.pack = pack
        self._rules = pack.by_id()  # each rule's Terraform fixes and unknown_in_plan types
        self.config = config
        self.now = at
        plan.applied_at = format_time(at)
        self.everything = everything
        self.baseline_fails = dict(baseline_fails or {})
        self.baseline = frozenset(baseline) | self.baseline_fails.keys()
        self.suppressed = 0
        self.suppressed_rules: Counter[str] = Counter()  # the hidden findings, by rule
        self._covered: set[tuple[str, str]] = set()
        self._kinds: dict[str, str] = {}
        self._shown: dict[str, tuple[dict[str, int], ...]] = {}  # see _responsible
        self._fixes: dict[tuple[str, str], Fix | None] = {}  # (rule id, Terraform type)
        self._fix_texts: dict[int, tuple[Fix, str, str]] = {}  # see _fix_of
        self.jobs = max(1, jobs)  # 0: two when the CPUs are otherwise idle (see below)
        self.engine = Engine(pack.rules, params=config.params, enable=config.enable,
                             disable=config.disable)
        self.book = WaiverBook(config.waivers, at)
        self._base = base
        self._numbers = numbers
        self._ancestors = ancestors
        self._content = None if content is None else frozenset(content)
        self._content_gaps = tuple(content_gaps)
        # Whether the snapshot holds IAM content: a resource-only one does not tell the
        # policies of what it holds.
        self._base_iam = self._content is None or IAM_POLICY in self._content
        self._origin = PLAN if base is None else PLAN_AND_SNAPSHOT
        self._asset_types = frozenset(
            asset_types if asset_types is not None
            else {a.asset_type for a in base.values() if a.content is None
                  or RESOURCE in a.content} if base is not None else ())
        # A large plan without deletions or a snapshot may be judged in two processes: the
        # world is built once, here, and a forked worker judges half its subjects while this
        # process judges the other half (`_judge_split`). With `jobs` 0, only when other
        # processes left the CPUs idle while the world was built: on a busy machine the
        # second process costs more than it saves.
        splittable = (jobs != 1 and base is None and not everything
                      and len(plan.changes) >= PARALLEL_FROM
                      and not any(c.is_delete for c in plan.changes) and _can_fork())
        mark = _cpu_mark() if jobs <= 0 and splittable else None
        self._parts: list[list[Asset]] = []  # see _judge_split
        self._pid = 0  # the process that judges (and forks the worker of) a split plan
        self._use(build_world(plan, "after", base, numbers=numbers, ancestors=ancestors,
                              base_iam=self._base_iam))
        if mark is not None:
            busy = _others_busy(mark)
            self.jobs = 2 if busy is not None and busy <= PLAN_MAX_BUSY else 1
        self._split = splittable and self.jobs > 1
        self._partial_ok = {cr.rule.id for cr in self.engine.rules
                            if reads_only_bindings(cr.rule)}
        # (rule id, Terraform type) pairs the rule cannot judge in a plan (`unknown_in_plan`)
        self._blocked = frozenset((rule.id, tf_type) for rule in pack.rules
                                  for tf_type in rule.unknown_in_plan)
        self.snapshot_inputs = snapshot_inputs or []

    def _use(self, world: World) -> None:
        self.after = world
        self._shown = {}
        self.inventory = self._inventory(world)
        self._ids = {info.number: info.id for info in self.inventory.projects.all()
                     if info.number and info.id}

    def _inventory(self, world: World) -> Inventory:
        inventory = Inventory(world.assets.values(), phi=self.config.phi, content=self._content,
                              content_gaps=self._content_gaps, origin=self._origin,
                              asset_types=self._asset_types)
        # What refers to an asset the plan creates is in the plan, whatever the snapshot says
        # of the referrers' types: nothing that exists can refer to it yet.
        base = self._base or {}
        inventory.coverage.new = frozenset(
            name for name, change in world.changed.items()
            if change.is_create and not change.is_delete and name not in base)
        return inventory

    # --------------------------------------------------------------------------------------

    def run_info(self) -> dict[str, Any]:
        """The `run` block of the findings document."""
        types = {a.name: a.asset_type for a in self.after.assets.values()}
        counts: dict[str, int] = {}
        for asset_type in types.values():
            counts[asset_type] = counts.get(asset_type, 0) + 1
        return {
            "tool": "phiguard",
            "tool_version": __version__,
            "mode": "plan",
            "rule_pack_digest": f"sha256:{self.pack.digest}",
            "rules_evaluated": [cr.rule.id for cr in self.engine.rules],
            "snapshot_time": None,
            "evaluated_at": format_time(self.now),
            "inputs": [{"path": self.plan.file, "kind": "terraform-plan"},
                       *self.snapshot_inputs],
            "plan": {"format_version": self.plan.format_version,
                     "terraform_version": self.plan.terraform_version,
                     "resources": len(self.plan.changes),
                     "changed": sum(1 for c in self.plan.changes
                                    if any(a in ("create", "update", "delete")
                                           for a in c.actions)),
                     "scope": "all" if self.everything else "changed"},
            "not_evaluated": self.not_evaluated(),
            "asset_counts": dict(sorted(counts.items())),
            "records": len(types),
            "config": self.config.to_json(),
        }

    def not_evaluated(self) -> list[dict[str, Any]]:
        """Planned resources of types phiguard does not convert: listed, never dropped."""
        return [{"address": c.address, "type": c.type, "change": _change_kind(c)}
                for c in self.after.not_evaluated]

    def _subjects(self) -> list[Asset]:
        if self.everything:
            return list(self.after.assets.values())
        return [self.after.assets[n] for n in self.after.changed if n in self.after.assets]

    def findings(self) -> Iterator[PlanFinding]:
        """Every reported finding, waivers applied, baseline removed, in a stable order."""
        regressions = self._deletion_findings()
        covered = {(f.rule_id, f.asset) for f in regressions}
        out: list[PlanFinding] = list(regressions)
        self._covered = covered
        if self._split:
            out.extend(self._judge_split())
        else:
            out.extend(self._judge(self._subjects()))
        out.sort(key=lambda f: (f.address or "", f.rule_id, f.asset))
        if not self.book.waivers and not self.baseline:
            # nothing to waive, nothing to excuse: each finding as it is (no call a finding)
            yield from out
            return
        for finding in out:
            applied = self.book.apply(finding)
            if applied.outcome is not Outcome.PASS and self.baseline and self.excused(applied):
                self.suppressed += 1
                self.suppressed_rules[applied.rule_id] += 1
                continue
            yield applied  # type: ignore[misc]

    def excused(self, finding: Finding) -> bool:
        """Whether the baseline already has this non-passing finding, so it is not reported.
        A FAIL only when the baseline FAILs the same rule on the same asset at the same or a
        higher severity: an UNKNOWN there (data missing then), a WAIVED one (its waiver may
        have expired or been removed since) or a less severe FAIL never hides a FAIL. An
        UNKNOWN or WAIVED finding, which never fails the gate, when the baseline has any
        non-passing finding of that rule and asset."""
        key = fingerprint(finding.rule_id, finding.asset, self._ids)
        if finding.outcome is not Outcome.FAIL:
            return key in self.baseline
        was = self.baseline_fails.get(key)
        return was is not None and severity_rank(was) >= severity_rank(finding.severity)

    @property
    def waivers(self) -> list[dict[str, Any]]:
        return self.book.report()

    def _judge(self, subjects: list[Asset]) -> list[PlanFinding]:
        """Every subject judged and each finding decorated (`_decorate`). What a finding's
        decoration needs of its asset (the planned resource behind it, its address and
        change kind, whether the plan shows it only in part) is looked up once per asset; a
        PASS that no `unknown_in_plan` or partial view turns UNKNOWN is built here."""
        out: list[PlanFinding] = []
        append = out.append
        covered = self._covered
        evaluate, inventory, now = self.engine.evaluate_asset, self.inventory, self.now
        # Assets of one type one after another (plan order within a type): the rules of a
        # type and what they read stay in the CPU's caches (0.86 -> 0.66 s of rule
        # evaluation for the 10k plan, whose resources alternate types). The findings are
        # sorted afterwards by a key no two share, so the order judged is never seen.
        subjects = sorted(subjects, key=_asset_type)
        origin_of, changed_of, partial = self.after.origin, self.after.changed, self.after.partial
        blocked = self._blocked
        # the rules `unknown_in_plan` blocks, by Terraform type (none: `_NONE_BLOCKED`)
        blocked_of: dict[str, set[str]] = {}
        for rule_id, blocked_type in blocked:
            blocked_of.setdefault(blocked_type, set()).add(rule_id)
        file = self.plan.file
        for asset in subjects:
            found = evaluate(asset, inventory, now)
            if not found:
                continue
            undecided = inventory.undecided_scope(asset)
            if undecided is not None:
                found = _scope_undecided(found, undecided, self._rules)
            name = asset.name
            origin = origin_of.get(name, ())
            first = changed_of.get(name)
            if first is None and origin:
                first = origin[0]
            several = len(origin) > 1
            whole = name not in partial
            tf_type = address = source = kind = ""
            blocked_here: frozenset[str] | set[str] = _NONE_BLOCKED
            # the planned resource is the asset's one change: `_fix` would look at it alone
            alone = first is not None and (not origin or (len(origin) == 1
                                                          and origin[0] is first))
            if first is not None:
                tf_type, address = first.type, first.address
                blocked_here = blocked_of.get(first.type, _NONE_BLOCKED)
                source = f"{file}#{address}"
                kind = _change_kind(first)
            for finding in found:
                if covered and (finding.rule_id, finding.asset) in covered:
                    continue
                if finding.outcome is _PASS and whole and finding.rule_id not in blocked_here:
                    if first is None:
                        append(_planned(
                            finding.rule_id, finding.asset, finding.asset_type, _PASS,
                            finding.severity, finding.controls, finding.message,
                            finding.evidence, finding.waiver, finding.source, None, None, None))
                    else:
                        append(_planned(
                            finding.rule_id, finding.asset, finding.asset_type, _PASS,
                            finding.severity, finding.controls, finding.message,
                            finding.evidence, finding.waiver, source, address, None, kind))
                    continue
                responsible = (self._responsible(name, finding)
                               if several and finding.outcome is not _PASS else first)
                if finding.outcome is _FAIL and whole and (
                        finding.rule_id not in blocked_here if responsible is first else (
                            responsible is None
                            or (finding.rule_id, responsible.type) not in blocked)):
                    # a FAIL the plan can judge: it stays FAIL and names its fix
                    if responsible is not first:
                        append(self._decorate(finding, asset, responsible=responsible))
                        continue
                    message, fix_json = finding.message, None
                    if alone:  # the fix can be only the first change's
                        fix = self._fix_for(finding.rule_id, tf_type)
                        found_fix = None if fix is None else self._fix_text(fix, address)
                    else:
                        found_fix = self._fix_of(finding.rule_id, name)
                    if found_fix is not None:
                        fix, fix_address, text = found_fix
                        fix_json = fix.to_json(fix_address)
                        message = f"{message}; {text}"
                    append(_planned(
                        finding.rule_id, finding.asset, finding.asset_type, _FAIL,
                        finding.severity, finding.controls, message, finding.evidence,
                        finding.waiver, finding.source if first is None else source,
                        address or None, fix_json, kind or None))
                    continue
                append(self._decorate(finding, asset, responsible=responsible))
        return out

    def _judge_split(self) -> list[PlanFinding]:
        """The subjects judged in two processes: a forked worker and this process take
        `SPLIT_PARTS` runs of them (in type order) as each is free (see `ordered_map`: a
        worker that fails or falls far behind has its part judged here), so neither waits
        long for the other, and the worker's findings are read back while this process still
        judges. The worker's come back as plain tuples (pickling the dataclasses costs more
        than judging them)."""
        from phiguard._util.parallel import ordered_map

        subjects = sorted(self._subjects(), key=_asset_type)
        # The first subject of each type is judged here before the fork: what judging builds
        # on first use and keeps (the inventory's indexes and facts, each rule's compiled
        # conditions) is then built once and shared, not once in each process.
        first = {id(a): a for a in {a.asset_type: a for a in reversed(subjects)}.values()}
        rest = [a for a in subjects if id(a) not in first]
        size = max(1, -(-len(rest) // SPLIT_PARTS))
        out = self._judge(list(first.values()))
        self._parts = [rest[at:at + size] for at in range(0, len(rest), size)]
        self._pid = os.getpid()
        try:
            for found in ordered_map(_judge_part, self, range(len(self._parts)),
                                     jobs=self.jobs, parent_works=True):
                out.extend(found if isinstance(found, list) else map(_unrow, found))
        finally:
            self._parts = []
        return out

    # --------------------------------------------------------------------------------------

    def _responsible(self, name: str, finding: Finding) -> ResourceChange | None:
        """The planned resource a finding is about: for an asset several resources make up (a
        project and its IAM members), the one whose values the evidence shows."""
        origin = self.after.origin.get(name, [])
        changed = self.after.changed.get(name)
        if len(origin) > 1 and finding.outcome is not Outcome.PASS:
            # a FAIL's evidence starts with what failed; otherwise the last values recorded
            # are the ones that decided the verdict
            ordered = (finding.evidence if finding.outcome is Outcome.FAIL
                       else tuple(reversed(finding.evidence)))
            index = self._shown.get(name)
            if index is None:
                index = self._shown[name] = _shown_index(origin)
            for _path, value in ordered:
                wanted = [w for w in (value if isinstance(value, list) else (value,))
                          if isinstance(w, str)]
                if not wanted:
                    continue
                for first in index:  # who or what it grants or sets, then the role
                    at = min([first.get(w, _NOWHERE) for w in wanted])
                    if at != _NOWHERE:
                        return origin[at]
        if changed is not None:
            return changed
        return origin[0] if origin else None

    def _fix_of(self, rule_id: str, name: str) -> tuple[Fix, str, str] | None:
        """`_fix`, with what the finding's message says of it (`Fix.text`, or its note)."""
        found = self._fix(rule_id, name)
        if found is None:
            return None
        return self._fix_text(*found)

    def _fix_text(self, fix: Fix, address: str) -> tuple[Fix, str, str]:
        """The fix of the resource at `address`, with what the finding's message says of it."""
        if not fix.attribute:
            return fix, address, fix.note
        key = id(fix)
        parts = self._fix_texts.get(key)
        if parts is None or parts[0] is not fix:
            # `Fix.text` is "... in ADDRESS ...": everything but the address, once per fix
            mark = "\0"
            text = fix.text(mark)
            if text.count(mark) != 1:  # the mark in the fix itself: no shortcut
                return fix, address, fix.text(address)
            head, _, tail = text.partition(mark)
            parts = self._fix_texts[key] = (fix, head, tail)
        return fix, address, parts[1] + address + parts[2]

    def _fix(self, rule_id: str, name: str) -> tuple[Fix, str] | None:
        for change in [*([self.after.changed[name]] if name in self.after.changed else []),
                       *self.after.origin.get(name, ())]:
            fix = self._fix_for(rule_id, change.type)
            if fix is not None:
                return fix, change.address
        return None

    def _fix_for(self, rule_id: str, tf_type: str) -> Fix | None:
        """The fix the rule declares for resources of this Terraform type (kept)."""
        key = (rule_id, tf_type)
        fixes = self._fixes
        return fixes[key] if key in fixes else fixes.setdefault(
            key, Fix.of_rule(self._rules.get(rule_id), tf_type))

    def _unknown_in_plan(self, rule_id: str, change: ResourceChange | None) -> str | None:
        """Why the rule cannot judge this planned resource (its evidence exists only after
        apply), or None."""
        rule = self._rules.get(rule_id)
        return rule.unknown_in_plan.get(change.type) if rule and change is not None else None

    def _decorate(self, finding: Finding, asset: Asset, *, change: ResourceChange | None = None,
                  message: str | None = None, outcome: Outcome | None = None,
                  responsible: ResourceChange | None = None) -> PlanFinding:
        """`change`: the deletion a regression is about; `responsible`: the planned resource
        behind the finding when the caller has found it already (`_responsible`)."""
        regression = change is not None
        change = change or responsible or self._responsible(asset.name, finding)
        outcome = outcome or finding.outcome
        message = message or finding.message
        if outcome is Outcome.PASS and asset.name not in self.after.partial \
                and self._unknown_in_plan(finding.rule_id, change) is None:
            address = change.address if change is not None else None
            return _planned(finding.rule_id, finding.asset, finding.asset_type, outcome,
                            finding.severity, finding.controls, message,
                            finding.evidence, finding.waiver,
                            f"{self.plan.file}#{address}" if address else finding.source,
                            address, None, self._kind(change))
        if not regression and outcome in (Outcome.PASS, Outcome.FAIL):
            why = self._unknown_in_plan(finding.rule_id, change)
            if why is not None:
                outcome, message = Outcome.UNKNOWN, f"Cannot evaluate: {why}"
            elif asset.name in self.after.partial and finding.rule_id not in self._partial_ok:
                outcome = Outcome.UNKNOWN
                message = (f"Cannot evaluate: the plan shows {asset.name} only through the "
                           "changes it makes to it; pass --snapshot to judge the rest")
        fix_json = None
        if outcome is Outcome.FAIL:
            found = self._fix(finding.rule_id, asset.name)
            if found is not None:
                fix, fix_address = found
                fix_json = fix.to_json(fix_address)
                message = f"{message}; {fix.text(fix_address) if fix.attribute else fix.note}"
        address = change.address if change is not None else None
        source = f"{self.plan.file}#{address}" if address else finding.source
        return _planned(finding.rule_id, finding.asset, finding.asset_type, outcome,
                        finding.severity, finding.controls, message, finding.evidence,
                        finding.waiver, source, address, fix_json, self._kind(change))

    def _kind(self, change: ResourceChange | None) -> str | None:
        if change is None:
            return None
        kind = self._kinds.get(change.address)
        if kind is None:
            kind = self._kinds[change.address] = _change_kind(change)
        return kind

    def _deletion_findings(self) -> list[PlanFinding]:
        """A control removed by a deletion: a rule that passes before the plan and not after,
        on an asset that references (or holds) what the plan deletes."""
        deleted = [c for c in self.plan.changes if c.is_delete and not c.is_create]
        if not deleted:
            return []
        before = build_world(self.plan, "before", self._base, numbers=self._numbers,
                             ancestors=self._ancestors, base_iam=self._base_iam)
        before_inv = self._inventory(before)
        keys: dict[str, ResourceChange] = {}
        holders: dict[str, ResourceChange] = {}
        for change in deleted:
            name = before.name_of.get(change.address)
            if name is None:
                continue
            if change.type in CONVERTERS:
                keys[ref_key(name)] = change
            else:  # an IAM / policy / list piece: its holder loses it
                holders.setdefault(name, change)
        dependents: dict[str, ResourceChange] = dict(holders)
        if keys:
            for asset in self.after.assets.values():
                for value in _strings(asset.data):
                    hit = keys.get(ref_key(value)) if "/" in value else None
                    if hit is not None:
                        dependents.setdefault(asset.name, hit)
                        break
        out: list[PlanFinding] = []
        for name, change in sorted(dependents.items()):
            now_asset = self.after.assets.get(name)
            then_asset = before.assets.get(name)
            if now_asset is None or then_asset is None:
                continue
            then = {f.rule_id: f for f in self.engine.evaluate_asset(then_asset, before_inv,
                                                                     self.now)}
            # PHI scope known only after apply: a `scope: phi` rule's failure is UNKNOWN, as on
            # the planned-resource path (`_judge`).
            undecided = self.inventory.undecided_scope(now_asset)
            for finding in self.engine.evaluate_asset(now_asset, self.inventory, self.now):
                prior = then.get(finding.rule_id)
                if prior is None or prior.outcome is not Outcome.PASS or \
                        finding.outcome is Outcome.PASS:
                    continue
                why = finding.message.removeprefix("Cannot evaluate: ").replace(
                    "is not in the snapshot", "no longer exists after this plan")
                message = (f"deleting {change.address} removes a control {name} relies on: "
                           f"{why}")
                outcome = Outcome.FAIL
                if undecided is not None and self._rules[finding.rule_id].scope == "phi":
                    outcome = Outcome.UNKNOWN
                    message = f"Cannot evaluate: {undecided.why}; if it is: {message}"
                out.append(self._decorate(finding, now_asset, change=change, message=message,
                                          outcome=outcome))
        return out


PARALLEL_FROM = 3000  # planned resources; below this a fork costs more than it saves
# With `jobs` 0, the most CPUs other processes may have kept busy while the world was built for
# a large plan to be judged in two processes (the second costs about 0.3 CPU s more for a
# 10,000-resource plan: the fork's copied pages, its findings pickled and read back).
PLAN_MAX_BUSY = 0.2
SPLIT_PARTS = 16  # runs of subjects a split plan is judged in, taken by either process


def _can_fork() -> bool:
    # multiprocessing is imported only by a run that may split (--jobs 2)
    from phiguard._util.parallel import can_fork

    return can_fork()


def _cpu_mark() -> tuple[set[int] | None, int, tuple[int, int], float] | None:
    """This process's CPUs (None: every CPU) and how many, their busy and total jiffies and
    this process's CPU seconds, now; None where /proc/stat cannot tell, or with one CPU."""
    from phiguard._util.parallel import _cpu_ticks, usable_cpus

    try:
        mine: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = None
    cpus = len(mine) if mine is not None else (os.cpu_count() or 1)
    ticks = _cpu_ticks(mine) if usable_cpus() >= 2 else None
    return None if ticks is None else (mine, cpus, ticks, time.process_time())


def _others_busy(mark: tuple[set[int] | None, int, tuple[int, int], float]) -> float | None:
    """How many CPUs other processes kept busy since `mark` (`_cpu_mark`): the busy time of
    this process's CPUs less its own, over the time passed (None: not known)."""
    from phiguard._util.parallel import _cpu_ticks

    mine, cpus, (busy0, total0), own0 = mark
    now = _cpu_ticks(mine)
    if now is None or now[1] <= total0:
        return None
    own = (time.process_time() - own0) * os.sysconf("SC_CLK_TCK")
    return max(0.0, (now[0] - busy0 - own) * cpus / (now[1] - total0))


_OUTCOMES = {o.value: o for o in Outcome}
_PASS, _FAIL = Outcome.PASS, Outcome.FAIL
_NONE_BLOCKED: frozenset[str] = frozenset()
_asset_type = attrgetter("asset_type")


def _scope_undecided(found: list[Finding], why: UnknownValue,
                     rules: Mapping[str, Rule]) -> list[Finding]:
    """The findings of a planned asset whose PHI scope is known only after apply
    (`Inventory.undecided_scope`): a `scope: phi` rule's FAIL is UNKNOWN, as it fails only if
    the asset is in PHI scope; a PASS holds either way."""
    return [replace(f, outcome=Outcome.UNKNOWN,
                    message=f"Cannot evaluate: {why.why}; if it is: {f.message}")
            if f.outcome is _FAIL and rules[f.rule_id].scope == "phi" else f for f in found]


def _judge_part(gate: PlanGate, part: int) -> list[PlanFinding] | tuple[tuple[Any, ...], ...]:
    """One part of a split plan's subjects judged (`_judge_split`): its findings, as rows
    when judged in a forked worker (to be sent back)."""
    found = gate._judge(gate._parts[part])
    return found if os.getpid() == gate._pid else tuple(_row(f) for f in found)


def _row(f: PlanFinding) -> tuple[Any, ...]:
    return (f.rule_id, f.asset, f.asset_type, f.outcome.value, f.severity, f.controls,
            f.message, f.evidence, f.waiver, f.source, f.address, f.terraform_fix, f.change,
            f.location)


def _unrow(r: tuple[Any, ...]) -> PlanFinding:
    return _planned(r[0], r[1], r[2], _OUTCOMES[r[3]], *r[4:])


# the keys of a planned piece whose values a finding's evidence may show: first who or what
# it grants or sets, then the role
_SHOWN_KEYS = (("member", "members", "service", "constraint"), ("role",))


_NOWHERE = 1 << 62


def _shown_index(origin: list[ResourceChange]) -> tuple[dict[str, int], ...]:
    """Per group of `_SHOWN_KEYS`: each string the planned resources making up one asset set
    under those keys (a string or a list of them) -> the position in `origin` of the first
    resource that sets it."""
    out: tuple[dict[str, int], ...] = tuple({} for _ in _SHOWN_KEYS)
    for first, keys in zip(out, _SHOWN_KEYS, strict=True):
        for at, change in enumerate(origin):
            values = change.after if isinstance(change.after, dict) else {}
            for key in keys:
                got = values.get(key)
                for item in got if isinstance(got, list) else [got]:
                    if isinstance(item, str):
                        first.setdefault(item, at)
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class SnapshotBase:
    """What the plan gate takes from a current snapshot."""

    assets: dict[str, Asset]  # by name
    numbers: dict[str, str]  # project number by id
    ancestors: dict[str, tuple[str, ...]]  # by project id
    inputs: list[dict[str, str]]  # the inputs' manifest entries
    content: frozenset[str]  # the content types it holds (its manifest's, else its records')
    content_gaps: tuple[tuple[str, str], ...]  # (content type, parent) its manifest lists
    # the asset types it was collected with (its manifest's, and those it holds a resource of)
    asset_types: frozenset[str] = frozenset()


def snapshot_base(paths: list[Path], engine: Engine, config: Config) -> SnapshotBase:
    """What the plan gate takes from the current snapshot at `paths`."""
    from phiguard.inventory.readers import discover
    from phiguard.inventory.snapshot import load_context, snapshot_assets

    files = discover(paths)
    loaded = load_context(files, engine.context_types(), config.phi)
    assets = {a.name: a for a in snapshot_assets(loaded, files, None)}
    numbers: dict[str, str] = {}
    ancestors: dict[str, tuple[str, ...]] = {}
    for info in loaded.inventory.projects.all():
        if info.id and info.number:
            numbers[info.id] = info.number
            if info.ancestors:
                ancestors[info.id] = tuple(info.ancestors)
    _, gaps = coverage_from_manifest(files.manifest)
    return SnapshotBase(assets, numbers, ancestors, files.inputs(),
                        loaded.inventory.coverage.held, gaps,
                        types_from_manifest(files.manifest) | {t for t, n in loaded.counts.items()
                                                               if n})
