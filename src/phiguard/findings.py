"""Findings: the immutable result of judging one asset against one rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["SEVERITIES", "Finding", "Outcome", "severity_rank"]

SEVERITIES = ("critical", "high", "medium", "low", "info")


def severity_rank(severity: str) -> int:
    """Higher is more severe: critical 4 ... info 0."""
    return len(SEVERITIES) - 1 - SEVERITIES.index(severity)


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    WAIVED = "WAIVED"


@dataclass(frozen=True, slots=True)
class Finding:
    """One (rule, asset) outcome with the evidence that decided it."""

    rule_id: str
    asset: str
    asset_type: str
    outcome: Outcome
    severity: str
    controls: tuple[str, ...]
    message: str
    evidence: tuple[tuple[str, Any], ...] = ()
    waiver: dict[str, Any] | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "asset": self.asset,
            "asset_type": self.asset_type,
            "outcome": self.outcome.value,
            "severity": self.severity,
            "controls": list(self.controls),
        }
        out.update(self.json_tail())
        return out

    def json_tail(self) -> dict[str, Any]:
        """The members of `to_json` from `message` on, in order: what is left of a finding
        once its rule, asset, type, outcome, severity and controls are written (findings JSON
        writes those from a cache per rule: phiguard.report.json_report.finding_bytes). A
        subclass that adds members adds them here."""
        out: dict[str, Any] = {
            "message": self.message,
            "evidence": [{"path": p, "value": v} for p, v in self.evidence],
            "waiver": self.waiver,
        }
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Finding:
        return cls(
            rule_id=obj["rule_id"],
            asset=obj["asset"],
            asset_type=obj["asset_type"],
            outcome=Outcome(obj["outcome"]),
            severity=obj["severity"],
            controls=tuple(obj["controls"]),
            message=obj["message"],
            evidence=tuple((e["path"], e["value"]) for e in obj.get("evidence", ())),
            waiver=obj.get("waiver"),
            source=obj.get("source"),
        )
