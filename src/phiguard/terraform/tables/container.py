"""Converter tables for GKE clusters and node pools."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    Part,
    register,
)
from phiguard.terraform.tables._refs import (
    NETWORK,
    known,
    last_segment,
)
from phiguard.terraform.values import is_unknown, tf_get

CLUSTER_TYPE = "container.googleapis.com/Cluster"


def _pool(block: Any, sa: Any = "default") -> Any:
    """A node pool as the cluster's REST body lists it; `sa` stands in for an unset account."""
    if not isinstance(block, dict):
        return block
    account = tf_get(block, "node_config.service_account")
    pool: dict[str, Any] = {
        "name": block.get("name"),
        "config": {"serviceAccount": account if account is not None and not is_unknown(
            account) else sa},
        **({"locations": block["node_locations"]}
           if isinstance(block.get("node_locations"), list) else {})}
    secure_boot = tf_get(block, "node_config.shielded_instance_config.enable_secure_boot")
    if secure_boot is not None:
        pool["config"]["shieldedInstanceConfig"] = {"enableSecureBoot": secure_boot}
    auto_upgrade = tf_get(block, "management.auto_upgrade")
    if auto_upgrade is not None:
        pool["management"] = {"autoUpgrade": auto_upgrade}
    private = tf_get(block, "network_config.enable_private_nodes")
    if private is not None:
        pool["networkConfig"] = {"enablePrivateNodes": private}
    return pool


def _pool_piece(values: Any, ctx: Context) -> Any:
    sa: Any = "default"
    change = ctx.change
    if change is not None and is_unknown(tf_get(values, "node_config.service_account")) and \
            ctx.configured(change, "node_config.service_account") is not False:
        sa = ctx.resolve(change, "node_config.service_account", False)
    return _pool(values, sa)


def _cluster_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    pools = []
    if tf_get(values, "remove_default_node_pool") is not True:
        pools.append(_pool({"name": "default-pool",
                            "node_config": tf_get(values, "node_config")}))
    inline = tf_get(values, "node_pool")
    raw = values.get("node_pool") if isinstance(values, dict) else None
    if isinstance(raw, list) and inline is not None:
        pools += [_pool(p) for p in raw]
    channel = tf_get(values, "release_channel.channel")
    if isinstance(channel, str) and channel not in ("", "UNSPECIFIED"):
        # node auto-upgrade is always on, and cannot be turned off, in a release channel
        for pool in pools:
            if isinstance(pool, dict) and "management" not in pool:
                pool["management"] = {"autoUpgrade": True}
    data["nodePools"] = pools
    location = data.get("location")
    zonal = isinstance(location, str) and location.count("-") == 2
    unset = "locations" not in data or (
        is_unknown(data["locations"]) and ctx.change is not None
        and ctx.configured(ctx.change, "node_locations") is False)
    if zonal and unset:  # the API puts a zonal cluster's nodes in its zone
        data["locations"] = [location]
    elif unset and "locations" in data:
        # node zones the configuration leaves to GKE (the region's default zones): no list
        # that narrows them, as Google's converter writes it
        del data["locations"]
    _authorized_networks(data, values)
    config = data.get("networkConfig")
    network = config.get("network") if isinstance(config, dict) else None
    if isinstance(network, str):
        data["network"] = network.rsplit("/", 1)[-1]


def _authorized_networks(data: dict[str, Any], values: Any) -> None:
    """A `master_authorized_networks_config` block turns authorized networks on, with its
    `cidr_blocks`; without the block they are off (the API leaves `enabled` out)."""
    raw = values.get("master_authorized_networks_config") if isinstance(values, dict) else None
    if is_unknown(raw):
        data["masterAuthorizedNetworksConfig"] = raw
        return
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], dict):
        return
    block = raw[0]
    config: dict[str, Any] = {"enabled": True}
    cidrs = block.get("cidr_blocks")
    if is_unknown(cidrs):
        config["cidrBlocks"] = cidrs
    elif isinstance(cidrs, list):
        config["cidrBlocks"] = [
            c if not isinstance(c, dict) else {
                k: v for k, v in (("cidrBlock", c.get("cidr_block")),
                                  ("displayName", c.get("display_name"))) if v is not None}
            for c in cidrs]
    public = block.get("gcp_public_cidrs_access_enabled")
    if public is not None:
        config["gcpPublicCidrsAccessEnabled"] = public
    data["masterAuthorizedNetworksConfig"] = config


