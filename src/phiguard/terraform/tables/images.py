"""Converter tables for the IAM of what a project builds and ships: Compute Engine images and
Artifact Registry repositories."""

from __future__ import annotations

from phiguard.terraform.convert import register
from phiguard.terraform.tables.iam import iam_parts, named_parent

register(
    *iam_parts("google_compute_image", named_parent(
        "compute.googleapis.com/Image", "compute.googleapis.com", "image",
        "projects/{project}/global/images/{name}")),
    *iam_parts("google_artifact_registry_repository", named_parent(
        "artifactregistry.googleapis.com/Repository", "artifactregistry.googleapis.com",
        "repository", "projects/{project}/locations/{location}/repositories/{name}",
        {"location": "location"})),
)
