"""Tally findings as they stream past: counts for every view, details for the failures."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from phiguard.findings import SEVERITIES, Finding, Outcome, severity_rank

__all__ = ["Tally"]

OUTCOMES = ("PASS", "FAIL", "UNKNOWN", "WAIVED")


class Tally:
    """Counts by outcome, severity, rule and control; keeps up to `keep` non-passing findings."""

    def __init__(self, keep: int = 5000) -> None:
        self.keep = keep
        self.outcomes: Counter[str] = Counter()
        self.failing_by_severity: Counter[str] = Counter()
        # UNKNOWN findings by severity: `--fail-on-unknown` counts them (never in the JSON)
        self.unknown_by_severity: Counter[str] = Counter()
        self.by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        self.by_control: dict[str, Counter[str]] = defaultdict(Counter)
        self.rules_of_control: dict[str, set[str]] = defaultdict(set)
        self.assets: set[str] = set()
        self.notable: list[Finding] = []
        self.dropped = 0
        self.worst_failing = -1

    def add(self, finding: Finding) -> None:
        outcome = finding.outcome.value
        self.outcomes[outcome] += 1
        self.by_rule[finding.rule_id][outcome] += 1
        for control in finding.controls:
            self.by_control[control][outcome] += 1
            self.rules_of_control[control].add(finding.rule_id)
        if finding.outcome is Outcome.FAIL:
            self.failing_by_severity[finding.severity] += 1
            self.worst_failing = max(self.worst_failing, severity_rank(finding.severity))
        elif finding.outcome is Outcome.UNKNOWN:
            self.unknown_by_severity[finding.severity] += 1
        if finding.outcome is not Outcome.PASS:
            if len(self.notable) < self.keep:
                self.notable.append(finding)
            else:
                self.dropped += 1

    def merge(self, other: Tally) -> None:
        """Fold in a tally kept elsewhere (a worker's), keeping this one's `keep` limit."""
        self.outcomes.update(other.outcomes)
        self.failing_by_severity.update(other.failing_by_severity)
        self.unknown_by_severity.update(other.unknown_by_severity)
        for rule_id, counts in other.by_rule.items():
            self.by_rule[rule_id].update(counts)
        for control, counts in other.by_control.items():
            self.by_control[control].update(counts)
        for control, rules in other.rules_of_control.items():
            self.rules_of_control[control] |= rules
        room = max(0, self.keep - len(self.notable))
        self.notable.extend(other.notable[:room])
        self.dropped += other.dropped + max(0, len(other.notable) - room)
        self.worst_failing = max(self.worst_failing, other.worst_failing)

    def watch(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        for finding in findings:
            self.add(finding)
            yield finding

    def failing_at_or_above(self, severity: str) -> int:
        threshold = severity_rank(severity)
        return sum(n for sev, n in self.failing_by_severity.items()
                   if severity_rank(sev) >= threshold)

    def unknown_at_or_above(self, severity: str) -> int:
        """UNKNOWN findings of rules at or above this severity."""
        threshold = severity_rank(severity)
        return sum(n for sev, n in self.unknown_by_severity.items()
                   if severity_rank(sev) >= threshold)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcomes": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
            "failing_by_severity": {s: self.failing_by_severity.get(s, 0) for s in SEVERITIES},
            "rules": {rid: {o: c.get(o, 0) for o in OUTCOMES}
                      for rid, c in sorted(self.by_rule.items())},
            "controls": {cid: {o: c.get(o, 0) for o in OUTCOMES}
                         for cid, c in sorted(self.by_control.items())},
        }
