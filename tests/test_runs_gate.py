"""The results of the runs as a library (`ScanResult`, `PlanResult`, `AuditResult`) answer
`.failing(fail_on)` as the command line's exit code does: counting the findings of the
framework the run reported with (`framework=`), or of the one named in the call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DEMO, PLANS
from _records import acme_catalog
from phiguard.cli import main
from phiguard.runs.audit import run_audit
from phiguard.runs.plan import run_plan_gate
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"


def _acme(tmp_path: Path) -> Path:
    """A catalog whose one control is evidenced by BAK-001 alone, which passes on the demo
    org (which fails other rules)."""
    return acme_catalog(tmp_path, "BAK-001")


def test_plan_result_failing_follows_the_runs_framework() -> None:
    """serverless.json fails only rules mapped to no CIS recommendation: the CLI exits 0
    against CIS and so does `failing`; against HIPAA both fail. An explicit framework in the
    call overrides the run's."""
    config = PLANS / "phiguard.yaml"
    cis = run_plan_gate(PLANS / "serverless.json", config_path=config,
                        framework="cis-gcp-5.0")
    cli = CliRunner().invoke(main, ["plan", str(PLANS / "serverless.json"), "-c", str(config),
                                    "--at", AT, "--framework", "cis-gcp-5.0"])
    assert cli.exit_code == 0, cli.output
    assert not cis.failing("low")
    assert cis.failing("low", framework="hipaa")
    hipaa = run_plan_gate(PLANS / "serverless.json", config_path=config)
    assert hipaa.failing("low") and not hipaa.failing("low", framework="cis-gcp-5.0")
    assert not hipaa.failing("none")


def test_scan_result_failing_follows_the_runs_framework(tmp_path: Path) -> None:
    """The demo org against acme (BAK-001 only, passing): the CLI exits 0 with --fail-on low,
    `failing("low")` is False; against HIPAA (the call's framework) it fails."""
    catalog, config = _acme(tmp_path), DEMO / "phiguard.yaml"
    result = run_scan([DEMO], rules=[catalog], config_path=config, framework="acme")
    cli = CliRunner().invoke(main, ["scan", str(DEMO), "-c", str(config), "--at", AT,
                                    "--rules", str(catalog), "--framework", "acme",
                                    "--fail-on", "low", "-o", str(tmp_path / "out.txt")])
    assert cli.exit_code == 0, cli.output
    assert not result.failing("low")
    assert result.failing("low", framework="hipaa")
    assert run_scan([DEMO], rules=[catalog], config_path=config).failing("low")


def test_audit_result_failing_follows_the_runs_framework(emu: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_audit(framework="acme")` on the demo org: not failing (the CLI exits 0 there,
    tests/test_cli_gate.py), though the run holds HIPAA failures."""
    monkeypatch.setenv("PHIGUARD_GCP_ENDPOINT", emu.base)
    result = run_audit(tmp_path / "h.db", org="123456789012", config_path=DEMO / "phiguard.yaml",
                       directory_customer="my_customer", concurrency=1,
                       rules=[_acme(tmp_path)], framework="acme")
    assert not result.failing("low")
    assert result.failing("low", framework="hipaa")
