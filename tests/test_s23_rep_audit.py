"""`phiguard audit` says why results are UNKNOWN and keeps it: the scope and content warnings
on stderr (as `scan` prints them), the run block's reasons in the history store (an older
store is migrated and still read), `history` and `diff` showing them, so a run that became
UNKNOWN because its input lost a content type is told apart from a change of the
organization. The evidence bundle's report follows --framework, as the audit's --output does."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _paths import DEMO, RULES
from _s23_rep import GONE
from phiguard.cli import main
from phiguard.policy.rule import load_pack
from phiguard.report._common import rule_area
from phiguard.store.db import MIGRATIONS, Store

ORG = "123456789012"


def _config(tmp: Path) -> Path:
    config = tmp / "phiguard.yaml"
    text = (DEMO / "phiguard.yaml").read_text()
    config.write_text(text.replace("projects: [oh-phi-prod,", f"projects: [{GONE}, oh-phi-prod,"))
    return config


def _audit(emu: Any, config: Path, store: Path, *extra: str) -> Any:
    runner = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base})
    result = runner.invoke(main, ["audit", "--org", ORG, "--config", str(config),
                                  "--store", str(store), "--directory-customer", "my_customer",
                                  *extra], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result


def test_audit_says_records_and_compares_why(emu: Any, tmp_path: Path) -> None:
    store = tmp_path / "h.db"
    plain = _audit(emu, DEMO / "phiguard.yaml", store)
    assert "content was not collected" not in plain.stderr
    emu.fault("/assets", status=403, times=None, content_type="IAM_POLICY")
    config = _config(tmp_path)
    lossy = _audit(emu, config, store, "--bundle", str(tmp_path / "ev"))
    run = json.loads((tmp_path / "ev" / "findings.json").read_text())["run"]
    assert run["scope_warnings"] and run["content_missing"]
    # stderr: each scope and content warning, as scan prints them
    for text in (*run["scope_warnings"], *run["content_missing"]):
        assert f"phiguard: note: warning: {text}" in lossy.stderr, lossy.stderr
    assert GONE in lossy.stderr and "IAM_POLICY content was not collected under" in lossy.stderr
    # the failures this run could not judge are not counted resolved: the summary says so
    summary = lossy.stdout.splitlines()[0]
    assert re.search(r", \d+ now UNKNOWN", summary), summary
    # the store keeps them beside the coverage gaps
    with Store(store) as db:
        first, second = db.runs()
    assert first.warnings == {}
    assert second.warnings == {"scope_warnings": run["scope_warnings"],
                               "content_missing": run["content_missing"]}
    assert second.coverage_gaps == run["coverage_gaps"]
    # history shows them under the run; its JSON has them
    history = CliRunner().invoke(main, ["history", "--store", str(store)])
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("2 "))
    after = "\n".join(lines[at + 1:])
    for text in (*run["scope_warnings"], *run["content_missing"]):
        assert text in after
    doc = json.loads(CliRunner().invoke(main, ["history", "--store", str(store), "-f",
                                               "json"]).output)
    assert doc["runs"][1]["warnings"] == second.warnings and doc["runs"][0]["warnings"] == {}
    # diff: the UNKNOWNs of run 2 come with what its input lacked that run 1's had
    diff = CliRunner().invoke(main, ["diff", "--store", str(store)])
    assert diff.exit_code == 0, diff.output
    for text in run["content_missing"]:
        assert text in diff.output
    assert "not in run 1" in diff.output
    ddoc = json.loads(CliRunner().invoke(main, ["diff", "--store", str(store), "-f",
                                                "json"]).output)
    assert ddoc["warnings"]["new"]["content_missing"] == run["content_missing"]
    assert ddoc["warnings"]["gone"] == {}
    # a third, complete run: the reasons are gone again, and diff says so
    emu.faults.clear()
    _audit(emu, DEMO / "phiguard.yaml", store)
    back = CliRunner().invoke(main, ["diff", "--store", str(store)])
    assert "no longer" in back.output and run["content_missing"][0] in back.output


def _old_store(path: Path) -> None:
    """A store as phiguard wrote it before the run's reasons were kept (schema version 2)."""
    db = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        for statement in migration.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO runs (recorded_at, snapshot_time, scope, config_digest, "
               "tool_version, rule_pack_digest, counts, coverage_gaps) VALUES "
               "('2026-11-01T00:00:00Z', NULL, 'organizations/1', 'sha256:x', '0.1.0', "
               "'sha256:y', '{\"FAIL\": 1}', '[]')")
    db.execute("INSERT INTO results VALUES (1, 'f', 'NET-001', '//a', 'FAIL', 'high')")
    db.close()


