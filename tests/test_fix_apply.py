"""fix plan / apply against the emulator, with the real discovery clients."""
# ruff: noqa: F811  (pytest fixtures imported from _fix are requested as parameters)

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _fix import (  # noqa: F401  (the fixtures emu and findings are requested by name)
    ACCOUNT,
    DB,
    GOOD_POLICY,
    POLICY,
    SA,
    cli,
    emu,
    finding_json,
    findings,
    journal_lines,
    make_plan,
    state,
)
from emulator import Emulator
from phiguard.cli import main


def test_plan_reads_current_state_and_changes_nothing(emu: Emulator, findings: Path,
                                                      tmp_path: Path) -> None:
    """Planning records request, before, after, precondition and permissions, and writes
    nothing: the emulator sees no write and every resource is as it was."""
    before = state(emu)
    plan = json.loads(make_plan(emu, findings, tmp_path).read_text())
    assert emu.cloud.writes == [] and state(emu) == before
    by = {(e["rule_id"], e["asset"]): e for e in plan["actions"]}
    weak = by[("TLS-003", POLICY)]
    assert weak["status"] == "change"
    assert weak["before"] == {"minTlsVersion": "TLS_1_0", "profile": "COMPATIBLE"}
    assert weak["after"] == {"minTlsVersion": "TLS_1_2", "profile": "MODERN"}
    assert weak["request"]["body"]["fingerprint"] == weak["precondition"]["value"]
    assert "compute.sslPolicies.update" in weak["permissions"]
    assert by[("TLS-003", GOOD_POLICY)]["status"] == "compliant"
    assert by[("TLS-007", DB)]["status"] == "manual"
    assert "recreate" in by[("TLS-007", DB)]["reason"]
    assert by[("IAM-001", ACCOUNT)]["after"]["bindings"] == [
        {"role": "roles/owner", "members": ["user:alice@x.org"]},
        {"role": "roles/cloudsql.client", "members": [f"serviceAccount:{SA}"]}]
    assert ("BAK-002", DB) not in by  # passing findings are not planned
    shown = cli(emu, "fix", "show", str(tmp_path / "fixplan.json"))
    assert shown.exit_code == 0, shown.output
    assert 'before: {"minTlsVersion": "TLS_1_0", "profile": "COMPATIBLE"}' in shown.output
    assert "guard:  fingerprint = " in shown.output and "needs:  compute.sslPolicies.get" \
        in shown.output


