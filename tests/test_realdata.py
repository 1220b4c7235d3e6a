"""Real CAI data written by Google's tools (see tests/realdata/README.md) as scan input.

Every file that parses as JSON (a document, or NDJSON line by line) scans with exit 0 or 1 and
no traceback, and every UNKNOWN verdict is honest: the path or content it says is missing is
really missing from the record or the snapshot. A rule that reads a field the real data has,
but comes out UNKNOWN, fails here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.policy.paths import parse_path

REALDATA = Path(__file__).parent / "realdata"
FILES = sorted(REALDATA.glob("*/*.json"))
# Deliberately refused, with the reason in tests/realdata/README.md.
REFUSED: dict[str, str] = {}


def _rel(path: Path) -> str:
    return path.relative_to(REALDATA).as_posix()


def _values(path: Path) -> list[Any] | None:
    """The records of a file that parses as JSON (a document or NDJSON), else None."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    return doc if isinstance(doc, list) else [doc]


def _all_objects(path: Path) -> list[dict[str, Any]]:
    """Every top-level record, also of files of pretty-printed objects one after another."""
    values = _values(path)
    if values is not None:
        return values
    decoder, text, pos, out = json.JSONDecoder(), path.read_text(encoding="utf-8"), 0, []
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        value, pos = decoder.raw_decode(text, pos)
        out.append(value)
    return out


@dataclass
class Scanned:
    exit_code: int
    output: str
    findings: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def scanned() -> dict[str, Scanned]:
    runner = CliRunner()
    out: dict[str, Scanned] = {}
    for path in FILES:
        # No --at: most of these files carry no read time, as a user would scan them.
        result = runner.invoke(main, ["scan", str(path), "-f", "json"])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            _rel(path), result.exception)
        findings = (json.loads(result.stdout)["results"] if result.exit_code in (0, 1)
                    else [])
        out[_rel(path)] = Scanned(result.exit_code, result.output, findings)
    return out


def test_there_is_real_data_from_each_source() -> None:
    assert {p.parent.name for p in FILES} == {"policy-library", "professional-services",
                                              "terraform-google-conversion"}
    assert len(FILES) >= 40


def test_every_real_file_has_its_origin_in_the_readme() -> None:
    """Each file kept here is listed, with where it came from, in the README beside it."""
    readme = (REALDATA / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        assert f"`{_rel(path)}`" in readme, _rel(path)
    assert (REALDATA / "LICENSE-Apache-2.0.txt").is_file()


@pytest.mark.parametrize("name", [_rel(p) for p in FILES])
def test_real_file_scans_without_error(scanned: dict[str, Scanned], name: str) -> None:
    """A real file that parses as JSON scans to exit 0 or 1 with no traceback; the one kept
    to show a deliberate refusal is exit 2 with its reason."""
    result = scanned[name]
    assert "Traceback" not in result.output
    if name in REFUSED:
        assert result.exit_code == 2
        assert REFUSED[name] in result.output
        return
    if _values(REALDATA / name) is None and not _all_objects(REALDATA / name):
        pytest.fail(f"{name} parses neither as JSON nor as JSON objects one after another")
    assert result.exit_code in (0, 1), result.output
    assert result.findings, name


def test_an_expired_key_is_not_an_active_key(scanned: dict[str, Scanned]) -> None:
    """policy-library's `testkeyexpired` (validBeforeTime in 2017) is not active: IAM-002
    passes it and so does IAM-003, which judges the rotation age of active keys; an old key
    that has not expired still fails IAM-003."""
    outcomes = {(f["asset"].rsplit("/", 1)[-1], f["rule_id"]): f["outcome"]
                for f in scanned["policy-library/gcp_iam_restrict_service_account_key_age.json"]
                .findings}
    assert outcomes[("testkeyexpired", "IAM-002")] == "PASS"
    assert outcomes[("testkeyexpired", "IAM-003")] == "PASS"
    assert outcomes[("testkeyageover90days", "IAM-003")] == "FAIL"



def test_the_older_enable_flow_logs_field_turns_flow_logs_on(scanned: dict[str, Scanned]) -> None:
    """policy-library's subnet `correct` has `enableFlowLogs: true` and no `logConfig` (the
    field compute v1 still defines beside its successor `logConfig.enable`): its flow logs are
    on with the API's defaults, so LOG-015 fails it for the default metadata
    (EXCLUDE_ALL_METADATA), not for flow logs being off (its sampling, 0.5 "unless otherwise
    specified by the org policy", is not known: the file holds no org policies)."""
    found = {f["asset"].rsplit("/", 1)[-1]: f for f in
             scanned["policy-library/network_enable_flow_logs.json"].findings
             if f["rule_id"] == "LOG-015"}
    assert found["correct"]["outcome"] == "FAIL"
    assert "off" not in found["correct"]["message"], found["correct"]["message"]
    assert "metadata" in found["correct"]["message"]
    assert "off" in found["bad"]["message"]  # enableFlowLogs false, no logConfig

# honest UNKNOWNs --------------------------------------------------------------------------

_ABSENT = re.compile(r"(?P<path>\S+) is absent")
_UNKNOWN = re.compile(r"(?P<path>\S+) is unknown: (?P<why>.*)")
_NOT_IN = re.compile(r"(?P<path>\S+): (?P<ref>\S+) is not in the snapshot")
# a value of another shape or JSON type than Google's (a Terraform block's list, "true")
_SHAPE = re.compile(r"(?P<path>data\S*) is (?P<kind>an object|a list|a string|a number|"
                    r"a boolean) where Google defines (?P<want>.+)")
_KIND = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
         float: "a number"}
