"""Converter tables for the IAM of Secret Manager secrets (CAI names a secret by its project
number, used when the plan or the snapshot knows it)."""

from __future__ import annotations

from phiguard.terraform.convert import register
from phiguard.terraform.tables.iam import iam_parts, named_parent

register(
    *iam_parts("google_secret_manager_secret", named_parent(
        "secretmanager.googleapis.com/Secret", "secretmanager.googleapis.com", "secret_id",
        "projects/{project}/secrets/{name}", by_number=True)),
)
