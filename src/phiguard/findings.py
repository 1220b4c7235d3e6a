"""Findings: the immutable result of judging one asset against one rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from operator import attrgetter
from typing import Any, Self

from phiguard._util.slots import slot_maker

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

    def with_controls(self, controls: tuple[str, ...]) -> Self:
        """This finding with other controls: what `dataclasses.replace(self,
        controls=controls)` gives, made through the slots (a framework's report re-labels
        nearly every finding, and `replace` spent most of that in its field checks and the
        frozen __init__). A class that `replace` must build itself (a `__post_init__`, a
        field not set by __init__) is built by `replace`."""
        copier = _COPIERS.get(type(self))
        if copier is None:
            copier = _copier(type(self))
        return copier(self, controls)  # type: ignore[no-any-return]

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


_COPIERS: dict[type, Callable[[Any, tuple[str, ...]], Any]] = {}


def _copier(cls: type) -> Callable[[Any, tuple[str, ...]], Any]:
    """How `Finding.with_controls` copies an instance of `cls` (a Finding subclass too)."""
    found = fields(cls)
    # every field in a slot (no instance __dict__), each set by __init__, nothing after it
    plain = (getattr(cls, "__dictoffset__", 1) == 0 and not hasattr(cls, "__post_init__")
             and all(f.init for f in found))
    if not plain:
        def by_replace(finding: Any, controls: tuple[str, ...]) -> Any:
            return replace(finding, controls=controls)
        _COPIERS[cls] = by_replace
        return by_replace
    names = [f.name for f in found]
    at = names.index("controls")
    values = attrgetter(*names)
    make: Callable[..., Any] = slot_maker(cls)

    def copy(finding: Any, controls: tuple[str, ...]) -> Any:
        args = list(values(finding))
        args[at] = controls
        return make(*args)
    _COPIERS[cls] = copy
    return copy
