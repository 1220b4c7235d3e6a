"""Findings as BigQuery NDJSON rows (`--format ndjson`) and the shipped table schema.

The schema is held to Google's own definition of a BigQuery table schema (TableSchema /
TableFieldSchema in the bigquery v2 discovery document google-api-python-client ships), and
every row the demo organization's scan writes is held to the schema the way BigQuery's
NEWLINE_DELIMITED_JSON loader reads it: types, modes, no unknown fields."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import googleapiclient
import orjson
import pytest
from click.testing import CliRunner

from _paths import DEMO
from phiguard.cli import main
from phiguard.report.bigquery import check_row, load_schema, schema_text

AT = "2026-11-25T00:00:00Z"
DISCOVERY = (Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
             / "bigquery.v2.json")
# Prefixes BigQuery reserves for its own columns (BigQuery docs, "Column names").
RESERVED_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__",
                     "_COLIDENTIFIER")


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def field_schema() -> dict[str, Any]:
    doc = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    return dict(doc["schemas"]["TableFieldSchema"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo organization scanned once, to findings JSON and NDJSON in the same run."""
    out = tmp_path_factory.mktemp("demo-ndjson")
    result = _cli("scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"), "-f", "json",
                  "-f", "ndjson", "--output-dir", str(out), "--at", AT)
    assert result.exit_code == 1, result.output  # the demo has planted failures
    return {"dir": out, "doc": json.loads((out / "phiguard.json").read_text()),
            "ndjson": out / "phiguard.ndjson"}


def _listed(description: str) -> set[str]:
    """The values a discovery description lists as `* NAME (or ALIAS)` or `include A, B and
    C`: Google gives TableFieldSchema.type and .mode as prose, not as an enum."""
    names = set(re.findall(r"\* ([A-Z0-9]+)(?: \(or ([A-Z0-9]+)\))?", description))
    flat = {n for pair in names for n in pair if n}
    if not flat:
        tail = description.split("include", 1)[1].split(".")[0]
        flat = set(re.findall(r"[A-Z]{3,}", tail))
    return flat


def _walk(fields: list[dict[str, Any]], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in fields:
        out.append((path + f["name"], f))
        out.extend(_walk(f.get("fields", []), path + f["name"] + "."))
    return out


def test_the_schema_is_a_bigquery_table_schema(field_schema: dict[str, Any]) -> None:
    props = field_schema["properties"]
    types = _listed(props["type"]["description"])
    modes = _listed(props["mode"]["description"])
    assert {"STRING", "DATE", "TIMESTAMP", "RECORD", "JSON"} <= types  # read, not assumed
    assert modes == {"NULLABLE", "REQUIRED", "REPEATED"}
    # The name rule is Google's prose; the check below is only valid while it says this.
    name_rule = props["name"]["description"]
    assert "letters (a-z, A-Z), numbers (0-9), or underscores (_)" in name_rule
    assert "start with a letter or underscore" in name_rule and "300 characters" in name_rule
    assert "1,024 characters" in props["description"]["description"]
    fields = json.loads(schema_text())
    assert isinstance(fields, list) and fields
    for path, f in _walk(fields):
        assert set(f) <= set(props), (path, set(f) - set(props))
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,299}", f["name"]), path
        assert not f["name"].upper().startswith(RESERVED_PREFIXES), path
        assert f["type"] in types, (path, f["type"])
        assert f.get("mode", "NULLABLE") in modes, path
        assert ("fields" in f) == (f["type"] in ("RECORD", "STRUCT")), path
        assert len(f.get("description", "")) <= 1024, path
    for siblings in [fields, *(f["fields"] for _, f in _walk(fields) if "fields" in f)]:
        lowered = [f["name"].lower() for f in siblings]
        assert len(lowered) == len(set(lowered)), lowered  # names are case-insensitive


def test_schema_command_prints_the_shipped_schema() -> None:
    result = _cli("schema", "bigquery")
    assert result.exit_code == 0
    assert json.loads(result.output) == list(load_schema())


def test_every_demo_row_loads_into_the_schema(demo: dict[str, Any]) -> None:
    results = demo["doc"]["results"]
    lines = demo["ndjson"].read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(results) > 900
    names = [f["name"] for f in load_schema()]
    for i, raw in enumerate(lines[:-1]):
        row = orjson.loads(raw)
        assert check_row(row) == [], (i + 1, check_row(row))
        assert list(row) == names  # every row has one shape, in schema order
    # the table holds every kind of row the schema describes
    rows = [orjson.loads(raw) for raw in lines[:-1]]
    assert {"PASS", "FAIL", "WAIVED"} <= {r["outcome"] for r in rows}
    assert any(r["waiver"] for r in rows) and any(r["evidence"] for r in rows)


def test_rows_are_the_findings_in_order(demo: dict[str, Any]) -> None:
    """Row i is result i of the findings JSON: same fields, evidence values byte-identical
    JSON text, the run's columns on every row."""
    doc = demo["doc"]
    run = doc["run"]
    raw_doc = (demo["dir"] / "phiguard.json").read_bytes()
    for result, raw in zip(doc["results"], demo["ndjson"].read_bytes().splitlines(),
                           strict=True):
        row = orjson.loads(raw)
        for key in ("rule_id", "asset", "asset_type", "outcome", "severity", "controls",
                    "message", "waiver"):
            assert row[key] == result[key]
        assert row["source"] == result.get("source")
        assert [(e["path"], orjson.loads(e["value"])) for e in row["evidence"]] == [
            (e["path"], e["value"]) for e in result["evidence"]]
        for e in row["evidence"]:
            assert e["value"].encode() in raw_doc  # the same JSON text as the findings file
        assert (row["evaluated_at"], row["snapshot_time"], row["rule_pack_digest"],
                row["tool_version"]) == (run["evaluated_at"], run["snapshot_time"],
                                         run["rule_pack_digest"], run["tool_version"])
    nulls = [e for raw in demo["ndjson"].read_bytes().splitlines()
             for e in orjson.loads(raw)["evidence"] if e["value"] == "null"]
    assert nulls  # JSON null evidence is kept as the text null, not lost as SQL NULL


