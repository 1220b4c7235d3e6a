"""Converter tables for Cloud Functions: 1st gen (`google_cloudfunctions_function`, the
Cloud Functions v1 `CloudFunction`) and 2nd gen (`google_cloudfunctions2_function`, the v2
`Function`), in the REST shapes Cloud Asset Inventory stores for them.

The runtime service account is left to the API when the configuration does not choose one
(1st gen: the App Engine default, 2nd gen: the default compute account), so the plan knows it
only after apply and the asset carries it as unknown. Ingress is `ALLOW_ALL` when not set, as
the API documents. The functions' IAM resources (`_iam_member`, `_binding`, `_policy`) change
the function's IAM policy.
"""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import location_scoped_name
from phiguard.terraform.tables.iam import iam_parts, named_parent

GEN1_TYPE = "cloudfunctions.googleapis.com/CloudFunction"
GEN2_TYPE = "cloudfunctions.googleapis.com/Function"


def _gen1_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    location_scoped_name(data, values, ctx, "functions", "region")


def _gen2_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    location_scoped_name(data, values, ctx, "functions", "location")


register(
    Converter(
        tf_type="google_cloudfunctions_function", asset_type=GEN1_TYPE,
        name="//cloudfunctions.googleapis.com/projects/{project}/locations/{region}/"
             "functions/{name}",
        location="{region}",
        fields=(Field("runtime", "runtime"), Field("entry_point", "entryPoint"),
                Field("ingress_settings", "ingressSettings", api_default="ALLOW_ALL"),
                Field("service_account_email", "serviceAccountEmail"),
                Field("available_memory_mb", "availableMemoryMb"),
                Field("max_instances", "maxInstances"), Field("labels", "labels"),
                Field("vpc_connector", "vpcConnector"),
                Field("vpc_connector_egress_settings", "vpcConnectorEgressSettings"),
                Field("https_trigger_url", "httpsTrigger.url"),
                Field("https_trigger_security_level", "httpsTrigger.securityLevel")),
        build=_gen1_build),
    Converter(
        tf_type="google_cloudfunctions2_function", asset_type=GEN2_TYPE,
        name="//cloudfunctions.googleapis.com/projects/{project}/locations/{location}/"
             "functions/{name}",
        location="{location}",
        constants={"environment": "GEN_2"},
        fields=(Field("build_config.runtime", "buildConfig.runtime"),
                Field("build_config.entry_point", "buildConfig.entryPoint"),
                Field("service_config.ingress_settings", "serviceConfig.ingressSettings",
                      api_default="ALLOW_ALL"),
                Field("service_config.service_account_email",
                      "serviceConfig.serviceAccountEmail"),
                Field("service_config.available_memory", "serviceConfig.availableMemory"),
                Field("service_config.timeout_seconds", "serviceConfig.timeoutSeconds"),
                Field("service_config.max_instance_count", "serviceConfig.maxInstanceCount"),
                Field("service_config.vpc_connector", "serviceConfig.vpcConnector"),
                Field("service_config.vpc_connector_egress_settings",
                      "serviceConfig.vpcConnectorEgressSettings"),
                Field("service_config.uri", "serviceConfig.uri"),
                Field("kms_key_name", "kmsKeyName"), Field("labels", "labels")),
        build=_gen2_build),
)

register(
    *iam_parts("google_cloudfunctions_function", named_parent(
        GEN1_TYPE, "cloudfunctions.googleapis.com", "cloud_function",
        "projects/{project}/locations/{location}/functions/{name}", {"location": "region"})),
    *iam_parts("google_cloudfunctions2_function", named_parent(
        GEN2_TYPE, "cloudfunctions.googleapis.com", "cloud_function",
        "projects/{project}/locations/{location}/functions/{name}", {"location": "location"})),
)
