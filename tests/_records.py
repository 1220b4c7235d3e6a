"""Small CAI records and a one-control catalog shared by several test modules (a test module
never imports another test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ORG = "organizations/9"
ANCESTORS = ["projects/123", ORG]
PROJECT: dict[str, Any] = {
    "name": "//cloudresourcemanager.googleapis.com/projects/123",
    "asset_type": "cloudresourcemanager.googleapis.com/Project",
    "resource": {"version": "v1", "discovery_name": "Project",
                 "data": {"projectNumber": "123", "projectId": "phi-prod"},
                 "parent": "//cloudresourcemanager.googleapis.com/organizations/9"},
    "ancestors": ANCESTORS, "update_time": "2026-11-01T00:00:00Z"}
BUCKET: dict[str, Any] = {
    "name": "//storage.googleapis.com/phi-bucket",
    "asset_type": "storage.googleapis.com/Bucket",
    "resource": {"version": "v1", "discovery_name": "Bucket",
                 "data": {"name": "phi-bucket", "location": "US",
                          "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}}},
                 "parent": "//cloudresourcemanager.googleapis.com/projects/123"},
    "ancestors": ANCESTORS, "update_time": "2026-11-02T00:00:00Z"}

# A catalog of one's own (docs/extending.md): one control, evidenced by the rules given.
_CATALOG = """\
catalog: acme
id_pattern: '^acme/AC-\\d{{2}}$'
title: ACME baseline
controls:
  - id: acme/AC-01
    title: One control
    rules: [{rules}]
"""


def acme_catalog(tmp_path: Path, *rules: str) -> Path:
    """The `acme` catalog whose one control the given rules evidence, written in tmp_path."""
    path = tmp_path / "acme.yaml"
    path.write_text(_CATALOG.format(rules=", ".join(rules)))
    return path
