"""The plan gate and content a snapshot (or the plan) lacks: a coverage gap the snapshot's
manifest states makes IAM-reading rules UNKNOWN in the overlay exactly as in `phiguard scan`,
and an UNKNOWN for missing content says what is really missing (the plan's or the snapshot's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.cli import main

CONFIG = PLANS / "phiguard.yaml"  # project phi-prod is PHI
AT = "2026-11-25T00:00:00Z"
P = "phi-prod"
PROJECT = "//cloudresourcemanager.googleapis.com/projects/111111111111"
ANCESTORS = ["projects/111111111111", "folders/222", "organizations/1"]
# Rules that read IAM policies through the project's effective policy.
IAM_RULES = ("IAM-007", "JIT-001")


def _outcomes(args: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    result = CliRunner().invoke(main, [*args, "-c", str(CONFIG), "--at", AT, "-f", "json"],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return {(r["rule_id"], r["asset"]): (r["outcome"], r["message"])
            for r in json.loads(result.stdout)["results"]}


def _snapshot(tmp_path: Path, *, gap: bool) -> Path:
    """A project with its IAM policy; with `gap`, a manifest saying that IAM_POLICY content
    under the project's folder was not collected (as `phiguard collect` writes a failed
    shard: the source with its error, and the coverage gap)."""
    records = [{"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
                "resource": {"data": {"projectNumber": "111111111111", "projectId": P,
                                      "name": P}},
                "ancestors": ANCESTORS,
                "iam_policy": {"bindings": [{"role": "roles/owner",
                                             "members": ["user:dana@example-health.com"]}]}}]
    snap = tmp_path / ("gap" if gap else "full")
    snap.mkdir()
    (snap / "resources.ndjson").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    if gap:
        manifest = {
            "read_time": "2026-11-25T06:00:00Z", "scope": "organizations/1",
            "content_types": ["RESOURCE", "IAM_POLICY"],
            "sources": [{"file": "resources.ndjson", "content_type": "RESOURCE", "records": 1},
                        {"file": None, "content_type": "IAM_POLICY", "parent": "folders/222",
                         "records": 0,
                         "error": {"reason": "PERMISSION_DENIED", "error": "403"}}],
            "coverage_gaps": [{"source": "cloudasset", "what": "IAM_POLICY under folders/222",
                               "reason": "PERMISSION_DENIED", "error": "403"}]}
        (snap / "manifest.json").write_text(json.dumps(manifest))
    return snap


def _plan(tmp_path: Path, changes: list[dict[str, Any]]) -> str:
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc(changes)))
    return str(path)


SA_USER = change("google_project_iam_member", "sa", {
    "project": P, "role": "roles/iam.serviceAccountUser",
    "member": "serviceAccount:etl@phi-prod.iam.gserviceaccount.com"})


def test_a_manifest_coverage_gap_makes_iam_rules_unknown_in_the_overlay(tmp_path: Path) -> None:
    """Without the gap the overlaid project is judged (IAM-007 FAILs on the person owner);
    with IAM_POLICY listed as a coverage gap under its folder, the rules that read IAM are
    UNKNOWN there, naming the gap, never PASS or FAIL."""
    plan = _plan(tmp_path, [SA_USER])
    full = _outcomes(["plan", plan, "--snapshot", str(_snapshot(tmp_path, gap=False))])
    assert full[("IAM-007", PROJECT)][0] == "FAIL"
    gapped = _outcomes(["plan", plan, "--snapshot", str(_snapshot(tmp_path, gap=True))])
    for rule_id in IAM_RULES:
        outcome, message = gapped[(rule_id, PROJECT)]
        assert outcome == "UNKNOWN", (rule_id, outcome, message)
        assert "folders/222" in message and "coverage gap" in message, message


def test_the_plan_gate_and_the_scan_agree_on_a_coverage_gap(tmp_path: Path) -> None:
    """Judging everything (`--all`) over the snapshot gives the scan's verdicts and reasons
    for the rules that read IAM on the project the gap covers."""
    snap = str(_snapshot(tmp_path, gap=True))
    plan = _plan(tmp_path, [change("google_storage_bucket", "b", {
        "name": "phi-b", "project": P, "location": "US"})])
    scanned = _outcomes(["scan", snap])
    planned = _outcomes(["plan", plan, "--snapshot", snap, "--all"])
    for rule_id in IAM_RULES:
        assert scanned[(rule_id, PROJECT)][0] == "UNKNOWN"
        assert planned[(rule_id, PROJECT)] == scanned[(rule_id, PROJECT)], rule_id


PROJECT_UPDATE = change("google_project", "p", {"project_id": P, "name": P, "org_id": "1"},
                        actions=("update",), before={"project_id": P, "name": P, "org_id": "1"})
NETWORK = change("google_compute_network", "n", {"name": "n", "project": P,
                                                 "auto_create_subnetworks": False})


def test_an_unknown_for_iam_the_plan_does_not_declare_says_so(tmp_path: Path) -> None:
    """A project the plan only updates, with no IAM resource planned: the rules that read its
    IAM policy are UNKNOWN, and the reason says that the plan does not declare the project's
    IAM policy and no snapshot was given (not that "the snapshot has no IAM policies")."""
    found = _outcomes(["plan", _plan(tmp_path, [PROJECT_UPDATE, NETWORK])])
    project = "//cloudresourcemanager.googleapis.com/projects/phi-prod"
    for rule_id in ("IAM-004", *IAM_RULES):
        outcome, message = found[(rule_id, project)]
        assert outcome == "UNKNOWN", (rule_id, outcome, message)
        assert "the plan does not declare the IAM policies of projects/phi-prod" in message
        assert "no snapshot was given (pass --snapshot" in message, message
        assert "the snapshot has no" not in message, message


def test_with_a_resource_only_snapshot_the_reason_names_both(tmp_path: Path) -> None:
    """Over a snapshot with no IAM content, the reason says the plan does not declare the
    project's IAM policy and the snapshot has none; the scan keeps its own wording."""
    snap = tmp_path / "resource-only"
    snap.mkdir()
    record = {"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
              "resource": {"data": {"projectNumber": "111111111111", "projectId": P,
                                    "name": P}}, "ancestors": ANCESTORS}
    (snap / "resources.ndjson").write_text(json.dumps(record) + "\n")
    planned = _outcomes(["plan", _plan(tmp_path, [PROJECT_UPDATE, NETWORK]),
                         "--snapshot", str(snap)])
    scanned = _outcomes(["scan", str(snap)])
    for rule_id in ("IAM-004", *IAM_RULES):
        outcome, message = planned[(rule_id, PROJECT)]
        assert outcome == "UNKNOWN", (rule_id, outcome, message)
        assert ("the plan does not declare the IAM policies of projects/111111111111"
                in message), message
        assert "the snapshot has no IAM_POLICY content" in message, message
        outcome, message = scanned[(rule_id, PROJECT)]
        assert outcome == "UNKNOWN" and "the snapshot has no IAM policies" in message, message


