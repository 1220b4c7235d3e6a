"""Converter table for Service Usage: the APIs a project enables."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    register,
)


def _service_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        project = ctx.project_of(ctx.change, values)
        data["parent"] = f"projects/{ctx.project_numbers.get(project, project)}"


register(
    Converter(
        tf_type="google_project_service", asset_type="serviceusage.googleapis.com/Service",
        name="//serviceusage.googleapis.com/projects/{project_ref}/services/{service}",
        names={"service": Field("service", "")},
        # CAI's record (and Google's converter's): {name, parent, state}, no `config`
        constants={"state": "ENABLED"},
        fields=(Field("service", "name"),),
        build=_service_build),
)