CLUSTER = Converter(
    tf_type="google_container_cluster", asset_type=CLUSTER_TYPE,
    name="//container.googleapis.com/projects/{project}/locations/{location}/clusters/{name}",
    location="{location}",
    fields=(Field("name", "name"), Field("location", "location"),
            Field("node_locations", "locations"),
            Field("network", "networkConfig.network", ref=NETWORK),
            Field("subnetwork", "networkConfig.subnetwork", ref="{}"),
            Field("logging_service", "loggingService",
                  api_default="logging.googleapis.com/kubernetes"),
            Field("logging_config.enable_components",
                  "loggingConfig.componentConfig.enableComponents", api_default=None),
            Field("database_encryption.state", "databaseEncryption.state",
                  api_default="DECRYPTED"),
            Field("database_encryption.key_name", "databaseEncryption.keyName", ref="{}",
                  api_default=None),
            Field("workload_identity_config.workload_pool", "workloadIdentityConfig.workloadPool",
                  api_default=None),
            Field("private_cluster_config.enable_private_nodes",
                  "privateClusterConfig.enablePrivateNodes"),
            Field("private_cluster_config.enable_private_endpoint",
                  "privateClusterConfig.enablePrivateEndpoint"),
            Field("enable_legacy_abac", "legacyAbac.enabled", api_default=False),
            Field("network_policy.enabled", "networkPolicy.enabled"),
            Field("network_policy.provider", "networkPolicy.provider"),
            Field("datapath_provider", "networkConfig.datapathProvider"),
            Field("enable_shielded_nodes", "shieldedNodes.enabled", api_default=True),
            Field("binary_authorization.enabled", "binaryAuthorization.enabled"),
            Field("binary_authorization.evaluation_mode", "binaryAuthorization.evaluationMode"),
            Field("security_posture_config.mode", "securityPostureConfig.mode"),
            Field("security_posture_config.vulnerability_mode",
                  "securityPostureConfig.vulnerabilityMode"),
            Field("release_channel.channel", "releaseChannel.channel"),
            Field("resource_labels", "resourceLabels")),
    build=_cluster_build)


def _pool_cluster(values: Any, ctx: Context) -> tuple[str, str] | None:
    cluster = known(values, "cluster", ctx)
    if not isinstance(cluster, str) or ctx.change is None:
        return None
    if "/" not in cluster:
        scope = ctx.scope(ctx.change, values)
        cluster = f"projects/{scope['project']}/locations/{scope['location']}/clusters/{cluster}"
    return CLUSTER_TYPE, "//container.googleapis.com/" + ref_key(cluster)


register(
    CLUSTER,
    Part("google_container_node_pool", "append", _pool_cluster, _pool_piece,
         target="nodePools"),
    Converter(
        tf_type="google_container_node_pool", asset_type="container.googleapis.com/NodePool",
        name="//container.googleapis.com/projects/{project}/locations/{location}/clusters/"
             "{cluster}/nodePools/{name}", location="{location}",
        names={"cluster": Field("cluster", "", last_segment, ref="{}")},
        fields=(Field("name", "name"),
                Field("node_config.service_account", "config.serviceAccount",
                      api_default="default"),
                Field("node_config.shielded_instance_config.enable_secure_boot",
                      "config.shieldedInstanceConfig.enableSecureBoot", api_default=False),
                Field("management.auto_upgrade", "management.autoUpgrade", api_default=True),
                Field("network_config.enable_private_nodes",
                      "networkConfig.enablePrivateNodes"),
                Field("node_locations", "locations"))),
)
