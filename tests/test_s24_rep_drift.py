"""A result UNKNOWN in one run (the run could not judge it) and failing in the next was there,
unjudged: `diff`, the audit's drift and the report's changes since the last run call it "now
failing, was UNKNOWN" (with the time it has been UNKNOWN since), not a new failure. Its first
seen is the first run that judged it failing, as for failing -> UNKNOWN -> failing (one
ongoing failure from its first judged failing run), and mean time to remediate counts from
there."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store
from phiguard.store.drift import drift, mean_time_to_remediate
from phiguard.store.trend import trend_view

A = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/a"
B = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/b"
C = "//compute.googleapis.com/projects/oh-shared-net/global/firewalls/c"


def _f(asset: str, outcome: str, rule: str = "NET-001") -> Finding:
    return Finding(rule, asset, "t", Outcome(outcome), "high", ("hipaa/164.312(a)(1)",), "m")


def _run(day: int) -> dict[str, object]:
    return {"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "sha256:x",
            "snapshot_time": f"2026-11-{day:02d}T00:00:00Z",
            "evaluated_at": f"2026-11-{day:02d}T00:00:00Z"}


def _day(day: int) -> str:
    return f"2026-11-{day:02d}T00:00:00Z"


def _store(path: Path) -> None:
    """A: UNKNOWN, UNKNOWN, FAIL, FAIL, PASS.  B: PASS, PASS, FAIL (new), FAIL, FAIL.
    C: PASS, UNKNOWN, FAIL, UNKNOWN, FAIL."""
    rows = {1: ("UNKNOWN", "PASS", "PASS"), 3: ("UNKNOWN", "PASS", "UNKNOWN"),
            5: ("FAIL", "FAIL", "FAIL"), 7: ("FAIL", "FAIL", "UNKNOWN"),
            9: ("PASS", "FAIL", "FAIL")}
    with Store(path) as db:
        for day, (a, b, c) in rows.items():
            db.record(_run(day), [_f(A, a), _f(B, b), _f(C, c)], scope="organizations/1")


def test_unknown_then_failing_is_not_new(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    with Store(path) as db:
        change = drift(db, 2, 3)
        assert [c.asset for c in change.new] == [B]
        assert [(c.asset, c.first_seen, c.unknown_since, c.age_days)
                for c in change.was_unknown] == [(A, _day(5), _day(1), 0.0),
                                                 (C, _day(5), _day(3), 0.0)]
        assert change.persisting == [] and change.resolved == [] and change.unknown == []
        # the next run: each a persisting failure first seen when first judged failing
        later = drift(db, 3, 4)
        assert [(c.asset, c.first_seen) for c in later.persisting] == [(A, _day(5)),
                                                                       (B, _day(5))]
        assert [c.asset for c in later.unknown] == [C]
        # failing -> UNKNOWN -> failing: one ongoing failure, persisting (not was UNKNOWN)
        last = drift(db)
        assert [(c.asset, c.first_seen, c.age_days) for c in last.persisting] == [
            (B, _day(5), 4.0), (C, _day(5), 4.0)]
        assert last.was_unknown == [] and last.new == []
        assert [(c.asset, c.first_seen) for c in last.resolved] == [(A, _day(5))]
        # remediated A: from its first judged failing run (day 5) to day 9
        assert mean_time_to_remediate(db) == {"NET": 4.0}


def test_against_a_run_further_back(tmp_path: Path) -> None:
    """diff 1 3: A was UNKNOWN in run 1 (the run compared against), B passed there."""
    path = tmp_path / "h.db"
    _store(path)
    with Store(path) as db:
        change = drift(db, 1, 3)
    assert [c.asset for c in change.new] == [B, C]
    assert [(c.asset, c.unknown_since) for c in change.was_unknown] == [(A, _day(1))]


def test_diff_text_and_json_say_was_unknown(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    text = CliRunner().invoke(main, ["diff", "--store", str(path), "2", "3"])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0] == ("run 3 against run 2: 1 new, 0 resolved, 0 persisting, "
                        "2 now failing (was UNKNOWN)")
    [new] = [line for line in lines if line.lstrip().startswith("new ")]
    assert B in new
    judged = [line for line in lines if "was UNKNOWN since" in line]
    assert len(judged) == 2 and A in judged[0] and f"was UNKNOWN since {_day(1)}" in judged[0]
    doc = json.loads(CliRunner().invoke(main, ["diff", "--store", str(path), "2", "3", "-f",
                                               "json"]).output)
    assert [c["asset"] for c in doc["new"]] == [B]
    assert [(c["asset"], c["unknown_since"]) for c in doc["was_unknown"]] == [
        (A, _day(1)), (C, _day(3))]


def test_report_changes_say_was_unknown(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with Store(path) as db:
        db.record(_run(1), [_f(A, "UNKNOWN"), _f(B, "PASS")], scope="organizations/1")
        changes = trend_view(db, [_f(A, "FAIL"), _f(B, "FAIL")])["changes"]
    assert [c["asset"] for c in changes["new"]] == [B]
    assert [(c["asset"], c["unknown_since"]) for c in changes["was_unknown"]] == [
        (A, _day(1))]