def test_report_renders_the_same_rows_from_the_findings_file(demo: dict[str, Any],
                                                             tmp_path: Path) -> None:
    """`report --format ndjson` of the findings JSON (what the Beam engine assembles) writes
    the same bytes as the scan did."""
    out = tmp_path / "again.ndjson"
    result = _cli("report", str(demo["dir"] / "phiguard.json"), "-f", "ndjson", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == demo["ndjson"].read_bytes()


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r.update(colour="red"), "colour: not a column"),
    (lambda r: r.update(asset=None), "asset: REQUIRED: missing or null"),
    (lambda r: r.pop("rule_id"), "rule_id: REQUIRED"),
    (lambda r: r.update(controls="hipaa/164.312(b)"), "controls: REPEATED: expected an array"),
    (lambda r: r.update(controls=[None]), "controls[0]: null inside a REPEATED"),
    (lambda r: r.update(severity=3), "severity: STRING: expected a string"),
    (lambda r: r.update(evaluated_at="yesterday"), "evaluated_at: TIMESTAMP"),
    (lambda r: r.update(evaluated_at="2026-11-25"), "evaluated_at: TIMESTAMP"),
    (lambda r: r.update(snapshot_time="2026-13-01T00:00:00Z"), "snapshot_time: TIMESTAMP"),
    (lambda r: r["evidence"].append({"path": "data.x", "value": True}),
     "value: STRING: expected a string"),
    (lambda r: r["evidence"].append({"path": "data.x", "value": "1", "why": "?"}),
     "why: not a column"),
    (lambda r: r.update(waiver={"rule": "NET-001", "asset": "a", "reason": "r",
                                "approved_by": "b", "expires": "2027-02-30",
                                "status": "active"}), "waiver.expires: DATE"),
    (lambda r: r.update(waiver="yes"), "waiver: expected an object"),
])
def test_check_row_refuses_what_bigquery_refuses(demo: dict[str, Any], change: Any,
                                                 expected: str) -> None:
    good = orjson.loads(demo["ndjson"].read_bytes().splitlines()[0])
    assert check_row(good) == []
    bad = copy.deepcopy(good)
    change(bad)
    problems = check_row(bad)
    assert any(expected in p for p in problems), problems


def test_check_command_names_the_line(demo: dict[str, Any], tmp_path: Path) -> None:
    lines = demo["ndjson"].read_bytes().splitlines()
    row = orjson.loads(lines[2])
    row["outcome"] = None
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"\n".join([lines[0], lines[1], orjson.dumps(row)]) + b"\n")
    result = _cli("schema", "bigquery", "--check", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:3: outcome: REQUIRED: missing or null" in result.output
    good = _cli("schema", "bigquery", "--check", str(demo["ndjson"]))
    assert good.exit_code == 0 and f"{len(lines)} rows" in good.output
    bad.write_bytes(lines[0] + b"\n{not json\n")
    result = _cli("schema", "bigquery", "--check", str(bad))
    assert result.exit_code == 2 and f"{bad}:2: invalid JSON" in result.output


def test_report_refuses_a_findings_file_the_table_cannot_take(demo: dict[str, Any],
                                                              tmp_path: Path) -> None:
    """A handed-in findings file whose waiver expiry is not a date, or whose evaluation time
    is not a timestamp: exit 2 naming the file and line, and no NDJSON written."""
    src = (demo["dir"] / "phiguard.json").read_text()
    doc = json.loads(src)
    i = next(i for i, r in enumerate(doc["results"]) if r["waiver"])
    expires = doc["results"][i]["waiver"]["expires"]
    lines = src.split("\n")
    assert f'"expires":"{expires}"' in lines[3 + i]
    lines[3 + i] = lines[3 + i].replace(f'"expires":"{expires}"', '"expires":"next spring"')
    bad = tmp_path / "bad.json"
    bad.write_text("\n".join(lines))
    out = tmp_path / "out.ndjson"
    result = _cli("report", str(bad), "-f", "ndjson", "-o", str(out))
    assert result.exit_code == 2, result.output
    assert f"{bad}:{4 + i}: results[{i}]" in result.output
    assert "waiver.expires` must be a date (YYYY-MM-DD)" in result.output
    assert not out.exists()
    bad.write_text(src.replace(f'"evaluated_at":"{AT}"', '"evaluated_at":"at dawn"', 1))
    result = _cli("report", str(bad), "-f", "ndjson", "-o", str(out))
    assert result.exit_code == 2
    assert f"{bad}:2: `run.evaluated_at` must be an RFC 3339 time" in result.output
    assert not out.exists()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_streamed_ndjson_matches_the_kept_one(demo: dict[str, Any], tmp_path: Path,
                                              jobs: str) -> None:
    """`-f ndjson` alone (or with text) is written as the findings come, in worker processes
    with --jobs 2, and is the same file as when the findings JSON is written beside it."""
    result = _cli("scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"), "-f", "ndjson",
                  "-f", "text", "--output-dir", str(tmp_path), "--at", AT, "--jobs", jobs)
    assert result.exit_code == 1, result.output
    assert (tmp_path / "phiguard.ndjson").read_bytes() == demo["ndjson"].read_bytes()
    assert "FAIL" in (tmp_path / "phiguard.txt").read_text()
