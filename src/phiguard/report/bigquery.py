"""Findings as newline-delimited JSON rows for a BigQuery table, and that table's schema.

One row per finding, in the order of the findings JSON's `results`, so that

    bq load --source_format=NEWLINE_DELIMITED_JSON DATASET.findings findings.ndjson SCHEMA.json

takes the file as it is, with the schema `phiguard schema bigquery` prints (shipped as
`data/findings-bigquery-schema.json`, a BigQuery v2 `TableSchema.fields` list). A row is the
finding's JSON object with three changes and five run columns:

- `evidence` is a repeated RECORD of (`path`, `value`) where `value` is the JSON text of the
  evidence value, byte for byte as the findings JSON writes it. A JSON column would have taken
  the values natively, but it loads a JSON `null` as SQL NULL (404 of the demo organization's
  evidence values are null, and "the field is null" is the evidence), cannot be used with
  legacy SQL, and rounds numbers it cannot hold; a string keeps every value exactly, and
  BigQuery's JSON functions (JSON_VALUE, JSON_QUERY, PARSE_JSON) read JSON text in a STRING.
- `waiver` keeps its fields; `expires` is a DATE (YYYY-MM-DD, as phiguard.yaml writes it).
- `source` is always present (null when the finding has none), so every row has one shape.
- `evaluated_at`, `snapshot_time` (TIMESTAMP), `rule_pack_digest` and `tool_version` come from
  the run, so the rows of many runs can share one table (partitioned by `evaluated_at`).
- `run_warnings` (REPEATED RECORD of `field`, `text`) says why results of the run are UNKNOWN
  for want of data, whatever the rule (`report._common.run_reasons` of the run block: scope
  warnings, content and asset types missing, coverage gaps), as every other format says it;
  empty for a complete snapshot. The schema gained it after it first shipped, as the last
  column and REPEATED with no REQUIRED field inside, so an existing table takes it (`bq update
  TABLE SCHEMA.json`, or a load with `--schema_update_option=ALLOW_FIELD_ADDITION`) and reads
  it as an empty array on the rows loaded before.

`check_row` validates a decoded row against a schema as BigQuery's loader would (types, modes,
no unknown fields); the tests run it over every row of the demo organization.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import cache
from importlib import resources
from typing import IO, TYPE_CHECKING, Any

import orjson

from phiguard.errors import InputError

if TYPE_CHECKING:
    from phiguard.findings import Finding

__all__ = ["SCHEMA_FILE", "check_findings_doc", "check_ndjson_file", "check_row", "finding_row",
           "load_schema", "ndjson_line", "render_ndjson", "rows_from_lines", "run_columns",
           "schema_text", "write_ndjson"]

SCHEMA_FILE = "findings-bigquery-schema.json"
_WAIVER_KEYS = ("rule", "asset", "reason", "approved_by", "expires", "status")
_RUN_TIMES = ("evaluated_at", "snapshot_time")


def schema_text() -> str:
    """The shipped schema file, as `bq load` and `bq mk --schema` take it."""
    return resources.files("phiguard.report").joinpath("data", SCHEMA_FILE).read_text("utf-8")


@cache
def load_schema() -> tuple[dict[str, Any], ...]:
    return tuple(orjson.loads(schema_text()))


def _dump(value: Any) -> str:
    # As json_report writes findings (OPT_NON_STR_KEYS), so evidence text is the same bytes.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def run_columns(run: Mapping[str, Any], where: str = "run") -> dict[str, Any]:
    """The run's columns of every row. `where` names the findings file in errors (a report of a
    file someone handed us); phiguard's own runs always have the fields right."""
    from phiguard._util.times import format_time, parse_time
    from phiguard.report._common import run_reasons

    out: dict[str, Any] = {}
    for key in _RUN_TIMES:
        value = run.get(key)
        if value is None and key == "snapshot_time":
            out[key] = None
            continue
        parsed = parse_time(value)
        if parsed is None or (isinstance(value, str) and len(value) == 10):
            raise InputError(f"`run.{key}` must be an RFC 3339 time for the BigQuery TIMESTAMP "
                             f"column {key}, got {value!r}", file=where, line=2)
        out[key] = format_time(parsed)
    for key in ("rule_pack_digest", "tool_version"):
        value = run.get(key)
        if not isinstance(value, str):
            raise InputError(f"`run.{key}` must be a string for the BigQuery column {key}, "
                             f"got {value!r}", file=where, line=2)
        out[key] = value
    out["run_warnings"] = [{"field": r.field, "text": r.text} for r in run_reasons(run)]
    return out


def finding_row(finding: Mapping[str, Any], run: Mapping[str, Any],
                where: str = "findings") -> dict[str, Any]:
    """The table row of one finding (its `Finding.to_json()` object) with the `run_columns`."""
    waiver = finding.get("waiver")
    if waiver is not None:
        waiver = {k: waiver.get(k) for k in _WAIVER_KEYS}
        bad = [k for k in _WAIVER_KEYS if not isinstance(waiver[k], str)]
        if bad or not _is_date(waiver["expires"]):
            key = bad[0] if bad else "expires"
            raise InputError(f"finding {finding.get('rule_id')} on {finding.get('asset')}: "
                             f"`waiver.{key}` must be "
                             + ("a date (YYYY-MM-DD)" if key == "expires" else "a string")
                             + f", got {waiver[key]!r}", file=where)
    return {
        "rule_id": finding["rule_id"],
        "asset": finding["asset"],
        "asset_type": finding["asset_type"],
        "outcome": finding["outcome"],
        "severity": finding["severity"],
        "controls": list(finding["controls"]),
        "message": finding["message"],
        "evidence": [{"path": e["path"], "value": _dump(e["value"])}
                     for e in finding.get("evidence", ())],
        "waiver": waiver,
        "source": finding.get("source"),
        **run,
    }


