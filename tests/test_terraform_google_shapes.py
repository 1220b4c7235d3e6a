"""Converted plans take the shapes Google's own converter and CAI give: service records, service
account names, KMS keys on bare key rings, bucket retention policies; and a plan verdict is
UNKNOWN only when an unknown value could change it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, make_plan, plan_doc
from phiguard.cli import main
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.terraform.convert import CONVERTERS, Converter
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import build_world, load_tables

CONFIG = PLANS / "phiguard.yaml"
AT = "2026-11-25T00:00:00Z"
P = "phi-prod"
SA_TYPE = "iam.googleapis.com/ServiceAccount"


def _run(tmp_path: Path, changes: list[dict[str, Any]], *args: str,
         config: dict[str, dict[str, Any]] | None = None) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc(changes, config)))
    result = CliRunner().invoke(main, ["plan", str(path), "-c", str(CONFIG), "--at", AT,
                                       "-f", "json", *args], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def _outcomes(doc: dict[str, Any], rule: str) -> list[str]:
    return [r["outcome"] for r in doc["results"] if r["rule_id"] == rule]


# defect 8: a KMS key on a bare key ring name; no converter recurses --------------------------

def test_crypto_key_on_a_bare_key_ring_name_converts_as_google_does() -> None:
    """`key_ring = "key-ring-test"` (a bare name) used to recurse until RecursionError; Google's
    converter names the key `//cloudkms.googleapis.com/key-ring-test/cryptoKeys/NAME`."""
    plan = make_plan([change("google_kms_crypto_key", "k", {
        "name": "crypto-key-example", "key_ring": "key-ring-test",
        "rotation_period": "7776000s", "purpose": "ENCRYPT_DECRYPT"})])
    world = build_world(plan, "after")
    (asset,) = world.assets.values()
    assert asset.name == "//cloudkms.googleapis.com/key-ring-test/cryptoKeys/crypto-key-example"
    assert asset.data["purpose"] == "ENCRYPT_DECRYPT"


def test_crypto_key_on_a_bare_key_ring_is_judged_not_a_crash(tmp_path: Path) -> None:
    """End to end the same plan is judged: ENC-006 passes on a 90-day rotation."""
    code, doc = _run(tmp_path, [change("google_kms_crypto_key", "k", {
        "name": "k", "key_ring": "ring", "rotation_period": "7776000s"})])
    assert code == 0
    assert _outcomes(doc, "ENC-006") == ["PASS"]


def _all_fields(conv: Converter) -> list[str]:
    fields = [f.src for f in conv.fields] + [f.src for f in conv.names.values()]
    if conv.project_from is not None:
        fields.append(conv.project_from.src)
    return [f for f in fields if f]


def _nested(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: [_nested(rest, value)] if rest else value}


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and \
                isinstance(into.get(key), list):
            _merge(into[key][0], value[0])
        else:
            into[key] = value


@pytest.mark.parametrize("value", ["bare", "projects/p/locations/l/things/t", ""])
def test_no_converter_recurses_on_bare_or_full_references(value: str) -> None:
    """Every attribute every table reads set to a bare name (or a path, or empty), with and
    without configuration references: each type converts without recursing."""
    load_tables()
    for tf_type, conv in sorted(CONVERTERS.items()):
        after: dict[str, Any] = {}
        for src in _all_fields(conv):
            _merge(after, _nested(src, value))
        config = {f"{tf_type}.x": {src.split(".")[0]: {"references": [f"{tf_type}.x.id"]}
                                   for src in _all_fields(conv)}}
        for cfg in (None, config):
            plan = make_plan([change(tf_type, "x", after, unknown={
                k: True for k in after})], cfg)
            build_world(plan, "after")
            plan = make_plan([change(tf_type, "x", after)], cfg)
            build_world(plan, "after")


# defect 8: bucket retention policy -----------------------------------------------------------

LOG_SINK = change("google_logging_organization_sink", "audit", {
    "name": "audit", "org_id": "123", "include_children": True,
    "destination": "storage.googleapis.com/phi-audit-logs", "filter": ""})


def test_bucket_retention_policy_is_kept_with_its_lock() -> None:
    """`retention_policy { retention_period, is_locked }` becomes CAI's retentionPolicy."""
    plan = make_plan([change("google_storage_bucket", "b", {
        "name": "phi-audit-logs", "project": P, "location": "US",
        "retention_policy": [{"retention_period": 189216000, "is_locked": True}]})])
    (asset,) = build_world(plan, "after").assets.values()
    assert asset.data["retentionPolicy"] == {"retentionPeriod": "189216000", "isLocked": True}


