"""The bundled demo organization: the scan finds exactly the planted violations."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture(scope="module")
def demo_findings(demo_scan: Path) -> dict[str, Any]:
    return dict(json.loads(demo_scan.read_text()))


def test_scan_reports_exactly_the_planted_violations(demo_findings: dict[str, Any],
                                                      demo_dir: Path) -> None:
    """Every FAIL/WAIVED result is in expected-findings.yaml, and every entry there is reported."""
    expected = yaml.safe_load((demo_dir / "expected-findings.yaml").read_text())
    want = {(e["rule"], e["asset"], e["outcome"]) for e in expected}
    got = {(r["rule_id"], r["asset"], r["outcome"]) for r in demo_findings["results"]
           if r["outcome"] in ("FAIL", "WAIVED")}
    assert got - want == set(), "unplanted failures"
    assert want - got == set(), "planted violations not found"


def test_nothing_is_unknown_in_a_complete_snapshot(demo_findings: dict[str, Any]) -> None:
    """The demo snapshot carries every field the rules read, so no result is UNKNOWN."""
    unknown = [(r["rule_id"], r["asset"], r["message"]) for r in demo_findings["results"]
               if r["outcome"] == "UNKNOWN"]
    assert unknown == []


def test_planted_violations_cover_every_area(demo_dir: Path) -> None:
    """Violations are planted in every area of the platform design."""
    expected = yaml.safe_load((demo_dir / "expected-findings.yaml").read_text())
    prefixes = {e["rule"].split("-")[0] for e in expected}
    assert {"TLS", "NET", "MFA", "IAM", "BAK", "DR", "LOG", "ENC", "JIT", "PLAT"} <= prefixes


def test_demo_org_is_realistic_in_size(demo_findings: dict[str, Any]) -> None:
    """At least 300 assets over at least 20 types, in 4+ projects under folders."""
    counts = Counter(demo_findings["run"]["asset_counts"])
    cai_types = {t: n for t, n in counts.items() if not t.startswith("admin.")}
    assert sum(cai_types.values()) >= 300
    assert len(cai_types) >= 20
    assert counts["cloudresourcemanager.googleapis.com/Project"] >= 4
    assert counts["cloudresourcemanager.googleapis.com/Folder"] >= 2


def test_waivers_reported(demo_findings: dict[str, Any]) -> None:
    """The demo config has an active, an expired and an unused waiver, each reported as such."""
    assert sorted(w["status"] for w in demo_findings["waivers"]) == ["active", "expired", "unused"]
    expired = next(w for w in demo_findings["waivers"] if w["status"] == "expired")
    failing = [r for r in demo_findings["results"]
               if r["asset"] == expired["asset"] and r["rule_id"] == expired["rule"]]
    assert [r["outcome"] for r in failing] == ["FAIL"]
    assert failing[0]["waiver"]["status"] == "expired"


def test_every_rule_has_a_passing_asset_in_the_demo(demo_findings: dict[str, Any]) -> None:
    """Auditors see passing evidence: most rules pass somewhere in the demo org."""
    passing = {r["rule_id"] for r in demo_findings["results"] if r["outcome"] == "PASS"}
    evaluated = set(demo_findings["run"]["rules_evaluated"])
    assert len(passing) >= 0.8 * len(evaluated)