# coverage per asset type: a find or referrers over types the file holds no resource of
_TYPES_ABSENT = re.compile(r"the snapshot has no (?P<types>\S+(?: or \S+)*) assets and does "
                           r"not say they were collected")


class Snapshot:
    """The records of one real file, for checking what a reason says is missing."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.resources = {r["name"]: (r.get("resource") or {}).get("data") or {}
                          for r in records if r.get("resource") is not None}

    def has(self, key: str) -> bool:
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        return any(key in r or camel in r for r in self.records)

    def mentions(self, ref: str) -> bool:
        tail = ref.split("/compute/v1/")[-1].split("//")[-1]
        return any(tail in json.dumps(r) and r.get("resource") is not None
                   and (r["name"].endswith(tail)
                        or (r["resource"].get("data") or {}).get("selfLink", "").endswith(tail))
                   for r in self.records)


def _value(data: Any, path: str) -> Any:
    """The value at a concrete `data...` path of the record's data (None if it has none)."""
    value = data
    for segment in parse_path(path).segments:
        if isinstance(segment, str) and isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(segment, int) and isinstance(value, list) and segment < len(value):
            value = value[segment]
        else:
            return None
    return value


def _present(data: Any, path: str) -> bool:
    """Whether a concrete `data...` path has a non-null value in the record's data."""
    parsed = parse_path(path)
    value = data
    for segment in parsed.segments:
        if isinstance(segment, str) and isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(segment, int) and isinstance(value, list) and segment < len(value):
            value = value[segment]
        else:
            return False
        if value is None:
            return False
    return True


def _check_reason(reason: str, finding: dict[str, Any], snap: Snapshot) -> None:
    asset = finding["asset"]
    where = f"{finding['rule_id']} on {asset}: {reason!r}"
    if reason.startswith("the snapshot has no directory users") or (
            reason.startswith("the value compared with ")
            and "is not known: the snapshot has no directory users" in reason):
        assert not snap.has("primaryEmail"), where  # MFA-004's secondary domains, say
        return
    if m := _TYPES_ABSENT.search(reason):
        for asset_type in m["types"].split(" or "):
            assert not any(r.get("asset_type") == asset_type and r.get("resource") is not None
                           for r in snap.records), where
        return
    if m := _ABSENT.fullmatch(reason):
        path = m["path"]
        if path.startswith("data.") or path.startswith("data["):
            assert asset in snap.resources, where
            assert not _present(snap.resources[asset], path), (
                f"UNKNOWN for a field the real data has: {where}")
            return
        if path == "services[0]" and finding["rule_id"] == "LOG-013":
            # the project's enabled services: none of its Service records is in the snapshot
            number = asset.rsplit("/", 1)[-1]
            assert not any(name.startswith(f"//serviceusage.googleapis.com/projects/{number}/")
                           for name in snap.resources), where
            return
        if path == "project":
            project = re.search(r"/projects/([^/]+)/", asset)
            assert project is not None, where
            assert not any(data.get("projectId") == project[1]
                           for data in snap.resources.values()), where
            return
    elif m := _UNKNOWN.fullmatch(reason):
        why = m["why"]
        if why.startswith("the snapshot has no IAM policies"):
            assert not snap.has("iam_policy"), where
            return
        if why.startswith("the snapshot has no org policies"):
            assert not snap.has("org_policy"), where
            return
        if why.startswith("the snapshot holds this asset's policies but not its resource"):
            assert asset not in snap.resources, where
            return
    elif m := _NOT_IN.fullmatch(reason):
        assert not snap.mentions(m["ref"]), where
        return
    elif m := _SHAPE.fullmatch(reason):
        # the real record has a value of that JSON kind there, not the one Google defines
        assert asset in snap.resources, where
        value = _value(snap.resources[asset], m["path"])
        assert _KIND.get(type(value)) == m["kind"], (where, value)
        assert not m["want"].startswith(m["kind"]), where
        return
    pytest.fail(f"an UNKNOWN reason this test cannot check yet (teach it): {where}")


