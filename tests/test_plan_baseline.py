"""`phiguard plan --baseline`: only a FAIL in the baseline excuses the same FAIL now (same rule,
same asset, a severity no higher). A finding that was UNKNOWN or WAIVED in the baseline never
hides a FAIL: the gate's text, its JSON and its exit code all show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.cli import main

AT = "2026-11-25T00:00:00Z"
LATER = "2026-12-05T00:00:00Z"  # after the waiver below expired
P = "phi-prod"
ASSET = f"//compute.googleapis.com/projects/{P}/global/sslPolicies/phi-tls12"
STRONG = {"name": "phi-tls12", "project": P, "profile": "RESTRICTED", "min_tls_version": "TLS_1_2"}
WEAK = {**STRONG, "profile": "COMPATIBLE", "min_tls_version": "TLS_1_0"}  # TLS-003 FAIL, high
WAIVER = f"""
waivers:
  - rule: TLS-003
    asset: {ASSET}
    reason: legacy clients until the cut-over
    approved_by: security@example.com
    expires: 2026-12-01
"""


def _plan(tmp_path: Path, name: str, after: dict[str, Any], unknown: Any = None) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_bytes(orjson.dumps(plan_doc([change("google_compute_ssl_policy", "p", after,
                                                   unknown=unknown)])))
    return path


def _config(tmp_path: Path, waiver: bool = False) -> Path:
    path = tmp_path / ("waived.yaml" if waiver else "plain.yaml")
    path.write_text((PLANS / "phiguard.yaml").read_text() + (WAIVER if waiver else ""))
    return path


def _run(plan: Path, config: Path, *more: str, at: str = AT) -> Any:
    return CliRunner().invoke(main, ["plan", str(plan), "-c", str(config), "--at", at, *more],
                              catch_exceptions=False)


def _findings(plan: Path, config: Path, out: Path, at: str = AT) -> dict[str, Any]:
    _run(plan, config, "-f", "json", "-o", str(out), at=at)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _tls003(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["outcome"], r["severity"]) for r in doc["results"] if r["rule_id"] == "TLS-003"]


def _gate(plan: Path, config: Path, baseline: Path, at: str = AT) -> tuple[int, dict[str, Any],
                                                                             str]:
    """The exit code, findings JSON and text summary of one gate run against `baseline`."""
    out = baseline.with_name("gate.json")
    result = _run(plan, config, "--baseline", str(baseline), "-f", "json", "-f", "text",
                  "--output", f"json={out}", at=at)
    return result.exit_code, json.loads(out.read_text()), result.output


def test_unknown_in_the_baseline_does_not_hide_a_fail_now(tmp_path: Path) -> None:
    """The baseline could not judge the policy (its profile known only after apply): UNKNOWN.
    The change sets a weak profile: a definite FAIL, new to the gate, exit 1."""
    config = _config(tmp_path)
    unknown = _plan(tmp_path, "unknown", {"name": "phi-tls12", "project": P},
                    unknown={"profile": True, "min_tls_version": True})
    baseline = tmp_path / "baseline.json"
    assert _tls003(_findings(unknown, config, baseline)) == [("UNKNOWN", "high")]
    code, doc, text = _gate(_plan(tmp_path, "weak", WEAK), config, baseline)
    assert code == 1, text
    assert _tls003(doc) == [("FAIL", "high")]
    assert doc["run"]["baseline"]["suppressed"] == 0
    assert "TLS-003" in text and "in baseline, not shown" not in text


def test_an_expired_waiver_in_the_baseline_does_not_hide_the_fail_now(tmp_path: Path) -> None:
    """WAIVED in the baseline; the waiver has since expired: the FAIL fails the gate."""
    config, weak = _config(tmp_path, waiver=True), _plan(tmp_path, "weak", WEAK)
    baseline = tmp_path / "baseline.json"
    assert _tls003(_findings(weak, config, baseline)) == [("WAIVED", "high")]
    code, doc, text = _gate(weak, config, baseline, at=LATER)
    assert code == 1, text
    assert _tls003(doc) == [("FAIL", "high")]
    assert doc["run"]["baseline"]["suppressed"] == 0


def test_a_removed_waiver_in_the_baseline_does_not_hide_the_fail_now(tmp_path: Path) -> None:
    """WAIVED in the baseline; the change's config no longer waives it: exit 1."""
    weak = _plan(tmp_path, "weak", WEAK)
    baseline = tmp_path / "baseline.json"
    assert _tls003(_findings(weak, _config(tmp_path, waiver=True), baseline)) == [
        ("WAIVED", "high")]
    code, doc, text = _gate(weak, _config(tmp_path), baseline)
    assert code == 1, text
    assert _tls003(doc) == [("FAIL", "high")]


