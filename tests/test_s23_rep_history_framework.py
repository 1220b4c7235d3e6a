"""`phiguard history` and `diff` take --framework as audit does: the counts, the changes and
the mean time to remediate of the rules the catalog's reports show. Without it they count
every rule of every framework, as recorded (the store keeps every finding)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.policy.rule import load_pack
from phiguard.store.db import Store

A1 = "//compute.googleapis.com/projects/p/global/firewalls/a"
A2 = "//compute.googleapis.com/projects/p/global/firewalls/b"


def _rules() -> tuple[str, str]:
    pack = load_pack([RULES])
    cis = {r.id for r in pack.for_framework("cis-gcp-5.0").rules}
    both = sorted(cis)[0]
    hipaa_only = sorted({r.id for r in pack.rules} - cis)[0]
    return both, hipaa_only


def _store(path: Path) -> tuple[str, str]:
    both, hipaa_only = _rules()

    def f(rule: str, asset: str, outcome: str) -> Finding:
        return Finding(rule, asset, "t", Outcome(outcome), "high", (), "m")

    def run(day: int) -> dict[str, object]:
        return {"config": {}, "snapshot_time": f"2026-11-{day:02d}T00:00:00Z"}

    with Store(path) as db:
        db.record(run(1), [f(both, A1, "FAIL"), f(hipaa_only, A1, "FAIL"),
                           f(hipaa_only, A2, "PASS")], scope="organizations/1")
        db.record(run(3), [f(both, A1, "PASS"), f(hipaa_only, A1, "PASS"),
                           f(hipaa_only, A2, "FAIL"), f(both, A2, "PASS")],
                  scope="organizations/1")
    return both, hipaa_only


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_history_counts_the_framework_s_rules(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    both, _ = _store(path)
    every = json.loads(_invoke("history", "--store", str(path), "-f", "json"))
    assert [r["counts"] for r in every["runs"]] == [{"FAIL": 2, "PASS": 1},
                                                    {"FAIL": 1, "PASS": 3}]
    assert every["mean_days_to_remediate"] and len(every["mean_days_to_remediate"]) <= 2
    cis = json.loads(_invoke("history", "--store", str(path), "-f", "json",
                             "--framework", "cis-gcp-5.0"))
    assert cis["framework"] == "cis-gcp-5.0"
    assert [r["counts"] for r in cis["runs"]] == [{"FAIL": 1}, {"PASS": 2}]
    assert list(cis["mean_days_to_remediate"]) == [both.split("-")[0]]
    text = _invoke("history", "--store", str(path), "--framework", "cis-gcp-5.0")
    rows = [line.split() for line in text.splitlines()[1:3]]
    assert [(r[0], r[2]) for r in rows] == [("1", "1"), ("2", "0")]  # run, FAIL


def test_diff_shows_the_framework_s_rules(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    both, hipaa_only = _store(path)
    every = json.loads(_invoke("diff", "--store", str(path), "-f", "json"))
    assert {c["rule_id"] for c in every["new"]} == {hipaa_only}
    assert {c["rule_id"] for c in every["resolved"]} == {both, hipaa_only}
    cis = json.loads(_invoke("diff", "--store", str(path), "-f", "json",
                             "--framework", "cis-gcp-5.0"))
    assert cis["new"] == [] and [c["rule_id"] for c in cis["resolved"]] == [both]
    text = _invoke("diff", "--store", str(path), "--framework", "cis-gcp-5.0")
    assert text.splitlines()[0] == "run 2 against run 1: 0 new, 1 resolved, 0 persisting"
    assert hipaa_only not in text


def test_an_unknown_framework_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _store(path)
    result = CliRunner().invoke(main, ["history", "--store", str(path), "--framework", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
