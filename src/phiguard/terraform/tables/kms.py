"""Converter tables for Cloud KMS key rings, keys and the keys' IAM."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables._refs import (
    known,
    project_in,
    ref_key_of,
)
from phiguard.terraform.tables.iam import iam_parts, named_parent

CRYPTO_KEY_TYPE = "cloudkms.googleapis.com/CryptoKey"


def _crypto_key_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    """`crypto_key_id`: projects/P/locations/L/keyRings/R/cryptoKeys/K, P/L/R/K or L/R/K (the
    provider's project)."""
    key = known(values, "crypto_key_id", ctx)
    if not isinstance(key, str) or ctx.change is None:
        return None
    key = ref_key(key)
    parts = key.split("/")
    kind = CRYPTO_KEY_TYPE
    if not key.startswith("projects/") and len(parts) in (3, 4):
        if len(parts) == 3:
            tail = "/locations/{}/keyRings/{}/cryptoKeys/{}".format(*parts)
            planned = [a.name for c in ctx.plan.of_types("google_kms_crypto_key")
                       for a in (ctx.asset_of(c),) if a is not None and a.name.endswith(tail)]
            if len(planned) == 1:  # the one planned key of that location, ring and name
                return kind, planned[0]
            parts.insert(0, ctx.project_of(ctx.change, values))
        key = "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}".format(*parts)
    return kind, "//cloudkms.googleapis.com/" + key


register(
    Converter(
        tf_type="google_kms_key_ring", asset_type="cloudkms.googleapis.com/KeyRing",
        name="//cloudkms.googleapis.com/projects/{project}/locations/{location}/keyRings/{name}",
        location="{location}", fields=(Field("name", "name"),)),
    Converter(
        tf_type="google_kms_crypto_key", asset_type=CRYPTO_KEY_TYPE,
        name="//cloudkms.googleapis.com/{key_ring}/cryptoKeys/{name}",
        names={"key_ring": Field("key_ring", "", ref_key_of, ref="{}")},
        project_from=Field("key_ring", "", project_in, ref="{}"),
        fields=(Field("purpose", "purpose", api_default="ENCRYPT_DECRYPT"),
                Field("rotation_period", "rotationPeriod"),
                Field("version_template.protection_level", "versionTemplate.protectionLevel",
                      api_default="SOFTWARE"),
                Field("version_template.algorithm", "versionTemplate.algorithm"))),
    *iam_parts("google_kms_crypto_key", _crypto_key_parent),
    *iam_parts("google_kms_key_ring", named_parent(
        "cloudkms.googleapis.com/KeyRing", "cloudkms.googleapis.com", "key_ring_id",
        "projects/{project}/locations/{location}/keyRings/{name}")),
)
