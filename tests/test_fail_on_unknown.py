"""`--fail-on-unknown` (scan, plan, audit): an UNKNOWN finding at or above `--fail-on` fails the
gate too, so a run that could not judge is not a pass. Off by default: UNKNOWN alone exits 0.
The results API's `.failing(..., unknown=True)` gives the same answer."""

from __future__ import annotations

import json
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


def _ghost(tmp_path: Path) -> Path:
    """The demo org with a PHI project that is not in it: whether a grant on a folder or the
    organization reaches PHI is unknown. IAM-001 counts the custom role the organization grants
    tf-deployer (phiPlatformDeployer) as an admin role here, so that grant, of unknown reach,
    makes it UNKNOWN for that account (a harmless role of unknown reach would decide nothing)
    and PASS for the rest; nothing is known to reach PHI, nothing FAILs."""
    config = tmp_path / "phiguard.yaml"
    config.write_text('organization: "123456789012"\nphi:\n  projects: [ghost-phi]\n'
                      "params:\n  IAM-001: {admin_role_pattern: '(?i)admin|deployer'}\n")
    return config


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner(env=env).invoke(main, list(args))


@pytest.mark.parametrize(("extra", "code"), [
    ((), 0),                                               # default: UNKNOWN never fails
    (("--fail-on-unknown",), 1),
    (("--fail-on-unknown", "--fail-on", "high"), 1),       # IAM-001 is high
    (("--fail-on-unknown", "--fail-on", "critical"), 0),   # below the threshold
    (("--fail-on-unknown", "--fail-on", "none"), 0),
])
def test_scan_fails_on_unknown_only_when_asked(tmp_path: Path, extra: tuple[str, ...],
                                               code: int) -> None:
    catalog, config = acme_catalog(tmp_path, "IAM-001"), _ghost(tmp_path)
    result = _cli("scan", str(DEMO), "-c", str(config), "--at", AT, "--rules", str(catalog),
                  "--framework", "acme", "-f", "json", "-o", str(tmp_path / "out.json"), *extra)
    assert result.exit_code == code, result.output
    counts = json.loads((tmp_path / "out.json").read_text())["summary"]["rules"]["IAM-001"]
    assert counts["FAIL"] == 0 and counts["UNKNOWN"] > 0


def test_scan_result_failing_with_unknown(tmp_path: Path) -> None:
    catalog, config = acme_catalog(tmp_path, "IAM-001"), _ghost(tmp_path)
    result = run_scan([DEMO], rules=[catalog], config_path=config, framework="acme")
    assert not result.failing("low")
    assert result.failing("low", unknown=True)
    assert not result.failing("critical", unknown=True)


def test_plan_fails_on_unknown_only_when_asked() -> None:
    """deploy.json without a snapshot: nothing fails, two findings are UNKNOWN (the rest of
    the organization's policy, the PHI project's place): exit 0, and 1 when asked."""
    args = ["plan", str(PLANS / "deploy.json"), "-c", str(PLANS / "phiguard.yaml"), "--at", AT]
    assert _cli(*args).exit_code == 0
    assert _cli(*args, "--fail-on-unknown").exit_code == 1
    result = run_plan_gate(PLANS / "deploy.json", config_path=PLANS / "phiguard.yaml")
    assert not result.failing("low") and result.failing("low", unknown=True)


def test_audit_fails_on_unknown_only_when_asked(emu: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, config = acme_catalog(tmp_path, "IAM-001"), _ghost(tmp_path)
    common = ("audit", "--org", "123456789012", "--config", str(config),
              "--directory-customer", "my_customer", "--concurrency", "1",
              "--rules", str(catalog), "--framework", "acme")
    env = {"PHIGUARD_GCP_ENDPOINT": emu.base}
    plain = _cli(*common, "--store", str(tmp_path / "a.db"), env=env)
    assert plain.exit_code == 0, plain.output
    assert " 0 FAIL, " in plain.output and " 0 UNKNOWN" not in plain.output
    asked = _cli(*common, "--store", str(tmp_path / "b.db"), "--fail-on-unknown", env=env)
    assert asked.exit_code == 1, asked.output
    monkeypatch.setenv("PHIGUARD_GCP_ENDPOINT", emu.base)
    result = run_audit(tmp_path / "c.db", org="123456789012", config_path=config,
                       directory_customer="my_customer", concurrency=1, rules=[catalog],
                       framework="acme")
    assert not result.failing("low") and result.failing("low", unknown=True)
