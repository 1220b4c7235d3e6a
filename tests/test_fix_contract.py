"""The fix module held to Google's definitions: every call and body field exists in the shipped
discovery documents; the firewall guard is what Compute really offers (no fingerprint: a re-read
digest, said honestly); service accounts named by CAI's unique id; SQL Server's requireSsl pair;
bucket IAM policies with conditions read and written as version 3."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from _fix import cli, findings_file, journal_lines
from emulator import Emulator
from phiguard.fix.api import SERVICES
from phiguard.google import validate_body

SA = "etl@p1.iam.gserviceaccount.com"
SA_ID = "112233445566778899001"
SA_BY_ID = f"//iam.googleapis.com/projects/p1/serviceAccounts/{SA_ID}"
FIREWALL = "//compute.googleapis.com/projects/p1/global/firewalls/open-ssh"
MSSQL = "//sqladmin.googleapis.com/projects/p1/instances/mssql"
BUCKET = "//storage.googleapis.com/phi-bkt"
VM = "//compute.googleapis.com/projects/p1/zones/us-east4-a/instances/vm1"
COMPUTE = "https://www.googleapis.com/compute/v1/projects/p1/global/sslPolicies/"
EVERY_ACTION = (
    ("TLS-003", "//compute.googleapis.com/projects/p1/global/sslPolicies/weak"),
    ("NET-001", FIREWALL), ("TLS-006", MSSQL), ("BAK-001", MSSQL), ("BAK-007", MSSQL),
    ("DR-001", MSSQL), ("BAK-005", BUCKET), ("PUB-005", BUCKET), ("PUB-004", BUCKET),
    ("IAM-001", SA_BY_ID),
    ("TLS-001", "//compute.googleapis.com/projects/p1/global/targetHttpsProxies/bare"),
    ("IAM-002", f"//iam.googleapis.com/projects/p1/serviceAccounts/{SA}/keys/k1"),
    ("LOG-001", "//cloudresourcemanager.googleapis.com/projects/p1"),
    ("SRV-001", "//run.googleapis.com/projects/p1/locations/us-east4/services/web"),
    ("VM-005", VM), ("VM-002", VM),
    ("PUB-008", "//pubsub.googleapis.com/projects/p1/topics/labs"),
    ("PUB-009", "//secretmanager.googleapis.com/projects/111/secrets/db-password"),
    ("PUB-007", "//bigquery.googleapis.com/projects/p1/datasets/claims"),
)
CONDITION = {"title": "office hours", "expression": "request.time.getHours('UTC') < 18"}


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        c = server.cloud
        c.add_ssl_policy("p1", "weak", minTlsVersion="TLS_1_0", profile="COMPATIBLE")
        c.add_ssl_policy("p1", "good", minTlsVersion="TLS_1_2", profile="RESTRICTED")
        c.add_firewall("p1", "open-ssh", sourceRanges=["0.0.0.0/0"],
                       allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])
        c.add_sql("p1", "mssql", {"ipConfiguration": {"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
                                                      "requireSsl": False},
                                  "backupConfiguration": {"enabled": False},
                                  "availabilityType": "ZONAL"},
                  databaseVersion="SQLSERVER_2019_STANDARD")
        c.add_bucket("phi-bkt", iamConfiguration={"uniformBucketLevelAccess": {"enabled": False}})
        c.set_bucket_iam("phi-bkt", [
            {"role": "roles/storage.objectViewer", "members": ["allUsers", "group:eng@x.org"]},
            {"role": "roles/storage.objectAdmin", "members": ["group:ops@x.org"],
             "condition": CONDITION}])
        c.bucket_iam["phi-bkt"]["version"] = 3
        c.add_service_account("p1", SA, SA_ID)
        c.set_project_iam("p1", [
            {"role": "roles/editor", "members": [f"serviceAccount:{SA}", "user:al@x.org"]},
            {"role": "roles/viewer", "members": ["user:bob@x.org"]}])
        c.add_https_proxy("p1", "bare")
        c.add_sa_key("p1", SA, "k1")
        server.run.add_service("p1", "111111111111", "us-east4", "web", ingress="all")
        c.add_instance("p1", "us-east4-a", "vm1", [{"key": "serial-port-enable", "value": "1"}])
        h = server.holders
        h.set_topic_iam("p1", "labs", [{"role": "roles/pubsub.publisher", "members": ["allUsers"]}])
        h.set_secret_iam("111", "db-password", [
            {"role": "roles/secretmanager.secretAccessor", "members": ["allAuthenticatedUsers"]}])
        h.add_dataset("p1", "claims", [{"role": "OWNER", "specialGroup": "projectOwners"},
                                       {"role": "READER", "iamMember": "allUsers"}])
        yield server


def plan_for(emu: Emulator, tmp_path: Path, *failing: tuple[str, str]) -> tuple[Path, list[Any]]:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings_file(tmp_path, *failing)), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())["actions"]


def _discovery(service: str) -> dict[str, Any]:
    version = SERVICES[service][0]
    docs = resources.files("googleapiclient").joinpath("discovery_cache/documents")
    doc: dict[str, Any] = json.loads(docs.joinpath(f"{service}.{version}.json").read_text())
    return doc


def _method(call: str) -> tuple[dict[str, Any], dict[str, Any]]:
    service, *path, verb = call.split(".")
    doc = node = _discovery(service)
    for resource in path:
        node = node["resources"][resource]
    return doc, node["methods"][verb]


def contract_problems(call: str, params: dict[str, Any], body: Any) -> list[str]:
    """What Google's discovery document (google-api-python-client's) says is wrong with a call:
    an unknown method, a parameter the method does not take, a body field the schema lacks."""
    try:
        doc, method = _method(call)
    except KeyError:
        return [f"{call}: no such method"]
    known = set(method.get("parameters", {})) | set(doc.get("parameters", {}))
    # googleapiclient takes a dotted parameter (options.requestedPolicyVersion) by the keyword
    # with its dots made underscores, and sends it under its own name
    known |= {re.sub(r"[^A-Za-z0-9_]", "_", p) for p in known}
    problems = [f"{call}: unknown parameter {p}" for p in sorted(set(params) - known)]
    problems += [f"{call}: missing required {p}" for p, spec in method.get("parameters", {})
                 .items() if spec.get("required") and p not in params]
    ref = method.get("request", {}).get("$ref")
    if body is not None and ref is None:
        problems.append(f"{call}: takes no body")
    elif ref is not None:
        problems += [f"{call}: {p}" for p in validate_body(
            doc["name"], doc["version"], ref, body)]
    return problems


def test_every_fix_request_is_in_the_discovery_documents(emu: Emulator, tmp_path: Path) -> None:
    """Every read and write a plan holds, for every registered action, names a method of the
    shipped discovery document with only its parameters and a body its request schema allows;
    the checker itself rejects the invented firewall fingerprint."""
    from phiguard.fix.actions import ACTIONS

    _, entries = plan_for(emu, tmp_path, *EVERY_ACTION)
    changes = [e for e in entries if e["status"] == "change"]
    assert {e["action"] for e in changes} == {a.id for a in ACTIONS}
    for e in changes:
        assert contract_problems(e["read"]["method"], e["read"]["params"],
                                 e["read"]["body"]) == []
        request = e["request"]
        assert contract_problems(request["method"], request["params"], request["body"]) == []
    # the calls apply makes besides the planned ones
    assert contract_problems("compute.globalOperations.wait",
                             {"project": "p1", "operation": "op"}, None) == []
    assert contract_problems("sqladmin.operations.get", {"project": "p1", "operation": "op"},
                             None) == []
    assert contract_problems("compute.zoneOperations.wait",
                             {"project": "p1", "zone": "us-east4-a", "operation": "op"},
                             None) == []
    assert contract_problems("iam.projects.serviceAccounts.get",
                             {"name": f"projects/p1/serviceAccounts/{SA_ID}"}, None) == []
    invented = contract_problems("compute.firewalls.patch", {"project": "p", "firewall": "f"},
                                 {"disabled": True, "fingerprint": "x"})
    assert invented and "fingerprint" in invented[0]


def test_firewall_guard_is_an_honest_re_read(emu: Emulator, tmp_path: Path) -> None:
    """Compute firewalls have no fingerprint: the plan's guard is a digest of the firewall as
    read, checked by phiguard on a re-read (the plan, show and journal say so, and that a change
    between that re-read and the write is not detected); a firewall changed since the plan is
    skipped, not written."""
    path, entries = plan_for(emu, tmp_path, ("NET-001", FIREWALL))
    [e] = entries
    assert e["precondition"]["value"].startswith("sha256:")
    assert "no fingerprint" in e["precondition"]["field"]
    assert "not detected" in e["precondition"]["field"]
    assert e["precondition"]["checked_by"] == "phiguard only, on a re-read just before the write"
    assert "fingerprint" not in e["request"]["body"]
    emu.cloud.touch_firewall("p1", "open-ssh", sourceRanges=["35.235.240.0/20"])
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(path), "--journal", str(journal), "--yes")
    assert result.exit_code == 1 and "skipped-changed" in result.output
    assert emu.cloud.writes == []
    [line] = journal_lines(journal)
    assert "not detected" in line["guard"]


def test_service_account_named_by_unique_id(emu: Emulator, tmp_path: Path) -> None:
    """CAI names the account by its unique id: the plan resolves its email through IAM and
    removes the account's basic role (and only the account's)."""
    path, [e] = plan_for(emu, tmp_path, ("IAM-001", SA_BY_ID))
    assert e["status"] == "change" and e["target"]["email"] == SA
    assert e["after"]["bindings"][0] == {"role": "roles/editor", "members": ["user:al@x.org"]}
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 0, result.output
    members = [m for b in emu.cloud.project_iam["p1"]["bindings"] for m in b["members"]]
    assert f"serviceAccount:{SA}" not in members and "user:al@x.org" in members
    [line] = journal_lines(tmp_path / "j")
    assert (line["result"], line["rule_outcome"]) == ("applied", "PASS")


def test_basic_role_fix_matching_nothing_is_explicit(emu: Emulator, tmp_path: Path) -> None:
    """An account with no basic role on its project's own policy (IAM-001 failed for a grant
    elsewhere) is not called compliant: the plan says manual, and why."""
    emu.cloud.set_project_iam("p1", [{"role": "roles/viewer", "members": ["user:bob@x.org"]}])
    _, [e] = plan_for(emu, tmp_path, ("IAM-001", SA_BY_ID))
    assert e["status"] == "manual"
    assert f"serviceAccount:{SA} holds no basic role" in e["reason"]


def test_sql_server_gets_require_ssl_with_encrypted_only(emu: Emulator, tmp_path: Path) -> None:
    """On SQL Server, ENCRYPTED_ONLY is only valid with requireSsl true (sqladmin v1): the plan
    sends both, and the instance (which refuses ENCRYPTED_ONLY alone) accepts it."""
    path, [e] = plan_for(emu, tmp_path, ("TLS-006", MSSQL))
    assert e["after"] == {"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED_ONLY",
                                                           "requireSsl": True}}}
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 0, result.output
    ip = emu.cloud.sql[("p1", "mssql")]["settings"]["ipConfiguration"]
    assert (ip["sslMode"], ip["requireSsl"]) == ("ENCRYPTED_ONLY", True)


def test_conditional_bucket_policy_is_read_and_written_as_version_3(emu: Emulator,
                                                                    tmp_path: Path) -> None:
    """A bucket policy with a conditional binding is read with optionsRequestedPolicyVersion=3
    (the API refuses the request without it) and written back as version 3, condition kept."""
    path, [e] = plan_for(emu, tmp_path, ("PUB-004", BUCKET))
    assert e["read"]["params"]["optionsRequestedPolicyVersion"] == 3
    assert e["after"]["version"] == 3
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 0, result.output
    policy = emu.cloud.bucket_iam["phi-bkt"]
    assert [b.get("condition") for b in policy["bindings"]] == [None, CONDITION]
    assert "allUsers" not in json.dumps(policy)


def test_emulator_refuses_the_old_requests_as_google_does(emu: Emulator) -> None:
    """The requests the fix module used to send are refused: a conditional bucket policy read
    without version 3 or written as version 1, ENCRYPTED_ONLY alone on SQL Server, and a
    firewall body naming a fingerprint."""
    from phiguard.collect.clients import Clients
    from phiguard.fix.api import ApiError, FixApi

    with FixApi(Clients(emu.base)) as api:
        def status(call: str, params: dict[str, Any], body: Any = None) -> int:
            try:
                api.call(call, params, body)
            except ApiError as exc:
                return exc.status
            return 200

        assert status("storage.buckets.getIamPolicy", {"bucket": "phi-bkt"}) == 400
        policy = api.call("storage.buckets.getIamPolicy",
                          {"bucket": "phi-bkt", "optionsRequestedPolicyVersion": 3})
        assert status("storage.buckets.setIamPolicy", {"bucket": "phi-bkt"},
                      {**policy, "version": 1}) == 400
        settings = {"settingsVersion": "1", "ipConfiguration": {"sslMode": "ENCRYPTED_ONLY"}}
        assert status("sqladmin.instances.patch", {"project": "p1", "instance": "mssql"},
                      {"settings": settings}) == 400
        assert status("compute.firewalls.patch", {"project": "p1", "firewall": "open-ssh"},
                      {"disabled": True, "fingerprint": "x"}) == 400
    assert emu.cloud.bucket_iam["phi-bkt"]["bindings"][0]["members"][0] == "allUsers"
    assert emu.cloud.firewalls[("p1", "open-ssh")]["disabled"] is False
