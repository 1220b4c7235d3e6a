"""Converter table for BigQuery tables (the table itself; its IAM and the dataset are in
`bigquery`)."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.asset import UnknownValue
from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)
from phiguard.terraform.values import is_unknown, tf_get


def _present(values: Any, attr: str) -> bool | None:
    """Whether a nested block is set: True, False, or None when known only after apply."""
    block = tf_get(values, attr)
    if is_unknown(block):
        return None
    return isinstance(block, list | dict) and bool(block)


def _table_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    """`tableReference`, and the `type` the API reports: a `view` block makes a VIEW, a
    `materialized_view` block a MATERIALIZED_VIEW, `external_data_configuration` an EXTERNAL
    table, none of them a TABLE (unknown if a block is known only after apply)."""
    if ctx.change is None:
        return
    project = ctx.project_of(ctx.change, values)
    dataset, table = tf_get(values, "dataset_id"), tf_get(values, "table_id")
    if isinstance(dataset, str) and isinstance(table, str):
        data["tableReference"] = {"projectId": project, "datasetId": dataset, "tableId": table}
        data["id"] = f"{project}:{dataset}.{table}"
    kinds = (("view", "VIEW"), ("materialized_view", "MATERIALIZED_VIEW"),
             ("external_data_configuration", "EXTERNAL"))
    seen = [(_present(values, attr), kind) for attr, kind in kinds]
    for present, kind in seen:
        if present:
            data["type"] = kind
            return
    if all(present is False for present, _ in seen):
        data["type"] = "TABLE"
    else:  # a block known only after apply: a view or a table, not known yet
        data["type"] = UnknownValue("a view, materialized view or external table block is "
                                    "known only after apply")


register(
    Converter(
        tf_type="google_bigquery_table", asset_type="bigquery.googleapis.com/Table",
        name="//bigquery.googleapis.com/projects/{project}/datasets/{dataset}/tables/{table}",
        names={"dataset": Field("dataset_id", ""), "table": Field("table_id", "")},
        constants={"kind": "bigquery#table"},
        fields=(Field("friendly_name", "friendlyName"), Field("description", "description"),
                Field("labels", "labels"),
                Field("encryption_configuration.kms_key_name",
                      "encryptionConfiguration.kmsKeyName", ref="{}")),
        build=_table_build),
)
