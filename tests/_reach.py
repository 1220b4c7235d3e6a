"""A copy of the demo organization where one Compute Engine instance carries an IAM policy (the
demo's instances carry none), for the tests of what `grants within: phi` holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from _paths import DEMO

INSTANCE = "compute.googleapis.com/Instance"


def org_with_one_granted_instance(tmp_path: Path) -> tuple[Path, str, set[str]]:
    """(the copy, the granted instance's name, every instance's name)."""
    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    with open(org / "resources.ndjson", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    instances = [r for r in records if r["asset_type"] == INSTANCE]
    assert len(instances) > 1
    granted = instances[0]
    with open(org / "iam_policy.ndjson", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(instance_grant(granted)) + "\n")
    return org, str(granted["name"]), {str(i["name"]) for i in instances}


def instance_grant(instance: dict[str, Any]) -> dict[str, Any]:
    """An IAM policy record for this instance's resource record: alice may log in as admin."""
    return {"name": instance["name"], "asset_type": INSTANCE,
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": [
                {"role": "roles/compute.osAdminLogin",
                 "members": ["user:alice@example-health.com"]}]},
            "ancestors": instance["ancestors"]}