def test_locked_six_year_bucket_passes_log_003_at_plan_time(tmp_path: Path) -> None:
    """LOG-003 used to fail a locked six-year bucket because the retention was dropped."""
    def bucket(period: int, locked: bool) -> dict[str, Any]:
        return change("google_storage_bucket", "logs", {
            "name": "phi-audit-logs", "project": P, "location": "US",
            "retention_policy": [{"retention_period": period, "is_locked": locked}]})
    _, doc = _run(tmp_path, [bucket(189216000, True), LOG_SINK])
    assert _outcomes(doc, "LOG-003") == ["PASS"]
    _, doc = _run(tmp_path, [bucket(189216000, False), LOG_SINK])
    assert _outcomes(doc, "LOG-003") == ["FAIL"]


# defect 1: the serviceusage Service record ---------------------------------------------------

def test_project_service_is_the_serviceusage_record_google_writes() -> None:
    """CAI's Service record is {name, parent, state}; there is no `config`."""
    plan = make_plan([change("google_project_service", "s", {
        "project": P, "service": "bigquery.googleapis.com"})])
    (asset,) = build_world(plan, "after").assets.values()
    assert asset.name == f"//serviceusage.googleapis.com/projects/{P}/services/" \
                         "bigquery.googleapis.com"
    assert asset.data == {"name": "bigquery.googleapis.com", "parent": f"projects/{P}",
                          "state": "ENABLED"}


# defect 7: service accounts are named by unique id; joins by email --------------------------

SNAP_SA = Asset(
    name=f"//iam.googleapis.com/projects/{P}/serviceAccounts/104857600123456789012",
    asset_type=SA_TYPE,
    data={"name": f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com",
          "projectId": P, "uniqueId": "104857600123456789012",
          "email": f"etl@{P}.iam.gserviceaccount.com", "displayName": "etl"},
    parent=f"//cloudresourcemanager.googleapis.com/projects/{P}")


def test_service_account_name_uses_the_unique_id_when_known() -> None:
    """An existing account (update) has its unique id in the plan: CAI's name uses it."""
    after = {"account_id": "etl", "project": P, "unique_id": "104857600123456789012",
             "email": f"etl@{P}.iam.gserviceaccount.com", "display_name": "ETL"}
    plan = make_plan([change("google_service_account", "etl", after, actions=("update",),
                             before=dict(after, display_name="etl"))])
    world = build_world(plan, "after", {SNAP_SA.name: SNAP_SA})
    accounts = [a for a in world.assets.values() if a.asset_type == SA_TYPE]
    assert [a.name for a in accounts] == [SNAP_SA.name]
    assert accounts[0].data["displayName"] == "ETL"


def test_new_service_account_gets_a_placeholder_id_not_its_email() -> None:
    """A new account's unique id is known only after apply: like Google's converter, the name
    holds a placeholder (here the address and attribute), and the email is in data.email."""
    plan = make_plan([change("google_service_account", "etl", {
        "account_id": "etl", "project": P}, unknown={"unique_id": True, "email": True})])
    (asset,) = build_world(plan, "after").assets.values()
    assert asset.name == f"//iam.googleapis.com/projects/{P}/serviceAccounts/" \
                         "(google_service_account.etl.unique_id)"
    assert asset.data["email"] == f"etl@{P}.iam.gserviceaccount.com"