@pytest.mark.parametrize("name", [_rel(p) for p in FILES if _rel(p) not in REFUSED])
def test_unknown_verdicts_name_what_the_real_data_lacks(scanned: dict[str, Scanned],
                                                        name: str) -> None:
    """Every UNKNOWN names a path or a content type, and the real record really lacks it."""
    snap = Snapshot(_all_objects(REALDATA / name))
    for finding in scanned[name].findings:
        if finding["outcome"] != "UNKNOWN":
            continue
        message = finding["message"]
        assert message.startswith("Cannot evaluate: "), message
        # an unknown `when` names its reasons, then what would fail if the rule applies
        reasons = re.sub(r" \(if it applies: .*\)$", "", message.removeprefix("Cannot evaluate: "))
        for reason in reasons.split("; "):
            _check_reason(reason, finding, snap)


def test_the_unknown_check_catches_a_present_field() -> None:
    """The check above is not vacuous: a reason naming a field the record has fails it."""
    snap = Snapshot([{"name": "//x/a", "asset_type": "t",
                      "resource": {"data": {"settings": {"ipConfiguration": {"ssl": 1}}}}}])
    finding = {"asset": "//x/a", "rule_id": "R"}
    with pytest.raises(AssertionError, match="UNKNOWN for a field the real data has"):
        _check_reason("data.settings.ipConfiguration.ssl is absent", finding, snap)
    _check_reason("data.settings.ipConfiguration.requireSsl is absent", finding, snap)


# verdicts checked by hand --------------------------------------------------------------------
#
# Each entry: a real file, an asset in it, and the outcome of each named rule on that asset as
# checked by hand against the rule's intent and Google's definition of the fields it reads
# ("-" = no result: the rule's `when` or its asset types leave the asset out). A change that
# flips one fails here; if the new verdict is the right one, say why in the commit.

