"""A failure that a later run could not judge (UNKNOWN: its input lacked the data) is not
resolved: `diff`, the audit report's changes since the last run and the mean time to
remediate tell it apart from a failure that passes now, and say what the run lacked."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.policy.rule import load_pack
from phiguard.report.html_report import render_html
from phiguard.store.db import Store
from phiguard.store.drift import drift, mean_time_to_remediate
from phiguard.store.trend import trend_view

IAM = "//cloudresourcemanager.googleapis.com/projects/oh-phi-prod"
NET = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/fw"
LACK = "the snapshot holds no IAM_POLICY content: rules that read IAM policies are UNKNOWN"


def _f(rule: str, asset: str, outcome: str) -> Finding:
    return Finding(rule, asset, "t", Outcome(outcome), "high", ("hipaa/164.312(a)(1)",), "m")


def _run(day: int, **extra: object) -> dict[str, object]:
    return {"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "sha256:x",
            "snapshot_time": f"2026-11-{day:02d}T00:00:00Z",
            "evaluated_at": f"2026-11-{day:02d}T00:00:00Z", **extra}


def _store(path: Path) -> None:
    with Store(path) as db:
        db.record(_run(1), [_f("IAM-001", IAM, "FAIL"), _f("NET-001", NET, "FAIL")],
                  scope="organizations/1")
        db.record(_run(5, content_missing=[LACK]),
                  [_f("IAM-001", IAM, "UNKNOWN"), _f("NET-001", NET, "PASS")],
                  scope="organizations/1")


def test_drift_tells_unknown_from_resolved(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    with Store(path) as db:
        change = drift(db)
        assert [c.rule_id for c in change.resolved] == ["NET-001"]
        assert [(c.rule_id, c.asset, c.first_seen) for c in change.unknown] == [
            ("IAM-001", IAM, "2026-11-01T00:00:00Z")]
        # remediated: NET-001 in 4 days; IAM-001 is not known to be remediated
        assert mean_time_to_remediate(db) == {"NET": 4.0}
        db.record(_run(9), [_f("IAM-001", IAM, "PASS"), _f("NET-001", NET, "PASS")],
                  scope="organizations/1")
        # once a run judges it again and it passes, it was remediated then (8 days)
        assert mean_time_to_remediate(db) == {"IAM": 8.0, "NET": 4.0}


def test_diff_says_now_unknown_and_why(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    text = CliRunner().invoke(main, ["diff", "--store", str(path)])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == "run 2 against run 1: 0 new, 1 resolved, 0 persisting, 1 now UNKNOWN"
    [unknown] = [line for line in lines if line.lstrip().startswith("unknown ")]
    assert "IAM-001" in unknown and IAM in unknown
    assert not [line for line in lines if "resolved" in line and "IAM-001" in line]
    assert any(LACK in line for line in lines)
    doc = json.loads(CliRunner().invoke(main, ["diff", "--store", str(path), "-f",
                                               "json"]).output)
    assert [c["rule_id"] for c in doc["unknown"]] == ["IAM-001"]
    assert [c["rule_id"] for c in doc["resolved"]] == ["NET-001"]


def test_report_changes_show_now_unknown(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with Store(path) as db:
        db.record(_run(1), [_f("IAM-001", IAM, "FAIL"), _f("NET-001", NET, "FAIL")],
                  scope="organizations/1")
        now = [_f("IAM-001", IAM, "UNKNOWN"), _f("NET-001", NET, "PASS")]
        trend = trend_view(db, now)
    changes = trend["changes"]
    assert [c["rule_id"] for c in changes["resolved"]] == ["NET-001"]
    assert [c["rule_id"] for c in changes["unknown"]] == ["IAM-001"]
    out = io.StringIO()
    render_html(out, now, _run(5, content_missing=[LACK], records=2, rules_evaluated=[],
                              inputs=[]), load_pack([RULES]), trend=trend)
    page = out.getvalue()
    table = page.split('id="changes-since-last-run"', 1)[1].split("</table>", 1)[0]
    assert table.count('data-change="resolved"') == 1
    [row] = [r for r in table.split("<tr") if 'data-change="unknown"' in r]
    assert "IAM-001" in row


def test_a_failure_judged_again_is_not_new(tmp_path: Path) -> None:
    """Failing, then UNKNOWN, then failing again: the failure persists from its first run (the
    UNKNOWN run did not judge it), in diff and in the report's changes; a result first
    UNKNOWN and then failing is "now failing, was UNKNOWN", not new."""
    path = tmp_path / "h.db"
    _store(path)
    other = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/other"
    with Store(path) as db:
        third = [_f("IAM-001", IAM, "FAIL"), _f("NET-001", NET, "PASS"),
                 _f("NET-001", other, "UNKNOWN")]
        # against run 2 (IAM-001 UNKNOWN there, failing in run 1): not a new failure
        assert trend_view(db, third)["changes"]["new"] == []
        db.record(_run(9), third, scope="organizations/1")
        later = [_f("IAM-001", IAM, "FAIL"), _f("NET-001", NET, "PASS"),
                 _f("NET-001", other, "FAIL")]
        trend = trend_view(db, later)
        db.record(_run(13), later, scope="organizations/1")
        change = drift(db, 2, 3)
        assert [(c.rule_id, c.first_seen) for c in change.persisting] == [
            ("IAM-001", "2026-11-01T00:00:00Z")]
        assert change.new == [] and change.unknown == []
        assert change.persisting[0].age_days == 8.0
        after = drift(db)  # run 3 -> 4
        assert [(c.asset, c.first_seen) for c in after.persisting] == [
            (IAM, "2026-11-01T00:00:00Z")]
        # other: UNKNOWN in run 3, FAIL in run 4, never judged failing before: not new but
        # "now failing, was UNKNOWN" (session 24), first seen when first judged failing;
        # UNKNOWN since run 2, which has no result for it and lacked data (content_missing),
        # so could not have judged it either
        assert after.new == []
        assert [(c.asset, c.first_seen, c.unknown_since) for c in after.was_unknown] == [
            (other, "2026-11-13T00:00:00Z", "2026-11-05T00:00:00Z")]
    # the report's changes against run 3 say the same
    assert trend["changes"]["new"] == []
    assert [c["asset"] for c in trend["changes"]["was_unknown"]] == [other]
