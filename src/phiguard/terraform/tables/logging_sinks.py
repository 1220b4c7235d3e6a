"""Converter tables for Cloud Logging sinks (project, folder, organization, billing account)."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    each,
    register,
)
from phiguard.terraform.tables._refs import (
    last_segment,
)


def _sink(kind: str, attr: str) -> Converter:
    plural = {"project": "projects", "folder": "folders", "organization": "organizations",
              "billing_account": "billingAccounts"}[kind]
    holder = "{project_ref}" if kind == "project" else "{holder}"
    names = {} if kind == "project" else {
        "holder": Field(attr, "", last_segment)}
    return Converter(
        tf_type=f"google_logging_{kind}_sink", asset_type="logging.googleapis.com/LogSink",
        name=f"//logging.googleapis.com/{plural}/{holder}/sinks/{{name}}",
        names=names,
        fields=(Field("name", "name"), Field("destination", "destination"),
                Field("filter", "filter", api_default=None),
                Field("disabled", "disabled", api_default=False),
                Field("include_children", "includeChildren", api_default=False),
                Field("writer_identity", "writerIdentity"),
                Field("exclusions", "exclusions", each(Field("name", "name"),
                                                       Field("filter", "filter"),
                                                       Field("disabled", "disabled")))))


register(
    *(_sink(kind, attr) for kind, attr in (("project", "project"), ("folder", "folder"),
                                           ("organization", "org_id"),
                                           ("billing_account", "billing_account"))),
)