def test_a_fail_in_the_baseline_still_excuses_the_same_fail(tmp_path: Path) -> None:
    """The point of a baseline: a FAIL main already has does not fail the PR (exit 0), and
    the text says one finding is in the baseline."""
    config, weak = _config(tmp_path), _plan(tmp_path, "weak", WEAK)
    baseline = tmp_path / "baseline.json"
    assert _tls003(_findings(weak, config, baseline)) == [("FAIL", "high")]
    code, doc, text = _gate(weak, config, baseline)
    assert code == 0, text
    assert _tls003(doc) == []
    assert doc["run"]["baseline"]["suppressed"] == 1
    assert "in baseline, not shown: 1" in text


def _with_severity(baseline: Path, severity: str) -> Path:
    """The baseline as a pack that rated TLS-003 `severity` would have written it."""
    doc = json.loads(baseline.read_text())
    for item in doc["results"]:
        if item["rule_id"] == "TLS-003":
            item["severity"] = severity
    baseline.write_text(json.dumps(doc))
    return baseline


def test_a_fail_that_got_more_severe_is_not_excused(tmp_path: Path) -> None:
    """The baseline's FAIL was rated low; now it is high: worse than what main has, exit 1.
    A baseline FAIL rated critical excuses the high one."""
    config, weak = _config(tmp_path), _plan(tmp_path, "weak", WEAK)
    baseline = tmp_path / "baseline.json"
    _findings(weak, config, baseline)
    code, doc, text = _gate(weak, config, _with_severity(baseline, "low"))
    assert code == 1, text
    assert _tls003(doc) == [("FAIL", "high")]
    code, doc, text = _gate(weak, config, _with_severity(baseline, "critical"))
    assert code == 0, text
    assert _tls003(doc) == [] and doc["run"]["baseline"]["suppressed"] == 1


def test_unknown_and_waived_in_the_baseline_still_hide_the_same_now(tmp_path: Path) -> None:
    """What never fails the gate stays hidden as before: UNKNOWN -> UNKNOWN and WAIVED ->
    WAIVED are not reported again."""
    plain, waived = _config(tmp_path), _config(tmp_path, waiver=True)
    unknown = _plan(tmp_path, "unknown", {"name": "phi-tls12", "project": P},
                    unknown={"profile": True, "min_tls_version": True})
    weak = _plan(tmp_path, "weak", WEAK)
    for plan, config in ((unknown, plain), (weak, waived)):
        baseline = tmp_path / "baseline.json"
        _findings(plan, config, baseline)
        code, doc, text = _gate(plan, config, baseline)
        assert code == 0, text
        assert _tls003(doc) == [] and doc["run"]["baseline"]["suppressed"] == 1


def test_a_fail_in_the_baseline_that_is_waived_now_is_not_reported(tmp_path: Path) -> None:
    """FAIL in the baseline, WAIVED now: nothing new, nothing failing (as before)."""
    weak = _plan(tmp_path, "weak", WEAK)
    baseline = tmp_path / "baseline.json"
    _findings(weak, _config(tmp_path), baseline)
    code, doc, text = _gate(weak, _config(tmp_path, waiver=True), baseline)
    assert code == 0, text
    assert _tls003(doc) == []
