"""Converter table for Dataproc clusters (`google_dataproc_cluster` -> dataproc v1 `Cluster`).
The provider's `encryption_config.kms_key_name` is the REST `gcePdKmsKeyName` (the key of the
nodes' persistent disks); a cluster without it uses Google-managed keys."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    register,
)

register(
    Converter(
        tf_type="google_dataproc_cluster", asset_type="dataproc.googleapis.com/Cluster",
        name="//dataproc.googleapis.com/projects/{project}/regions/{region}/clusters/{name}",
        location="{region}",
        fields=(Field("name", "clusterName"), Field("labels", "labels"),
                Field("cluster_config.encryption_config.kms_key_name",
                      "config.encryptionConfig.gcePdKmsKeyName", ref="{}"),
                Field("cluster_config.gce_cluster_config.internal_ip_only",
                      "config.gceClusterConfig.internalIpOnly"),
                Field("cluster_config.gce_cluster_config.service_account",
                      "config.gceClusterConfig.serviceAccount")),
    ),
)
