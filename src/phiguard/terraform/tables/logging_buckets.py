"""Converter table for Cloud Logging buckets of a project (`google_logging_project_bucket_config`,
which creates a bucket or takes over `_Default` / `_Required`)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.values import tf_get


def _bucket_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    scope = ctx.scope(ctx.change, values)
    bucket = tf_get(values, "bucket_id")
    if isinstance(bucket, str) and isinstance(scope.get("location"), str):
        data["name"] = f"projects/{scope['project']}/locations/{scope['location']}/buckets/{bucket}"


register(
    Converter(
        tf_type="google_logging_project_bucket_config",
        asset_type="logging.googleapis.com/LogBucket",
        name="//logging.googleapis.com/projects/{project}/locations/{location}/buckets/{bucket}",
        names={"bucket": Field("bucket_id", "")},
        location="{location}",
        fields=(Field("description", "description"),
                Field("retention_days", "retentionDays", api_default=30),
                Field("locked", "locked", api_default=False),
                Field("cmek_settings.kms_key_name", "cmekSettings.kmsKeyName", ref="{}")),
        build=_bucket_build),
)
