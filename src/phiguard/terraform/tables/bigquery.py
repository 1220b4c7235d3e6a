"""Converter tables for BigQuery datasets (with their `access` list) and the IAM of datasets
and tables."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.asset import UnknownValue
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.tables.iam import iam_parts, named_parent
from phiguard.terraform.values import is_unknown, tf_get

DATASET_TYPE = "bigquery.googleapis.com/Dataset"
TABLE_TYPE = "bigquery.googleapis.com/Table"
HOST = "bigquery.googleapis.com"

# access block attribute -> Dataset.access[] field (bigquery v2); the provider writes "" for
# the members a block does not set
_MEMBER_FIELDS = (("user_by_email", "userByEmail"), ("group_by_email", "groupByEmail"),
                  ("domain", "domain"), ("special_group", "specialGroup"),
                  ("iam_member", "iamMember"))
_REFERENCES = (("view", "view", ("project_id", "dataset_id", "table_id")),
               ("dataset", "dataset", ()),
               ("routine", "routine", ("project_id", "dataset_id", "routine_id")))
_CAMEL = {"project_id": "projectId", "dataset_id": "datasetId", "table_id": "tableId",
          "routine_id": "routineId", "target_types": "targetTypes"}
# What BigQuery adds to a dataset created without an access list (Dataset.access): the
# project's special groups and the creator as OWNER (who that is is known only after apply).
_CREATED_ACCESS = ({"role": "WRITER", "specialGroup": "projectWriters"},
                   {"role": "OWNER", "specialGroup": "projectOwners"},
                   {"role": "READER", "specialGroup": "projectReaders"})


def _camel(value: Any) -> Any:
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {_CAMEL.get(k, k): _camel(v) for k, v in value.items() if v not in ("", None, [])}
    return value


def _entry(block: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if block.get("role") not in ("", None):
        out["role"] = block["role"]
    for src, dst in _MEMBER_FIELDS:
        value = block.get(src)
        if value not in ("", None):
            out[dst] = value
    for src, dst, _ in _REFERENCES:
        ref = block.get(src)
        if isinstance(ref, list):  # a nested block is a one-element list in plan JSON
            ref = ref[0] if ref else None
        if isinstance(ref, dict) and ref:
            out[dst] = _camel(ref)
    condition = block.get("condition")
    if isinstance(condition, list):
        condition = condition[0] if condition else None
    if isinstance(condition, dict) and condition.get("expression"):
        out["condition"] = {k: v for k, v in condition.items() if v not in ("", None)}
    return out


def _dataset_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    project = ctx.project_of(ctx.change, values)
    dataset = tf_get(values, "dataset_id")
    if isinstance(dataset, str):
        data["datasetReference"] = {"datasetId": dataset, "projectId": project}
        data["id"] = f"{project}:{dataset}"
    blocks = tf_get(values, "access")
    if isinstance(blocks, list):
        data["access"] = [_entry(b) for b in blocks if isinstance(b, dict)]
    elif is_unknown(blocks) and ctx.change.is_create and ctx.configured(
            ctx.change, "access") is False:
        # a new dataset without access blocks gets BigQuery's defaults (never public)
        data["access"] = [*(dict(e) for e in _CREATED_ACCESS),
                          {"role": "OWNER",
                           "userByEmail": UnknownValue("the creator, known only after apply")}]
    elif blocks is not None:
        data["access"] = blocks  # unknown: judged UNKNOWN


register(
    Converter(
        tf_type="google_bigquery_dataset", asset_type=DATASET_TYPE,
        name="//bigquery.googleapis.com/projects/{project}/datasets/{dataset}",
        names={"dataset": Field("dataset_id", "")},
        location="{location}",
        constants={"kind": "bigquery#dataset"},
        fields=(Field("location", "location"), Field("friendly_name", "friendlyName"),
                Field("description", "description"), Field("labels", "labels"),
                Field("default_encryption_configuration.kms_key_name",
                      "defaultEncryptionConfiguration.kmsKeyName", ref="{}")),
        build=_dataset_build),
    *iam_parts("google_bigquery_dataset", named_parent(
        DATASET_TYPE, HOST, "dataset_id", "projects/{project}/datasets/{name}")),
    *iam_parts("google_bigquery_table", named_parent(
        TABLE_TYPE, HOST, "table_id", "projects/{project}/datasets/{dataset}/tables/{name}",
        {"dataset": "dataset_id"})),
)