def ndjson_line(finding: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """One row as a line of NDJSON (with its newline): what a sharded writer (the Beam
    pipeline) emits per finding, given `run_columns(run_info)` once."""
    return _dump(finding_row(finding, run)) + "\n"


def rows_from_lines(lines: Iterable[str | bytes], run: Mapping[str, Any]) -> Iterator[str]:
    """Rows (with newlines) from findings lines as `json_report.finding_line` writes them (what
    the Beam engine's findings shards hold), given `run_columns(run_info)`: no Finding objects
    are built, and each evidence value is the same JSON text as in the line."""
    for line in lines:
        yield _dump(finding_row(orjson.loads(line), run)) + "\n"


def write_ndjson(out: IO[str], findings: Iterable[Finding | Mapping[str, Any]],
                 run: Mapping[str, Any], where: str = "run") -> int:
    """Write one row per finding; returns the number of rows. `run` is the findings JSON's
    run block (its columns are checked once, before the first row)."""
    columns = run_columns(run, where)
    rows = 0
    for finding in findings:
        obj = finding if isinstance(finding, Mapping) else finding.to_json()
        out.write(_dump(finding_row(obj, columns, where)) + "\n")
        rows += 1
    return rows


def render_ndjson(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
                  pack: Any = None, waivers: Sequence[Mapping[str, Any]] = ()) -> None:
    """`phiguard.report.formats` renderer signature (the pack and waivers are not used).
    `phiguard report` checks a handed-in file with `check_findings_doc` first, so its errors
    name the file and line."""
    write_ndjson(out, findings, run)


# --------------------------------------------------------------------------------------------
# Validation of a row against a schema, as BigQuery's NEWLINE_DELIMITED_JSON loader reads it.
# --------------------------------------------------------------------------------------------

# TableFieldSchema.name in the bigquery v2 discovery document: letters, digits, underscores,
# starting with a letter or underscore, at most 300 characters.
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _scalar_problem(kind: str, value: Any) -> str | None:
    if kind == "STRING":
        return None if isinstance(value, str) else "a string"
    if kind == "DATE":
        return None if _is_date(value) else "a date YYYY-MM-DD"
    if kind == "TIMESTAMP":
        from phiguard._util.times import parse_time

        ok = isinstance(value, str) and bool(_TIMESTAMP.match(value)) and (
            parse_time(value) is not None)
        return None if ok else "a timestamp YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]"
    if kind in ("INTEGER", "INT64"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "an integer"
    if kind in ("BOOLEAN", "BOOL"):
        return None if isinstance(value, bool) else "a boolean"
    return f"a value of a type this check does not know ({kind})"


def check_row(row: Any, fields: Sequence[Mapping[str, Any]] | None = None,
              prefix: str = "") -> list[str]:
    """What BigQuery would refuse in this decoded NDJSON row, as messages (empty: loads)."""
    fields = load_schema() if fields is None else fields
    if not isinstance(row, dict):
        return [f"{prefix or 'row'}: expected an object, got {type(row).__name__}"]
    problems: list[str] = []
    known = {f["name"] for f in fields}
    for key in row:
        if key not in known:
            problems.append(f"{prefix}{key}: not a column of the table schema")
    for field in fields:
        name, kind = field["name"], field["type"]
        mode = field.get("mode", "NULLABLE")
        value = row.get(name)
        where = prefix + name
        if mode == "REPEATED":
            if value is None:
                continue  # an absent or null repeated field loads as an empty array
            if not isinstance(value, list):
                problems.append(f"{where}: REPEATED: expected an array")
                continue
            items: list[tuple[int | None, Any]] = list(enumerate(value))
        elif value is None:
            if mode == "REQUIRED":
                problems.append(f"{where}: REQUIRED: missing or null")
            continue
        else:
            items = [(None, value)]
        for i, item in items:
            at = where if i is None else f"{where}[{i}]"
            if item is None:
                problems.append(f"{at}: null inside a REPEATED field")
            elif kind in ("RECORD", "STRUCT"):
                problems.extend(check_row(item, field["fields"], at + ".")
                                if isinstance(item, dict) else [f"{at}: expected an object"])
            else:
                wrong = _scalar_problem(kind, item)
                if wrong:
                    problems.append(f"{at}: {kind}: expected {wrong}, got {item!r:.60}")
    return problems


def check_findings_doc(doc: Mapping[str, Any], path: str) -> None:
    """Before `phiguard report --format ndjson` writes anything: the run columns and every
    result's waiver fit the table (InputError naming the file and the result's line)."""
    run = doc.get("run")
    run_columns(run if isinstance(run, Mapping) else {}, path)
    line = 4  # json_report puts result i on line 4 + i
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    for i, obj in enumerate(doc.get("results") or ()):
        try:
            finding_row(obj, {}, path)
        except InputError as exc:
            at = line + i
            known = len(lines) >= at and lines[at - 1].lstrip(b",").startswith(b'{"rule_id"')
            raise InputError(f"results[{i}]: {exc.message}", file=path,
                             line=at if known else None) from None


def check_ndjson_file(path: str) -> int:
    """Check every line of an NDJSON findings file against the shipped schema; the number of
    rows, or an InputError at the first line BigQuery would refuse."""
    rows = 0
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from None
    with fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                raise InputError("empty line (expected one JSON object per line)", file=path,
                                 line=number)
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc.msg} (expected one findings row per "
                                 "line)", file=path, line=number) from None
            problems = check_row(row)
            if problems:
                raise InputError(f"{problems[0]}" + (f" (and {len(problems) - 1} more)"
                                                     if len(problems) > 1 else ""),
                                 file=path, line=number)
            rows += 1
    return rows
