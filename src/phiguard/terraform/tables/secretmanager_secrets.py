"""Converter table for Secret Manager secrets (the secret itself; its IAM is in
`secretmanager`). CAI names a secret by its project number, used when the plan or the snapshot
knows it, as the IAM pieces do."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    each,
    register,
)
from phiguard.terraform.values import tf_get


def _path(secret_id: Any, ctx: Context) -> Any:
    """projects/NUMBER/secrets/ID (the project id when its number is not known)."""
    if not isinstance(secret_id, str) or ctx.change is None:
        return secret_id
    project = ctx.project_of(ctx.change, ctx.values(ctx.change))
    return f"projects/{ctx.project_numbers.get(project, project)}/secrets/{secret_id}"


def _secret_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    secret_id = tf_get(values, "secret_id")
    if isinstance(secret_id, str):
        data["name"] = _path(secret_id, ctx)


_KEY = Field("customer_managed_encryption.kms_key_name", "customerManagedEncryption.kmsKeyName",
             ref="{}")

register(
    Converter(
        tf_type="google_secret_manager_secret", asset_type="secretmanager.googleapis.com/Secret",
        name="//secretmanager.googleapis.com/{path}",
        names={"path": Field("secret_id", "", _path)},
        location="global",
        fields=(Field("labels", "labels"),
                # the provider's `auto` block is the REST `automatic` replication
                Field("replication.auto.customer_managed_encryption.kms_key_name",
                      "replication.automatic.customerManagedEncryption.kmsKeyName", ref="{}"),
                Field("replication.user_managed.replicas", "replication.userManaged.replicas",
                      each(Field("location", "location"), _KEY)),
                Field("rotation.rotation_period", "rotation.rotationPeriod"),
                Field("rotation.next_rotation_time", "rotation.nextRotationTime"),
                Field("topics", "topics", each(Field("name", "name"))),
                Field("expire_time", "expireTime"), Field("ttl", "ttl")),
        build=_secret_build),
)