def test_an_older_store_is_migrated_and_read(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_store(path)
    with Store(path) as db:
        assert db.version == len(MIGRATIONS) > 2
        [old] = db.runs()
        assert old.warnings == {} and old.counts == {"FAIL": 1}
        run_id = db.record({"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "d",
                            "content_missing": ["the snapshot holds no ORG_POLICY content"]},
                           [], scope="organizations/1")
        assert db.run(run_id).warnings == {
            "content_missing": ["the snapshot holds no ORG_POLICY content"]}
    history = CliRunner().invoke(main, ["history", "--store", str(path)])
    assert history.exit_code == 0, history.output
    assert "the snapshot holds no ORG_POLICY content" in history.output


def test_a_damaged_warnings_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with Store(path) as db:
        db.record({"config": {}}, [], scope="organizations/1")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("UPDATE runs SET warnings = 'not json'")
    raw.close()
    result = CliRunner().invoke(main, ["history", "--store", str(path)])
    assert result.exit_code == 2
    assert "run 1: `warnings` is not" in result.output + result.stderr


def test_the_bundle_report_follows_the_framework(emu: Any, tmp_path: Path) -> None:
    _audit(emu, DEMO / "phiguard.yaml", tmp_path / "h.db", "--framework", "cis-gcp-5.0",
           "--bundle", str(tmp_path / "ev"), "--output", str(tmp_path / "r.html"))
    for page in (tmp_path / "r.html", tmp_path / "ev" / "report.html"):
        assert 'data-framework="cis-gcp-5.0"' in page.read_text(), page
    # the bundle's findings JSON keeps every finding of every framework
    doc = json.loads((tmp_path / "ev" / "findings.json").read_text())
    assert any(r["rule_id"].startswith("NET-") for r in doc["results"])


def test_scan_bundle_report_follows_the_framework(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"),
                                       "--at", "2026-11-25T00:00:00Z", "--framework",
                                       "cis-gcp-5.0", "--bundle", str(tmp_path / "ev")],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert 'data-framework="cis-gcp-5.0"' in (tmp_path / "ev" / "report.html").read_text()


def test_the_trend_counts_the_framework_s_rules(emu: Any, tmp_path: Path) -> None:
    """The audit report's failure trend (this run and those recorded) and its changes since
    the last run count the rules of the report's framework, as the rest of the report does."""
    cis = {r.id for r in load_pack([RULES]).for_framework("cis-gcp-5.0").rules}
    store = tmp_path / "h.db"
    _audit(emu, DEMO / "phiguard.yaml", store)  # a recorded run of every rule before it
    _audit(emu, DEMO / "phiguard.yaml", store, "--framework", "cis-gcp-5.0",
           "--bundle", str(tmp_path / "ev"), "--output", str(tmp_path / "r.html"))
    results = json.loads((tmp_path / "ev" / "findings.json").read_text())["results"]
    expected = Counter(rule_area(r["rule_id"]) for r in results
                       if r["outcome"] == "FAIL" and r["rule_id"] in cis)
    assert set(expected) and any(rule_area(r) not in expected for r in
                                 {r["rule_id"] for r in results if r["outcome"] == "FAIL"})
    for page in (tmp_path / "r.html", tmp_path / "ev" / "report.html"):
        trend = page.read_text().split('<section id="trend">', 1)[1].split("</section>", 1)[0]
        shown = {}
        for area, body in re.findall(r'<g data-area="([^"]+)">(.*?)</g>', trend, re.S):
            counts = re.findall(r"<title>[^:<]+: (\d+) failing</title>", body)
            shown[area] = [int(n) for n in counts]
        assert {a: n[-1] for a, n in shown.items() if n[-1]} == dict(expected), page
        # the run recorded before counts the same rules: the same failures, no change
        assert all(n[0] == n[-1] for n in shown.values())
        assert 'data-change="new"' not in trend and 'data-change="resolved"' not in trend