def test_plan_filters_by_rule_and_asset(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """--rule and --asset narrow the plan to the matching failing findings."""
    plan = json.loads(make_plan(emu, findings, tmp_path, "--rule", "tls-003",
                                "--asset", "*/weak").read_text())
    assert [(e["rule_id"], e["asset"]) for e in plan["actions"]] == [("TLS-003", POLICY)]


def test_apply_changes_exactly_the_plan_then_is_a_no_op(emu: Emulator, findings: Path,
                                                        tmp_path: Path) -> None:
    """Apply sends the planned requests with their preconditions, verifies each by re-reading,
    leaves unplanned resources alone, and a second apply writes nothing."""
    plan_path = make_plan(emu, findings, tmp_path)
    journal = tmp_path / "fixes.ndjson"
    dry = cli(emu, "fix", "apply", str(plan_path))
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and emu.cloud.writes == []
    good = copy.deepcopy(emu.cloud.ssl_policies[("p1", "good")])

    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    c = emu.cloud
    assert c.ssl_policies[("p1", "weak")]["minTlsVersion"] == "TLS_1_2"
    assert c.ssl_policies[("p1", "good")] == good
    assert c.firewalls[("p1", "open-ssh")]["disabled"] is True
    settings = c.sql[("p1", "db1")]["settings"]
    assert settings["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert settings["backupConfiguration"] == {"enabled": True,
                                               "pointInTimeRecoveryEnabled": True}
    assert settings["deletionProtectionEnabled"] is True and settings["tier"] == "db-custom-2-7680"
    bucket = c.buckets["phi-bkt"]
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    members = [m for b in c.bucket_iam["phi-bkt"]["bindings"] for m in b["members"]]
    assert members == ["group:eng@x.org"]
    owners = [b for b in c.project_iam["p1"]["bindings"] if b["role"] == "roles/owner"]
    assert owners == [{"role": "roles/owner", "members": ["user:alice@x.org"]}]
    # Every write carried its precondition, checked at the emulator, except the firewall's:
    # compute Firewall has no fingerprint, and none is sent.
    for w in c.writes:
        body = w["body"]
        if "/firewalls/" in w["path"]:
            assert body == {"disabled": True}
            continue
        assert (body.get("fingerprint") or w["query"].get("ifMetagenerationMatch")
                or body.get("etag") or body.get("policy", {}).get("etag")
                or body.get("settings", {}).get("settingsVersion")), w
    assert len(c.writes) == 9
    lines = journal_lines(journal)
    assert [x["result"] for x in lines] == ["applied"] * 9
    assert all(x["verified"] for x in lines)

    again = tmp_path / "again.ndjson"
    writes = len(c.writes)
    second = cli(emu, "fix", "apply", str(plan_path), "--journal", str(again), "--yes")
    assert second.exit_code == 0, second.output
    assert len(c.writes) == writes
    assert {x["result"] for x in journal_lines(again)} == {"already-applied"}


def test_concurrent_change_is_skipped_not_overwritten(emu: Emulator, findings: Path,
                                                      tmp_path: Path) -> None:
    """A resource changed between plan and apply is reported and left as the other person
    set it; the rest of the plan still applies, and the exit code is 1."""
    plan_path = make_plan(emu, findings, tmp_path, "--rule", "TLS-003")
    emu.cloud.touch_ssl_policy("p1", "weak", description="edited by someone else")
    journal = tmp_path / "j.ndjson"
    dry = cli(emu, "fix", "apply", str(plan_path))
    assert dry.exit_code == 1 and "changed since the plan" in dry.output
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 1, result.output
    assert "skipped-changed" in result.output
    assert emu.cloud.ssl_policies[("p1", "weak")]["minTlsVersion"] == "TLS_1_0"
    assert emu.cloud.writes == []
    assert [x["result"] for x in journal_lines(journal)] == ["skipped-changed"]


def test_change_racing_the_write_is_refused_by_the_precondition(emu: Emulator, findings: Path,
                                                                tmp_path: Path) -> None:
    """A change landing after apply's re-read but before its write gets a 412 from the API
    because the request carries the metageneration the plan saw: skipped, not overwritten."""
    plan_path = make_plan(emu, findings, tmp_path, "--rule", "BAK-005")
    original = emu.cloud._bucket

    def racing(name: str, method: str, *args: Any) -> Any:
        if method == "PATCH":
            emu.cloud.touch_bucket(name, labels={"owner": "other"})
        return original(name, method, *args)

    emu.cloud._bucket = racing  # type: ignore[method-assign]
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 1, result.output
    assert "versioning" not in emu.cloud.buckets["phi-bkt"]
    assert emu.cloud.writes[0]["query"]["ifMetagenerationMatch"] == "1"
    assert journal_lines(journal)[0]["result"] == "skipped-conflict"


def test_api_error_midway_leaves_a_resumable_journal(emu: Emulator, findings: Path,
                                                     tmp_path: Path) -> None:
    """An API error on a write stops the run (exit 2) with a journal that says what completed;
    --resume finishes the rest without redoing anything."""
    plan_path = make_plan(emu, findings, tmp_path)
    emu.fault("/sqladmin/v1/projects/p1/instances/db1", status=503, times=1, method="PATCH")
    journal = tmp_path / "j.ndjson"
    first = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert first.exit_code == 2 and "--resume" in first.output
    lines = journal_lines(journal)
    assert [x["result"] for x in lines] == ["applied", "applied", "failed"]
    writes = len(emu.cloud.writes)
    assert writes == 2

    again = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert again.exit_code == 2 and "already has entries" in again.output

    resumed = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes",
                  "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.count("earlier run") == 2
    assert len(emu.cloud.writes) == 9
    results = [x["result"] for x in journal_lines(journal)]
    assert results.count("applied") == 9 and results.count("failed") == 1


def test_killed_mid_write_resumes_from_the_journal(emu: Emulator, findings: Path,
                                                   tmp_path: Path) -> None:
    """A journal whose last line was torn by a kill is still read; the write whose intent was
    journalled is not sent again: the re-read shows it took effect, and it is recorded as
    applied (reconciled)."""
    plan_path = make_plan(emu, findings, tmp_path, "--rule", "TLS-003")
    journal = tmp_path / "j.ndjson"
    first = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert first.exit_code == 0
    text = journal.read_text()
    journal.write_text(text[: len(text) // 2])  # the kill hit while writing the only line
    resumed = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes",
                  "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(emu.cloud.writes) == 1
    [line] = journal_lines(journal)
    assert (line["result"], line["reconciled"], line["verified"]) == ("applied", True, True)


def test_terraform_snippets(emu: Emulator, findings: Path) -> None:
    """fix terraform prints attribute changes per resource type, and says when none exists."""
    result = cli(emu, "fix", "terraform", str(findings))
    assert result.exit_code == 0, result.output
    assert 'resource "google_compute_ssl_policy" "weak"' in result.output
    assert 'ssl_mode = "ENCRYPTED_ONLY"' in result.output
    assert "# no Terraform change: the SSL mode is fixed at creation" in result.output
    assert emu.cloud.writes == []


def test_two_changes_to_one_policy_keep_each_other(emu: Emulator, tmp_path: Path) -> None:
    """Two accounts' basic roles removed from one project policy: the second write follows the
    etag the first left and is rebuilt from the policy as the first left it, so it does not
    put the first account's role back."""
    other = "job@p1.iam.gserviceaccount.com"
    emu.cloud.project_iam["p1"]["bindings"][0]["members"].append(f"serviceAccount:{other}")
    path = tmp_path / "findings.json"
    path.write_text(json.dumps({"schema": "phiguard.findings/v1", "run": {}, "summary": {},
                                "waivers": [], "results": [
                                    finding_json("IAM-001", ACCOUNT),
                                    finding_json("IAM-001", ACCOUNT.replace(SA, other))]}))
    plan = make_plan(emu, path, tmp_path)
    result = cli(emu, "fix", "apply", str(plan), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 0, result.output
    members = [m for b in emu.cloud.project_iam["p1"]["bindings"] if b["role"] in
               ("roles/owner", "roles/editor") for m in b["members"]]
    assert members == ["user:alice@x.org"]


def _ssl_policy_record(data: dict[str, Any]) -> dict[str, Any]:
    return {"name": POLICY, "asset_type": "compute.googleapis.com/SslPolicy",
            "resource": {"version": "v1", "discovery_name": "SslPolicy", "location": "global",
                         "data": data},
            "ancestors": ["projects/p1"], "update_time": "2026-11-24T12:00:00Z"}


def _scan_policy(tmp_path: Path, name: str, data: dict[str, Any], config: Path) -> Path:
    snap = tmp_path / name
    snap.mkdir()
    (snap / "resources.ndjson").write_text(json.dumps(_ssl_policy_record(data)) + "\n")
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(main, ["scan", str(snap), "-c", str(config), "-f", "json",
                                       "-o", str(out), "--fail-on", "none",
                                       "--at", "2026-11-25T00:00:00Z"])
    assert result.exit_code == 0, result.output
    return out


def _outcome(findings: Path, rule_id: str, asset: str) -> str:
    doc = json.loads(findings.read_text())
    return next(r["outcome"] for r in doc["results"]
                if r["rule_id"] == rule_id and r["asset"] == asset)


def test_journal_verdict_is_the_next_scans_with_the_findings_parameters(
        emu: Emulator, tmp_path: Path) -> None:
    """A team that raised TLS-003's min_version to TLS_1_3 scans, plans and applies the fix
    (which sets TLS 1.2 with MODERN): the journal judges the re-read policy with the findings'
    parameters, FAIL, exactly as the next scan of the fixed policy does (it was PASS, judged
    with the default parameters, while that scan says FAIL)."""
    config = tmp_path / "phiguard.yaml"
    config.write_text("phi: {all: true}\nparams:\n  TLS-003: {min_version: TLS_1_3}\n")
    before = _scan_policy(tmp_path, "before", emu.cloud.ssl_policies[("p1", "weak")], config)
    assert _outcome(before, "TLS-003", POLICY) == "FAIL"
    plan = make_plan(emu, before, tmp_path, "--rule", "TLS-003", "--asset", POLICY)
    journal = tmp_path / "fixes.ndjson"
    result = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    (line,) = journal_lines(journal)
    assert line["result"] == "applied" and line["after"] == {"minTlsVersion": "TLS_1_2",
                                                             "profile": "MODERN"}
    after = _scan_policy(tmp_path, "after", emu.cloud.ssl_policies[("p1", "weak")], config)
    assert line["rule_outcome"] == _outcome(after, "TLS-003", POLICY) == "FAIL"
    assert "TLS-003 FAIL" in result.output


def test_a_plan_records_what_the_findings_were_judged_with_and_apply_checks_it(
        emu: Emulator, tmp_path: Path) -> None:
    """The plan records the findings' rule pack digest, parameters and waivers (covered by its
    digest); findings judged with another rule pack are applied but not verified."""
    config = tmp_path / "phiguard.yaml"
    config.write_text("phi: {all: true}\nparams:\n  TLS-003: {min_version: TLS_1_3}\n")
    findings = _scan_policy(tmp_path, "before", emu.cloud.ssl_policies[("p1", "weak")], config)
    plan_path = make_plan(emu, findings, tmp_path, "--rule", "TLS-003")
    plan = json.loads(plan_path.read_text())
    run = json.loads(findings.read_text())["run"]
    assert plan["judged_with"] == {"rule_pack_digest": run["rule_pack_digest"],
                                   "params": {"TLS-003": {"min_version": "TLS_1_3"}},
                                   "waivers": []}
    plan["judged_with"]["params"] = {}
    plan_path.write_text(json.dumps(plan))
    edited = cli(emu, "fix", "show", str(plan_path))
    assert edited.exit_code == 2 and "digest mismatch" in edited.output

    doc = json.loads(findings.read_text())
    doc["run"]["rule_pack_digest"] = "sha256:" + "0" * 64
    findings.write_text(json.dumps(doc))
    plan_path = make_plan(emu, findings, tmp_path, "--rule", "TLS-003")
    journal = tmp_path / "fixes.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    (line,) = journal_lines(journal)
    assert line["rule_outcome"] == "NOT-EVALUATED"
    assert "judged with rule pack sha256:000" in line["rule_message"]
