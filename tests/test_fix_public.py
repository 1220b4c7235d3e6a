"""The public-member fixes against the emulator: a Pub/Sub topic's and a secret's IAM policy
lose allUsers / allAuthenticatedUsers through an etag-guarded setIamPolicy, a BigQuery dataset's
access list loses its public entries through datasets.patch (guarded by a re-read of the etag,
said honestly); everything else in the policy or list is written back as read; what changed
since the plan is not overwritten."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _fix import cli, findings_file, journal_lines
from emulator import Emulator

TOPIC = "//pubsub.googleapis.com/projects/p1/topics/lab-results"
SUBSCRIPTION = "//pubsub.googleapis.com/projects/p1/subscriptions/lab-results-ehr"
SECRET = "//secretmanager.googleapis.com/projects/111/secrets/db-password"
DATASET = "//bigquery.googleapis.com/projects/p1/datasets/claims"
CONDITION = {"title": "office hours", "expression": "request.time.getHours('UTC') < 18"}
OWNERS = {"role": "OWNER", "specialGroup": "projectOwners"}
ANALYSTS = {"role": "READER", "groupByEmail": "analysts@x.org",
            "condition": {"title": "until 2027", "expression":
                          "request.time < timestamp('2027-01-01T00:00:00Z')"}}


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        h = server.holders
        h.set_topic_iam("p1", "lab-results", [
            {"role": "roles/pubsub.publisher", "members": ["allUsers", "serviceAccount:gw@x.org"]},
            {"role": "roles/pubsub.viewer", "members": ["allAuthenticatedUsers"]}])
        h.set_secret_iam("111", "db-password", [
            {"role": "roles/secretmanager.secretAccessor",
             "members": ["allUsers", "serviceAccount:app@x.org"]},
            {"role": "roles/secretmanager.viewer", "members": ["group:ops@x.org"],
             "condition": CONDITION}])
        h.add_dataset("p1", "claims", [
            OWNERS, {"role": "READER", "specialGroup": "allAuthenticatedUsers"},
            ANALYSTS, {"role": "READER", "iamMember": "allUsers"}])
        yield server


def _plan(emu: Emulator, tmp_path: Path, *failing: tuple[str, str]) -> tuple[Path, list[Any]]:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings_file(tmp_path, *failing)), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())["actions"]


def _apply(emu: Emulator, path: Path, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    journal = tmp_path / "journal.ndjson"
    result = cli(emu, "fix", "apply", str(path), "--journal", str(journal), "--yes")
    return result.exit_code, journal_lines(journal)


def test_topic_loses_its_public_members_and_keeps_the_rest(emu: Emulator,
                                                            tmp_path: Path) -> None:
    path, [e] = _plan(emu, tmp_path, ("PUB-008", TOPIC))
    assert (e["status"], e["action"]) == ("change", "pubsub-topic-remove-public-members")
    assert e["precondition"]["field"] == "etag"
    assert e["request"]["body"]["policy"]["etag"] == emu.holders.topic_iam[
        "projects/p1/topics/lab-results"]["etag"]
    code, [line] = _apply(emu, path, tmp_path)
    assert code == 0 and (line["result"], line["rule_outcome"]) == ("applied", "PASS")
    assert emu.holders.topic_iam["projects/p1/topics/lab-results"]["bindings"] == [
        {"role": "roles/pubsub.publisher", "members": ["serviceAccount:gw@x.org"]}]


def test_topic_changed_since_the_plan_is_not_overwritten(emu: Emulator, tmp_path: Path) -> None:
    """Another administrator's grant after the plan: Pub/Sub refuses the stale etag (409),
    and the grant survives."""
    path, _ = _plan(emu, tmp_path, ("PUB-008", TOPIC))
    added = {"role": "roles/pubsub.subscriber", "members": ["serviceAccount:new@x.org"]}
    emu.holders.touch_topic_iam("p1", "lab-results", added)
    code, [line] = _apply(emu, path, tmp_path)
    assert code == 1 and line["result"] != "applied"
    policy = emu.holders.topic_iam["projects/p1/topics/lab-results"]
    assert added in policy["bindings"] and "allUsers" in json.dumps(policy)


def test_subscription_is_left_to_the_console_steps(emu: Emulator, tmp_path: Path) -> None:
    """The topic action does not handle a subscription: the plan says so, nothing is read."""
    _, [e] = _plan(emu, tmp_path, ("PUB-008", SUBSCRIPTION))
    assert e["status"] == "manual" and "does not handle" in e["reason"]
    assert emu.cloud.writes == []


def test_secret_keeps_its_conditional_binding_as_version_3(emu: Emulator,
                                                           tmp_path: Path) -> None:
    """The secret's policy is read with options.requestedPolicyVersion=3 (refused without it)
    and written as version 3, the condition kept; CAI's project number names the secret."""
    path, [e] = _plan(emu, tmp_path, ("PUB-009", SECRET))
    assert e["read"]["params"]["resource"] == "projects/111/secrets/db-password"
    assert e["after"]["version"] == 3
    code, [line] = _apply(emu, path, tmp_path)
    assert code == 0 and line["rule_outcome"] == "PASS"
    policy = emu.holders.secret_iam["projects/111/secrets/db-password"]
    assert "allUsers" not in json.dumps(policy)
    assert policy["bindings"][1]["condition"] == CONDITION


