"""Converter table for Cloud DNS server policies (CIS 2.13: query logging per VPC network)."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    each,
    register,
)
from phiguard.terraform.tables._refs import (
    NETWORK,
)

register(
    Converter(
        tf_type="google_dns_policy", asset_type="dns.googleapis.com/Policy",
        # Google's converter names a policy by its name (example_dns_policy.json)
        name="//dns.googleapis.com/projects/{project}/policies/{name}", location="global",
        constants={"kind": "dns#policy"},
        fields=(Field("name", "name"), Field("description", "description"),
                Field("enable_logging", "enableLogging", api_default=False),
                Field("enable_inbound_forwarding", "enableInboundForwarding",
                      api_default=False),
                Field("networks", "networks", each(
                    Field("network_url", "networkUrl", ref=NETWORK))))),
)
