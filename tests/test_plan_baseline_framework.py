"""`plan --baseline --framework F`: the text's "in baseline, not shown: N" counts the hidden
findings of F's rules only, as every other count in that summary does (the findings JSON's
`run.baseline.suppressed` keeps every framework's, like its `summary`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _paths import PLANS
from phiguard.cli import main

AT = "2026-11-25T00:00:00Z"
COMMON = ["--config", str(PLANS / "phiguard.yaml"), "--at", AT]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_hidden_findings_are_counted_for_the_framework_reported(tmp_path: Path) -> None:
    """serverless.json fails only rules mapped to no CIS recommendation (test_cli_gate): with
    its own findings as the baseline, every failure is hidden; against HIPAA the text says how
    many, against CIS there is none of CIS's to hide."""
    plan = str(PLANS / "serverless.json")
    baseline = tmp_path / "baseline.json"
    assert _cli("plan", plan, *COMMON, "-f", "json", "-o", str(baseline)).exit_code == 1
    failing = sum(1 for r in json.loads(baseline.read_text())["results"]
                  if r["outcome"] != "PASS")  # every one not passing is hidden
    assert failing > 0
    hipaa = _cli("plan", plan, *COMMON, "--baseline", str(baseline))
    assert hipaa.exit_code == 0, hipaa.output
    assert f"(in baseline, not shown: {failing})" in hipaa.output
    cis = _cli("plan", plan, *COMMON, "--baseline", str(baseline), "--framework", "cis-gcp-5.0")
    assert cis.exit_code == 0, cis.output
    assert "in baseline, not shown" not in cis.output
    out = tmp_path / "gate.json"
    _cli("plan", plan, *COMMON, "--baseline", str(baseline), "--framework", "cis-gcp-5.0",
         "-f", "json", "-o", str(out))
    assert json.loads(out.read_text())["run"]["baseline"]["suppressed"] == failing