def test_dataset_access_list_loses_only_its_public_entries(emu: Emulator,
                                                           tmp_path: Path) -> None:
    """datasets.patch replaces the whole list: the owners and the conditional group entry go
    back as read (accessPolicyVersion 3), only the access list is written (UPDATE_ACL)."""
    path, [e] = _plan(emu, tmp_path, ("PUB-007", DATASET))
    assert e["after"] == {"access": [OWNERS, ANALYSTS]}
    assert e["request"]["params"]["updateMode"] == "UPDATE_ACL"
    assert e["request"]["params"]["accessPolicyVersion"] == 3
    assert "not detected" in e["precondition"]["field"]
    code, [line] = _apply(emu, path, tmp_path)
    assert code == 0 and line["rule_outcome"] == "PASS"
    assert emu.holders.datasets[("p1", "claims")]["access"] == [OWNERS, ANALYSTS]


def test_dataset_changed_since_the_plan_is_skipped(emu: Emulator, tmp_path: Path) -> None:
    """BigQuery checks no etag without If-Match: phiguard re-reads it just before the write and
    skips a dataset whose list changed, so the new entry is not dropped."""
    path, _ = _plan(emu, tmp_path, ("PUB-007", DATASET))
    new = {"role": "READER", "userByEmail": "auditor@x.org"}
    emu.holders.touch_dataset("p1", "claims", new)
    code, [line] = _apply(emu, path, tmp_path)
    assert code == 1 and "skipped-changed" in line["result"]
    assert new in emu.holders.datasets[("p1", "claims")]["access"]
    assert not any(w["method"] == "PATCH" for w in emu.cloud.writes)


def test_emulator_refuses_what_google_refuses(emu: Emulator) -> None:
    """A conditional binding on a topic (Pub/Sub has no IAM Conditions), a secret policy read
    without version 3, a conditional access entry without accessPolicyVersion 3, an access entry
    naming two grantees and an unknown special group are refused (400)."""
    from phiguard.collect.clients import Clients
    from phiguard.fix.api import ApiError, FixApi

    with FixApi(Clients(emu.base)) as api:
        def status(call: str, params: dict[str, Any], body: Any = None) -> int:
            try:
                api.call(call, params, body)
            except ApiError as exc:
                return exc.status
            return 200

        topic = {"resource": "projects/p1/topics/lab-results"}
        conditional = {"bindings": [{"role": "roles/pubsub.publisher", "members": ["user:a@x.org"],
                                     "condition": CONDITION}], "version": 3}
        assert status("pubsub.projects.topics.setIamPolicy", topic, {"policy": conditional}) == 400
        assert status("secretmanager.projects.secrets.getIamPolicy",
                      {"resource": "projects/111/secrets/db-password"}) == 400
        ds = {"projectId": "p1", "datasetId": "claims"}
        assert status("bigquery.datasets.patch", ds, {"access": [OWNERS, ANALYSTS]}) == 400
        assert status("bigquery.datasets.patch", {**ds, "accessPolicyVersion": 3}, {"access": [
            {"role": "READER", "userByEmail": "a@x.org", "groupByEmail": "g@x.org"}]}) == 400
        assert status("bigquery.datasets.patch", {**ds, "accessPolicyVersion": 3}, {"access": [
            {"role": "READER", "specialGroup": "allUsers"}]}) == 400
        assert status("bigquery.datasets.get", {**ds, "accessPolicyVersion": 2}) == 400
    assert len(emu.holders.datasets[("p1", "claims")]["access"]) == 4
