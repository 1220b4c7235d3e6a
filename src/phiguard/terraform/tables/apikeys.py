"""Converter table for API keys (`google_apikeys_key` -> apikeys v2 `V2Key`). CAI names a key
`//apikeys.googleapis.com/projects/NUMBER/locations/global/keys/ID`; the project number is used
when the plan or the snapshot knows it, the project id otherwise (as for secrets)."""

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


def _path(key_id: Any, ctx: Context) -> Any:
    """projects/NUMBER/locations/global/keys/ID (the project id when its number is unknown)."""
    if not isinstance(key_id, str) or ctx.change is None:
        return key_id
    project = ctx.project_of(ctx.change, ctx.values(ctx.change))
    return f"projects/{ctx.project_numbers.get(project, project)}/locations/global/keys/{key_id}"


def _key_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """The REST name; a key this plan creates is judged as created when the plan is applied
    (its createTime is the evaluation time, as for service account keys)."""
    key_id = tf_get(values, "name")
    if isinstance(key_id, str):
        data["name"] = _path(key_id, ctx)
    change = ctx.change
    if change is not None and change.is_create and ctx.side == "after":
        applied = ctx.plan.applied_at
        if applied is not None:
            data["createTime"] = applied


register(
    Converter(
        tf_type="google_apikeys_key", asset_type="apikeys.googleapis.com/Key",
        name="//apikeys.googleapis.com/{path}",
        names={"path": Field("name", "", _path)},
        location="global",
        fields=(Field("display_name", "displayName"),
                Field("service_account_email", "serviceAccountEmail"),
                Field("restrictions.api_targets", "restrictions.apiTargets", each(
                    Field("service", "service"), Field("methods", "methods"))),
                Field("restrictions.browser_key_restrictions.allowed_referrers",
                      "restrictions.browserKeyRestrictions.allowedReferrers"),
                Field("restrictions.server_key_restrictions.allowed_ips",
                      "restrictions.serverKeyRestrictions.allowedIps"),
                Field("restrictions.android_key_restrictions.allowed_applications",
                      "restrictions.androidKeyRestrictions.allowedApplications", each(
                          Field("package_name", "packageName"),
                          Field("sha1_fingerprint", "sha1Fingerprint"))),
                Field("restrictions.ios_key_restrictions.allowed_bundle_ids",
                      "restrictions.iosKeyRestrictions.allowedBundleIds")),
        build=_key_build),
)