def test_service_account_iam_joins_the_snapshot_account_by_email() -> None:
    """google_service_account_iam_member names the account by email; with a snapshot the grant
    lands on the snapshot's account (named by unique id), not on a second, partial one."""
    plan = make_plan([change("google_service_account_iam_member", "m", {
        "service_account_id": f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com",
        "role": "roles/iam.serviceAccountUser", "member": "group:ops@example-health.com"})])
    world = build_world(plan, "after", {SNAP_SA.name: SNAP_SA})
    accounts = [a for a in world.assets.values() if a.asset_type == SA_TYPE]
    assert [a.name for a in accounts] == [SNAP_SA.name]
    assert accounts[0].iam_policy is not None
    assert {"role": "roles/iam.serviceAccountUser",
            "members": ["group:ops@example-health.com"]} in accounts[0].iam_policy["bindings"]
    assert SNAP_SA.name not in world.partial


def test_inventory_finds_a_service_account_by_its_email_path() -> None:
    """References name accounts by `projects/P/serviceAccounts/EMAIL`; CAI names them by
    unique id: the inventory resolves both to the one account."""
    inv = Inventory([SNAP_SA])
    for ref in (SNAP_SA.name, f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com",
                f"projects/-/serviceAccounts/etl@{P}.iam.gserviceaccount.com"):
        assert inv.lookup(ref, [SA_TYPE]) is SNAP_SA, ref


# defect 10: UNKNOWN only when an unknown could change the verdict ----------------------------

KEY = change("google_service_account_key", "etl", {
    "service_account_id": f"projects/{P}/serviceAccounts/etl@{P}.iam.gserviceaccount.com",
    "key_algorithm": "KEY_ALG_RSA_2048", "keepers": None,
    "private_key_type": "TYPE_GOOGLE_CREDENTIALS_FILE", "public_key_type": "TYPE_X509_PEM_FILE"},
    unknown={"name": True, "id": True, "private_key": True, "public_key": True,
             "valid_after": True, "valid_before": True})


def test_new_key_in_a_phi_project_fails_iam_002(tmp_path: Path) -> None:
    """A key Terraform creates is user-managed and active and cannot be expired at creation:
    IAM-002 FAILs, whatever the unknown times turn out to be."""
    code, doc = _run(tmp_path, [KEY])
    assert _outcomes(doc, "IAM-002") == ["FAIL"]
    assert code == 1


def test_new_key_is_younger_than_any_rotation_period(tmp_path: Path) -> None:
    """A key this plan creates is judged as just created: IAM-003 PASSes."""
    _, doc = _run(tmp_path, [KEY])
    assert _outcomes(doc, "IAM-003") == ["PASS"]
    key = next(r for r in doc["results"] if r["rule_id"] == "IAM-003")
    assert {"path": "data.validAfterTime", "value": AT} in key["evidence"]


def test_existing_key_keeps_its_known_times(tmp_path: Path) -> None:
    """An existing key (no-op) keeps the times the plan shows: nothing is assumed."""
    before = {"service_account_id": f"projects/{P}/serviceAccounts/etl@{P}.iam."
                                    "gserviceaccount.com", "name": "projects/phi-prod/"
              "serviceAccounts/etl@phi-prod.iam.gserviceaccount.com/keys/abc",
              "valid_after": "2020-01-01T00:00:00Z", "valid_before": "2020-06-01T00:00:00Z"}
    _, doc = _run(tmp_path, [change("google_service_account_key", "old", before,
                                    actions=("update",), before=before)])
    assert _outcomes(doc, "IAM-002") == ["PASS"]  # expired


