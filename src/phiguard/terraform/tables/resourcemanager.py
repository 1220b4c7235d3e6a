"""Converter tables for Resource Manager: projects, the IAM of projects, folders and the
organization, and organization policies (v1 and v2)."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.records import CONDITIONAL
from phiguard.inventory.types import FOLDER_TYPE, ORG_TYPE, PROJECT_TYPE
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    Part,
    register,
)
from phiguard.terraform.tables._refs import (
    RESOURCE_MANAGER,
    known,
    placeholder,
)
from phiguard.terraform.tables.iam import iam_parts
from phiguard.terraform.values import is_unknown, tf_get


def _project_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    project = ctx.project_of(ctx.change, values) if ctx.change else None
    if not project:
        return None
    project = project.removeprefix("projects/")
    return PROJECT_TYPE, f"{RESOURCE_MANAGER}projects/{ctx.project_numbers.get(project, project)}"


def _folder_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    folder = known(values, "folder", ctx)
    if not isinstance(folder, str):
        folder = placeholder(values, "folder", ctx)
        if folder is None:
            return None
    return FOLDER_TYPE, f"{RESOURCE_MANAGER}folders/{folder.removeprefix('folders/')}"


def _org_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    org = known(values, "org_id", ctx)
    if not isinstance(org, str):
        org = placeholder(values, "org_id", ctx)
        if org is None:
            return None
    return ORG_TYPE, f"{RESOURCE_MANAGER}organizations/{org.removeprefix('organizations/')}"


def _hierarchy_of(node: Any) -> tuple[str, str] | None:
    if not isinstance(node, str) or "/" not in node:
        return None
    kind, ident = node.split("/", 1)
    asset_type = {"projects": PROJECT_TYPE, "folders": FOLDER_TYPE,
                  "organizations": ORG_TYPE}.get(kind)
    return (asset_type, f"{RESOURCE_MANAGER}{kind}/{ident}") if asset_type else None


def _v2_parent(values: Any, ctx: Context) -> tuple[str, str] | None:
    found = _hierarchy_of(known(values, "parent", ctx, want_ref=False))
    if found and found[0] == PROJECT_TYPE:
        project = found[1].rsplit("/", 1)[-1]
        number = ctx.project_numbers.get(project, project)
        return PROJECT_TYPE, f"{RESOURCE_MANAGER}projects/{number}"
    return found


def _v2_piece(values: Any, ctx: Context) -> Any:
    name = tf_get(values, "name")
    constraint = name.rsplit("/policies/", 1)[-1] if isinstance(name, str) else None
    out: dict[str, Any] = {"constraint": f"constraints/{constraint}"}
    spec = tf_get(values, "spec")
    if is_unknown(spec):
        out["booleanPolicy"] = {"enforced": spec}
        return out
    if tf_get(values, "spec.reset") is True:
        out["restoreDefault"] = {}
        return out
    spec_block = values.get("spec") if isinstance(values, dict) else None
    spec_block = spec_block[0] if isinstance(spec_block, list) and spec_block else spec_block
    rules = spec_block.get("rules") if isinstance(spec_block, dict) else None
    allowed: list[Any] = []
    denied: list[Any] = []
    all_values = None
    enforce = None
    for i, rule in enumerate(rules if isinstance(rules, list) else ()):
        if not isinstance(rule, dict):
            continue
        if rule.get("condition") and CONDITIONAL not in out:  # applies only where it holds
            out[CONDITIONAL] = (f"{ctx.change.address if ctx.change else 'the plan'}: "
                                f"spec.rules[{i}] applies only where its condition holds, "
                                "which the plan does not evaluate")
        if rule.get("enforce") is not None:
            enforce = str(rule["enforce"]).upper() == "TRUE"
        if str(rule.get("allow_all") or "").upper() == "TRUE":
            all_values = "ALLOW"
        if str(rule.get("deny_all") or "").upper() == "TRUE":
            all_values = "DENY"
        vals = rule.get("values")
        vals = vals[0] if isinstance(vals, list) and vals else vals
        if isinstance(vals, dict):
            allowed += list(vals.get("allowed_values") or [])
            denied += list(vals.get("denied_values") or [])
    if enforce is not None:
        out["booleanPolicy"] = {"enforced": enforce}
    else:
        lp: dict[str, Any] = {}
        if tf_get(values, "spec.inherit_from_parent") is True:
            lp["inheritFromParent"] = True
        if allowed:
            lp["allowedValues"] = allowed
        if denied:
            lp["deniedValues"] = denied
        if all_values:
            lp["allValues"] = all_values
        out["listPolicy"] = lp
    return out


def _has_block(values: Any, name: str) -> bool:
    block = values.get(name) if isinstance(values, dict) else None
    return bool(block) if isinstance(block, list | dict) else block is not None


def _v1_piece(values: Any, ctx: Context) -> Any:
    constraint = tf_get(values, "constraint")
    if isinstance(constraint, str) and not constraint.startswith("constraints/"):
        constraint = f"constraints/{constraint}"
    out: dict[str, Any] = {"constraint": constraint}
    if tf_get(values, "restore_policy.default") is True:
        out["restoreDefault"] = {}
    elif _has_block(values, "boolean_policy"):  # an empty block list is no block
        out["booleanPolicy"] = {"enforced": tf_get(values, "boolean_policy.enforced", False)}
    elif _has_block(values, "list_policy"):
        lp: dict[str, Any] = {}
        if tf_get(values, "list_policy.inherit_from_parent") is True:
            lp["inheritFromParent"] = True  # false is the API's default, and not shown
        for side, key in (("allow", "allowedValues"), ("deny", "deniedValues")):
            vals = tf_get(values, f"list_policy.{side}.values")
            if isinstance(vals, list) and vals:
                lp[key] = list(vals)
            if tf_get(values, f"list_policy.{side}.all") is True:
                lp["allValues"] = "ALLOW" if side == "allow" else "DENY"
        out["listPolicy"] = lp
    return out


register(
    *iam_parts("google_project", _project_parent, audit=True),
    *iam_parts("google_folder", _folder_parent, audit=True),
    *iam_parts("google_organization", _org_parent, audit=True),
    Part("google_org_policy_policy", "org_policy", _v2_parent, _v2_piece),
    Part("google_project_organization_policy", "org_policy", _project_parent, _v1_piece),
    Part("google_folder_organization_policy", "org_policy", _folder_parent, _v1_piece),
    Part("google_organization_policy", "org_policy", _org_parent, _v1_piece),
    Converter(
        tf_type="google_project", asset_type=PROJECT_TYPE,
        name=RESOURCE_MANAGER + "projects/{project_ref}", project_from=Field("project_id", ""),
        fields=(Field("project_id", "projectId"), Field("name", "name"),
                Field("labels", "labels"), Field("number", "projectNumber"))),
)
