"""BigQuery rows (`--format ndjson`) carry the run-level reasons for UNKNOWN verdicts every
other format carries (`run.scope_warnings`, `content_missing`, `asset_types_missing`,
`coverage_gaps`) in a REPEATED `run_warnings` column, and the table schema grows so that a
table made with the schema shipped before takes the new rows.

`_s24_rep_bigquery_schema_before.json` is `findings-bigquery-schema.json` as phiguard shipped
it before the column (commit 400c2f5). The rules of a schema update held below are Google's
("Modifying table schemas", cloud.google.com/bigquery/docs/managing-table-schemas: columns are
added only at the end, an added column is NULLABLE or REPEATED, no column is renamed, retyped,
removed or made stricter) and the load job's `schemaUpdateOptions` (ALLOW_FIELD_ADDITION:
"allow adding a nullable field to the schema", bigquery v2 discovery document)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import googleapiclient
import orjson
import pytest
from click.testing import CliRunner

from _paths import DEMO
from _s23_rep import lossy_snapshot
from phiguard.cli import main
from phiguard.report._common import REASON_FIELDS, run_reasons
from phiguard.report.bigquery import check_row, load_schema, run_columns

AT = "2026-11-25T00:00:00Z"
BEFORE = Path(__file__).parent / "_s24_rep_bigquery_schema_before.json"
DISCOVERY = (Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
             / "bigquery.v2.json")


def _scan(snapshot: Path, config: Path, out: Path) -> tuple[dict[str, Any], list[Any]]:
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config), "--at", AT,
                                       "-f", "json", "-f", "ndjson", "--output-dir", str(out)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    doc = json.loads((out / "phiguard.json").read_text())
    rows = [orjson.loads(line) for line in (out / "phiguard.ndjson").read_bytes().splitlines()]
    assert len(rows) == len(doc["results"]) > 900
    return doc, rows


def update_problems(old: list[dict[str, Any]], new: list[dict[str, Any]],
                    prefix: str = "") -> list[str]:
    """What BigQuery refuses when a table of schema `old` is given schema `new` (bq update, or
    a load with ALLOW_FIELD_ADDITION): a column removed, reordered, retyped or made stricter;
    an added column that is REQUIRED (phiguard adds none at any depth, so the update needs no
    newer allowance for REQUIRED fields nested in a new RECORD)."""
    problems = []
    if [f["name"] for f in new[:len(old)]] != [f["name"] for f in old]:
        problems.append(f"{prefix}: the old columns are not the first ones, in order")
        return problems
    for was, now in zip(old, new, strict=False):
        where = prefix + was["name"]
        if now["type"] != was["type"]:
            problems.append(f"{where}: type changed")
        if now.get("mode", "NULLABLE") != was.get("mode", "NULLABLE") and not (
                was.get("mode") == "REQUIRED" and now.get("mode", "NULLABLE") == "NULLABLE"):
            problems.append(f"{where}: mode changed other than REQUIRED -> NULLABLE")
        if "fields" in was:
            problems += update_problems(was["fields"], now.get("fields", []), where + ".")

    def required(fields: list[dict[str, Any]], at: str) -> list[str]:
        out = []
        for f in fields:
            if f.get("mode", "NULLABLE") == "REQUIRED":
                out.append(f"{at}{f['name']}: an added field is REQUIRED")
            out += required(f.get("fields", []), f"{at}{f['name']}.")
        return out

    return problems + required(new[len(old):], prefix)


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Any]]:
    tmp = tmp_path_factory.mktemp("lossy-bq")
    snapshot, config = lossy_snapshot(tmp)
    return _scan(snapshot, config, tmp / "out")


def test_every_row_carries_the_runs_reasons(lossy: tuple[dict[str, Any], list[Any]]) -> None:
    doc, rows = lossy
    expected = [{"field": r.field, "text": r.text} for r in run_reasons(doc["run"])]
    # the lossy snapshot has the four kinds of reason it was made for, each at least once
    assert {e["field"] for e in expected} >= {"scope_warnings", "content_missing",
                                              "asset_types_missing", "coverage_gaps"}
    assert any(r["outcome"] == "UNKNOWN" for r in rows)
    for i, row in enumerate(rows):
        assert row["run_warnings"] == expected, i
        assert check_row(row) == [], (i, check_row(row))
        assert list(row) == [f["name"] for f in load_schema()]


def test_a_complete_run_has_no_reasons(tmp_path: Path) -> None:
    doc, rows = _scan(DEMO, DEMO / "phiguard.yaml", tmp_path)
    assert run_reasons(doc["run"]) == []
    assert all(row["run_warnings"] == [] for row in rows)  # present: every row one shape
    assert all(check_row(row) == [] for row in rows)


def test_report_from_the_findings_file_writes_the_same_rows(
        lossy: tuple[dict[str, Any], list[Any]], tmp_path: Path) -> None:
    doc, rows = lossy
    src = tmp_path / "findings.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "again.ndjson"
    result = CliRunner().invoke(main, ["report", str(src), "-f", "ndjson", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == rows


def test_the_column_is_an_update_an_existing_table_accepts() -> None:
    old = json.loads(BEFORE.read_text())
    new = list(load_schema())
    added = new[len(old):]
    assert [f["name"] for f in added] == ["run_warnings"]
    assert update_problems(old, new) == []
    # the check refuses what BigQuery refuses (it could fail)
    assert update_problems(old, [*new[:2], *new[3:len(old)], new[2]])
    assert update_problems(old, [*new, {"name": "x", "type": "STRING", "mode": "REQUIRED"}])
    [column] = added
    assert (column["type"], column["mode"]) == ("RECORD", "REPEATED")
    assert [(f["name"], f["type"]) for f in column["fields"]] == [("field", "STRING"),
                                                                  ("text", "STRING")]
    # Google's load option that lets a load add it, named as the docs name it
    doc = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    option = doc["schemas"]["JobConfigurationLoad"]["properties"]["schemaUpdateOptions"]
    assert "ALLOW_FIELD_ADDITION" in option["description"]
    assert "ALLOW_FIELD_ADDITION" in column["description"]
    # every run block field a reason comes from is named where the column is described
    for name in REASON_FIELDS:
        assert name in column["fields"][0]["description"], name


def test_rows_written_before_still_load() -> None:
    """Rows of the schema before (no run_warnings) are rows of the new schema: the table's
    old partitions read the column as an empty array."""
    run = {"evaluated_at": AT, "snapshot_time": None, "rule_pack_digest": "sha256:x",
           "tool_version": "0.1.0"}
    columns = run_columns(run)
    assert columns.pop("run_warnings") == []
    row = {"rule_id": "NET-001", "asset": "//compute.googleapis.com/x", "asset_type": "t",
           "outcome": "UNKNOWN", "severity": "high", "controls": [], "message": "m",
           "evidence": [], "waiver": None, "source": None, **columns}
    assert check_row(row) == []
    assert check_row(row, json.loads(BEFORE.read_text())) == []
    # and a new row is refused by the old schema: the update must come first
    assert check_row({**row, "run_warnings": []}, json.loads(BEFORE.read_text()))
