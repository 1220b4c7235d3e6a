"""The exit-code gate (`--fail-on`) follows the framework chosen with `--framework`: a failing
finding whose rule evidences none of that framework's controls is left out of its report, so
it does not flip the exit code either; the printed summary, the report and the exit code
agree. Also the command line's answers to bad input (one line, exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DEMO, PLANS
from _records import acme_catalog
from phiguard.cli import main

AT = "2026-11-25T00:00:00Z"
ORG = "organizations/123456789012"
PROJECT_NUMBER = "111111111111"
NETWORK = "https://www.googleapis.com/compute/v1/projects/phi-prod/global/networks/phi-vpc"

def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner(env=env).invoke(main, list(args))


def _snapshot(root: Path) -> Path:
    """A PHI project with an SSH firewall open to the internet: NET-001 fails (high), LOG-002
    fails (medium), and nothing of a storage bucket is there (PUB-005 judges nothing)."""
    ancestors = [f"projects/{PROJECT_NUMBER}", "folders/222", ORG]
    project = {
        "name": f"//cloudresourcemanager.googleapis.com/projects/{PROJECT_NUMBER}",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {"version": "v1", "data": {"projectNumber": PROJECT_NUMBER,
                                               "projectId": "phi-prod",
                                               "lifecycleState": "ACTIVE"}},
        "ancestors": ancestors, "update_time": "2026-11-25T05:00:00Z"}
    link = "https://www.googleapis.com/compute/v1/projects/phi-prod/global/firewalls/ssh"
    firewall = {
        "name": "//compute.googleapis.com/projects/phi-prod/global/firewalls/ssh",
        "asset_type": "compute.googleapis.com/Firewall",
        "resource": {"version": "v1", "discovery_name": "Firewall", "location": "global",
                     "data": {"name": "ssh", "selfLink": link, "direction": "INGRESS",
                              "network": NETWORK, "sourceRanges": ["0.0.0.0/0"],
                              "disabled": False, "targetTags": ["web"],
                              "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}},
        "ancestors": ancestors, "update_time": "2026-11-24T12:00:00Z"}
    # the organization and the folder, as an export of the organization holds them (an
    # ancestor the input does not hold could own a log sink exporting the project's logs)
    folder = {"name": "//cloudresourcemanager.googleapis.com/folders/222",
              "asset_type": "cloudresourcemanager.googleapis.com/Folder",
              "resource": {"version": "v2", "data": {"name": "folders/222", "parent": ORG,
                                                     "displayName": "phi",
                                                     "lifecycleState": "ACTIVE"}},
              "ancestors": ["folders/222", ORG], "update_time": "2026-11-20T00:00:00Z"}
    org = {"name": f"//cloudresourcemanager.googleapis.com/{ORG}",
           "asset_type": "cloudresourcemanager.googleapis.com/Organization",
           "resource": {"version": "v1", "data": {"name": ORG, "displayName": "example.com",
                                                  "lifecycleState": "ACTIVE"}},
           "ancestors": [ORG], "update_time": "2026-11-20T00:00:00Z"}
    snap = root / "snap"
    snap.mkdir()
    (snap / "resources.ndjson").write_text(
        "".join(json.dumps(r) + "\n" for r in (project, firewall, folder, org)))
    # the whole organization: every asset type was collected, so no log sink means none
    (snap / "manifest.json").write_text('{"asset_types_requested": "*"}')
    return snap


@pytest.fixture()
def scan_args(tmp_path: Path) -> list[str]:
    config = tmp_path / "phiguard.yaml"
    config.write_text('organization: "123456789012"\nphi:\n  projects: [phi-prod]\n')
    return ["scan", str(_snapshot(tmp_path)), "--config", str(config), "--at", AT,
            "--no-color"]


def _failing_count(text: str) -> int:
    found = re.search(r"outcomes\s+PASS \d+\s+FAIL (\d+)", text)
    assert found, text
    return int(found.group(1))


def test_the_snapshot_fails_net_001_high_and_log_002_medium(scan_args: list[str],
                                                             tmp_path: Path) -> None:
    """The premise of the tests below, against the default framework (HIPAA)."""
    out = tmp_path / "f.json"
    result = _cli(*scan_args, "-f", "json", "-o", str(out), "--fail-on", "high")
    assert result.exit_code == 1, result.output
    failing = {(r["rule_id"], r["severity"]) for r in json.loads(out.read_text())["results"]
               if r["outcome"] == "FAIL"}
    assert {("NET-001", "high"), ("LOG-002", "medium")} <= failing
    assert not any(rule == "PUB-005" for rule, _ in failing)


@pytest.mark.parametrize("formats", [(), ("-f", "json", "-f", "text")])
def test_scan_fail_on_counts_only_the_chosen_frameworks_findings(
        scan_args: list[str], tmp_path: Path, formats: tuple[str, ...]) -> None:
    """Against a framework whose only rule is LOG-002 (medium), `--fail-on high` exits 0 (the
    high NET-001 failure is not that framework's) and `--fail-on medium` exits 1; the text
    summary shows the one failure the gate counted (streamed or not)."""
    catalog = acme_catalog(tmp_path, "LOG-002")
    outputs = ("--output", f"json={tmp_path / 'f.json'}") if formats else ()
    common = [*scan_args, "--rules", str(catalog), "--framework", "acme", *formats, *outputs]
    high = _cli(*common, "--fail-on", "high")
    assert high.exit_code == 0, high.output
    assert _failing_count(high.output) == 1
    assert "LOG-002" in high.output and "NET-001" not in high.output
    medium = _cli(*common, "--fail-on", "medium")
    assert medium.exit_code == 1, medium.output


def test_scan_a_framework_with_nothing_failing_exits_0(scan_args: list[str],
                                                       tmp_path: Path) -> None:
    """A framework whose rule judges nothing here: FAIL 0 in the summary, exit 0 even with
    `--fail-on low`, though the findings JSON (every framework's) holds failures."""
    catalog = acme_catalog(tmp_path, "PUB-005")
    out = tmp_path / "f.json"
    result = _cli(*scan_args, "--rules", str(catalog), "--framework", "acme", "--fail-on",
                  "low", "-f", "text", "-f", "json", "--output", f"json={out}")
    assert result.exit_code == 0, result.output
    assert _failing_count(result.output) == 0
    assert any(r["outcome"] == "FAIL" for r in json.loads(out.read_text())["results"])
    hipaa = _cli(*scan_args, "--rules", str(catalog), "--fail-on", "low")
    assert hipaa.exit_code == 1, hipaa.output


def test_plan_fail_on_counts_only_the_chosen_frameworks_findings() -> None:
    """serverless.json fails only rules mapped to no CIS recommendation: against CIS the plan
    passes the gate and its summary lists no failure; against HIPAA it fails. phi-stores.json
    has one high failure, of a HIPAA-only rule: `--fail-on high` passes against CIS."""
    common = ["--config", str(PLANS / "phiguard.yaml"), "--at", AT]
    cis = _cli("plan", str(PLANS / "serverless.json"), *common, "--framework", "cis-gcp-5.0")
    assert cis.exit_code == 0, cis.output
    assert "FAIL 0" in cis.output and "\nFailures\n" not in cis.output
    hipaa = _cli("plan", str(PLANS / "serverless.json"), *common)
    assert hipaa.exit_code == 1, hipaa.output
    assert "\nFailures\n" in hipaa.output
    stores = [str(PLANS / "phi-stores.json"), *common, "--framework", "cis-gcp-5.0"]
    assert _cli("plan", *stores, "--fail-on", "high").exit_code == 0
    assert _cli("plan", *stores, "--fail-on", "medium").exit_code == 1
    assert _cli("plan", str(PLANS / "phi-stores.json"), *common,
                "--fail-on", "high").exit_code == 1


def test_audit_fail_on_counts_only_the_chosen_frameworks_findings(emu: Any,
                                                                   tmp_path: Path) -> None:
    """`audit --framework acme` where acme's only rule (BAK-001) passes on the demo org: exit 0
    and the printed counts are acme's; the store still records every finding."""
    catalog = acme_catalog(tmp_path, "BAK-001")
    store = tmp_path / "h.db"
    result = _cli("audit", "--org", "123456789012", "--config", str(DEMO / "phiguard.yaml"),
                  "--store", str(store), "--directory-customer", "my_customer",
                  "--concurrency", "1", "--rules", str(catalog), "--framework", "acme",
                  env={"PHIGUARD_GCP_ENDPOINT": emu.base})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("run 1: "))
    assert line.startswith("run 1: 0 FAIL, 0 UNKNOWN, 0 WAIVED, 7 PASS · 0 new,"), line
    history = _cli("history", "--store", str(store), "--format", "json")
    assert json.loads(history.output)["runs"][0]["counts"]["FAIL"] > 0


# Bad input: one line, exit 2 -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "plan"])
def test_rules_that_hold_no_rule_are_an_error_not_a_pass(command: str, scan_args: list[str],
                                                         tmp_path: Path) -> None:
    """`--rules rules/controls` (the catalogs' folder, no rule in it) judged nothing and
    passed the gate (exit 0); it is an input error naming the folder."""
    from _paths import RULES

    target = [str(PLANS / "network.json")] if command == "plan" else scan_args[1:2]
    result = _cli(command, *target, "--rules", str(RULES / "controls"), "--fail-on", "low")
    assert result.exit_code == 2, result.output
    assert f"{RULES / 'controls'}: no rules found" in result.output
    assert "Traceback" not in result.output


def test_a_gs_snapshot_without_the_beam_engine_says_so(tmp_path: Path) -> None:
    """`scan gs://bucket/prefix` on the local engine: the error says to add --engine beam
    (the URL was turned into a path, `gs:/bucket/prefix: no such file or directory`)."""
    result = _cli("scan", "gs://bucket/export/", "-f", "json", "-o", str(tmp_path / "f.json"))
    assert result.exit_code == 2, result.output
    assert "a gs:// snapshot is read in place by the Beam engine: add --engine beam" \
        in result.output
    assert "gs:/bucket" not in result.output.replace("gs://bucket", "")


def test_text_summary_control_headings_are_lines_not_escapes(scan_args: list[str]) -> None:
    """Each control heading of the failures is a line of its own; the newline before it was
    escaped with the hostile-string guard and printed as a literal `\\x0a`."""
    result = _cli(*scan_args)
    assert result.exit_code == 1, result.output
    assert "\\x0a" not in result.output
    lines = result.output.splitlines()
    assert any(line.startswith("164.312(a)(1) ") for line in lines), result.output
