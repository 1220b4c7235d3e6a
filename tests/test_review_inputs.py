"""Review regressions: bad input to scan, report and plan is exit 2 with FILE[:LINE]: what was
expected, never a traceback, a misleading message or a silent pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DEMO, PLANS
from phiguard.cli import main


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _error(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("phiguard: error: ")]
    assert lines, result.output
    return lines[-1]


# scan -----------------------------------------------------------------------------------------

def test_scan_truncated_export_reports_the_json_error_not_a_missing_read_time(
        tmp_path: Path) -> None:
    """A truncated record has no update_time to find; the truncation is the error to show."""
    bad = tmp_path / "export.ndjson"
    bad.write_text('{"name": "//x", "asset_type": "a"')
    line = _error(_run("scan", str(bad)))
    assert f"{bad}:1:" in line and "invalid JSON" in line


# report ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def findings_text(demo_scan: Path) -> str:
    return demo_scan.read_text()


def _edited(tmp_path: Path, text: str, edit: Any) -> Path:
    doc = json.loads(text)
    edit(doc)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["waivers"].__setitem__(0, {"x": 1}), "waivers[0].rule must be a string"),
    (lambda d: d.__setitem__("waivers", 5), "`waivers` must be an array"),
    (lambda d: d["results"][0].__setitem__("severity", 5), "results[0]: `severity` must be"),
    (lambda d: d["results"][2].__setitem__("outcome", "MAYBE"), "results[2]: `outcome` must be"),
    (lambda d: d["results"][1].__setitem__("evidence", "x"), "results[1]: `evidence` must be"),
    (lambda d: d["results"][1].__setitem__("controls", None), "results[1]: `controls` must be"),
    (lambda d: d["results"].__setitem__(0, []), "results[0]: expected a finding object"),
    (lambda d: d["run"].__setitem__("inputs", 5), "`run.inputs` must be an array"),
    (lambda d: d["run"].__setitem__("config", []), "`run.config` must be an object"),
    (lambda d: d.__setitem__("run", None), "`run` must be an object"),
])
@pytest.mark.parametrize("fmt", ["html", "markdown", "sarif"])
def test_report_rejects_mistyped_findings(tmp_path: Path, findings_text: str, edit: Any,
                                          expected: str, fmt: str) -> None:
    """A mistyped field is exit 2 naming it (a bad waiver used to be a Jinja traceback, a bad
    severity a silent exit 0)."""
    path = _edited(tmp_path, findings_text, edit)
    line = _error(_run("report", str(path), "-f", fmt, "-o", str(tmp_path / "out")))
    assert expected in line
    assert not (tmp_path / "out").exists()


def test_report_names_the_line_of_a_bad_result(tmp_path: Path, findings_text: str) -> None:
    """Results are one per line from line 4; the error names that line."""
    lines = findings_text.split("\n")
    assert lines[4].startswith('{"rule_id"')
    lines[4] = lines[4].replace('"outcome":"PASS"', '"outcome":"pass"', 1)
    path = tmp_path / "f.json"
    path.write_text("\n".join(lines))
    line = _error(_run("report", str(path), "-f", "csv"))
    assert line.startswith(f"phiguard: error: {path}:5: results[1]: `outcome`")


@pytest.mark.parametrize("content, expected", [
    (b"", "empty file"),
    (b"\xff\xfe{}", ":1: not valid UTF-8"),
    (b'{"schema": "phiguard.findings/v1",\n"run": {', ":2:9: invalid JSON"),
])
def test_report_unreadable_findings(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    assert expected in _error(_run("report", str(path), "-f", "html"))


# plan -----------------------------------------------------------------------------------------

def _plan(tmp_path: Path, edit: Any) -> Path:
    doc = json.loads((PLANS / "lb-tls.json").read_text())
    edit(doc)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    return path


def _first_change(doc: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = doc["resource_changes"][0]["change"]
    return change


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d.__setitem__("resource_changes", {}), "resource_changes must be a list"),
    (lambda d: _first_change(d).__setitem__("actions", ["explode"]),
     "change.actions has 'explode'"),
    (lambda d: _first_change(d).__setitem__("after_unknown", [1]),
     "change.after_unknown must be an object"),
    (lambda d: d.__setitem__("planned_values", 5), "planned_values must be an object"),
    (lambda d: d.__setitem__("format_version", 1.2), "format_version must be a string"),
])
def test_plan_rejects_mistyped_keys(tmp_path: Path, edit: Any, expected: str) -> None:
    """A mistyped plan key is exit 2, never a pass (`resource_changes: {}` used to judge
    nothing and exit 0)."""
    path = _plan(tmp_path, edit)
    line = _error(_run("plan", str(path), "-c", str(PLANS / "phiguard.yaml")))
    assert expected in line


@pytest.mark.parametrize("content, expected", [
    (b"", "empty file"),
    (b"\xff\xfe{}", ":1: not valid UTF-8"),
    (b'{\n  "format_version": "1.2",\n  "resource_changes": [', ":3:"),
])
def test_plan_unreadable_file_names_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    assert expected in _error(_run("plan", str(path)))


def test_plan_tf_root_must_exist(tmp_path: Path) -> None:
    result = _run("plan", str(PLANS / "lb-tls.json"), "--tf-root", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "does not exist" in result.output


# collect, history -----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--org", "my-org"], ["--folder", "folders/eng"]])
def test_collect_scope_must_be_numeric(tmp_path: Path, args: list[str]) -> None:
    """A non-numeric organization or folder id is a usage error before any call (the emulator
    used to answer `--org abc` with the whole demo organization)."""
    line = _error(_run("collect", *args, "--output", str(tmp_path / "snap")))
    assert "expected the numeric id" in line
    assert not (tmp_path / "snap").exists()


def test_history_refuses_another_applications_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    assert "not a phiguard store" in _error(_run("history", "--store", str(path)))


# rules ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["rules", "test"], ["scan", str(DEMO), "--rules"]])
def test_a_rule_directory_without_rules_is_an_error(tmp_path: Path, command: list[str]) -> None:
    """`--rules` at a directory holding no rule used to judge nothing and exit 0."""
    empty = tmp_path / "my-rules"
    empty.mkdir()
    assert "no rules found" in _error(_run(*command, str(empty)))


@pytest.mark.parametrize("extra", [[], ["--at", "2026-11-25"]])
def test_scan_of_an_empty_export_is_an_error_not_a_pass(tmp_path: Path, extra: list[str]) -> None:
    """An empty export used to exit 0 with every control `no data` when --at was given."""
    empty = tmp_path / "export.ndjson"
    empty.write_bytes(b"")
    assert "holds no records" in _error(_run("scan", str(empty), *extra))
