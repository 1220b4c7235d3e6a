"""A failure with no result at all in a later run is resolved only when that run could have
judged it: not when the run's input lacked data (content or asset types missing, a coverage
gap, a PHI scope entry matching nothing) or covered another scope. The demo organization
without its IAM policies shows why: MFA-004 judges only assets carrying an IAM policy, so its
failure has no result there (not UNKNOWN), and `diff` called it resolved. `diff`, mean time to
remediate and the report's changes since the last run now keep it "not known to be resolved"
(the `unknown` list, with a note), as they do a failure that became UNKNOWN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _paths import DEMO
from _s23_rep import lossy_snapshot
from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store
from phiguard.store.drift import drift, mean_time_to_remediate
from phiguard.store.trend import trend_view

AT = "2026-11-25T00:00:00Z"
FW = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/fw"
LACK = "the snapshot holds no IAM_POLICY content: rules that read IAM policies are UNKNOWN"
TYPES = [{"asset_type": "compute.googleapis.com/Firewall", "rules": ["NET-001"]}]


def _f(rule: str, asset: str, outcome: str) -> Finding:
    return Finding(rule, asset, "t", Outcome(outcome), "high", ("hipaa/164.312(a)(1)",), "m")


def _run(day: int, **extra: object) -> dict[str, object]:
    return {"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "sha256:x",
            "snapshot_time": f"2026-11-{day:02d}T00:00:00Z",
            "evaluated_at": f"2026-11-{day:02d}T00:00:00Z", **extra}


def _two(path: Path, scope: str = "organizations/1", **extra: Any) -> None:
    with Store(path) as db:
        db.record(_run(1), [_f("MFA-004", FW, "FAIL"), _f("NET-001", FW, "FAIL"),
                            _f("NET-002", FW, "FAIL")], scope="organizations/1")
        # run 2: no result at all for the three
        db.record(_run(5, **extra), [_f("NET-003", FW, "PASS")], scope=scope)


def _split(path: Path) -> tuple[list[str], list[str]]:
    with Store(path) as db:
        change = drift(db)
    return [c.rule_id for c in change.resolved], [c.rule_id for c in change.unknown]


def test_absent_from_a_complete_run_is_resolved(tmp_path: Path) -> None:
    _two(tmp_path / "h.db")
    assert _split(tmp_path / "h.db") == (["MFA-004", "NET-001", "NET-002"], [])
    with Store(tmp_path / "h.db") as db:
        assert mean_time_to_remediate(db) == {"MFA": 4.0, "NET": 4.0}


def test_absent_from_a_run_that_lacked_data_is_not_resolved(tmp_path: Path) -> None:
    _two(tmp_path / "h.db", content_missing=[LACK])
    assert _split(tmp_path / "h.db") == ([], ["MFA-004", "NET-001", "NET-002"])
    with Store(tmp_path / "h.db") as db:
        assert mean_time_to_remediate(db) == {}
        [first, *_] = drift(db).unknown
    assert first.note and "no result in run 2: its input lacked data" in first.note
    text = CliRunner().invoke(main, ["diff", "--store", str(tmp_path / "h.db")])
    assert text.output.splitlines()[0] == (
        "run 2 against run 1: 0 new, 0 resolved, 0 persisting, 3 now UNKNOWN")
    assert sum("no result in run 2" in line for line in text.output.splitlines()) == 3


def test_asset_types_missing_names_the_rules_it_keeps_from_judging(tmp_path: Path) -> None:
    _two(tmp_path / "h.db", asset_types_missing=TYPES)
    assert _split(tmp_path / "h.db") == (["MFA-004", "NET-002"], ["NET-001"])


def test_another_scope_does_not_resolve(tmp_path: Path) -> None:
    _two(tmp_path / "h.db", scope="projects/oh-phi-prod")
    assert _split(tmp_path / "h.db") == ([], ["MFA-004", "NET-001", "NET-002"])


def test_a_later_pass_still_resolves(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _two(path, content_missing=[LACK])
    with Store(path) as db:
        db.record(_run(9, content_missing=[LACK]), [_f("NET-001", FW, "PASS")],
                  scope="organizations/1")
        assert [c.rule_id for c in drift(db, 1, 3).resolved] == ["NET-001"]
        assert mean_time_to_remediate(db) == {"NET": 8.0}


def test_report_changes_follow_the_runs_lacks(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with Store(path) as db:
        db.record(_run(1), [_f("MFA-004", FW, "FAIL")], scope="organizations/1")
        plain = trend_view(db, [])["changes"]
        lossy = trend_view(db, [], run=_run(5, content_missing=[LACK]),
                           scope="organizations/1")["changes"]
        other = trend_view(db, [], run=_run(5), scope="projects/p")["changes"]
    assert [c["rule_id"] for c in plain["resolved"]] == ["MFA-004"]
    for changes in (lossy, other):
        assert changes["resolved"] == []
        assert [c["rule_id"] for c in changes["unknown"]] == ["MFA-004"]


def test_the_demo_without_iam_policies(tmp_path: Path) -> None:
    """Scan the demo organization, then the demo without IAM policies, into one store:
    MFA-004's failure has no result in the second run and is not resolved."""
    store = tmp_path / "h.db"
    snapshot, config = lossy_snapshot(tmp_path)
    for snap, cfg in ((DEMO, DEMO / "phiguard.yaml"), (snapshot, config)):
        out = tmp_path / f"{snap.name}.json"
        result = CliRunner().invoke(main, ["scan", str(snap), "-c", str(cfg), "--at", AT,
                                           "-f", "json", "-o", str(out)],
                                    catch_exceptions=False)
        assert result.exit_code == 1, result.output
        doc = json.loads(out.read_text())
        findings = [Finding(r["rule_id"], r["asset"], r["asset_type"],
                            Outcome(r["outcome"]), r["severity"], tuple(r["controls"]),
                            r["message"]) for r in doc["results"]]
        with Store(store) as db:
            db.record(doc["run"], findings, scope="organizations/123456789012")
    with Store(store) as db:
        change = drift(db)
    assert "MFA-004" not in {c.rule_id for c in change.resolved}
    assert "MFA-004" in {c.rule_id for c in change.unknown}


