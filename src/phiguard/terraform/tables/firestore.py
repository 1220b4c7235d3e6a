"""Converter table for Firestore databases (Native and Datastore mode)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)


def _database_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        scope = ctx.scope(ctx.change, values)
        data["name"] = f"projects/{scope['project']}/databases/{scope['name']}"


register(
    Converter(
        tf_type="google_firestore_database", asset_type="firestore.googleapis.com/Database",
        name="//firestore.googleapis.com/projects/{project}/databases/{name}",
        location="{location_id}",
        names={"location_id": Field("location_id", "")},
        fields=(Field("location_id", "locationId"), Field("type", "type"),
                Field("concurrency_mode", "concurrencyMode"),
                Field("delete_protection_state", "deleteProtectionState"),
                Field("point_in_time_recovery_enablement", "pointInTimeRecoveryEnablement"),
                Field("cmek_config.kms_key_name", "cmekConfig.kmsKeyName", ref="{}")),
        build=_database_build),
)