def test_owner_grant_to_a_person_fails_despite_unknowns_elsewhere(tmp_path: Path) -> None:
    """A planned project owner grant to a person FAILs IAM-007 even when the project is
    created in the same plan with attributes known only after apply."""
    project = change("google_project", "phi", {"project_id": P, "name": "PHI", "org_id": "123",
                                               "labels": None},
                     unknown={"number": True, "id": True, "effective_labels": True})
    owner = change("google_project_iam_member", "owner", {
        "project": P, "role": "roles/owner", "member": "user:alice@example-health.com",
        "condition": []}, unknown={"etag": True, "id": True})
    _, doc = _run(tmp_path, [project, owner])
    assert _outcomes(doc, "IAM-007") == ["FAIL"]


# compute instances: what Google's converter shows and ours missed ----------------------------

def _instance(after: dict[str, Any], unknown: dict[str, Any] | None = None,
              config: dict[str, Any] | None = None) -> Asset:
    base = {"name": "vm", "project": P, "zone": "us-east4-a", "machine_type": "e2-small"}
    plan = make_plan([change("google_compute_instance", "vm", {**base, **after},
                             unknown=unknown)],
                     {"google_compute_instance.vm": config} if config is not None else None)
    (asset,) = build_world(plan, "after").assets.values()
    return asset


def test_instance_can_ip_forward_and_startup_script_are_converted() -> None:
    """NET-005 reads canIpForward and MFA-006/BAK-008 read metadata items: Google's converter
    writes both (the startup script as the `startup-script` item)."""
    asset = _instance({"can_ip_forward": True, "metadata": {"enable-oslogin": "TRUE"},
                       "metadata_startup_script": "echo hi"})
    assert asset.data["canIpForward"] is True
    assert asset.data["metadata"]["items"] == [{"key": "enable-oslogin", "value": "TRUE"},
                                               {"key": "startup-script", "value": "echo hi"}]


def test_instance_subnetwork_in_another_project_keeps_that_project() -> None:
    """`subnetwork_project` names the (Shared VPC host) project of a bare subnetwork name."""
    asset = _instance({"network_interface": [{"subnetwork": "phi-subnet",
                                              "subnetwork_project": "host-project"}]})
    assert asset.data["networkInterfaces"][0]["subnetwork"] == \
        "projects/host-project/regions/us-east4/subnetworks/phi-subnet"


def test_instance_without_an_email_runs_as_the_default_compute_account() -> None:
    """A `service_account` block without `email` gets the project's default compute account
    from the API (IAM-005 then fails); nothing is assumed without configuration."""
    block = {"service_account": [{"scopes": ["cloud-platform"]}]}
    unknown = {"service_account": [{"email": True}]}
    config = {"service_account": [{"scopes": {"constant_value": ["cloud-platform"]}}]}
    asset = _instance(block, unknown, config)
    email = asset.data["serviceAccounts"][0]["email"]
    assert isinstance(email, str) and email.endswith("-compute@developer.gserviceaccount.com")
    asset = _instance(block, unknown)
    assert not isinstance(asset.data["serviceAccounts"][0]["email"], str)


# the provider's project ----------------------------------------------------------------------

def test_provider_project_is_the_default_project() -> None:
    """A resource without `project` gets the google provider's `project` (as Google's converter
    does): a bucket whose project is known only after apply is in that project."""
    doc = plan_doc([change("google_storage_bucket", "b", {"name": "b", "location": "US"},
                           unknown={"project": True})])
    doc["configuration"]["provider_config"] = {"google": {"name": "google", "expressions": {
        "project": {"constant_value": P}}}}
    plan = parse_plan(orjson.dumps(doc), "plan.json")
    assert plan.default_project == P
    (asset,) = build_world(plan, "after").assets.values()
    assert asset.parent == f"//cloudresourcemanager.googleapis.com/projects/{P}"
    doc["configuration"]["provider_config"]["google"]["expressions"]["project"] = {
        "references": ["var.project"]}
    (asset,) = build_world(parse_plan(orjson.dumps(doc), "p.json"), "after").assets.values()
    assert asset.parent == "//cloudresourcemanager.googleapis.com/projects/(unknown project)"


