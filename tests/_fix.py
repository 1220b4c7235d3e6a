"""The fix tests' shared world: an emulated project with one resource per fix action, a
findings file of its failures, and running `phiguard fix` against it. The fixtures `emu` and
`findings` are imported by the modules that request them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from emulator import Emulator
from phiguard.cli import main
from phiguard.findings import Outcome
from report_data import finding

SA = "app@p1.iam.gserviceaccount.com"
POLICY = "//compute.googleapis.com/projects/p1/global/sslPolicies/weak"
GOOD_POLICY = "//compute.googleapis.com/projects/p1/global/sslPolicies/good"
FIREWALL = "//compute.googleapis.com/projects/p1/global/firewalls/open-ssh"
DB = "//sqladmin.googleapis.com/projects/p1/instances/db1"
BUCKET = "//storage.googleapis.com/phi-bkt"
ACCOUNT = f"//iam.googleapis.com/projects/p1/serviceAccounts/{SA}"

FAILING = [("TLS-003", POLICY), ("TLS-003", GOOD_POLICY), ("NET-001", FIREWALL),
           ("TLS-006", DB), ("BAK-001", DB), ("BAK-007", DB), ("TLS-007", DB),
           ("BAK-005", BUCKET), ("PUB-005", BUCKET), ("PUB-004", BUCKET), ("IAM-001", ACCOUNT)]


def finding_json(rule_id: str, asset: str, outcome: str = "FAIL") -> dict[str, Any]:
    """A finding as a findings file holds it (the fields fix plan reads)."""
    return finding(asset, Outcome(outcome), rule=rule_id, asset_type="x", controls=(),
                   message=f"{rule_id} fails", evidence=()).to_json()


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        c = server.cloud
        c.add_ssl_policy("p1", "weak", minTlsVersion="TLS_1_0", profile="COMPATIBLE")
        c.add_ssl_policy("p1", "good", minTlsVersion="TLS_1_2", profile="MODERN")
        c.add_firewall("p1", "open-ssh", sourceRanges=["0.0.0.0/0"],
                       allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])
        c.add_sql("p1", "db1", {
            "ipConfiguration": {"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"},
            "backupConfiguration": {"enabled": False}, "deletionProtectionEnabled": False,
            "tier": "db-custom-2-7680"}, databaseVersion="POSTGRES_15")
        c.add_bucket("phi-bkt", iamConfiguration={
            "uniformBucketLevelAccess": {"enabled": False},
            "publicAccessPrevention": "inherited"})
        c.set_bucket_iam("phi-bkt", [
            {"role": "roles/storage.objectViewer", "members": ["allUsers", "group:eng@x.org"]},
            {"role": "roles/storage.legacyBucketReader", "members": ["allAuthenticatedUsers"]}])
        c.set_project_iam("p1", [
            {"role": "roles/owner", "members": [f"serviceAccount:{SA}", "user:alice@x.org"]},
            {"role": "roles/editor", "members": [f"serviceAccount:{SA}"]},
            {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{SA}"]}])
        yield server


@pytest.fixture()
def findings(tmp_path: Path) -> Path:
    results = [finding_json(r, a) for r, a in FAILING] + [finding_json("BAK-002", DB, "PASS")]
    path = tmp_path / "findings.json"
    path.write_text(json.dumps({"schema": "phiguard.findings/v1", "run": {}, "results": results,
                                "summary": {}, "waivers": []}))
    return path


def cli(emu: Emulator, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"PHIGUARD_GCP_ENDPOINT": emu.base})


def state(emu: Emulator) -> dict[str, Any]:
    c = emu.cloud
    return copy.deepcopy({"ssl": c.ssl_policies, "fw": c.firewalls, "sql": c.sql,
                          "buckets": c.buckets, "biam": c.bucket_iam, "piam": c.project_iam})


def make_plan(emu: Emulator, findings: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings), "--output", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out


def journal_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """The outcome records (the intent written before each write left out)."""
    return [r for r in journal_records(path) if r["result"] != "intent"]


def findings_file(tmp_path: Path, *failing: tuple[str, str]) -> Path:
    path = tmp_path / "findings.json"
    results = [finding_json(r, a) for r, a in failing]
    path.write_text(json.dumps({"schema": "phiguard.findings/v1", "run": {}, "summary": {},
                                "waivers": [], "results": results}))
    return path


def one_line_exit_2(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("phiguard: error:")]
    return line
