"""A realistic organization, configured only with `organization:` and `phi: projects:`, raises no
false alarm from a rule's defaults (issue 10, precision).

The snapshot is the demo organization's export (real CAI shapes, Admin SDK users) with what a
real organization also has and the demo's own config hid or left out: a personal sandbox project
owned by a person without enforced 2-Step Verification, a gmail.com contractor and a CI service
account with Editor and an old key there (none of which reaches PHI), a PHI VM on a dedicated
service account with the cloud-platform scope, and a group in a secondary domain of the
directory granted a role on a PHI project. No `allowed_domains`, no PHI folders, labels or
networks, no waivers, no enabled optional rules.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from _paths import DEMO
from phiguard.cli import main

ORG = "organizations/123456789012"
CRM = "//cloudresourcemanager.googleapis.com/"
NON_PHI_FOLDER = "folders/587410229415"
SANDBOX_NUMBER = "731209564777"
SANDBOX = "oh-sandbox-mreyes"
SANDBOX_PROJECT = f"{CRM}projects/{SANDBOX_NUMBER}"
CI_EMAIL = f"sandbox-ci@{SANDBOX}.iam.gserviceaccount.com"
CI_ACCOUNT = f"//iam.googleapis.com/projects/{SANDBOX}/serviceAccounts/118842097365528140921"
CI_KEY = f"{CI_ACCOUNT}/keys/5e0c61b2f0a94d3e8c7a1b2d3e4f5a6b7c8d9e0f"
PHI_PROD = f"{CRM}projects/731209564018"
FULL_SCOPE_VM = ("//compute.googleapis.com/projects/oh-phi-prod/zones/us-east4-a/instances/"
                 "provider-api-7v1h")
MARCO = "//admin.googleapis.com/users/marco.reyes@outreach-health.example"
SECONDARY_GROUP = "group:phi-oncall@outreach-clinics.example"
CONFIG = """organization: "123456789012"
phi:
  projects: [oh-phi-prod, oh-phi-analytics, oh-member-comms]
