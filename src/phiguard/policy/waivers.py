"""Apply waivers to findings as they stream past, and report each waiver's state."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from phiguard.config import Waiver
from phiguard.findings import Finding, Outcome

__all__ = ["WaiverBook"]


class WaiverBook:
    """Turns a FAIL into WAIVED under an unexpired matching waiver; counts what each matched."""

    def __init__(self, waivers: tuple[Waiver, ...], at: datetime) -> None:
        self.waivers = waivers
        self.at = at
        self.matched = [0] * len(waivers)
        self._by_rule: dict[str, list[int]] = {}
        for i, w in enumerate(waivers):
            self._by_rule.setdefault(w.rule, []).append(i)

    def apply(self, finding: Finding) -> Finding:
        """The finding, WAIVED if an unexpired waiver matches; a FAIL that only an expired
        waiver matches stays FAIL and carries that waiver with status `expired`."""
        if finding.outcome is not Outcome.FAIL:
            return finding
        expired: int | None = None
        for i in self._by_rule.get(finding.rule_id, ()):
            waiver = self.waivers[i]
            if not waiver.matches(finding.rule_id, finding.asset):
                continue
            if waiver.expired(self.at):
                # A renewed waiver may follow the expired one: keep looking for an active one.
                expired = i if expired is None else expired
                continue
            self.matched[i] += 1
            info = waiver.to_json()
            info["status"] = "active"
            return replace(finding, outcome=Outcome.WAIVED, waiver=info)
        if expired is None:
            return finding
        self.matched[expired] += 1
        waiver = self.waivers[expired]
        info = waiver.to_json()
        info["status"] = "expired"
        return replace(finding, waiver=info,
                       message=f"{finding.message} (waiver expired {waiver.expires})")

    def report(self) -> list[dict[str, Any]]:
        """Each waiver with its status: active, expired, or unused (matched no failing finding)."""
        out = []
        for waiver, count in zip(self.waivers, self.matched, strict=True):
            status = "expired" if waiver.expired(self.at) else ("active" if count else "unused")
            out.append({**waiver.to_json(), "status": status, "matched": count})
        return out
