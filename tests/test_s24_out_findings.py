"""Finding.with_controls: the finding `dataclasses.replace(finding, controls=...)` gives, made
through the slots, for every kind of finding (a framework's report re-labels nearly all)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import pytest

from phiguard.findings import Finding, Outcome
from phiguard.terraform.gate import PlanFinding

BASE = Finding(rule_id="NET-001", asset="//compute.googleapis.com/projects/p/global/firewalls/f",
               asset_type="compute.googleapis.com/Firewall", outcome=Outcome.FAIL,
               severity="high", controls=("hipaa/164.312(a)(1)", "cis-gcp-5.0/3.6"),
               message="allows SSH from 0.0.0.0/0",
               evidence=(("data.sourceRanges", ["0.0.0.0/0"]),),
               waiver={"id": "W-1"}, source="assets.ndjson:3")


@dataclass(frozen=True)
class Loose(Finding):  # not slotted: an instance __dict__ holds `note`
    note: str = "n"


@dataclass(frozen=True, slots=True)
class Checked(Finding):
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen.append(self.controls[0] if self.controls else "")


@dataclass(frozen=True, slots=True)
class Derived(Finding):
    label: str = field(init=False, default="derived")


def _members(finding: Finding) -> dict[str, Any]:
    return {f.name: getattr(finding, f.name) for f in fields(finding)}


CASES = [
    BASE,
    replace(BASE, source=None, waiver=None, outcome=Outcome.PASS),
    PlanFinding(**_members(BASE), address="google_compute_firewall.f", change="create",
                terraform_fix={"attribute": "source_ranges"}, location={"file": "main.tf"}),
    Loose(**_members(BASE), note="kept"),
    Checked(**_members(BASE)),
    Derived(**_members(BASE)),
]


@pytest.mark.parametrize("finding", CASES, ids=lambda f: type(f).__name__)
@pytest.mark.parametrize("controls", [("hipaa/164.312(a)(1)",), (), ("cis-gcp-5.0/3.6", "x/1")])
def test_with_controls_is_replace(finding: Finding, controls: tuple[str, ...]) -> None:
    got = finding.with_controls(controls)
    want = replace(finding, controls=controls)
    assert type(got) is type(want)
    assert got == want
    assert _members(got) == _members(want)
    assert got.controls == controls
    assert finding.controls == BASE.controls  # the original is untouched
    if isinstance(finding, Checked):  # __post_init__ ran, as replace runs it
        assert isinstance(got, Checked) and got.seen[-1] == (controls[0] if controls else "")


def test_a_copy_shares_the_members_it_does_not_change() -> None:
    got = BASE.with_controls(("hipaa/164.312(a)(1)",))
    assert got.evidence is BASE.evidence and got.waiver is BASE.waiver
    assert got is not BASE
