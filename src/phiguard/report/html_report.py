"""The auditor HTML report: one self-contained file (inline CSS and SVG, no script, no network).

It stays usable at any size: findings stream through once into bounded per-rule buckets, each
control shows at most `max_rows_per_control` non-passing rows and each rule at most
`max_passing_per_rule` passing asset names (inside a collapsed <details>), with the full counts
beside them; the complete list is in findings.json and the CSV.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from phiguard.findings import SEVERITIES, Finding, Outcome
from phiguard.policy.rule import RulePack
from phiguard.report._common import (
    OUTCOMES,
    control_order,
    control_status,
    display_value,
    parse_source,
    rule_area,
    run_reasons,
    severity_sort_key,
    template_env,
)
from phiguard.report._redact import redact_evidence
from phiguard.report.framework import (
    framework_findings,
    framework_label,
    framework_pack,
    framework_title,
    unassessed_controls,
    unassessed_types,
    uncovered_status,
)
from phiguard.report.summary import Tally

__all__ = ["build_view", "render_html"]

MAX_ROWS_PER_CONTROL = 100
MAX_PASSING_PER_RULE = 100
_ORDER = {Outcome.FAIL: 0, Outcome.UNKNOWN: 1, Outcome.WAIVED: 2, Outcome.PASS: 3}
BAR_WIDTH = 560


@dataclass
class _RuleBucket:
    nonpass: dict[Outcome, list[Finding]] = field(default_factory=dict)
    passing: list[str] = field(default_factory=list)
    passing_total: int = 0


def _row(finding: Finding) -> dict[str, Any]:
    loc = parse_source(finding.source)
    waiver = finding.waiver or {}
    return {
        "asset": finding.asset,
        "asset_type": finding.asset_type,
        "outcome": finding.outcome.value,
        "severity": finding.severity,
        "message": finding.message,
        "evidence": [(p, display_value(v)) for p, v in redact_evidence(finding.evidence)],
        "source": finding.source or "",
        "address": loc.address or "",
        "waiver": {k: str(v) for k, v in waiver.items()} if waiver else None,
    }


def _bars(areas: Mapping[str, Counter[str]]) -> list[dict[str, Any]]:
    out = []
    for i, (area, counts) in enumerate(sorted(areas.items())):
        total = sum(counts.values())
        x = 0.0
        segments = []
        for outcome in OUTCOMES:
            n = counts.get(outcome, 0)
            if not n:
                continue
            width = BAR_WIDTH * n / total
            segments.append({"outcome": outcome, "x": round(x, 2), "width": round(width, 2),
                             "n": n})
            x += width
        out.append({"area": area, "y": i * 26, "total": total, "segments": segments,
                    "counts": {o: counts.get(o, 0) for o in OUTCOMES}})
    return out


def build_view(findings: Iterable[Finding], run: Mapping[str, Any], pack: RulePack,
               waivers: Sequence[Mapping[str, Any]] = (), *,
               max_rows_per_control: int = MAX_ROWS_PER_CONTROL,
               max_passing_per_rule: int = MAX_PASSING_PER_RULE,
               generated_at: str | None = None,
               trend: Mapping[str, Any] | None = None,
               fixes: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The report's data, computed in one pass over the findings with bounded memory; the
    contents follow the pack's framework (HIPAA unless a framework view is given)."""
    pack = framework_pack(pack)
    findings = framework_findings(findings, pack)
    tally = Tally(keep=0)
    buckets: dict[str, _RuleBucket] = {}
    areas: dict[str, Counter[str]] = {}
    for finding in findings:
        tally.add(finding)
        bucket = buckets.setdefault(finding.rule_id, _RuleBucket())
        areas.setdefault(rule_area(finding.rule_id), Counter())[finding.outcome.value] += 1
        if finding.outcome is Outcome.PASS:
            bucket.passing_total += 1
            if len(bucket.passing) < max_passing_per_rule:
                bucket.passing.append(finding.asset)
        else:
            kept = bucket.nonpass.setdefault(finding.outcome, [])
            if len(kept) < max_rows_per_control:  # per outcome, so FAILs are never crowded out
                kept.append(finding)
    rules = pack.by_id()
    evaluated = list(run.get("rules_evaluated") or sorted(buckets))
    if pack.framework is not None:  # the appendix lists the framework's rules only
        evaluated = [rid for rid in evaluated if rid in rules]
    rules_of_control: dict[str, set[str]] = {c: set(s) for c, s in tally.rules_of_control.items()}
    for rid in evaluated:
        rule = rules.get(rid)
        for control in rule.controls if rule else ():
            rules_of_control.setdefault(control, set()).add(rid)

    # rules that judged nothing of a type of theirs the snapshot may lack, and their controls
    unassessed = unassessed_types(run)
    not_assessed = unassessed_controls(pack, run)

    def rule_view(rid: str) -> dict[str, Any]:
        rule = rules.get(rid)
        counts = tally.by_rule.get(rid, Counter())
        return {
            "id": rid,
            "title": rule.title if rule else "(rule not in this pack)",
            "severity": rule.severity if rule else "",
            "description": rule.description if rule else "",
            "asset_types": list(rule.asset_types) if rule else [],
            "remediation": (rule.remediation.get("summary", "") if rule else ""),
            "terraform": (rule.remediation.get("terraform", "") if rule else ""),
            "controls": list(rule.controls) if rule else [],
            "references": list(rule.references) if rule else [],
            "counts": {o: counts.get(o, 0) for o in OUTCOMES},
            "status": control_status(dict(counts), rid in unassessed),
            "unassessed": unassessed.get(rid, []),
        }

    controls = []
    for cid in control_order(pack, rules_of_control):
        catalog_entry = pack.controls.get(cid)
        counts = tally.by_control.get(cid, Counter())
        budget = max_rows_per_control
        rule_views = []
        for rid in sorted(rules_of_control.get(cid, ()),
                          key=lambda r: severity_sort_key(rules.get(r), r)):
            view = rule_view(rid)
            bucket = buckets.get(rid, _RuleBucket())
            items = [f for o in sorted(bucket.nonpass, key=_ORDER.__getitem__)
                     for f in bucket.nonpass[o]]
            shown = items[:max(budget, 0)]
            budget -= len(shown)
            nonpass_total = sum(view["counts"][o] for o in ("FAIL", "UNKNOWN", "WAIVED"))
            view.update(rows=[_row(f) for f in shown], rows_total=nonpass_total,
                        rows_hidden=nonpass_total - len(shown), passing=bucket.passing,
                        passing_total=bucket.passing_total,
                        passing_hidden=bucket.passing_total - len(bucket.passing))
            rule_views.append(view)
        controls.append({
            "id": cid,
            "short": cid.split("/", 1)[-1],
            "anchor": "c-" + "".join(ch if ch.isalnum() else "-" for ch in cid),
            "title": catalog_entry.title if catalog_entry else "(not in the control catalog)",
            "section": catalog_entry.section if catalog_entry else "",
            "standard": catalog_entry.standard if catalog_entry else "",
            "kind": catalog_entry.kind if catalog_entry else "",
            "level": catalog_entry.level if catalog_entry else None,
            "automated": catalog_entry.automated if catalog_entry else True,
            "counts": {o: counts.get(o, 0) for o in OUTCOMES},
            # A paragraph no rule can evidence from CAI says so (NOT COVERED), and a manual
            # recommendation says it is not automatable; neither is a status of results.
            "status": (uncovered_status(catalog_entry, bool(rule_views))
                       or control_status(dict(counts), cid in not_assessed)),
            "rules": rule_views,
        })
    config = run.get("config") or {}
    summary = tally.to_json()
    catalog = pack.framework
    return {
        "run": run,
        "reasons": run_reasons(run),
        "framework": {
            "name": catalog.name if catalog else "hipaa",
            "title": framework_title(pack),
            "subtitle": catalog.subtitle if catalog else "45 CFR Part 164, Subpart C",
            "control_noun": catalog.control_noun if catalog else "HIPAA paragraph",
            "label": framework_label(pack),
        },
        "organization": config.get("organization") or "(not set)",
        "phi": config.get("phi") or {},
        "generated_at": generated_at,
        "total": sum(tally.outcomes.values()),
        "outcomes": summary["outcomes"],
        "failing_by_severity": summary["failing_by_severity"],
        "severities": SEVERITIES,
        "outcome_names": OUTCOMES,
        "controls": controls,
        "areas": _bars(areas),
        "bar_width": BAR_WIDTH,
        "waivers": [dict(w) for w in waivers],
        "trend": trend,
        "fixes": [dict(f) for f in fixes],
        "appendix": [rule_view(rid) for rid in evaluated],
        "max_rows_per_control": max_rows_per_control,
        "max_passing_per_rule": max_passing_per_rule,
    }


def render_html(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
                pack: RulePack, waivers: Sequence[Mapping[str, Any]] = (), *,
                max_rows_per_control: int = MAX_ROWS_PER_CONTROL,
                max_passing_per_rule: int = MAX_PASSING_PER_RULE,
                generated_at: str | None = None,
                trend: Mapping[str, Any] | None = None,
                fixes: Sequence[Mapping[str, str]] = ()) -> None:
    """Write the auditor report for these findings; everything shown is escaped and redacted.

    `trend` (from `phiguard.store.trend.trend_view`) adds the history section of an audit;
    `fixes` (from `phiguard.report.fixes.fix_rows`) the applied fixes as remediation evidence.
    """
    view = build_view(findings, run, pack, waivers, max_rows_per_control=max_rows_per_control,
                      max_passing_per_rule=max_passing_per_rule, generated_at=generated_at,
                      trend=trend, fixes=fixes)
    template = template_env().get_template("report.html.j2")
    for chunk in template.generate(**view):
        out.write(chunk)
