"""Reporting one set of findings against one framework (a control catalog of the pack).

A finding carries every control of its rule, in every catalog (the findings JSON keeps them
all), so one scan can be reported against HIPAA, CIS or a user's own baseline without
rescanning. A report for a framework sees the pack through `RulePack.for_framework`: that
catalog's controls only, and only the rules that evidence one of them. Each finding is shown
with the framework's controls it names or its rule names (so an older findings file, written
before a rule was mapped to the framework, is still placed); a finding that evidences none of
the framework's controls is left out of that framework's report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.inventory.coverage import unassessed_rules
from phiguard.policy.rule import DEFAULT_FRAMEWORK, Control, RulePack
from phiguard.report.summary import Tally

F = TypeVar("F", bound=Finding)

__all__ = ["NOT_AUTOMATABLE", "NOT_COVERED", "control_label", "framework_findings",
           "framework_label", "framework_pack", "framework_tally", "framework_title",
           "unassessed_controls", "unassessed_types", "uncovered_status"]

NOT_COVERED = "NOT COVERED"
NOT_AUTOMATABLE = "NOT AUTOMATABLE"


def framework_pack(pack: RulePack) -> RulePack:
    """The pack a renderer reports with: the framework view it was given, else the default
    framework's view (hipaa), else (a pack without catalogs) the pack itself."""
    if pack.framework is not None:
        return pack
    return pack.for_framework(DEFAULT_FRAMEWORK)


def framework_findings(findings: Iterable[F], view: RulePack) -> Iterator[F]:
    """The findings as the framework sees them: controls narrowed to its catalog (the rule's
    mapping added), findings evidencing none of them left out."""
    catalog = view.framework
    if catalog is None:
        yield from findings
        return
    mine = catalog.controls
    rules = view.by_id()
    # the controls shown, once per rule and controls carried (nearly every finding has some
    # other catalog's controls, so is re-labelled: `with_controls`, not `replace`)
    named: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
    for finding in findings:
        key = (finding.rule_id, tuple(finding.controls))
        names = named.get(key)
        if names is None:
            rule = rules.get(finding.rule_id)
            names = named[key] = tuple(dict.fromkeys([
                *(c for c in finding.controls if c in mine), *(rule.controls if rule else ())]))
        if not names:
            continue
        yield finding if names == finding.controls else finding.with_controls(names)


def framework_tally(tally: Tally, view: RulePack, *, notable: bool = True) -> Tally:
    """A tally kept over every finding, as the framework sees it: counts of the framework's
    rules only, control counts from the rules that evidence each control; without `notable`,
    the counts alone (its `notable` findings left empty, their `dropped` count zero)."""
    if view.framework is None:
        return tally
    rules = view.by_id()
    out = Tally(keep=tally.keep)
    for rid, counts in tally.by_rule.items():
        rule = rules.get(rid)
        if rule is None:
            continue
        out.by_rule[rid].update(counts)
        out.outcomes.update(counts)
        if counts.get(Outcome.FAIL.value):
            out.failing_by_severity[rule.severity] += counts[Outcome.FAIL.value]
        if counts.get(Outcome.UNKNOWN.value):
            out.unknown_by_severity[rule.severity] += counts[Outcome.UNKNOWN.value]
        for control in rule.controls:
            out.by_control[control].update(counts)
            out.rules_of_control[control].add(rid)
    if notable:
        out.notable = list(framework_findings(tally.notable, view))
        out.dropped = tally.dropped
    out.worst_failing = max((severity_rank(s) for s in out.failing_by_severity), default=-1)
    return out


def framework_title(pack: RulePack) -> str:
    """The framework's name for covers and headings: the catalog's `title` without a
    parenthesised tail (HIPAA Security Rule; CIS Google Cloud Platform Foundation ...)."""
    if pack.framework is not None and pack.framework.title:
        return pack.framework.title.split(" (", 1)[0].strip()
    if pack.framework is not None:
        return pack.framework.label
    return "HIPAA Security Rule"


def framework_label(pack: RulePack) -> str:
    """The framework's short name (HIPAA, CIS-GCP-5.0) for tags and column heads."""
    return pack.framework.label if pack.framework is not None else "HIPAA"


def control_label(control_id: str) -> str:
    """A control id without its catalog prefix (164.312(e)(1), 3.6)."""
    return control_id.split("/", 1)[-1]


def uncovered_status(control: Control | None, has_rules: bool) -> str | None:
    """The status of a catalog control no result speaks for: NOT AUTOMATABLE for a manual
    recommendation without rules, NOT COVERED for a control no rule can evidence, else None
    (the control has rules: its results decide)."""
    if control is None or has_rules:
        return None
    if not control.automated:
        return NOT_AUTOMATABLE
    if not control.covered:
        return NOT_COVERED
    return None


def unassessed_types(run: Mapping[str, Any]) -> dict[str, list[str]]:
    """Rule id -> the asset types of its own it judged nothing of because the snapshot does
    not know them to be collected (`run.subject_types_missing`)."""
    out: dict[str, list[str]] = {}
    items = run.get("subject_types_missing")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("rules"), list):
            for rid in item["rules"]:
                out.setdefault(str(rid), []).append(str(item.get("asset_type")))
    return out


def unassessed_controls(pack: RulePack, run: Mapping[str, Any]) -> frozenset[str]:
    """The controls (of the pack as the framework sees it) with a rule that judged nothing of
    an asset type of its own the snapshot does not know to be collected: not fully assessed,
    so their status is UNKNOWN unless a result of theirs fails (`control_status`), never a
    clean PASS or NO DATA."""
    rules = pack.by_id()
    return frozenset(control for rid in unassessed_rules(run) if rid in rules
                     for control in rules[rid].controls)
