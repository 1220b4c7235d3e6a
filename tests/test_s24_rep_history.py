"""`history` counts FAIL per run; a run that could not judge the failures of the run before
(UNKNOWN, or no result where it could not have judged them) shows fewer failures without any
being fixed. Each run says how many of the run before's failures it did not judge, so the fall
is not read as remediation."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store

LACK = "the snapshot holds no IAM_POLICY content: rules that read IAM policies are UNKNOWN"


def _f(rule: str, i: int, outcome: str) -> Finding:
    return Finding(rule, f"//compute.googleapis.com/x/{i}", "t", Outcome(outcome), "high",
                   ("hipaa/164.312(a)(1)",), "m")


def _run(day: int, **extra: object) -> dict[str, object]:
    return {"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "sha256:x",
            "snapshot_time": f"2026-11-{day:02d}T00:00:00Z",
            "evaluated_at": f"2026-11-{day:02d}T00:00:00Z", **extra}


def _store(path: Path) -> None:
    with Store(path) as db:
        db.record(_run(1), [_f("IAM-001", i, "FAIL") for i in range(4)]
                  + [_f("NET-001", 9, "FAIL")], scope="organizations/1")
        # run 2: two UNKNOWN, one without a result (the run lacked IAM content), one fixed
        db.record(_run(2, content_missing=[LACK]),
                  [_f("IAM-001", 0, "UNKNOWN"), _f("IAM-001", 1, "UNKNOWN"),
                   _f("IAM-001", 3, "PASS"), _f("NET-001", 9, "FAIL")],
                  scope="organizations/1")
        db.record(_run(3), [_f("IAM-001", i, "FAIL") for i in range(3)]
                  + [_f("NET-001", 9, "PASS")], scope="organizations/1")


def test_history_says_what_the_run_did_not_judge(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    doc = json.loads(CliRunner().invoke(main, ["history", "--store", str(path), "-f",
                                               "json"]).output)
    assert [r["counts"].get("FAIL", 0) for r in doc["runs"]] == [5, 1, 3]
    assert [r["failures_not_judged"] for r in doc["runs"]] == [0, 3, 0]
    text = CliRunner().invoke(main, ["history", "--store", str(path)]).output
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("2 "))
    assert "-4" in lines[at]
    assert any("3 failures of the run before not judged here" in line
               for line in lines[at + 1:at + 4])
    assert not any("not judged here" in line for line in lines[:at])


def test_the_framework_view_counts_its_rules_only(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    doc = json.loads(CliRunner().invoke(main, ["history", "--store", str(path), "-f", "json",
                                               "--framework", "hipaa"]).output)
    assert [r["failures_not_judged"] for r in doc["runs"]] == [0, 3, 0]