PINNED: dict[str, dict[str, str]] = {
    # dns v1alpha2 as CAI wrote it in 2019: enums in upper case ("PUBLIC", "ON", "KEY_SIGNING",
    # "RSASHA1"), where dns v1 and today's converter write "public", "on", "keySigning".
    "policy-library/dnssec.json": {
        "//dns.googleapis.com/projects/186783260185/managedZones/correct": "DNS-001=PASS",
        "//dns.googleapis.com/projects/186783260185/managedZones/wrong-off": "DNS-001=FAIL",
        "//dns.googleapis.com/projects/186783260185/managedZones/wrong-transfer":
            "DNS-001=FAIL DNS-002=PASS DNS-003=PASS",
    },
    "policy-library/dnssec_prevent_rsasha1.json": {
        "//dns.googleapis.com/projects/186783260185/managedZones/bad-zone-signing":
            "DNS-001=PASS DNS-002=PASS DNS-003=FAIL",
        "//dns.googleapis.com/projects/186783260185/managedZones/correct":
            "DNS-001=PASS DNS-002=PASS DNS-003=PASS",
        # DNSSEC off: the key specs are not in use, so the key rules do not judge them
        "//dns.googleapis.com/projects/186783260185/managedZones/bad-key-signing":
            "DNS-001=FAIL DNS-002=- DNS-003=-",
    },
    "policy-library/bigquery_cmek.json": {
        "//bigquery.googleapis.com/projects/anand-spanner/datasets/anand_bq_test_3":
            "ENC-004=FAIL",
        ("//bigquery.googleapis.com/projects/anand-spanner/datasets/anand_bq_test_3/"
         "tables/test_cmek"):
            "ENC-007=PASS",
        ("//bigquery.googleapis.com/projects/anand-spanner/datasets/anand_bq_test_3/"
         "tables/test_google_encryption_key"):
            "ENC-007=FAIL",
        ("//cloudkms.googleapis.com/projects/anand-spanner/locations/global/keyRings/test/"
         "cryptoKeys/test-1"):
            "ENC-006=PASS",
        "//spanner.googleapis.com/projects/anand-spanner/instances/demo/databases/test":
            "ENC-013=FAIL",
    },
    "policy-library/bigquery_dataset_world_readable.json": {
        ("//bigquery.googleapis.com/projects/test-project/datasets/"
         "world-readable-allAuthenticatedUsers"):
            "PUB-006=FAIL",
        "//bigquery.googleapis.com/projects/test-project/datasets/world-readable-allUsers":
            "PUB-006=FAIL",
        "//bigquery.googleapis.com/projects/test-project/datasets/world-readable-both":
            "PUB-006=FAIL",
        "//bigquery.googleapis.com/projects/test-project/datasets/not-world-readable":
            "PUB-006=PASS",
    },
    "policy-library/cmek_rotation.json": {
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-30-days"):
            "ENC-006=PASS",
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-never"):
            "ENC-006=FAIL",
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-365-days"):
            "ENC-006=FAIL",
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-90-days"):
            "ENC-006=PASS",
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-400-days"):
            "ENC-006=FAIL",
        ("//cloudkms.googleapis.com/projects/test-project/locations/us-central1/keyRings/"
         "test-key-ring/cryptoKeys/rotation-100-days"):
            "ENC-006=FAIL",
    },
    "policy-library/compute_disk_resource_policies-disks.json": {
        ("//compute.googleapis.com/projects/my-test-project/zones/europe-north1-c/disks/"
         "no-resource-policies"):
            "BAK-003=FAIL ENC-003=FAIL",
        ("//compute.googleapis.com/projects/my-test-project/regions/europe-north1/disks/"
         "has-correct-resource-policies"):
            "BAK-003=UNKNOWN ENC-003=FAIL",
        ("//compute.googleapis.com/projects/my-test-project/zones/europe-north1-c/disks/"
         "incorrect-resource-policies"):
            "BAK-003=UNKNOWN ENC-003=FAIL",
    },
    "policy-library/compute_enable_oslogin-compute-instance_violation.json": {
        ("//compute.googleapis.com/projects/my-test-project/zones/us-central1-f/instances/"
         "test-jumphost"):
            ("BAK-008=FAIL IAM-005=FAIL MFA-006=UNKNOWN NET-005=UNKNOWN VM-001=FAIL "
             "VM-002=PASS VM-003=PASS VM-004=FAIL VM-005=PASS"),
        ("//compute.googleapis.com/projects/my-test-project/zones/us-central1-f/instances/"
         "test-jumphost-violation"):
            ("BAK-008=FAIL IAM-005=FAIL MFA-006=UNKNOWN NET-005=UNKNOWN VM-001=FAIL "
             "VM-002=PASS VM-003=PASS VM-004=FAIL VM-005=PASS"),
    },
    "policy-library/gcp_iam_restrict_service_account_key_type.json": {
        ("//iam.googleapis.com/projects/forseti-system-test/serviceAccounts/"
         "111111-compute@developer.gserviceaccount.com/keys/1234567890abcdef"):
            "IAM-002=PASS IAM-003=PASS",
    },
    "policy-library/gke_enable_binauthz.json": {
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust"):
            "GKE-003=FAIL GKE-007=FAIL LOG-007=PASS",
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust2"):
            "GKE-003=FAIL GKE-007=PASS LOG-007=PASS",
    },
    "policy-library/gke_enable_private_endpoint.json": {
        ("//container.googleapis.com/projects/gkeexposure/zones/us-central1-c/clusters/"
         "private-endpoint-public"):
            "GKE-001=PASS GKE-002=FAIL",
        "//container.googleapis.com/projects/gkeexposure/zones/us-central1-c/clusters/public":
            "GKE-001=FAIL GKE-002=FAIL",
        ("//container.googleapis.com/projects/gkeexposure/zones/us-central1-c/clusters/"
         "private-endpoint-private"):
            "GKE-001=PASS GKE-002=PASS",
    },
    "policy-library/gke_enable_shielded_nodes.json": {
        ("//container.googleapis.com/projects/transfer-repo/zones/us-central1-c/clusters/"
         "shielded-nodes-enabled"):
            "GKE-005=PASS IAM-006=FAIL",
        ("//container.googleapis.com/projects/transfer-repo/zones/us-central1-c/clusters/"
         "shielded-nodes-disabled"):
            "GKE-005=FAIL IAM-006=FAIL",
        ("//container.googleapis.com/projects/transfer-repo/zones/us-central1-c/clusters/"
         "shielded-nodes-enabled-noboot"):
            "GKE-005=FAIL IAM-006=FAIL",
    },
    "policy-library/gke_enable_workload_identity.json": {
        ("//container.googleapis.com/projects/testproject/zones/us-central1-c/clusters/"
         "workloadidentity-enabled"):
            "GKE-006=PASS IAM-006=FAIL",
        ("//container.googleapis.com/projects/testproject/zones/us-central1-c/clusters/"
         "workloadidentity-disabled"):
            "GKE-006=FAIL IAM-006=FAIL",
        ("//container.googleapis.com/projects/testproject/zones/us-central1-c/clusters/"
         "workloadidentity-enabled-beta"):
            "GKE-006=FAIL IAM-006=FAIL",
    },
    "policy-library/gke_legacy_abac.json": {
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust"):
            "GKE-003=FAIL GKE-004=FAIL ENC-005=FAIL DR-004=FAIL GKE-009=FAIL",
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust2"):
            "GKE-003=PASS GKE-004=FAIL ENC-005=FAIL DR-004=FAIL GKE-009=FAIL",
    },
    "policy-library/gke_private_cluster.json": {
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust"):
            "GKE-001=FAIL GKE-002=FAIL GKE-003=FAIL",
        ("//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/"
         "joe-clust2"):
            "GKE-001=PASS GKE-002=PASS GKE-003=PASS",
    },
    "policy-library/network_enable_firewall_logs.json": {
        # a DENY rule: the allow-rule rules leave it out
        "//compute.googleapis.com/projects/test-shared-network/global/firewalls/bad":
            "NET-001=PASS NET-002=PASS NET-004=- NET-007=-",
        "//compute.googleapis.com/projects/test-data-1/global/firewalls/good":
            "NET-001=PASS NET-002=PASS NET-007=PASS",
    },
    "policy-library/network_enable_flow_logs.json": {
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/bad":
            "LOG-015=FAIL",
        # enableFlowLogs true, no logConfig: on, but sampling half the flows (the default)
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/correct":
            "LOG-015=FAIL",
        # proxy-only subnets cannot have flow logs
        ("//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/"
         "regional_managed_proxy"): "LOG-015=-",
        ("//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/"
         "internal_https_load_balancer"): "LOG-015=-",
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/both_false":
            "LOG-015=FAIL",
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/both_correct":
            "LOG-015=FAIL",
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/only_log_config":
            "LOG-015=FAIL",
    },
    "policy-library/network_enable_private_google_access.json": {
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/bad":
            "LOG-015=FAIL",
        "//compute.googleapis.com/projects/pso-cicd8/regions/us-west1/subnetworks/correct":
            "LOG-015=FAIL",
    },
    "policy-library/network_restrict_default.json": {
        "//compute.googleapis.com/projects/fake-project/global/networks/default":
            "NET-003=PASS NET-006=FAIL",
        "//compute.googleapis.com/projects/fake-project/global/networks/test-network":
            "NET-003=PASS NET-006=PASS",
    },
    "policy-library/restricted_firewall_rules-protocol_and_port.json": {
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-0"):
            "NET-001=PASS NET-002=FAIL NET-007=FAIL",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-1"):
            "NET-001=PASS NET-002=PASS",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-2"):
            "NET-001=PASS NET-002=PASS",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-3"):
            "NET-001=PASS NET-002=PASS",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-4"):
            "NET-001=PASS NET-002=PASS",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-5"):
            "NET-001=FAIL NET-002=FAIL NET-007=FAIL",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-6"):
            "NET-001=FAIL NET-002=FAIL NET-007=FAIL",
        ("//compute.googleapis.com/projects/cf-gcp-challenge-dev/global/firewalls/"
         "cf-test-fw-rule-7"):
            "NET-001=PASS NET-002=PASS",
    },
    "policy-library/serviceusage_service.json": {
        "//serviceusage.googleapis.com/projects/123/services/compute.googleapis.com":
            "GOV-001=PASS",
        "//serviceusage.googleapis.com/projects/123/services/cloudvision.googleapis.com":
            "GOV-001=PASS",
    },
    "policy-library/sql_backup.json": {
        "//cloudsql.googleapis.com/projects/brunore-db-test/instances/mysqlv1-nomaintenance":
            "BAK-001=PASS BAK-002=FAIL PUB-002=PASS TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-db-test/instances/mysqlv2-nomaintenance":
            "BAK-001=FAIL BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-db-test/instances/mysqlv2-withmaintenance":
            "BAK-001=PASS BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-db-test/instances/postgres-nomaintenance":
            "BAK-001=FAIL BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-db-test/instances/postgres-withmaintenance":
            "BAK-001=PASS BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-cai-test/instances/brunore-mon-3pm":
            "BAK-001=FAIL BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/brunore-cai-test/instances/brunore-sun-3am":
            "BAK-001=FAIL BAK-002=FAIL PUB-002=FAIL TLS-006=FAIL",
    },
    "policy-library/sql_instance_type.json": {
        "//cloudsql.googleapis.com/projects/cf-gcp-forseti-project/instances/test-sql-server":
            ("BAK-001=FAIL BAK-002=FAIL ENC-002=FAIL PUB-002=FAIL SQL-008=PASS SQL-009=PASS "
             "SQL-010=PASS SQL-011=PASS SQL-012=FAIL SQL-013=FAIL SQL-014=PASS TLS-006=FAIL"),
        ("//cloudsql.googleapis.com/projects/cf-gcp-forseti-project/instances/"
         "forseti-server-db-7c2ae462"):
            ("BAK-001=PASS BAK-002=UNKNOWN ENC-002=FAIL PUB-002=FAIL SQL-001=FAIL SQL-002=FAIL "
             "SQL-015=FAIL TLS-006=PASS"),
        ("//cloudsql.googleapis.com/projects/cf-gcp-forseti-project/instances/"
         "test-postgres-instance"):
            ("BAK-001=PASS BAK-002=FAIL ENC-002=FAIL LOG-006=FAIL PUB-002=FAIL SQL-003=PASS "
             "SQL-004=FAIL SQL-005=PASS SQL-006=PASS SQL-007=PASS SQL-015=FAIL TLS-006=FAIL"),
    },
    "policy-library/sql_public_ip.json": {
        "//cloudsql.googleapis.com/projects/test-project/instances/public-private-sql2":
            "PUB-002=FAIL",
        "//cloudsql.googleapis.com/projects/test-project/instances/private-sql": "PUB-002=PASS",
        "//cloudsql.googleapis.com/projects/test-project/instances/public-private-sql":
            "PUB-002=FAIL",
        "//cloudsql.googleapis.com/projects/test-project/instances/public-sql": "PUB-002=FAIL",
    },
    "policy-library/sql_ssl.json": {
        "//cloudsql.googleapis.com/projects/test-project/instances/sql-instance-with-ssl":
            "PUB-002=FAIL TLS-006=PASS",
        "//cloudsql.googleapis.com/projects/test-project/instances/sql-instance-without-ssl":
            "PUB-002=FAIL TLS-006=FAIL",
        "//cloudsql.googleapis.com/projects/test-project/instances/sql-instance-without-ipconfig":
            "PUB-002=FAIL TLS-006=FAIL",
    },
    "policy-library/storage_bucket_policy_only.json": {
        "//storage.googleapis.com/my-storage-bucket-with-bucketpolicyonly":
            "BAK-005=UNKNOWN DR-003=FAIL ENC-001=PASS PUB-005=UNKNOWN",
        "//storage.googleapis.com/my-storage-bucketwithuniformbucketlevelaccess":
            "BAK-005=UNKNOWN DR-003=FAIL ENC-001=PASS PUB-005=UNKNOWN",
        "//storage.googleapis.com/my-storage-bucket-with-null-bucketpolicyonly":
            "BAK-005=UNKNOWN DR-003=FAIL ENC-001=PASS PUB-005=FAIL",
        "//storage.googleapis.com/my-storage-bucket-with-no-bucketpolicyonly-data":
            "BAK-005=UNKNOWN DR-003=FAIL ENC-001=FAIL PUB-005=FAIL",
    },
    "policy-library/storage_bucket_world_readable.json": {
        "//storage.googleapis.com/my-test-bucket": "PUB-004=FAIL",
        "//storage.googleapis.com/my-second-test-bucket": "PUB-004=FAIL",
        "//storage.googleapis.com/my-third-test-bucket": "PUB-004=PASS",
    },
    "policy-library/storage_cmek_encryption.json": {
        "//storage.googleapis.com/my-storage-bucket": "ENC-001=PASS DR-003=FAIL",
        "//storage.googleapis.com/my-storage-bucket-with-logging": "ENC-001=PASS DR-003=FAIL",
        "//storage.googleapis.com/my-storage-bucket-with-secure-logging":
            "ENC-001=FAIL DR-003=FAIL",
    },
    "terraform-google-conversion/cai2hcl-compute_backend_service.json": {
        "//compute.googleapis.com/projects/myproj/global/backendServices/bs-1":
            "LOG-014=FAIL PLAT-001=PASS",
    },
    "terraform-google-conversion/cai2hcl-compute_region_backend_service.json": {
        "//compute.googleapis.com/projects/myproj/regions/us-central1/backendServices/bs-1":
            "PLAT-001=PASS",
        "//compute.googleapis.com/projects/myproj/regions/us-central1/backendServices/bs-2":
            "PLAT-001=PASS",
    },
    "terraform-google-conversion/cai2hcl-project_iam.json": {
        "//cloudresourcemanager.googleapis.com/projects/example-project":
            "IAM-007=FAIL IAM-009=PASS IAM-010=PASS JIT-001=FAIL SOD-001=PASS SOD-002=PASS",
    },
    # A regional cluster (location us-central1) whose nodes run in one zone (locations
    # [us-central1-c]): the control plane is replicated, but a zone outage takes down every
    # node, so the workloads handling ePHI stop.
    "policy-library/gke_cluster_location-joe-clust3.json": {
        "//container.googleapis.com/projects/transfer-repos/zones/us-central1-c/clusters/joe-clust3":
            "DR-004=FAIL",
    },
    # A regional cluster whose record lists no node zones passes DR-004 (GKE spreads the nodes
    # over the region). The converter writes releaseChannel and databaseEncryption as
    # Terraform's blocks, lists of one object, where container v1 defines objects: GKE-009 and
    # ENC-005 cannot read them and say so (UNKNOWN), not "no release channel" / "no CMEK".
    "terraform-google-conversion/tfplan2cai-example_container_cluster.json": {
        ("//container.googleapis.com/projects/{{.Provider.project}}/locations/us-central1/"
         "clusters/cluster-test"):
            "DR-004=PASS ENC-005=UNKNOWN GKE-003=PASS GKE-007=FAIL GKE-009=UNKNOWN",
    },
    # Fields the Terraform configuration leaves out, read as the APIs document them: Redis AUTH
    # off ("Default value is false") and transit encryption as the record states DISABLED; no
    # customer-managed key on the instance, key (no rotationPeriod), table or database; a topic
    # naming kmsKeyName; a bucket with versioning on, a default KMS key and location EU.
    "terraform-google-conversion/tfplan2cai-example_redis_instance.json": {
        ("//redis.googleapis.com/projects/{{.Provider.project}}/locations/us-central1/instances/"
         "ha-memory-cache"):
            "ENC-011=FAIL STO-001=FAIL TLS-007=FAIL",
    },
    "terraform-google-conversion/tfplan2cai-example_kms_crypto_key.json": {
        "//cloudkms.googleapis.com/key-ring-test/cryptoKeys/crypto-key-example": "ENC-006=FAIL",
    },
    "terraform-google-conversion/tfplan2cai-example_pubsub_topic.json": {
        "//pubsub.googleapis.com/projects/{{.Provider.project}}/topics/test": "ENC-009=PASS",
    },
    "terraform-google-conversion/tfplan2cai-example_bigquery_table.json": {
        "//bigquery.googleapis.com/projects/{{.Provider.project}}/datasets/dataset/tables/table":
            "ENC-007=FAIL",
    },
    "terraform-google-conversion/tfplan2cai-example_spanner_database.json": {
        ("//spanner.googleapis.com/projects/{{.Provider.project}}/instances/placeholder-BpLnfgDs/"
         "databases/my-database"):
            "ENC-013=FAIL",
    },
    "terraform-google-conversion/tfplan2cai-full_storage_bucket.json": {
        "//storage.googleapis.com/image-store-bucket":
            "BAK-005=PASS DR-003=PASS ENC-001=PASS PUB-005=UNKNOWN",
    },
    "terraform-google-conversion/tfplan2cai-example_compute_ssl_policy.json": {
        ("//compute.googleapis.com/projects/{{.Provider.project}}/global/sslPolicies/"
         "custom-ssl-policy"):
            "TLS-003=PASS",
    },
    "terraform-google-conversion/tfplan2cai-example_compute_subnetwork.json": {
        "//compute.googleapis.com/projects/{{.Provider.project}}/global/networks/test-network":
            "NET-003=PASS NET-006=PASS",
        ("//compute.googleapis.com/projects/{{.Provider.project}}/regions/us-central1/"
         "subnetworks/my-test-subnetwork"):
            "LOG-015=FAIL",
    },
    # Compute instances as CAI wrote them in 2018: `disk` and `serviceAccount` (singular), where
    # compute v1 says `disks` and `serviceAccounts`; vm-no-ip runs as the default compute account.
    "policy-library/vm_external_ip.json": {
        "//compute.googleapis.com/projects/test-project/zones/us-east1-c/instances/vm-no-ip":
            "IAM-005=UNKNOWN VM-001=PASS VM-003=UNKNOWN VM-004=FAIL BAK-008=FAIL",
        "//compute.googleapis.com/projects/test-project/zones/us-east1-b/instances/vm-external-ip":
            "IAM-005=UNKNOWN VM-001=FAIL VM-003=PASS VM-004=FAIL BAK-008=FAIL",
    },
    # Google's converter leaves out what the Terraform configuration does not set: the runtime
    # identity is then the default account the API documents, and ingressSettings ALLOW_ALL
    # ("If unspecified, ALLOW_ALL will be used": Google's IngressSettings enum).
    ("terraform-google-conversion/"
     "tfplan2cai-example_google_cloudfunctions_function.json"): {
        "//cloudfunctions.googleapis.com/projects/{{.Provider.project}}/locations/us-east1/"
        "functions/my-cf": "SRV-003=FAIL SRV-004=FAIL",
    },
    "terraform-google-conversion/tfplan2cai-example_cloud_run_service.json": {
        "//run.googleapis.com/projects/{{.Provider.project}}/locations/us-central1/services/"
        "cloudrun-to-get-cai": "SRV-001=FAIL SRV-002=FAIL",
    },
    # restrictions in Terraform's block names (api_targets, android_key_restrictions), none of
    # the fields apikeys v2 defines: KEY-002 cannot read them (UNKNOWN), not "unrestricted".
    "terraform-google-conversion/tfplan2cai-example_apikeys_key.json": {
        ("//apikeys.googleapis.com/v2/projects/{{.Provider.project}}/locations/global/keys/"
         "placeholder-JHfWqOQi"): "KEY-002=UNKNOWN",
    },
    # run v2's shape (no v1 metadata): the v1 fields' absence says nothing (SRV-001/002 UNKNOWN).
    "terraform-google-conversion/tfplan2cai-example_cloud_run_v2_service.json": {
        "//run.googleapis.com/projects/{{.Provider.project}}/locations/us-central1/services/"
        "cloudrunv2-to-get-cai": "SRV-001=UNKNOWN SRV-002=UNKNOWN",
    },
    # Terraform's empty block `encryptionConfig: []` where dataproc v1 defines an object.
    "terraform-google-conversion/tfplan2cai-example_google_dataproc_cluster.json": {
        "//dataproc.googleapis.com/projects/{{.Provider.project}}/regions/us-central1/clusters/"
        "my-new-cluster": "ENC-016=UNKNOWN",
    },
    "terraform-google-conversion/tfplan2cai-example_dns_managed_zone.json": {
        "//dns.googleapis.com/projects/{{.Provider.project}}/managedZones/publiczone":
            "DNS-001=PASS DNS-002=PASS DNS-003=FAIL",
    },
}


def _pinned_cases() -> list[tuple[str, str, str, str]]:
    return [(name, asset, rule, outcome)
            for name, assets in PINNED.items() for asset, verdicts in assets.items()
            for rule, outcome in (v.split("=") for v in verdicts.split())]


@pytest.mark.parametrize(("name", "asset", "rule", "outcome"), _pinned_cases(),
                         ids=lambda v: v.rsplit("/", 1)[-1] if isinstance(v, str) else v)
def test_verdicts_checked_by_hand(scanned: dict[str, Scanned], name: str, asset: str,
                                  rule: str, outcome: str) -> None:
    got = [f["outcome"] for f in scanned[name].findings
           if f["asset"] == asset and f["rule_id"] == rule]
    assert got == ([] if outcome == "-" else [outcome]), (name, asset, rule, got)


def test_every_pinned_asset_is_in_its_file() -> None:
    """A pin naming an asset the file does not hold would pass vacuously for '-'."""
    for name, assets in PINNED.items():
        names = {r.get("name") for r in _all_objects(REALDATA / name)}
        assert set(assets) <= names, (name, set(assets) - names)