def test_owner_grant_on_a_project_the_plan_only_touches_fails(tmp_path: Path) -> None:
    """The project is neither planned nor in a snapshot (the rest of its policy is unknown):
    the known owner grant to a person still decides IAM-007, and a consumer account MFA-004."""
    owner = change("google_project_iam_member", "owner", {
        "project": P, "role": "roles/owner", "member": "user:alice@gmail.com",
        "condition": []}, unknown={"etag": True, "id": True})
    _, doc = _run(tmp_path, [owner])
    assert _outcomes(doc, "IAM-007") == ["FAIL"]
    assert _outcomes(doc, "MFA-004") == ["FAIL"]


def test_planned_account_without_its_unique_id_is_the_snapshots_account() -> None:
    """An existing account whose plan lacks `unique_id` (older providers) is still the one
    account the snapshot names by unique id: matched by email, not added twice."""
    after = {"account_id": "etl", "project": P, "email": f"etl@{P}.iam.gserviceaccount.com",
             "display_name": "ETL"}
    plan = make_plan([change("google_service_account", "etl", after, actions=("update",),
                             before=dict(after, display_name="etl"))])
    world = build_world(plan, "after", {SNAP_SA.name: SNAP_SA})
    accounts = [a for a in world.assets.values() if a.asset_type == SA_TYPE]
    assert [(a.name, a.data["displayName"]) for a in accounts] == [(SNAP_SA.name, "ETL")]
    assert world.name_of["google_service_account.etl"] == SNAP_SA.name


def test_an_empty_name_part_is_a_stand_in_not_an_empty_segment() -> None:
    """`unique_id = ""` (or any empty name part) never makes a name with an empty segment."""
    plan = make_plan([change("google_service_account", "etl", {
        "account_id": "etl", "project": P, "unique_id": ""})])
    (asset,) = build_world(plan, "after").assets.values()
    assert asset.name.endswith("/serviceAccounts/(google_service_account.etl.unique_id)")


def test_accounts_are_indexed_by_email_once_not_once_per_planned_account(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each new account is matched by email against the accounts already known; the email
    index grows with each account instead of being rebuilt from every asset (quadratic in a
    plan of many accounts), and ends equal to a fresh index; members by email still land on
    their account, also after the plan deletes one."""
    from phiguard.terraform.world import World

    builds = []
    real = World.account

    def counting(self: World, name: str) -> Asset | None:
        builds.append(self._accounts is None)
        return real(self, name)

    monkeypatch.setattr(World, "account", counting)
    changes = []
    for i in range(300):
        email = f"sa{i}@{P}.iam.gserviceaccount.com"
        changes.append(change("google_service_account", f"sa{i}", {
            "account_id": f"sa{i}", "project": P, "email": email, "unique_id": str(10**20 + i)}))
        changes.append(change("google_storage_bucket", f"b{i}", {"name": f"b{i}", "project": P}))
    gone = {"account_id": "old", "project": P, "email": f"old@{P}.iam.gserviceaccount.com",
            "unique_id": str(10**19)}
    changes.append(change("google_service_account", "old", None, actions=("delete",),
                          before=gone))
    changes.append(change("google_service_account_iam_member", "m", {
        "service_account_id": f"projects/{P}/serviceAccounts/sa7@{P}.iam.gserviceaccount.com",
        "role": "roles/iam.serviceAccountUser", "member": "user:a@example.com"}))
    world = build_world(make_plan(changes), "after")
    assert sum(builds) <= 2 and len(builds) >= 300
    index = dict(world._accounts or {})
    world.forget_accounts()
    world.account("serviceAccounts/sa0@x")
    assert index == world._accounts and len(index) == 300
    held = world.assets[f"//iam.googleapis.com/projects/{P}/serviceAccounts/{10**20 + 7}"]
    assert held.iam_policy is not None
    assert [b["members"] for b in held.iam_policy["bindings"]
            if b["role"] == "roles/iam.serviceAccountUser"] == [["user:a@example.com"]]
