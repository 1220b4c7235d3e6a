"""The table of Google's JSON type per rule field (policy/data/field_types.json) is what the
discovery documents say, for every field the bundled rules read, and is read only when a
comparison meets a value of another type than its argument."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from _paths import RULES
from phiguard.findings import Outcome
from phiguard.google import field_schema
from phiguard.google.contracts import rule_reads
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy import field_types
from phiguard.policy.engine import Engine, evaluate
from phiguard.policy.paths import _suffix
from phiguard.policy.rule import load_pack

PACK = load_pack([RULES])


def test_the_table_is_generated_from_the_discovery_documents() -> None:
    stored = json.loads(field_types.TABLE_PATH.read_text(encoding="utf-8"))
    assert stored == field_types.generate(PACK.rules), (
        "stale: regenerate with `python -m phiguard.policy.field_types`")
    assert field_types.render(stored) == field_types.TABLE_PATH.read_text(encoding="utf-8")


def test_the_table_says_what_google_defines() -> None:
    types = json.loads(field_types.TABLE_PATH.read_text(encoding="utf-8"))["types"]
    cluster = types["container.googleapis.com/Cluster"]
    assert cluster["data.nodePools[*].management.autoUpgrade"] == "boolean"
    assert cluster["data.releaseChannel.channel"] == "string"
    # int64 is a JSON string in Google's APIs (discovery: type string, format int64)
    bucket = types["storage.googleapis.com/Bucket"]
    assert bucket["data.retentionPolicy.retentionPeriod"] == "int64"
    schema = field_schema("storage.googleapis.com/Bucket", "data.retentionPolicy.retentionPeriod")
    assert schema is not None
    assert (schema["type"], schema["format"]) == ("string", "int64")


def test_every_compared_rule_field_is_in_the_table() -> None:
    types = json.loads(field_types.TABLE_PATH.read_text(encoding="utf-8"))["types"]
    missing = []
    for rule in PACK.rules:
        for read in rule_reads(rule):
            if not read.literals:
                continue
            key = "data" + "".join("[*]" if s == "[*]" else _suffix(s) for s in read.path)
            for t in read.asset_types:
                schema = field_schema(t, read.path)
                if schema is not None and schema.get("type") in ("string", "boolean") \
                        and key not in types.get(t, {}):
                    missing.append((rule.id, t, key))
    assert not missing


def test_the_table_is_read_only_when_a_comparison_meets_another_type(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(field_types, "_TABLE", None)
    rule = next(r for r in PACK.rules if r.id == "GKE-009")
    now = datetime(2026, 11, 25, tzinfo=UTC)

    def judge(auto: object) -> Outcome:
        asset = Asset("//container.googleapis.com/projects/p/locations/l/clusters/c",
                      "container.googleapis.com/Cluster",
                      {"name": "c", "releaseChannel": {"channel": "REGULAR"},
                       "nodePools": [{"name": "p", "management": {"autoUpgrade": auto}}]},
                      ancestors=("projects/1", "organizations/1"))
        inv = Inventory([asset], phi=PhiConfig(all=True))
        (f,) = [f for f in evaluate([asset], inv, Engine([rule]), now) if f.rule_id == "GKE-009"]
        return f.outcome

    assert judge(True) is Outcome.PASS
    assert judge(False) is Outcome.FAIL
    assert field_types._TABLE is None
    assert judge("true") is Outcome.UNKNOWN
    assert field_types._TABLE is not None
