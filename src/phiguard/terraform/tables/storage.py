"""Converter tables for Cloud Storage buckets and their IAM."""

from __future__ import annotations

from typing import Any

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
from phiguard.terraform.tables.iam import iam_parts
from phiguard.terraform.values import is_unknown, tf_get

BUCKET_TYPE = "storage.googleapis.com/Bucket"


def _int64(value: Any, ctx: Context) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_MULTI = {"US", "EU", "ASIA"}
_DUAL = {"NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1"}


def _bucket_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    location = data.get("location")
    placement = tf_get(values, "custom_placement_config.data_locations")
    if isinstance(placement, list) and placement:
        data["locationType"] = "dual-region"
    elif isinstance(location, str):
        data["locationType"] = ("multi-region" if location in _MULTI else
                                "dual-region" if location in _DUAL else "region")
    elif is_unknown(location):
        data["locationType"] = location
    name = data.get("name")
    if isinstance(name, str):
        data["selfLink"] = f"https://www.googleapis.com/storage/v1/b/{name}"


BUCKET = Converter(
    tf_type="google_storage_bucket", asset_type=BUCKET_TYPE,
    name="//storage.googleapis.com/{name}",
    constants={"kind": "storage#bucket"},
    fields=(Field("name", "name"), Field("location", "location",
                                         lambda v, c: v.upper() if isinstance(v, str) else v),
            Field("storage_class", "storageClass"),
            Field("versioning.enabled", "versioning.enabled", api_default=False),
            Field("soft_delete_policy.retention_duration_seconds",
                  "softDeletePolicy.retentionDurationSeconds", api_default=604800),
            Field("encryption.default_kms_key_name", "encryption.defaultKmsKeyName", ref="{}"),
            Field("uniform_bucket_level_access",
                  "iamConfiguration.uniformBucketLevelAccess.enabled", api_default=False),
            Field("public_access_prevention", "iamConfiguration.publicAccessPrevention",
                  api_default="inherited"),
            Field("labels", "labels"), Field("logging.log_bucket", "logging.logBucket"),
            # REST int64 fields are JSON strings, as Google's converter writes them
            Field("retention_policy.retention_period", "retentionPolicy.retentionPeriod",
                  _int64),
            # `is_locked = true` makes the provider lock the policy right after creation
            Field("retention_policy.is_locked", "retentionPolicy.isLocked")),
    build=_bucket_build)


def _bucket_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    bucket = known(values, "bucket", ctx, want_ref=False)
    if not isinstance(bucket, str):
        return None
    return BUCKET_TYPE, "//storage.googleapis.com/" + ref_key(
        bucket).removeprefix("b/").rsplit("/", 1)[-1]


register(
    BUCKET,
    *iam_parts("google_storage_bucket", _bucket_parent),
)
