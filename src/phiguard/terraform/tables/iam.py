"""Converter tables for IAM: the member/binding/policy/audit-config pieces every resource's IAM
resources share, service accounts and their keys."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from phiguard.inventory.refs import ref_key
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    Part,
    register,
)
from phiguard.terraform.tables._refs import (
    known,
    last_segment,
    project_in,
    ref_key_of,
)
from phiguard.terraform.values import is_unknown, tf_get

SERVICE_ACCOUNT_TYPE = "iam.googleapis.com/ServiceAccount"


def _condition(values: Any) -> Any:
    cond = tf_get(values, "condition")
    if isinstance(cond, dict):
        return {k: v for k, v in (("title", cond.get("title")),
                                  ("expression", cond.get("expression"))) if v is not None}
    return None


def _member(values: Any, ctx: Context) -> Any:
    member = known(values, "member", ctx, want_ref=False)
    if isinstance(member, str) and ":" not in member and member.endswith(
            ".gserviceaccount.com"):
        # `"serviceAccount:${google_service_account.x.email}"`: the plan gives only the
        # reference, the template's prefix is implied by the address
        member = f"serviceAccount:{member}"
    return {"role": tf_get(values, "role"), "members": [member], "condition": _condition(values)}


def _binding(values: Any, ctx: Context) -> Any:
    members = tf_get(values, "members")
    return {"role": tf_get(values, "role"),
            "members": list(members) if isinstance(members, list) else members,
            "condition": _condition(values)}


def _policy(values: Any, ctx: Context) -> Any:
    raw = tf_get(values, "policy_data")
    if not isinstance(raw, str):
        return raw  # unknown
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    bindings = [{"role": b.get("role"), "members": list(b.get("members") or []),
                 **({"condition": b["condition"]} if b.get("condition") else {})}
                for b in doc.get("bindings") or () if isinstance(b, dict)]
    audit = []
    for cfg in doc.get("auditConfigs") or doc.get("audit_configs") or ():
        if isinstance(cfg, dict):
            logs = [{"logType": c.get("logType") or c.get("log_type"),
                     "exemptedMembers": list(c.get("exemptedMembers") or [])}
                    for c in cfg.get("auditLogConfigs") or () if isinstance(c, dict)]
            audit.append({"service": cfg.get("service"), "auditLogConfigs": logs})
    return {"bindings": bindings, "auditConfigs": audit}


def _audit(values: Any, ctx: Context) -> Any:
    logs = tf_get(values, "audit_log_config")
    out = []
    for cfg in logs if isinstance(logs, list) else ():
        if isinstance(cfg, dict):
            exempted = cfg.get("exempted_members")
            out.append({"logType": cfg.get("log_type"),
                        "exemptedMembers": list(exempted) if isinstance(exempted, list) else []})
    return {"service": tf_get(values, "service"), "auditLogConfigs": out}


def iam_parts(prefix: str, parent: Any, audit: bool = False) -> list[Part]:
    """The `<prefix>_iam_member/_binding/_policy` (and `_audit_config`) resources of one holder
    type, each a piece of the holder's IAM policy."""
    parts = [Part(f"{prefix}_iam_member", "iam_member", parent, _member),
             Part(f"{prefix}_iam_binding", "iam_binding", parent, _binding),
             Part(f"{prefix}_iam_policy", "iam_policy", parent, _policy)]
    if audit:
        parts.append(Part(f"{prefix}_iam_audit_config", "audit_config", parent, _audit))
    return parts


_VAR = re.compile(r"\{(\w+)\}")


