"""Secrets a rule read as evidence never reach any output: every format, the bundle, the store.

Redaction happens once, where the engine builds a finding's evidence, so no output (the text
summary in CI logs, findings JSON, the bundle's findings.json) can forget it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main

SECRET = "hunter2-Sup3rS3cret"
ORG = "organizations/123456789012"
ANCESTORS = ["projects/111111111111", "folders/222", ORG]


def _instance() -> dict[str, Any]:
    return {
        "name": "//compute.googleapis.com/projects/phi-prod/zones/us-central1-a/instances/db-1",
        "asset_type": "compute.googleapis.com/Instance",
        "resource": {"version": "v1", "discovery_name": "Instance", "location": "us-central1-a",
                     "data": {"name": "db-1", "status": "RUNNING",
                              "metadata": {"kind": "compute#metadata", "items": [
                                  {"key": "enable-oslogin", "value": "FALSE"},
                                  {"key": "db-password", "value": SECRET},
                                  {"key": "startup-script",
                                   "value": f"export PGPASSWORD={SECRET}"}]}}},
        "ancestors": ANCESTORS,
        "update_time": "2026-11-24T12:00:00Z",
    }


def _records() -> list[dict[str, Any]]:
    return [
        _instance(),
        {"name": "//compute.googleapis.com/projects/phi-prod",
         "asset_type": "compute.googleapis.com/Project",
         "resource": {"version": "v1", "discovery_name": "Project",
                      "data": {"name": "phi-prod", "id": "111111111111",
                               "commonInstanceMetadata": {"items": [
                                   {"key": "api-token", "value": SECRET}]}}},
         "ancestors": ANCESTORS, "update_time": "2026-11-24T12:00:00Z"},
        {"name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
         "asset_type": "cloudresourcemanager.googleapis.com/Project",
         "resource": {"version": "v1", "data": {"projectNumber": "111111111111",
                                                "projectId": "phi-prod",
                                                "lifecycleState": "ACTIVE"}},
         "ancestors": ANCESTORS, "update_time": "2026-11-25T05:00:00Z"},
    ]


@pytest.fixture()
def snapshot(tmp_path: Path) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "resources.ndjson").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    return snap


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "phiguard.yaml"
    path.write_text('organization: "123456789012"\nphi:\n  projects: [phi-prod]\n')
    return path


def _scan(*args: str) -> Any:
    return CliRunner().invoke(main, ["scan", *args], catch_exceptions=False)


@pytest.mark.parametrize("fmt", ["text", "json", "html", "sarif", "junit", "markdown", "csv"])
def test_metadata_secret_is_redacted_in_every_format(snapshot: Path, config: Path,
                                                     tmp_path: Path, fmt: str) -> None:
    """An instance's `db-password` metadata value, read as MFA-006 evidence, shows as
    [redacted] in every format, the default text summary (CI logs) included."""
    out = tmp_path / f"out.{fmt}"
    result = _scan(str(snapshot), "-c", str(config), "-f", fmt, "-o", str(out))
    assert result.exit_code == 1, result.output
    text = out.read_text()
    assert "MFA-006" in text
    assert SECRET not in text
    assert SECRET not in result.output


def test_metadata_secret_is_redacted_on_stdout(snapshot: Path, config: Path) -> None:
    """The text summary printed to stdout (what a CI log keeps) shows the key, not the value."""
    result = _scan(str(snapshot), "-c", str(config))
    assert result.exit_code == 1
    assert "db-password" in result.output or "enable-oslogin" in result.output
    assert SECRET not in result.output


def test_metadata_secret_is_redacted_in_the_bundle(snapshot: Path, config: Path,
                                                  tmp_path: Path) -> None:
    """No file of the evidence bundle (findings.json, report.html, ...) holds the secret, while
    the flags the rule judged (enable-oslogin) stay visible."""
    bundle = tmp_path / "bundle"
    result = _scan(str(snapshot), "-c", str(config), "--bundle", str(bundle), "-f", "json",
                   "-o", str(tmp_path / "f.json"))
    assert result.exit_code == 1, result.output
    for path in bundle.iterdir():
        assert SECRET not in path.read_text(), path.name
    findings = json.loads((bundle / "findings.json").read_text())
    mfa = [r for r in findings["results"] if r["rule_id"] == "MFA-006"]
    assert mfa and mfa[0]["outcome"] == "FAIL"
    items = next(e["value"] for e in mfa[0]["evidence"] if e["path"] == "data.metadata.items")
    assert {"key": "enable-oslogin", "value": "FALSE"} in items
    assert {"key": "db-password", "value": "[redacted]"} in items


def test_engine_findings_carry_redacted_evidence(snapshot: Path, config: Path) -> None:
    """The findings a scan yields already carry redacted evidence, so every consumer (reports,
    the bundle, the plan gate, the store) gets it redacted."""
    from phiguard.config import load_config
    from phiguard.policy.rule import load_pack
    from phiguard.scan import Scan

    pack = load_pack([RULES])
    findings = list(Scan([snapshot], pack, load_config(config)).findings())
    assert any(f.rule_id == "MFA-006" for f in findings)
    assert SECRET not in repr([f.evidence for f in findings])


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif"])
def test_plan_gate_redacts_a_secret_in_planned_metadata(tmp_path: Path, fmt: str) -> None:
    """`phiguard plan`: an instance's planned metadata `db-password` is judged (MFA-006 reads
    the metadata) but never printed, in any format."""
    import orjson

    from _plans import change, plan_doc

    instance = {"name": "db-1", "project": "phi-prod", "zone": "us-central1-a",
                "machine_type": "e2-small",
                "metadata": {"db-password": SECRET, "enable-oslogin": "FALSE"},
                "network_interface": [{"network": "default"}]}
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(plan_doc([change("google_compute_instance", "db", instance)])))
    result = CliRunner().invoke(main, ["plan", str(plan), "-f", fmt], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert "db-1" in result.output or "google_compute_instance.db" in result.output
    assert SECRET not in result.output
