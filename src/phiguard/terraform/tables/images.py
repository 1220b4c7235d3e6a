"""Converter tables for what a project builds and ships: Artifact Registry repositories, and
the IAM of repositories and Compute Engine images."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import Context, Converter, Field, register
from phiguard.terraform.tables.iam import iam_parts, named_parent

REPOSITORY_TYPE = "artifactregistry.googleapis.com/Repository"


def _repository_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is None:
        return
    repository = values.get("repository_id") if isinstance(values, dict) else None
    location = values.get("location") if isinstance(values, dict) else None
    if isinstance(repository, str) and isinstance(location, str):
        project = ctx.project_of(ctx.change, values)
        data["name"] = f"projects/{project}/locations/{location}/repositories/{repository}"


register(
    Converter(
        tf_type="google_artifact_registry_repository", asset_type=REPOSITORY_TYPE,
        name="//artifactregistry.googleapis.com/projects/{project}/locations/{location}/"
             "repositories/{repository}",
        names={"repository": Field("repository_id", "")},
        location="{location}",
        fields=(Field("format", "format"), Field("mode", "mode", api_default="STANDARD_REPOSITORY"),
                Field("description", "description"), Field("labels", "labels"),
                Field("kms_key_name", "kmsKeyName")),
        build=_repository_build),
    *iam_parts("google_compute_image", named_parent(
        "compute.googleapis.com/Image", "compute.googleapis.com", "image",
        "projects/{project}/global/images/{name}")),
    *iam_parts("google_artifact_registry_repository", named_parent(
        REPOSITORY_TYPE, "artifactregistry.googleapis.com",
        "repository", "projects/{project}/locations/{location}/repositories/{name}",
        {"location": "location"})),
)
