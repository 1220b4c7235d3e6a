"""The SSL-policy attach, key disable and audit-log actions, and the engine's verdict in the
journal, against the emulator with the real discovery clients."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _fix import cli, findings_file, journal_lines
from emulator import Emulator
from phiguard.fix.actions import HTTPS_PROXY, PROJECT_IAM_FOR_SA, SSL_POLICY
from phiguard.fix.verify import Verifier

SA = "app@p1.iam.gserviceaccount.com"
KEY_NAME = f"projects/p1/serviceAccounts/{SA}/keys/k1"
BARE = "//compute.googleapis.com/projects/p1/global/targetHttpsProxies/bare"
WEAKLY = "//compute.googleapis.com/projects/p1/global/targetHttpsProxies/weakly"
KEY = f"//iam.googleapis.com/{KEY_NAME}"
PROJECT = "//cloudresourcemanager.googleapis.com/projects/p1"
COMPUTE = "https://www.googleapis.com/compute/v1/projects/p1/global/sslPolicies/"
NOW = datetime(2026, 11, 25, tzinfo=UTC)

judge = Verifier.of_recorded(None).judge  # the bundled pack, default parameters


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        c = server.cloud
        c.add_ssl_policy("p1", "a-weak", minTlsVersion="TLS_1_0", profile="COMPATIBLE")
        c.add_ssl_policy("p1", "b-restricted-tls10", minTlsVersion="TLS_1_0",
                         profile="RESTRICTED")
        c.add_ssl_policy("p1", "c-good", minTlsVersion="TLS_1_2", profile="RESTRICTED")
        c.add_ssl_policy("p1", "d-also-good", minTlsVersion="TLS_1_2", profile="MODERN")
        c.add_https_proxy("p1", "bare")
        c.add_https_proxy("p1", "weakly", sslPolicy=COMPUTE + "a-weak")
        c.add_sa_key("p1", SA, "k1")
        c.set_project_iam("p1", [{"role": "roles/viewer", "members": ["user:bob@x.org"]}],
                          [{"service": "allServices",
                            "auditLogConfigs": [{"logType": "DATA_READ"}]},
                           {"service": "storage.googleapis.com",
                            "auditLogConfigs": [{"logType": "DATA_WRITE"}]}])
        yield server


ALL = (("TLS-001", BARE), ("TLS-002", WEAKLY), ("IAM-002", KEY), ("LOG-001", PROJECT))


def plan(emu: Emulator, tmp_path: Path, *extra: str,
         failing: tuple[tuple[str, str], ...] = ALL) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings_file(tmp_path, *failing)), "-o", str(out),
                 *extra)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    return out, {e["rule_id"]: e for e in doc["actions"]}


def test_new_actions_plan_apply_and_the_engine_passes_each_rule(emu: Emulator,
                                                                tmp_path: Path) -> None:
    """The plan attaches the first policy the engine judges compliant (TLS-003 PASS, TLS 1.2+),
    disables the key and adds the missing audit log types with only auditConfigs in the
    update mask; apply journals the rule's engine outcome on the re-read resource (PASS for
    every one, TLS-002 joined to the policy it now uses) and a second apply writes nothing."""
    plan_path, by = plan(emu, tmp_path)
    assert emu.cloud.writes == []
    assert by["TLS-001"]["after"] == {"sslPolicy": COMPUTE + "c-good"}
    assert by["TLS-002"]["before"] == {"sslPolicy": COMPUTE + "a-weak"}
    assert by["TLS-001"]["request"]["method"] == "compute.targetHttpsProxies.setSslPolicy"
    assert by["IAM-002"]["request"] == {"method": "iam.projects.serviceAccounts.keys.disable",
                                        "params": {"name": KEY_NAME}, "body": {}}
    audit = by["LOG-001"]["request"]["body"]
    assert audit["updateMask"] == "auditConfigs,etag" and audit["policy"]["etag"]
    assert audit["policy"]["auditConfigs"][0]["auditLogConfigs"] == [
        {"logType": "DATA_READ"}, {"logType": "ADMIN_READ"}, {"logType": "DATA_WRITE"}]

    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    c = emu.cloud
    assert c.https_proxies[("p1", "bare")]["sslPolicy"] == COMPUTE + "c-good"
    assert c.https_proxies[("p1", "weakly")]["sslPolicy"] == COMPUTE + "c-good"
    assert c.sa_keys[KEY_NAME]["disabled"] is True
    policy = c.project_iam["p1"]
    assert policy["bindings"] == [{"role": "roles/viewer", "members": ["user:bob@x.org"]}]
    assert policy["auditConfigs"][1]["service"] == "storage.googleapis.com"
    lines = journal_lines(journal)
    assert [(x["rule_id"], x["result"], x["verified"], x["rule_outcome"]) for x in lines] == [
        (r, "applied", True, "PASS") for r in ("TLS-001", "TLS-002", "IAM-002", "LOG-001")]
    assert "TLS-002 PASS" in result.output

    writes = len(c.writes)
    again = tmp_path / "again.ndjson"
    second = cli(emu, "fix", "apply", str(plan_path), "--journal", str(again), "--yes")
    assert second.exit_code == 0, second.output
    assert len(c.writes) == writes
    assert {(x["result"], x["rule_outcome"]) for x in journal_lines(again)} == {
        ("already-applied", "PASS")}


def test_ssl_policy_option_and_no_compliant_policy(emu: Emulator, tmp_path: Path) -> None:
    """--ssl-policy names the policy to attach; a weak one, or none compliant in the project,
    leaves the finding manual with the reason (never a weak policy attached)."""
    only = (("TLS-001", BARE),)
    _, by = plan(emu, tmp_path, "--ssl-policy", "d-also-good", failing=only)
    assert by["TLS-001"]["after"] == {"sslPolicy": COMPUTE + "d-also-good"}
    _, by = plan(emu, tmp_path, "--ssl-policy", COMPUTE + "b-restricted-tls10", failing=only)
    assert by["TLS-001"]["status"] == "manual" and "TLS 1.2" in by["TLS-001"]["reason"]
    del emu.cloud.ssl_policies[("p1", "c-good")], emu.cloud.ssl_policies[("p1", "d-also-good")]
    _, by = plan(emu, tmp_path, failing=only)
    assert by["TLS-001"]["status"] == "manual"
    assert "no SSL policy in project p1" in by["TLS-001"]["reason"]
    assert emu.cloud.writes == []


def test_proxy_changed_since_the_plan_is_skipped(emu: Emulator, tmp_path: Path) -> None:
    """setSslPolicy carries no precondition, so apply compares the proxy's fingerprint on its
    re-read: a proxy changed since the plan is skipped and not written."""
    plan_path, _ = plan(emu, tmp_path, failing=(("TLS-001", BARE),))
    emu.cloud.touch_https_proxy("p1", "bare", description="someone else")
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 1 and "skipped-changed" in result.output
    assert emu.cloud.writes == [] and "sslPolicy" not in emu.cloud.https_proxies[("p1", "bare")]


def test_audit_logs_with_exemptions_is_journalled_as_still_failing(emu: Emulator,
                                                                   tmp_path: Path) -> None:
    """The action adds log types but leaves exemptions for review: the journal says honestly
    that LOG-001 still FAILs after the change."""
    emu.cloud.set_project_iam("p1", [], [{"service": "allServices", "auditLogConfigs": [
        {"logType": "DATA_READ", "exemptedMembers": ["user:ops@x.org"]}]}])
    plan_path, _ = plan(emu, tmp_path, failing=(("LOG-001", PROJECT),))
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    [line] = journal_lines(journal)
    assert (line["verified"], line["rule_outcome"]) == (True, "FAIL")
    assert "exempts members" in line["rule_message"]


def test_judge_uses_the_engine_not_the_action() -> None:
    """The verdict comes from the rule: the states before the fixes FAIL, a joined policy that
    is absent gives UNKNOWN, and a rule that is not in the pack is NOT-EVALUATED."""
    weak = {"name": "w", "profile": "COMPATIBLE", "minTlsVersion": "TLS_1_0"}
    assert judge(None, "TLS-003", "//compute.googleapis.com/projects/p1/global/sslPolicies/w",
                 SSL_POLICY, {}, weak, NOW)[0] == "FAIL"
    owner = {"bindings": [{"role": "roles/owner", "members": [f"serviceAccount:{SA}"]}],
             "etag": "e"}
    sa = f"//iam.googleapis.com/projects/p1/serviceAccounts/{SA}"
    target = {"project": "p1", "email": SA}
    assert judge(None, "IAM-001", sa, PROJECT_IAM_FOR_SA, target, owner, NOW)[0] == "FAIL"
    assert judge(None, "IAM-001", sa, PROJECT_IAM_FOR_SA, target, {"bindings": []},
                 NOW)[0] == "PASS"
    proxy = {"name": "x", "sslPolicy": COMPUTE + "gone"}
    assert judge(None, "TLS-002", BARE, HTTPS_PROXY, {}, proxy, NOW)[0] == "UNKNOWN"
    assert judge(None, "NOPE-1", BARE, HTTPS_PROXY, {}, proxy, NOW)[0] == "NOT-EVALUATED"


def test_verifier_judges_with_the_findings_parameters_and_waivers() -> None:
    """The findings' parameters decide the verdict (TLS 1.2 MODERN fails a raised minimum), an
    active waiver the findings carry turns that FAIL into WAIVED, an expired one does not, and
    malformed recorded settings are refused with what is wrong."""
    name = "//compute.googleapis.com/projects/p1/global/sslPolicies/w"
    fixed = {"name": "w", "profile": "MODERN", "minTlsVersion": "TLS_1_2"}
    raised = {"TLS-003": {"min_version": "TLS_1_3"}}
    assert judge(None, "TLS-003", name, SSL_POLICY, {}, fixed, NOW)[0] == "PASS"
    strict = Verifier.of_recorded({"params": raised})
    assert strict.judge(None, "TLS-003", name, SSL_POLICY, {}, fixed, NOW)[0] == "FAIL"
    waiver = {"rule": "TLS-003", "asset": name, "reason": "legacy clients until Q3",
              "approved_by": "sec@x.org", "expires": "2099-01-01"}
    waived = Verifier.of_recorded({"params": raised, "waivers": [waiver]})
    assert waived.judge(None, "TLS-003", name, SSL_POLICY, {}, fixed, NOW)[0] == "WAIVED"
    lapsed = Verifier.of_recorded({"params": raised,
                                   "waivers": [{**waiver, "expires": "2000-01-01"}]})
    assert lapsed.judge(None, "TLS-003", name, SSL_POLICY, {}, fixed, NOW)[0] == "FAIL"
    unknown = Verifier.of_recorded({"params": {"TLS-003": {"nope": 1}}})
    outcome, why = unknown.judge(None, "TLS-003", name, SSL_POLICY, {}, fixed, NOW)
    assert outcome == "NOT-EVALUATED" and "nope" in why
    for bad, what in (({"params": []}, "params"), ({"waivers": [{"rule": 1}]}, "waivers[0]"),
                      ({"waivers": [{**waiver, "expires": "soon"}]}, "expires"),
                      ({"rule_pack_digest": 5}, "rule_pack_digest")):
        with pytest.raises(ValueError, match=re.escape(what)):
            Verifier.of_recorded(bad)
