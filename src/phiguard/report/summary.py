"""Tally findings as they stream past: counts for every view, details for the failures."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from phiguard.findings import SEVERITIES, Finding, Outcome, severity_rank
from phiguard.inventory.coverage import types_cited

__all__ = ["Tally"]

OUTCOMES = ("PASS", "FAIL", "UNKNOWN", "WAIVED")
_NOT_COLLECTED = "does not say they were collected"


class Tally:
    """Counts by outcome, severity, rule and control; keeps up to `keep` non-passing findings.

    `add` only counts the finding's (rule, outcome, severity, controls) in one dict (a scan
    adds every finding, about a million at 1M assets); the counts by outcome, severity, rule
    and control are folded from those keys when one of them is read.
    """

    def __init__(self, keep: int = 5000) -> None:
        self.keep = keep
        # (rule id, outcome, severity, controls) -> findings not yet folded into the counters
        self._pending: dict[tuple[str, Outcome, str, tuple[str, ...]], int] = {}
        self._outcomes: Counter[str] = Counter()
        self._failing_by_severity: Counter[str] = Counter()
        # UNKNOWN findings by severity: `--fail-on-unknown` counts them (never in the JSON)
        self._unknown_by_severity: Counter[str] = Counter()
        self._by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        self._by_control: dict[str, Counter[str]] = defaultdict(Counter)
        self._rules_of_control: dict[str, set[str]] = defaultdict(set)
        self._worst_failing = -1
        self.assets: set[str] = set()
        self.notable: list[Finding] = []
        self.dropped = 0
        # asset type -> the assets with an UNKNOWN finding saying that type was not known to
        # be collected (coverage per asset type; never in the JSON)
        self.types_unknown: dict[str, set[str]] = {}

    def add(self, finding: Finding) -> None:
        outcome = finding.outcome
        key = (finding.rule_id, outcome, finding.severity, finding.controls)
        pending = self._pending
        pending[key] = pending.get(key, 0) + 1
        if outcome is not Outcome.PASS:
            if outcome is Outcome.UNKNOWN and _NOT_COLLECTED in finding.message:
                for asset_type in types_cited(finding.message):
                    self.types_unknown.setdefault(asset_type, set()).add(finding.asset)
            if len(self.notable) < self.keep:
                self.notable.append(finding)
            else:
                self.dropped += 1

    def _fold(self) -> None:
        """The pending counts, added to the counters."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for (rule_id, outcome, severity, controls), n in pending.items():
            value = outcome.value
            self._outcomes[value] += n
            self._by_rule[rule_id][value] += n
            for control in controls:
                self._by_control[control][value] += n
                self._rules_of_control[control].add(rule_id)
            if outcome is Outcome.FAIL:
                self._failing_by_severity[severity] += n
                self._worst_failing = max(self._worst_failing, severity_rank(severity))
            elif outcome is Outcome.UNKNOWN:
                self._unknown_by_severity[severity] += n

    @property
    def outcomes(self) -> Counter[str]:
        self._fold()
        return self._outcomes

    @property
    def failing_by_severity(self) -> Counter[str]:
        self._fold()
        return self._failing_by_severity

    @property
    def unknown_by_severity(self) -> Counter[str]:
        self._fold()
        return self._unknown_by_severity

    @property
    def by_rule(self) -> dict[str, Counter[str]]:
        self._fold()
        return self._by_rule

    @property
    def by_control(self) -> dict[str, Counter[str]]:
        self._fold()
        return self._by_control

    @property
    def rules_of_control(self) -> dict[str, set[str]]:
        self._fold()
        return self._rules_of_control

    @property
    def worst_failing(self) -> int:
        self._fold()
        return self._worst_failing

    @worst_failing.setter
    def worst_failing(self, value: int) -> None:
        self._fold()
        self._worst_failing = value

    def merge(self, other: Tally) -> None:
        """Fold in a tally kept elsewhere (a worker's), keeping this one's `keep` limit."""
        pending = self._pending
        for key, n in other._pending.items():
            pending[key] = pending.get(key, 0) + n
        if other._outcomes:  # counts `other` has folded already
            self.outcomes.update(other._outcomes)
            self.failing_by_severity.update(other._failing_by_severity)
            self.unknown_by_severity.update(other._unknown_by_severity)
            for rule_id, counts in other._by_rule.items():
                self._by_rule[rule_id].update(counts)
            for control, counts in other._by_control.items():
                self._by_control[control].update(counts)
            for control, rules in other._rules_of_control.items():
                self._rules_of_control[control] |= rules
            self._worst_failing = max(self._worst_failing, other._worst_failing)
        for asset_type, assets in other.types_unknown.items():
            self.types_unknown.setdefault(asset_type, set()).update(assets)
        room = max(0, self.keep - len(self.notable))
        self.notable.extend(other.notable[:room])
        self.dropped += other.dropped + max(0, len(other.notable) - room)

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