BUCKET = change("google_storage_bucket", "b", {"name": "phi-b", "project": P, "location": "US"})
BUCKET_MEMBER = change("google_storage_bucket_iam_member", "m", {
    "bucket": "phi-b", "role": "roles/storage.objectViewer",
    "member": "serviceAccount:etl@phi-prod.iam.gserviceaccount.com"})


def test_iam_one_planned_asset_declares_is_not_known_for_the_others(tmp_path: Path) -> None:
    """A plan that creates a bucket (whose new IAM policy the plan does declare) and only
    updates the project: the project's IAM policy and audit config are still undeclared, so
    the rules that read them are UNKNOWN there (they were judged against an empty policy,
    and LOG-001 FAILed on data nobody had), while the bucket's declared policy is judged."""
    found = _outcomes(["plan", _plan(tmp_path, [PROJECT_UPDATE, NETWORK, BUCKET,
                                                BUCKET_MEMBER])])
    project = "//cloudresourcemanager.googleapis.com/projects/phi-prod"
    for rule_id in ("IAM-004", "LOG-001", *IAM_RULES):
        outcome, message = found[(rule_id, project)]
        assert outcome == "UNKNOWN", (rule_id, outcome, message)
        assert "the plan does not declare the IAM policies of projects/phi-prod" in message
    bucket = [(k, v) for k, v in found.items() if k[1].endswith("/phi-b")
              and k[0] == "PUB-004"]
    assert bucket and all(v[0] != "UNKNOWN" for _, v in bucket), bucket


def test_a_resource_only_snapshot_does_not_borrow_iam_from_the_plan(tmp_path: Path) -> None:
    """Over a snapshot with no IAM content, a bucket the plan creates (with its declared
    policy) does not make the snapshot's project policy known: the rules that read it are
    UNKNOWN, not judged against an empty policy."""
    snap = tmp_path / "resource-only"
    snap.mkdir()
    record = {"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
              "resource": {"data": {"projectNumber": "111111111111", "projectId": P,
                                    "name": P}}, "ancestors": ANCESTORS}
    (snap / "resources.ndjson").write_text(json.dumps(record) + "\n")
    found = _outcomes(["plan", _plan(tmp_path, [BUCKET, BUCKET_MEMBER]), "--snapshot",
                       str(snap), "--all"])
    for rule_id in ("IAM-004", "LOG-001", *IAM_RULES):
        outcome, message = found[(rule_id, PROJECT)]
        assert outcome == "UNKNOWN", (rule_id, outcome, message)


def _topic(actions: tuple[str, ...]) -> dict[str, Any]:
    after = {"name": "intake", "project": P, "kms_key_name": None}
    return change("google_pubsub_topic", "t", after, actions=actions,
                  before=None if actions == ("create",) else after)


def test_a_created_holder_has_the_plans_policy_an_updated_one_an_unknown(
        tmp_path: Path) -> None:
    """A Pub/Sub topic the plan creates with no IAM resource has no bindings (PUB-008 PASS);
    the same topic only updated has a policy the plan does not declare (UNKNOWN)."""
    topic = "//pubsub.googleapis.com/projects/phi-prod/topics/intake"
    created = _outcomes(["plan", _plan(tmp_path, [_topic(("create",))])])
    assert created[("PUB-008", topic)][0] == "PASS", created[("PUB-008", topic)]
    updated = _outcomes(["plan", _plan(tmp_path, [_topic(("update",))])])
    outcome, message = updated[("PUB-008", topic)]
    assert outcome == "UNKNOWN" and "does not declare the IAM policies" in message, message
