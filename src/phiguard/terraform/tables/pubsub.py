"""Converter tables for the IAM of Pub/Sub topics and subscriptions.

The topics and subscriptions themselves are not converted here (an installed plugin may convert
`google_pubsub_topic`); their IAM resources change the holder's policy whichever made it."""

from __future__ import annotations

from phiguard.terraform.convert import register
from phiguard.terraform.tables.iam import iam_parts, named_parent

HOST = "pubsub.googleapis.com"

register(
    *iam_parts("google_pubsub_topic", named_parent(
        "pubsub.googleapis.com/Topic", HOST, "topic", "projects/{project}/topics/{name}")),
    *iam_parts("google_pubsub_subscription", named_parent(
        "pubsub.googleapis.com/Subscription", HOST, "subscription",
        "projects/{project}/subscriptions/{name}")),
)
