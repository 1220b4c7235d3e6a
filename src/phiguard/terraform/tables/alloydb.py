"""Converter table for AlloyDB clusters (alloydb v1beta, the version Google's converter and
CAI name)."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.values import is_unknown, tf_get


def _cluster_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    scope = ctx.scope(ctx.change, values)
    cluster = tf_get(values, "cluster_id")
    if isinstance(cluster, str):
        data["name"] = (f"projects/{scope['project']}/locations/{scope['location']}"
                        f"/clusters/{cluster}")
    # A cluster created without encryption_config is encrypted with Google's default key; the
    # API reports it in the output field encryptionInfo.
    config = tf_get(values, "encryption_config")
    if not is_unknown(config) and not config:
        data["encryptionInfo"] = {"encryptionType": "GOOGLE_DEFAULT_ENCRYPTION"}


register(
    Converter(
        tf_type="google_alloydb_cluster", asset_type="alloydb.googleapis.com/Cluster",
        name="//alloydb.googleapis.com/projects/{project}/locations/{location}/clusters/{cluster}",
        names={"cluster": Field("cluster_id", "")},
        location="{location}",
        fields=(Field("display_name", "displayName"), Field("labels", "labels"),
                Field("encryption_config.kms_key_name", "encryptionConfig.kmsKeyName", ref="{}")),
        build=_cluster_build),
)
