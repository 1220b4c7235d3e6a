"""The PHI-store converters at plan time: what a plan can and cannot tell about a table's kind,
an AlloyDB cluster's key, a secret's CAI name, a Healthcare store's dataset and the log buckets
that receive audit logs, judged by the rules that read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, make_plan, plan_doc
from phiguard.cli import main
from phiguard.terraform.world import build_world

CONFIG = PLANS / "phiguard.yaml"  # project phi-prod is PHI
AT = "2026-11-25T00:00:00Z"
P = "phi-prod"
KEY = f"projects/{P}/locations/us-east4/keyRings/phi/cryptoKeys/k"


def _verdicts(tmp_path: Path, changes: list[dict[str, Any]], *args: str,
              config: dict[str, dict[str, Any]] | None = None) -> dict[tuple[str, str], str]:
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc(changes, config)))
    result = CliRunner().invoke(main, ["plan", str(path), "-c", str(CONFIG), "--at", AT,
                                       "-f", "json", *args], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return {(r["rule_id"], r["address"]): r["outcome"]
            for r in json.loads(result.stdout)["results"]}


def _table(name: str, **blocks: Any) -> dict[str, Any]:
    return change("google_bigquery_table", name, {
        "project": P, "dataset_id": "claims", "table_id": name, "encryption_configuration": [],
        "view": [], "materialized_view": [], "external_data_configuration": [], **blocks},
        unknown={"id": True, **{k: True for k, v in blocks.items() if v is None}})


def test_a_table_is_judged_by_its_kind(tmp_path: Path) -> None:
    """A table without a key fails ENC-007; a view holds no data and gets no result; a table
    whose `view` block is known only after apply may be a view, so the verdict is UNKNOWN."""
    got = _verdicts(tmp_path, [
        _table("lines"),
        _table("summary", view=[{"query": "SELECT 1", "use_legacy_sql": False}]),
        _table("pending", view=None)])
    assert got[("ENC-007", "google_bigquery_table.lines")] == "FAIL"
    assert ("ENC-007", "google_bigquery_table.summary") not in got
    assert got[("ENC-007", "google_bigquery_table.pending")] == "UNKNOWN"


def test_an_alloydb_cluster_without_a_key_fails_and_a_key_from_a_variable_is_unknown(
        tmp_path: Path) -> None:
    """No `encryption_config` block: Google's default encryption, which the API reports in
    encryptionInfo, so ENC-014 fails before apply; a key from a variable is UNKNOWN; a key
    passes."""
    def cluster(name: str, config: Any, unknown: Any = None) -> dict[str, Any]:
        return change("google_alloydb_cluster", name, {
            "cluster_id": name, "project": P, "location": "us-east4",
            "encryption_config": config}, unknown={"id": True, **(unknown or {})})
    got = _verdicts(tmp_path, [
        cluster("plain", []),
        cluster("keyed", [{"kms_key_name": KEY}]),
        cluster("varkey", [{"kms_key_name": None}],
                {"encryption_config": [{"kms_key_name": True}]})],
        config={"google_alloydb_cluster.varkey": {"encryption_config": [
            {"kms_key_name": {"references": ["var.key"]}}]}})
    assert got[("ENC-014", "google_alloydb_cluster.plain")] == "FAIL"
    assert got[("ENC-014", "google_alloydb_cluster.keyed")] == "PASS"
    assert got[("ENC-014", "google_alloydb_cluster.varkey")] == "UNKNOWN"


def test_a_secret_is_named_by_the_project_number_the_snapshot_knows(tmp_path: Path) -> None:
    """CAI names secrets `projects/NUMBER/secrets/ID`: with the project in the snapshot the
    planned secret replaces the exported one (one result, the plan's), instead of standing
    beside it under the project id."""
    snap = tmp_path / "snap"
    snap.mkdir()
    records = [
        {"name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
         "asset_type": "cloudresourcemanager.googleapis.com/Project",
         "resource": {"data": {"projectNumber": "111111111111", "projectId": P, "name": P}},
         "ancestors": ["projects/111111111111", "organizations/1"]},
        {"name": "//secretmanager.googleapis.com/projects/111111111111/secrets/db-pw",
         "asset_type": "secretmanager.googleapis.com/Secret",
         "resource": {"data": {"name": "projects/111111111111/secrets/db-pw",
                               "replication": {"automatic": {}}}},
         "ancestors": ["projects/111111111111", "organizations/1"]}]
    (snap / "resources.ndjson").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    secret = change("google_secret_manager_secret", "db", {
        "secret_id": "db-pw", "project": P, "replication": [{"auto": [{
            "customer_managed_encryption": [{"kms_key_name": KEY}]}], "user_managed": []}],
        "rotation": [], "topics": []}, unknown={"id": True, "name": True},
        actions=("update",), before={"secret_id": "db-pw", "project": P,
                                     "replication": [{"auto": [{}]}]})
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc([secret])))
    result = CliRunner().invoke(main, ["plan", str(path), "--snapshot", str(snap), "-c",
                                       str(CONFIG), "--at", AT, "-f", "json"],
                                catch_exceptions=False)
    enc = [r for r in json.loads(result.stdout)["results"] if r["rule_id"] == "ENC-010"]
    assert [(r["asset"], r["outcome"]) for r in enc] == [
        ("//secretmanager.googleapis.com/projects/111111111111/secrets/db-pw", "PASS")]


def test_a_store_is_named_under_the_planned_dataset_it_references() -> None:
    """`dataset = google_healthcare_dataset.clinical.id` is known only after apply; the store
    is named under the planned dataset, as Google's converter names it, not under a
    placeholder."""
    plan = make_plan([
        change("google_healthcare_dataset", "clinical", {
            "name": "clinical", "project": P, "location": "us-east4"}, unknown={"id": True}),
        change("google_healthcare_fhir_store", "ehr", {"name": "ehr", "version": "R4"},
               unknown={"id": True, "dataset": True})],
        config={"google_healthcare_fhir_store.ehr": {"dataset": {"references": [
            "google_healthcare_dataset.clinical.id", "google_healthcare_dataset.clinical"]}}})
    world = build_world(plan, "after")
    stores = [a for a in world.assets.values()
              if a.asset_type == "healthcare.googleapis.com/FhirStore"]
    assert [a.name for a in stores] == [
        f"//healthcare.googleapis.com/projects/{P}/locations/us-east4/datasets/clinical"
        "/fhirStores/ehr"]
    assert stores[0].ancestors == world.assets[
        f"//healthcare.googleapis.com/projects/{P}/locations/us-east4/datasets/clinical"
    ].ancestors


def test_only_log_buckets_receiving_audit_logs_are_judged(tmp_path: Path) -> None:
    """A PHI project's bucket that a Data Access sink feeds fails ENC-012 without a key; an
    application-log bucket and the `_Required` bucket get no result."""
    def bucket(bucket_id: str) -> dict[str, Any]:
        return change("google_logging_project_bucket_config", bucket_id.strip("_").lower(), {
            "project": P, "location": "global", "bucket_id": bucket_id, "retention_days": 400,
            "locked": False, "cmek_settings": []}, unknown={"id": True, "name": True})

    def sink(name: str, bucket_id: str, filt: str) -> dict[str, Any]:
        return change("google_logging_project_sink", name, {
            "name": name, "project": P, "filter": filt, "disabled": False, "exclusions": [],
            "destination": f"logging.googleapis.com/projects/{P}/locations/global/buckets/"
                           f"{bucket_id}"}, unknown={"id": True, "writer_identity": True})
    got = _verdicts(tmp_path, [
        bucket("phi-audit"), bucket("app-logs"), bucket("_Required"),
        sink("audit", "phi-audit", 'LOG_ID("cloudaudit.googleapis.com/data_access")'),
        sink("app", "app-logs", 'resource.type="k8s_container"'),
        sink("required", "_Required", 'LOG_ID("cloudaudit.googleapis.com/activity")')])
    enc = {address: outcome for (rule, address), outcome in got.items() if rule == "ENC-012"}
    assert enc == {"google_logging_project_bucket_config.phi-audit": "FAIL"}
