"""Values of a shape Google does not define read as UNKNOWN, never as absent, in both engines.

Google's Terraform-to-CAI converter writes Terraform block shapes (`releaseChannel` as a list
of one object, where container v1 defines an object) and Config Validator's fixtures carry
`management.autoUpgrade: "true"` (a string where container v1 defines a boolean). A key walked
through a value that is not an object, and a compared leaf of another JSON type than Google's
schema, must give UNKNOWN with a reason naming the path, not a FAIL or a PASS resting on data
that was never understood. A default stands for the full path it defaults, in evidence too.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _engines import interpreted
from _paths import RULES
from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.engine import Engine, evaluate
from phiguard.policy.rule import Rule, load_pack, load_rule

NOW = datetime(2026, 11, 25, tzinfo=UTC)
GKE = "container.googleapis.com/Cluster"
SQL = "sqladmin.googleapis.com/Instance"
RUN = "run.googleapis.com/Service"
ANC = ("projects/111", "organizations/1")
PACK = {r.id: r for r in load_pack([RULES]).rules}

ENGINES = ["generated", "interpreted"]


def _engine_context(kind: str) -> Any:
    return interpreted() if kind == "interpreted" else nullcontext()


def _judge(kind: str, rule: Rule, asset: Asset) -> Finding:
    with _engine_context(kind):
        inv = Inventory([asset], phi=PhiConfig(all=True))
        found = [f for f in evaluate([asset], inv, Engine([rule]), NOW)
                 if f.rule_id == rule.id and f.asset == asset.name]
    assert len(found) == 1, found
    return found[0]


def _cluster(**data: Any) -> Asset:
    return Asset("//container.googleapis.com/projects/p/locations/us-east4/clusters/c", GKE,
                 {"name": "c", **data}, ancestors=ANC)


def _pool(**management: Any) -> dict[str, Any]:
    return {"name": "pool", "management": management}


# ------------------------------------------------------------------ a key through a non-object


@pytest.mark.parametrize("kind", ENGINES)
def test_a_release_channel_written_as_a_terraform_block_is_unknown_not_absent(kind: str) -> None:
    # tfplan2cai writes `releaseChannel: [{channel: REGULAR}]`: read as absent, the default
    # UNSPECIFIED made GKE-009 FAIL "not enrolled in a release channel".
    asset = _cluster(releaseChannel=[{"channel": "REGULAR"}],
                     nodePools=[_pool(autoUpgrade=True)])
    got = _judge(kind, PACK["GKE-009"], asset)
    assert got.outcome is Outcome.UNKNOWN, got
    assert "data.releaseChannel is a list where Google defines an object" in got.message


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize(("value", "name"), [("REGULAR", "a string"), (3, "a number"),
                                             (True, "a boolean"), (2.5, "a number")])
def test_a_key_through_a_scalar_is_unknown(kind: str, value: Any, name: str) -> None:
    asset = _cluster(releaseChannel=value, nodePools=[_pool(autoUpgrade=True)])
    got = _judge(kind, PACK["GKE-009"], asset)
    assert got.outcome is Outcome.UNKNOWN, got
    assert f"data.releaseChannel is {name} where Google defines an object" in got.message


@pytest.mark.parametrize("kind", ENGINES)
def test_a_key_through_a_list_inside_a_fan_out_names_the_list(kind: str) -> None:
    # `nodePools[*].management.autoUpgrade` where one pool's management is a block (a list)
    asset = _cluster(releaseChannel={"channel": "REGULAR"},
                     nodePools=[_pool(autoUpgrade=True),
                                {"name": "p2", "management": [{"autoUpgrade": True}]}])
    got = _judge(kind, PACK["GKE-009"], asset)
    assert got.outcome is Outcome.UNKNOWN, got
    assert "data.nodePools[1].management is a list where Google defines an object" in got.message


@pytest.mark.parametrize("kind", ENGINES)
def test_the_api_shape_still_passes_and_fails(kind: str) -> None:
    ok = _cluster(releaseChannel={"channel": "REGULAR"}, nodePools=[_pool(autoUpgrade=True)])
    assert _judge(kind, PACK["GKE-009"], ok).outcome is Outcome.PASS
    off = _cluster(releaseChannel={"channel": "REGULAR"}, nodePools=[_pool(autoUpgrade=False)])
    assert _judge(kind, PACK["GKE-009"], off).outcome is Outcome.FAIL
    none = _cluster(nodePools=[_pool(autoUpgrade=True)])
    assert _judge(kind, PACK["GKE-009"], none).outcome is Outcome.FAIL


# ------------------------------------------------------------------ a leaf of another JSON type


@pytest.mark.parametrize("kind", ENGINES)
def test_auto_upgrade_written_as_a_string_is_unknown_not_fail(kind: str) -> None:
    # 43 policy-library node pools carry `management.autoUpgrade: "true"`
    asset = _cluster(releaseChannel={"channel": "REGULAR"},
                     nodePools=[_pool(autoUpgrade="true")])
    got = _judge(kind, PACK["GKE-009"], asset)
    assert got.outcome is Outcome.UNKNOWN, got
    assert ("data.nodePools[0].management.autoUpgrade is a string where Google defines a "
            "boolean") in got.message


def _rule(tmp_path: Path, asset_type: str, assert_: Any) -> Rule:
    doc: dict[str, Any] = {
        "id": "SHP-901", "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [asset_type], "scope": "all", "assert": assert_,
        "remediation": {"summary": "fix it"},
    }
    folder = tmp_path / "SHP-901"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_rule(folder / "rule.yaml")


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("assert_", [
    {"path": "data.legacyAbac.enabled", "not_equals": True},
    {"path": "data.legacyAbac.enabled", "not_in": [True]},
    {"path": "data.legacyAbac.enabled", "equals": False},
    {"path": "data.legacyAbac.enabled", "in": [False]},
    {"not": {"path": "data.legacyAbac.enabled", "equals": True}},
])
def test_a_string_for_a_boolean_decides_neither_way(kind: str, assert_: Any,
                                                     tmp_path: Path) -> None:
    # "true" differs from true: read as is, `not_equals: true` would PASS on a cluster whose
    # legacy ABAC is on, and `equals: false` would FAIL it for a reason never understood.
    rule = _rule(tmp_path, GKE, assert_)
    got = _judge(kind, rule, _cluster(legacyAbac={"enabled": "true"}))
    assert got.outcome is Outcome.UNKNOWN, got
    assert "data.legacyAbac.enabled is a string where Google defines a boolean" in got.message
    # the API's own boolean is judged as before
    assert _judge(kind, rule, _cluster(legacyAbac={"enabled": False})).outcome is Outcome.PASS
    assert _judge(kind, rule, _cluster(legacyAbac={"enabled": True})).outcome is Outcome.FAIL


@pytest.mark.parametrize("kind", ENGINES)
def test_a_param_argument_is_checked_too(kind: str) -> None:
    # TLS-006 compares sslMode with its parameter `encrypted_modes`
    sql = Asset("//cloudsql.googleapis.com/projects/p/instances/db", SQL,
                {"name": "db", "databaseVersion": "POSTGRES_16",
                 "settings": {"ipConfiguration": {"sslMode": ["ENCRYPTED_ONLY"],
                                                  "requireSsl": True}}}, ancestors=ANC)
    got = _judge(kind, PACK["TLS-006"], sql)
    assert got.outcome is Outcome.UNKNOWN, got
    assert ("data.settings.ipConfiguration.sslMode is a list where Google defines a string"
            in got.message)


BUCKET = "storage.googleapis.com/Bucket"


def _bucket(**data: Any) -> Asset:
    return Asset("//storage.googleapis.com/b", BUCKET, {"name": "b", **data}, ancestors=ANC)


@pytest.mark.parametrize("kind", ENGINES)
def test_an_int64_is_a_json_string(kind: str, tmp_path: Path) -> None:
    # int64 fields are JSON strings in Google's APIs (discovery `type: string, format:
    # int64`): "30" is the field's value; a number there is compared with a string literal
    # and differs from every one, so it decides nothing.
    rule = _rule(tmp_path, BUCKET, {"path": "data.retentionPolicy.retentionPeriod",
                                    "not_equals": "31"})
    assert _judge(kind, rule, _bucket(retentionPolicy={"retentionPeriod": "30"})).outcome \
        is Outcome.PASS
    assert _judge(kind, rule, _bucket(retentionPolicy={"retentionPeriod": "31"})).outcome \
        is Outcome.FAIL
    got = _judge(kind, rule, _bucket(retentionPolicy={"retentionPeriod": 31}))
    assert got.outcome is Outcome.UNKNOWN, got
    assert ("data.retentionPolicy.retentionPeriod is a number where Google defines a string "
            "(int64)") in got.message


@pytest.mark.parametrize("kind", ENGINES)
def test_an_integer_written_as_a_string_is_unknown(kind: str, tmp_path: Path) -> None:
    rule = _rule(tmp_path, SQL, {
        "path": "data.settings.backupConfiguration.transactionLogRetentionDays", "in": [7, 14]})
    sql = Asset("//cloudsql.googleapis.com/projects/p/instances/db", SQL,
                {"name": "db", "settings": {"backupConfiguration": {
                    "transactionLogRetentionDays": "7"}}}, ancestors=ANC)
    got = _judge(kind, rule, sql)
    assert got.outcome is Outcome.UNKNOWN, got
    assert ("data.settings.backupConfiguration.transactionLogRetentionDays is a string where "
            "Google defines an integer") in got.message


@pytest.mark.parametrize("kind", ENGINES)
def test_a_field_the_table_does_not_know_keeps_its_verdict(kind: str, tmp_path: Path) -> None:
    # (no rule reads `data.description`: the table has no type for it, nothing is said)
    rule = _rule(tmp_path, GKE, {"path": "data.description", "not_equals": True})
    assert _judge(kind, rule, _cluster(description="true")).outcome is Outcome.PASS


# ------------------------------------------------------------------ defaults name their path


@pytest.mark.parametrize("kind", ENGINES)
def test_a_default_is_evidence_of_the_full_path(kind: str) -> None:
    # no `releaseChannel` at all: the default UNSPECIFIED stands for releaseChannel.channel
    got = _judge(kind, PACK["GKE-009"], _cluster(nodePools=[_pool(autoUpgrade=True)]))
    evidence = dict(got.evidence)
    assert evidence.get("data.releaseChannel.channel") == "UNSPECIFIED", evidence
    # (the declared evidence shows where the record stops: absent, never the default)
    assert evidence.get("data.releaseChannel") is None, evidence


@pytest.mark.parametrize("kind", ENGINES)
def test_a_default_inside_a_quantifier_is_evidence_of_the_full_path(kind: str) -> None:
    got = _judge(kind, PACK["GKE-009"], _cluster(releaseChannel={"channel": "REGULAR"},
                                                 nodePools=[{"name": "pool"}]))
    assert got.outcome is Outcome.FAIL, got
    evidence = dict(got.evidence)
    assert evidence.get("data.nodePools[0].management.autoUpgrade") is False, evidence
    assert "data.nodePools[0].management" not in evidence, evidence


# ------------------------------------------------------------------ both engines alike


@pytest.mark.parametrize("assert_", [
    {"path": "data.legacyAbac.enabled", "not_equals": True, "default": False},
    {"path": "data.legacyAbac.enabled", "in": [False], "default": False},
    {"path": "data.releaseChannel.channel", "not_in": ["UNSPECIFIED"], "default": "UNSPECIFIED"},
    {"path": "data.nodePools", "every": {"path": "item.management.autoUpgrade",
                                         "equals": True, "default": False}},
    {"path": "data.nodePools[*].management.autoUpgrade", "contains": False},
    {"path": "data.nodePools[0].management", "exists": False},
    {"path": "data.releaseChannel.channel", "equals": {"path": "data.legacyAbac.enabled"}},
])
def test_odd_shapes_judged_alike_by_both_engines(assert_: Any, tmp_path: Path) -> None:
    rule = _rule(tmp_path, GKE, assert_)
    odd: list[Any] = [None, "true", 1, 1.5, True, [], [{"channel": "RAPID"}], {"enabled": "x"},
                      {"channel": ["REGULAR"]}, {}]
    for i, value in enumerate(odd):
        asset = _cluster(legacyAbac=value, releaseChannel=value,
                         nodePools=[_pool(autoUpgrade=value), {"name": "p", "management": value},
                                    value])
        got = [_judge(kind, rule, asset) for kind in ENGINES]
        assert got[0] == got[1], (i, value)


@pytest.mark.parametrize("kind", ENGINES)
def test_a_format_part_that_is_a_list_is_unknown_not_absent(kind: str, tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "id": "SHP-902", "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [GKE], "scope": "all",
        "let": {"ref": {"format": "{data.name}/x"}},
        "assert": {"path": "ref", "not_equals": "c/x", "default": "none"},
        "remediation": {"summary": "fix it"},
    }
    folder = tmp_path / "SHP-902"
    folder.mkdir()
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    rule = load_rule(folder / "rule.yaml")
    assert _judge(kind, rule, _cluster()).outcome is Outcome.FAIL  # name "c"
    odd = Asset("//container.googleapis.com/projects/p/locations/l/clusters/c", GKE,
                {"name": ["c"]}, ancestors=ANC)
    got = _judge(kind, rule, odd)
    assert got.outcome is Outcome.UNKNOWN, got  # was the default, "none": PASS
    assert "ref is made from data.name, a list where Google defines a string" in got.message