"""


def _read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_ndjson(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def _sandbox(resources: list[dict[str, Any]], iam: list[dict[str, Any]]) -> None:
    """A person's sandbox under the non-PHI folder, shaped as the demo's oh-web-prod records."""
    web = next(r for r in resources if r["name"] == f"{CRM}projects/488120937715")
    project = copy.deepcopy(web)
    project["name"] = SANDBOX_PROJECT
    data = project["resource"]["data"]
    data.update({"projectNumber": SANDBOX_NUMBER, "projectId": SANDBOX, "name": SANDBOX,
                 "labels": {"env": "sandbox", "owner": "mreyes"},
                 "createTime": "2024-02-19T15:04:11.210Z"})
    project["ancestors"] = [f"projects/{SANDBOX_NUMBER}", NON_PHI_FOLDER, ORG]
    resources.append(project)
    web_sa = next(r for r in resources if r["asset_type"] == "iam.googleapis.com/ServiceAccount"
                  and r["name"].startswith("//iam.googleapis.com/projects/oh-web-prod/"))
    account = copy.deepcopy(web_sa)
    account["name"] = CI_ACCOUNT
    account["resource"]["parent"] = SANDBOX_PROJECT
    account["resource"]["data"].update({
        "name": f"projects/{SANDBOX}/serviceAccounts/{CI_EMAIL}", "projectId": SANDBOX,
        "uniqueId": CI_ACCOUNT.rsplit("/", 1)[1], "email": CI_EMAIL,
        "displayName": "sandbox CI", "oauth2ClientId": CI_ACCOUNT.rsplit("/", 1)[1]})
    account["ancestors"] = project["ancestors"]
    resources.append(account)
    some_key = next(r for r in resources
                    if r["asset_type"] == "iam.googleapis.com/ServiceAccountKey")
    key = copy.deepcopy(some_key)
    key["name"] = CI_KEY
    key["resource"]["parent"] = CI_ACCOUNT
    key["resource"]["data"] = {
        "name": f"projects/{SANDBOX}/serviceAccounts/{CI_EMAIL}/keys/{CI_KEY.rsplit('/', 1)[1]}",
        "validAfterTime": "2025-06-02T10:11:12Z", "validBeforeTime": "9999-12-31T23:59:59Z",
        "keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED",
        "keyType": "USER_MANAGED"}
    key["ancestors"] = project["ancestors"]
    resources.append(key)
    # CAI exports the services a project enables: the sandbox enables what oh-web-prod does
    for svc in [r for r in resources if r["asset_type"] == "serviceusage.googleapis.com/Service"
                and r["name"].startswith("//serviceusage.googleapis.com/projects/488120937715/")]:
        copied = copy.deepcopy(svc)
        copied["name"] = svc["name"].replace("488120937715", SANDBOX_NUMBER)
        copied["resource"]["parent"] = SANDBOX_PROJECT
        copied["resource"]["data"]["parent"] = f"projects/{SANDBOX_NUMBER}"
        copied["ancestors"] = project["ancestors"]
        resources.append(copied)
    web_iam = next(r for r in iam if r["name"] == f"{CRM}projects/488120937715")
    policy = copy.deepcopy(web_iam)
    policy["name"] = SANDBOX_PROJECT
    policy["ancestors"] = project["ancestors"]
    policy["iam_policy"] = {"version": 1, "etag": "BwYsQ2n1o0E", "bindings": [
        {"role": "roles/editor", "members": [f"serviceAccount:{CI_EMAIL}"]},
        {"role": "roles/owner", "members": ["user:marco.reyes@outreach-health.example"]},
        {"role": "roles/viewer", "members": ["user:design.contractor.2024@gmail.com"]},
    ]}
    iam.append(policy)


def _build(snapshot: Path, *, directory: bool = True) -> None:
    snapshot.mkdir()
    for name in ("org_policy.ndjson", "access_policy.ndjson"):
        shutil.copy(DEMO / name, snapshot / name)
    resources = _read_ndjson(DEMO / "resources.ndjson")
    iam = _read_ndjson(DEMO / "iam_policy.ndjson")
    _sandbox(resources, iam)
    vm = next(r for r in resources if r["name"] == FULL_SCOPE_VM)
    vm["resource"]["data"]["serviceAccounts"][0]["scopes"] = [
        "https://www.googleapis.com/auth/cloud-platform"]
    phi_prod = next(r for r in iam if r["name"] == PHI_PROD)
    phi_prod["iam_policy"]["bindings"].append(
        {"role": "roles/monitoring.viewer", "members": [SECONDARY_GROUP]})
    _write_ndjson(snapshot / "resources.ndjson", resources)
    _write_ndjson(snapshot / "iam_policy.ndjson", iam)
    manifest = json.loads((DEMO / "manifest.json").read_text())
    counts = {"resources.ndjson": len(resources), "iam_policy.ndjson": len(iam)}
    manifest["sources"] = [dict(s, records=counts.get(s["file"], s["records"]))
                           for s in manifest["sources"]
                           if directory or s["file"] != "directory-users.json"]
    manifest["asset_types"] = dict(sorted(Counter(r["asset_type"] for r in resources).items()))
    if directory:
        users = json.loads((DEMO / "directory-users.json").read_text())
        raj = next(u for u in users["users"]
                   if u["primaryEmail"] == "raj.patel@outreach-health.example")
        raj["aliases"] = ["raj.patel@outreach-clinics.example"]
        (snapshot / "directory-users.json").write_text(json.dumps(users, indent=2))
    (snapshot / "manifest.json").write_text(json.dumps(manifest, indent=1))


def _scan(tmp: Path, *, directory: bool = True) -> list[dict[str, Any]]:
    snapshot = tmp / "snapshot"
    _build(snapshot, directory=directory)
    config = tmp / "phiguard.yaml"
    config.write_text(CONFIG)
    out = tmp / "findings.json"
    result = CliRunner().invoke(main, ["scan", str(snapshot), "--config", str(config),
                                       "--format", "json", "--output", str(out)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return list(json.loads(out.read_text())["results"])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _scan(tmp_path_factory.mktemp("realistic"))


def _outcome(results: list[dict[str, Any]], rule: str, asset: str) -> str | None:
    found = [r["outcome"] for r in results if r["rule_id"] == rule and r["asset"] == asset]
    assert len(found) <= 1
    return found[0] if found else None


# The CIS logging and monitoring rules (LOG-010..013, MON-001..008) judge PHI projects by
# default, as the rest of the pack does; CIS's organization-wide reading is `phi: {all: true}`.
# The sandbox (no PHI) has oh-web-prod's gaps (no Data Access logs, no Cloud Asset API), which
# a HIPAA scan with defaults must not report.
CIS_ON_SANDBOX = {("LOG-010", SANDBOX_PROJECT), ("LOG-013", SANDBOX_PROJECT),
                  ("MON-008", SANDBOX_PROJECT)}


def test_every_fail_is_a_planted_violation(results: list[dict[str, Any]]) -> None:
    """Each FAIL is one of the demo organization's planted violations, whose `why` in
    expected-findings.yaml says what is wrong (a WAIVED one fails here: this config has no
    waivers). None comes from a default meeting ordinary, compliant configuration."""
    planted = {(e["rule"], e["asset"]): e["why"]
               for e in yaml.safe_load((DEMO / "expected-findings.yaml").read_text())}
    fails = [(r["rule_id"], r["asset"], r["message"]) for r in results if r["outcome"] == "FAIL"]
    assert fails, "the demo organization's planted violations are still there"
    false_alarms = [f for f in fails if (f[0], f[1]) not in planted]
    assert false_alarms == []
    assert not {(f[0], f[1]) for f in fails} & CIS_ON_SANDBOX


def test_nothing_is_unknown(results: list[dict[str, Any]]) -> None:
    assert [(r["rule_id"], r["asset"], r["message"]) for r in results
            if r["outcome"] == "UNKNOWN"] == []


@pytest.mark.parametrize(("rule", "asset", "expected"), [
    # a gmail.com contractor on a sandbox that reaches no PHI: not judged
    ("MFA-004", SANDBOX_PROJECT, None),
    # a group in a secondary domain (a directory user's alias) on a PHI project
    ("MFA-004", PHI_PROD, "PASS"),
    # Owner of his own sandbox only, 2SV not enforced: no privilege over PHI
    ("MFA-003", MARCO, None),
    # Editor on the sandbox only, and its old key: no PHI reach (IAM-001 judges PHI grants)
    ("IAM-001", CI_ACCOUNT, "PASS"),
    ("IAM-003", CI_KEY, None),
    # dedicated service account with the cloud-platform scope (CIS 4.2 passes it)
    ("IAM-005", FULL_SCOPE_VM, "PASS"),
])
def test_former_false_alarms(results: list[dict[str, Any]], rule: str, asset: str,
                             expected: str | None) -> None:
    assert _outcome(results, rule, asset) == expected


def test_without_the_directory_other_domains_are_unknown_not_fail(tmp_path: Path) -> None:
    """The Organization's displayName (outreach-health.example) still settles the primary
    domain; the secondary-domain group is UNKNOWN, and no MFA-004 FAIL is added."""
    results = _scan(tmp_path, directory=False)
    phi_prod = next(r for r in results if r["rule_id"] == "MFA-004" and r["asset"] == PHI_PROD)
    assert phi_prod["outcome"] == "UNKNOWN"
    assert "no directory users" in phi_prod["message"]
    planted = {(e["rule"], e["asset"])
               for e in yaml.safe_load((DEMO / "expected-findings.yaml").read_text())}
    domain_fails = {(r["rule_id"], r["asset"]) for r in results
                    if r["rule_id"] == "MFA-004" and r["outcome"] == "FAIL"}
    assert domain_fails <= planted
    # the consumer account planted on oh-phi-analytics still fails: gmail.com never passes
    assert ("MFA-004", f"{CRM}projects/731209564122") in domain_fails
