"""Findings for tests: one builder of a single finding, the demo organization's scan (once per
test run) and a synthetic org of any size."""

from __future__ import annotations

from functools import cache
from typing import Any

from _paths import DEMO, REPO, RULES
from phiguard.config import load_config
from phiguard.findings import Finding, Outcome
from phiguard.policy.rule import RulePack, load_pack
from phiguard.scan import Scan

SARIF_SCHEMA = REPO / "tests" / "sarif" / "sarif-schema-2.1.0.json"  # origin: its README


FIREWALL_TYPE = "compute.googleapis.com/Firewall"


def finding(asset: str, outcome: Outcome = Outcome.FAIL, *, rule: str = "NET-001",
            asset_type: str = FIREWALL_TYPE, severity: str = "high",
            controls: tuple[str, ...] = ("hipaa/164.312(e)(1)",), message: str = "bad",
            evidence: tuple[tuple[str, Any], ...] = (("data.name", "x"),),
            waiver: dict[str, Any] | None = None) -> Finding:
    """One finding, by default a failing NET-001 on a firewall with one piece of evidence."""
    return Finding(rule, asset, asset_type, outcome, severity, controls, message, evidence,
                   waiver, None)


@cache
def pack() -> RulePack:
    return load_pack([RULES])


@cache
def demo() -> tuple[dict[str, Any], tuple[Finding, ...], tuple[dict[str, Any], ...]]:
    """(run, findings, waivers) of the demo organization, scanned once per test session."""
    job = Scan([DEMO], pack(), load_config(DEMO / "phiguard.yaml"))
    findings = tuple(job.findings())
    return job.run_info(), findings, tuple(job.waivers)


def synthetic(n: int) -> tuple[dict[str, Any], list[Finding]]:
    """`n` findings over every rule of the pack: 90% PASS, 8% FAIL, 1% UNKNOWN, 1% WAIVED."""
    run, _, _ = demo()
    rules = pack().rules
    out = []
    for i in range(n):
        rule = rules[i % len(rules)]
        bucket = i % 100
        outcome = (Outcome.FAIL if bucket < 8 else Outcome.UNKNOWN if bucket == 8
                   else Outcome.WAIVED if bucket == 9 else Outcome.PASS)
        asset = f"//compute.googleapis.com/projects/p{i % 97}/zones/us-east4-a/instances/vm-{i}"
        out.append(Finding(
            rule_id=rule.id, asset=asset, asset_type="compute.googleapis.com/Instance",
            outcome=outcome, severity=rule.severity, controls=rule.controls,
            message=f"synthetic {outcome.value.lower()} result {i}",
            evidence=(("data.name", f"vm-{i}"), ("data.metadata.items",
                                                 [{"key": "startup-script", "value": "pw=1"}])),
            waiver=({"reason": "synthetic", "approved_by": "a@example.com",
                     "expires": "2027-01-01", "status": "active"}
                    if outcome is Outcome.WAIVED else None),
            source=f"synthetic.ndjson:{i + 1}"))
    return dict(run, rules_evaluated=[r.id for r in rules]), out
