"""Converter table for Pub/Sub topics (the topic itself; its IAM is in `pubsub`)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)


def _topic_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        scope = ctx.scope(ctx.change, values)
        data["name"] = f"projects/{scope['project']}/topics/{scope['name']}"


register(
    Converter(
        tf_type="google_pubsub_topic", asset_type="pubsub.googleapis.com/Topic",
        name="//pubsub.googleapis.com/projects/{project}/topics/{name}",
        location="global",
        fields=(Field("kms_key_name", "kmsKeyName", ref="{}"), Field("labels", "labels"),
                Field("message_retention_duration", "messageRetentionDuration"),
                Field("message_storage_policy.allowed_persistence_regions",
                      "messageStoragePolicy.allowedPersistenceRegions")),
        build=_topic_build),
)