def named_parent(asset_type: str, host: str, attr: str, template: str,
                 attrs: Mapping[str, str] | None = None, *, by_number: bool = False
                 ) -> Callable[[Any, Context], tuple[str, str] | None]:
    """The holder of an IAM piece named by its `attr`: a full reference (`projects/...`, a URL
    or a CAI name) as it is; the provider's short forms (the template's values joined by `/`,
    with or without the project) and a bare name filled into `template`
    (`projects/{project}/locations/{location}/keyRings/{name}`: the last variable is the value,
    the others come from the resource's attributes in `attrs` and its project). `by_number`:
    CAI names the holder with the project number (Secret Manager), used when it is known."""
    names = _VAR.findall(template)
    extra = dict(attrs or {})

    def parent(values: Any, ctx: Context) -> tuple[str, str] | None:
        ref = known(values, attr, ctx, want_ref=False)
        if not isinstance(ref, str) or not ref or ctx.change is None:
            return None
        key = ref_key(ref)
        if not key.startswith("projects/"):
            parts = key.split("/")
            got: dict[str, str] = {}
            if len(parts) == 1:
                for var, src in extra.items():
                    value = known(values, src, ctx, want_ref=False)
                    if not isinstance(value, str) or not value:
                        return None
                    got[var] = last_segment(value, ctx)
                got[names[-1]] = parts[0]
            elif len(parts) in (len(names), len(names) - 1):
                got = dict(zip(names[len(names) - len(parts):], parts, strict=True))
            else:
                return None
            got.setdefault("project", ctx.project_of(ctx.change, values))
            if set(got) != set(names):
                return None
            key = template.format(**got)
        if by_number:
            project = project_in(key, ctx)
            number = ctx.project_numbers.get(project) if isinstance(project, str) else None
            if number:
                key = key.replace(f"projects/{project}/", f"projects/{number}/", 1)
        return asset_type, f"//{host}/{key}"

    return parent


def _sa_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    sa = known(values, "service_account_id", ctx)
    if not isinstance(sa, str):
        return None
    return SERVICE_ACCOUNT_TYPE, "//iam.googleapis.com/" + ref_key(sa)


def _sa_project(ref: Any, ctx: Context) -> Any:
    """The project of a service account reference: `projects/P/serviceAccounts/E`, or an email
    `name@P.iam.gserviceaccount.com`."""
    if isinstance(ref, str) and "/" not in ref and ref.endswith(".iam.gserviceaccount.com"):
        return ref.split("@", 1)[-1].split(".", 1)[0]
    return project_in(ref, ctx)


def _sa_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    project = ctx.project_of(ctx.change, values)
    account = tf_get(values, "account_id")
    if not isinstance(data.get("email"), str) and isinstance(account, str):
        data["email"] = f"{account}@{project}.iam.gserviceaccount.com"
    data["projectId"] = project
    if isinstance(data.get("email"), str):
        data["name"] = f"projects/{project}/serviceAccounts/{data['email']}"


NO_EXPIRY = "9999-12-31T23:59:59Z"  # the IAM API's validBeforeTime of a key that never expires


def _key_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """A key this plan creates is judged as just created, when the plan is applied: its
    validAfterTime is the evaluation time, and it is not expired (validBeforeTime is the IAM
    API's no-expiry value; an expiry org policy makes it creation + N hours, also after
    creation). Only verdicts these facts decide change; an existing key keeps its values."""
    change = ctx.change
    if change is None or not change.is_create or ctx.side != "after":
        return
    if is_unknown(data.get("validBeforeTime")) or "validBeforeTime" not in data:
        data["validBeforeTime"] = NO_EXPIRY
    applied = ctx.plan.applied_at
    if applied is not None and (is_unknown(data.get("validAfterTime"))
                                or "validAfterTime" not in data):
        data["validAfterTime"] = applied


register(
    *iam_parts("google_service_account", _sa_parent),
    Converter(
        tf_type="google_service_account", asset_type=SERVICE_ACCOUNT_TYPE,
        # CAI names an account by its unique id (Google's converter too); a new account's id
        # is known only after apply, and its address stands in (the email is in data.email)
        name="//iam.googleapis.com/projects/{project}/serviceAccounts/{unique_id}",
        names={"unique_id": Field("unique_id", "")},
        fields=(Field("email", "email"), Field("display_name", "displayName"),
                Field("description", "description"), Field("unique_id", "uniqueId"),
                Field("disabled", "disabled", api_default=False)),
        build=lambda data, values, ctx: _sa_build(data, values, ctx)),
    Converter(
        tf_type="google_service_account_key", asset_type="iam.googleapis.com/ServiceAccountKey",
        name="//iam.googleapis.com/{account}/keys/({address})",
        names={"account": Field("service_account_id", "", ref_key_of, ref="{}"),
               "address": Field("name", "", last_segment)},
        project_from=Field("service_account_id", "", _sa_project, ref="{}"),
        # a key Terraform creates is user-managed and enabled: the type determines it
        constants={"keyType": "USER_MANAGED", "disabled": False},
        fields=(Field("key_algorithm", "keyAlgorithm"),
                Field("valid_after", "validAfterTime"), Field("valid_before", "validBeforeTime")),
        build=_key_build),
)
