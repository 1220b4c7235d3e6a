"""Converter table for Cloud DNS managed zones (`google_dns_managed_zone` -> dns v1
`ManagedZone`), named by the zone name as Google's converter names them. A zone whose
configuration leaves `visibility` or DNSSEC to the API is public and unsigned (the API's
defaults)."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    each,
    register,
)

register(
    Converter(
        tf_type="google_dns_managed_zone", asset_type="dns.googleapis.com/ManagedZone",
        name="//dns.googleapis.com/projects/{project}/managedZones/{name}",
        location="global",
        constants={"kind": "dns#managedZone"},
        fields=(Field("name", "name"), Field("dns_name", "dnsName"),
                Field("description", "description"),
                Field("visibility", "visibility", api_default="public"),
                Field("labels", "labels"),
                Field("dnssec_config.state", "dnssecConfig.state", api_default="off"),
                Field("dnssec_config.non_existence", "dnssecConfig.nonExistence"),
                Field("dnssec_config.default_key_specs", "dnssecConfig.defaultKeySpecs", each(
                    Field("algorithm", "algorithm"), Field("key_length", "keyLength"),
                    Field("key_type", "keyType")))),
    ),
)
