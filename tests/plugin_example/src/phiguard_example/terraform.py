"""The `phiguard.converters` entry point: planned `google_pubsub_subscription` resources become
`pubsub.googleapis.com/Subscription` assets (REST field names of Pub/Sub v1's Subscription)."""

from __future__ import annotations

from phiguard.terraform.convert import Converter, Field

CONVERTERS = [
    Converter(
        tf_type="google_pubsub_subscription", asset_type="pubsub.googleapis.com/Subscription",
        name="//pubsub.googleapis.com/projects/{project}/subscriptions/{name}",
        fields=(Field("retain_acked_messages", "retainAckedMessages"),
                Field("message_retention_duration", "messageRetentionDuration")),
    ),
]
