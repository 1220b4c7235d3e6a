"""Converter table for Cloud Spanner databases (the key is per database; the Instance schema
has none)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import last_segment


def _database_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    scope = ctx.scope(ctx.change, values)
    instance = last_segment(values.get("instance"), ctx) if isinstance(values, dict) else None
    if isinstance(instance, str) and instance:
        data["name"] = f"projects/{scope['project']}/instances/{instance}/databases/{scope['name']}"


register(
    Converter(
        tf_type="google_spanner_database", asset_type="spanner.googleapis.com/Database",
        name="//spanner.googleapis.com/projects/{project}/instances/{instance}/databases/{name}",
        names={"instance": Field("instance", "", last_segment)},
        fields=(Field("encryption_config.kms_key_name", "encryptionConfig.kmsKeyName", ref="{}"),
                Field("encryption_config.kms_key_names", "encryptionConfig.kmsKeyNames"),
                Field("database_dialect", "databaseDialect"),
                Field("version_retention_period", "versionRetentionPeriod"),
                Field("enable_drop_protection", "enableDropProtection")),
        build=_database_build),
)
