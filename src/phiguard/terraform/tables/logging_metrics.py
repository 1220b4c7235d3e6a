"""Converter table for Cloud Logging log-based metrics (CIS 2.5-2.12 read them)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)


def _descriptor_type(data: dict[str, Any], values: Any, ctx: Context) -> None:
    # The API derives a user metric's type from its name: logging.googleapis.com/user/NAME
    # (the alert policies that watch the metric name it so).
    name = data.get("name")
    if isinstance(name, str) and name:
        data.setdefault("metricDescriptor", {})["type"] = f"logging.googleapis.com/user/{name}"


register(
    Converter(
        tf_type="google_logging_metric", asset_type="logging.googleapis.com/LogMetric",
        name="//logging.googleapis.com/projects/{project}/metrics/{name}", location="global",
        fields=(Field("name", "name"), Field("filter", "filter"),
                Field("description", "description"),
                Field("disabled", "disabled", api_default=False),
                Field("bucket_name", "bucketName"),
                Field("metric_descriptor.metric_kind", "metricDescriptor.metricKind"),
                Field("metric_descriptor.value_type", "metricDescriptor.valueType")),
        build=_descriptor_type),
)
