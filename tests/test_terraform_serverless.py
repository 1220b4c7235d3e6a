"""Cloud Run and Cloud Functions in a plan: what the API decides when the configuration leaves
it unset (ingress: all traffic) and what only apply tells (the runtime service account)."""

from __future__ import annotations

from typing import Any

from _plans import change, make_plan
from phiguard.inventory.asset import UnknownValue
from phiguard.terraform.world import build_world

P = "phi-prod"
INGRESS = "run.googleapis.com/ingress"


def _data(rtype: str, after: dict[str, Any], unknown: dict[str, Any] | None = None,
          config: dict[str, Any] | None = None) -> dict[str, Any]:
    address = f"{rtype}.x"
    plan = make_plan([change(rtype, "x", after, unknown=unknown)],
                     {address: config} if config is not None else None)
    (asset,) = build_world(plan, "after").assets.values()
    return asset.data


RUN_V2 = {"name": "ehr-api", "project": P, "location": "us-central1"}


def test_run_v2_ingress_left_to_the_api_is_all_traffic() -> None:
    """Unset in the configuration, the planned `ingress` is known after apply; the API sets
    INGRESS_TRAFFIC_ALL, so the asset shows ingress `all` (SRV-001 fails it, not UNKNOWN)."""
    data = _data("google_cloud_run_v2_service", RUN_V2, {"ingress": True},
                 {"name": {"constant_value": "ehr-api"}})
    assert data["metadata"]["annotations"][INGRESS] == "all"


def test_run_v2_ingress_from_an_expression_stays_unknown() -> None:
    """Set from a value known only after apply, the ingress is unknown, not the default."""
    data = _data("google_cloud_run_v2_service", RUN_V2, {"ingress": True},
                 {"ingress": {"references": ["random_shuffle.ingress.result",
                                             "random_shuffle.ingress"]}})
    assert isinstance(data["metadata"]["annotations"][INGRESS], UnknownValue)


def test_run_v2_ingress_without_an_annotation_form_is_unknown_not_a_guess() -> None:
    """INGRESS_TRAFFIC_NONE admits nothing; phiguard knows no v1 annotation value for it, so
    the asset carries an unknown (UNKNOWN verdict) rather than a value SRV-001 would fail."""
    data = _data("google_cloud_run_v2_service", {**RUN_V2, "ingress": "INGRESS_TRAFFIC_NONE"})
    value = data["metadata"]["annotations"][INGRESS]
    assert isinstance(value, UnknownValue) and "INGRESS_TRAFFIC_NONE" in value.why


def test_run_v2_ingress_values_map_to_the_v1_annotation() -> None:
    for v2, v1 in (("INGRESS_TRAFFIC_ALL", "all"), ("INGRESS_TRAFFIC_INTERNAL_ONLY", "internal"),
                   ("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                    "internal-and-cloud-load-balancing")):
        data = _data("google_cloud_run_v2_service", {**RUN_V2, "ingress": v2})
        assert data["metadata"]["annotations"][INGRESS] == v1


def test_function_service_accounts_left_to_the_api_are_unknown() -> None:
    """The default runtime account is the API's choice: unknown in the plan, for both
    generations."""
    gen1 = _data("google_cloudfunctions_function",
                 {"name": "fn", "project": P, "region": "us-central1",
                  "ingress_settings": "ALLOW_INTERNAL_ONLY"},
                 {"service_account_email": True}, {"name": {"constant_value": "fn"}})
    assert isinstance(gen1["serviceAccountEmail"], UnknownValue)
    assert gen1["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
    gen2 = _data("google_cloudfunctions2_function",
                 {"name": "fn", "project": P, "location": "us-central1",
                  "service_config": [{"ingress_settings": "ALLOW_ALL"}]},
                 {"service_config": [{"service_account_email": True}]},
                 {"name": {"constant_value": "fn"}})
    assert isinstance(gen2["serviceConfig"]["serviceAccountEmail"], UnknownValue)
    assert gen2["serviceConfig"]["ingressSettings"] == "ALLOW_ALL"
    assert gen2["name"] == f"projects/{P}/locations/us-central1/functions/fn"


def test_function_ingress_left_to_the_api_is_allow_all() -> None:
    """A 1st gen function whose configuration sets no ingress gets ALLOW_ALL."""
    gen1 = _data("google_cloudfunctions_function",
                 {"name": "fn", "project": P, "region": "us-central1"},
                 {"ingress_settings": True}, {"name": {"constant_value": "fn"}})
    assert gen1["ingressSettings"] == "ALLOW_ALL"


RUN_V1 = {"name": "portal", "project": P, "location": "us-central1",
          "template": [{"spec": [{"containers": [{"image": "us-docker.pkg.dev/x/portal:1"}]}]}]}


def test_run_v1_metadata_left_to_the_api_has_ingress_all() -> None:
    """A google_cloud_run_service without a `metadata` block has its annotations only after
    apply; Cloud Run's default ingress (all) is among them, as Google's CAI shows it."""
    data = _data("google_cloud_run_service", RUN_V1, {"metadata": True},
                 {"name": {"constant_value": "portal"}})
    assert data["metadata"]["annotations"][INGRESS] == "all"


def test_run_v1_annotations_from_an_expression_stay_unknown() -> None:
    data = _data("google_cloud_run_service", RUN_V1, {"metadata": True},
                 {"metadata": [{"annotations": {"references": ["var.annotations"]}}]})
    assert isinstance(data["metadata"]["annotations"], UnknownValue)
