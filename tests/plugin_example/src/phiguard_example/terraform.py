"""The `phiguard.converters` entry point: planned `google_pubsub_topic` resources become
`pubsub.googleapis.com/Topic` assets (REST field names of Pub/Sub v1's Topic)."""

from __future__ import annotations

from phiguard.terraform.convert import Converter, Field

CONVERTERS = [
    Converter(
        tf_type="google_pubsub_topic", asset_type="pubsub.googleapis.com/Topic",
        name="//pubsub.googleapis.com/projects/{project}/topics/{name}",
        fields=(Field("kms_key_name", "kmsKeyName"),
                Field("message_retention_duration", "messageRetentionDuration")),
    ),
]
