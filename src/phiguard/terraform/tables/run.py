"""Converter tables for Cloud Run services (v1 and v2 resources, both as CAI shows them) and
their IAM."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import (
    known,
)
from phiguard.terraform.tables.iam import iam_parts, named_parent
from phiguard.terraform.values import is_unknown, tf_get

SERVICE_TYPE = "run.googleapis.com/Service"

ANNOTATION_PREFIX = "run.googleapis.com/"  # v1 annotation keys
# Cloud Run v2 enums -> the v1 annotation values (cloud.google.com/run/docs reference)
_INGRESS = {"INGRESS_TRAFFIC_ALL": "all", "INGRESS_TRAFFIC_INTERNAL_ONLY": "internal",
            "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": "internal-and-cloud-load-balancing"}
_EGRESS = {"ALL_TRAFFIC": "all-traffic", "PRIVATE_RANGES_ONLY": "private-ranges-only"}


def _v2_ingress(values: Any, ctx: Context) -> Any:
    """The v1 annotation value of a v2 `ingress`: the API's default (all traffic) when the
    configuration leaves it unset, unknown for a value with no v1 annotation form."""
    ingress = tf_get(values, "ingress")
    if is_unknown(ingress) and ctx.change is not None and ctx.configured(
            ctx.change, "ingress") is False:
        return _INGRESS["INGRESS_TRAFFIC_ALL"]
    if isinstance(ingress, str):
        return _INGRESS.get(ingress) or UnknownValue(
            f"ingress {ingress} has no run.googleapis.com/ingress annotation value")
    return ingress


def _run_v1_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """Annotations the configuration leaves to the API (the whole `metadata` block known only
    after apply) still hold the ingress Cloud Run sets by default: all traffic."""
    meta = data.get("metadata")
    if (isinstance(meta, dict) and is_unknown(meta.get("annotations"))
            and is_unknown(tf_get(values, "metadata")) and ctx.change is not None
            and ctx.configured(ctx.change, "metadata") is False):
        meta["annotations"] = {ANNOTATION_PREFIX + "ingress": "all"}


def _run_v2_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """The v2 attributes CAI shows as v1 annotations (their keys hold dots)."""
    def annotate(node: dict[str, Any], key: str, value: Any) -> None:
        if value is not None:
            node.setdefault("annotations", {})[ANNOTATION_PREFIX + key] = value
    annotate(data.setdefault("metadata", {}), "ingress", _v2_ingress(values, ctx))
    template = data.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    annotate(template, "vpc-access-connector", tf_get(values, "template.vpc_access.connector"))
    egress = tf_get(values, "template.vpc_access.egress")
    annotate(template, "vpc-access-egress",
             _EGRESS.get(egress, egress) if isinstance(egress, str) else egress)
    if not template:  # nothing to annotate: leave no empty objects behind
        spec = data["spec"]
        del spec["template"]["metadata"]
        if not spec["template"]:
            del spec["template"]
        if not spec:
            del data["spec"]


def _run_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    name = known(values, "service", ctx, want_ref=False)
    location = tf_get(values, "location")
    if not isinstance(name, str) or ctx.change is None:
        return None
    if "/" not in name:
        if not isinstance(location, str):
            return None
        name = (f"projects/{ctx.project_of(ctx.change, values)}/locations/{location}/"
                f"services/{name}")
    return SERVICE_TYPE, "//run.googleapis.com/" + ref_key(name)


register(
    Converter(
        tf_type="google_cloud_run_service", asset_type=SERVICE_TYPE,
        name="//run.googleapis.com/projects/{project}/locations/{location}/services/{name}",
        location="{location}",
        fields=(Field("name", "metadata.name"),
                Field("template.spec.service_account_name",
                      "spec.template.spec.serviceAccountName"),
                Field("metadata.annotations", "metadata.annotations")),
        build=_run_v1_build),
    Converter(
        tf_type="google_cloud_run_v2_service", asset_type=SERVICE_TYPE,
        name="//run.googleapis.com/projects/{project}/locations/{location}/services/{name}",
        location="{location}",
        # CAI shows every Cloud Run service in the v1 (Knative) form, whichever API made it
        fields=(Field("name", "metadata.name"),
                Field("template.service_account", "spec.template.spec.serviceAccountName")),
        build=_run_v2_build),
    *iam_parts("google_cloud_run_service", _run_parent),
    *iam_parts("google_cloud_run_v2_service", named_parent(
        SERVICE_TYPE, "run.googleapis.com", "name",
        "projects/{project}/locations/{location}/services/{name}", {"location": "location"})),
)
