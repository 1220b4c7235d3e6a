"""Cloud DNS zones, API keys and Dataproc clusters in a plan: what the API decides when the
configuration leaves it unset, and what the type itself determines (a new key's age)."""

from __future__ import annotations

from typing import Any

from _plans import change, make_plan
from phiguard.inventory.asset import UnknownValue
from phiguard.terraform.world import build_world

P = "phi-prod"


def _data(rtype: str, after: dict[str, Any], unknown: dict[str, Any] | None = None,
          config: dict[str, Any] | None = None, applied_at: str | None = None
          ) -> dict[str, Any]:
    plan = make_plan([change(rtype, "x", after, unknown=unknown)],
                     {f"{rtype}.x": config} if config is not None else None)
    plan.applied_at = applied_at
    (asset,) = build_world(plan, "after").assets.values()
    return asset.data


def test_zone_left_to_the_api_is_public_and_unsigned() -> None:
    """A zone whose configuration sets neither `visibility` nor `dnssec_config` is public and
    unsigned after apply (the API's defaults), so DNS-001 FAILs it instead of UNKNOWN."""
    data = _data("google_dns_managed_zone", {"name": "z", "project": P, "dns_name": "z.example."},
                 {"visibility": True, "dnssec_config": True},
                 {"name": {"constant_value": "z"}, "dns_name": {"constant_value": "z.example."}})
    assert data["visibility"] == "public"
    assert data["dnssecConfig"]["state"] == "off"


def test_zone_dnssec_from_an_expression_stays_unknown() -> None:
    data = _data("google_dns_managed_zone", {"name": "z", "project": P},
                 {"dnssec_config": [{"state": True}]},
                 {"dnssec_config": [{"state": {"references": ["var.dnssec"]}}]})
    assert isinstance(data["dnssecConfig"]["state"], UnknownValue)


def test_new_api_key_is_judged_as_created_at_apply() -> None:
    """KEY-003 reads createTime: a key the plan creates is as old as the apply (the gate's
    evaluation time), never a guess; without an evaluation time it stays absent (UNKNOWN)."""
    after = {"name": "maps", "project": P, "display_name": "maps"}
    data = _data("google_apikeys_key", after, applied_at="2026-12-07T12:00:00Z")
    assert data["createTime"] == "2026-12-07T12:00:00Z"
    assert data["name"] == f"projects/{P}/locations/global/keys/maps"
    assert "createTime" not in _data("google_apikeys_key", after)


def test_unrestricted_api_key_has_no_restrictions() -> None:
    data = _data("google_apikeys_key", {"name": "k", "project": P, "restrictions": []})
    assert "apiTargets" not in data.get("restrictions", {})


def test_dataproc_cluster_without_encryption_config_names_no_key() -> None:
    data = _data("google_dataproc_cluster",
                 {"name": "c", "project": P, "region": "us-east4",
                  "cluster_config": [{"encryption_config": []}]})
    assert data["clusterName"] == "c"
    assert "gcePdKmsKeyName" not in data.get("config", {}).get("encryptionConfig", {})
