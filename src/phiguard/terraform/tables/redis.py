"""Converter table for Memorystore for Redis instances."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import (
    NETWORK,
    location_scoped_name,
)

register(
    Converter(
        tf_type="google_redis_instance", asset_type="redis.googleapis.com/Instance",
        name="//redis.googleapis.com/projects/{project}/locations/{region}/instances/{name}",
        location="{region}",
        fields=(Field("tier", "tier"), Field("memory_size_gb", "memorySizeGb"),
                Field("authorized_network", "authorizedNetwork", ref=NETWORK,
                      api_default="projects/{project}/global/networks/default"),
                Field("auth_enabled", "authEnabled", api_default=False),
                Field("transit_encryption_mode", "transitEncryptionMode",
                      api_default="DISABLED"),
                Field("redis_version", "redisVersion"), Field("location_id", "locationId"),
                Field("customer_managed_key", "customerManagedKey", ref="{}")),
        build=lambda data, values, ctx: location_scoped_name(data, values, ctx, "instances",
                                                          "region")),
)