SUBJECT = [{"asset_type": "alloydb.googleapis.com/Cluster", "rules": ["NET-002"]}]
PRE_V1 = [{"asset_type": "google.compute.Firewall", "assets": 3}]


def test_the_store_keeps_the_newer_reasons(tmp_path: Path) -> None:
    """subject_types_missing and pre_v1_asset_types (run block fields since session 24) are
    kept with the run like the others, shown by history, and weigh on absence."""
    _two(tmp_path / "h.db", subject_types_missing=SUBJECT)
    with Store(tmp_path / "h.db") as db:
        assert db.runs()[1].warnings == {"subject_types_missing": SUBJECT}
    assert _split(tmp_path / "h.db") == (["MFA-004", "NET-001"], ["NET-002"])
    _two(tmp_path / "p.db", pre_v1_asset_types=PRE_V1)
    assert _split(tmp_path / "p.db") == ([], ["MFA-004", "NET-001", "NET-002"])
    text = CliRunner().invoke(main, ["history", "--store", str(tmp_path / "p.db")]).output
    assert "why UNKNOWN: pre-v1 asset type names: google.compute.Firewall" in text


def test_a_store_of_the_reasons_before_is_refused_by_name_by_an_older_reader(
        tmp_path: Path) -> None:
    """The schema version moves (migration 4, no table change), so a phiguard that knows only
    the reasons before says the store is newer, instead of calling its runs damaged."""
    import sqlite3

    from phiguard.store.db import MIGRATIONS

    _two(tmp_path / "h.db", pre_v1_asset_types=PRE_V1)
    db = sqlite3.connect(tmp_path / "h.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 4
    db.close()


def test_the_same_scope_in_another_order_is_the_same_scope(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as db:
        db.record(_run(1), [_f("NET-001", FW, "FAIL")], scope="projects/a,projects/b")
        db.record(_run(5), [], scope="projects/b,projects/a")
        change = drift(db)
    assert [c.rule_id for c in change.resolved] == ["NET-001"] and change.unknown == []
