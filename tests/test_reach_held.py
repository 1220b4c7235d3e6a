"""A type held only for `grants within: phi` (a Compute Engine instance, when no rule joins to
it) is held only when its name carries an IAM policy: one without is never a grant's resource,
and holding every instance of a large organization would cost memory for nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _paths import DEMO, RULES
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.inventory.snapshot import load_context
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack

INSTANCE = "compute.googleapis.com/Instance"


def _engine() -> Engine:
    config = load_config(DEMO / "phiguard.yaml")
    return Engine(load_pack([RULES]).rules, params=config.params)


def _instances(path: Path) -> list[dict[str, object]]:
    with open(path / "resources.ndjson", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return [r for r in records if r["asset_type"] == INSTANCE]


def test_instances_held_only_with_an_iam_policy(tmp_path: Path) -> None:
    engine = _engine()
    assert INSTANCE in engine.reach_only_types()
    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    instances = _instances(org)
    assert len(instances) > 1
    granted = instances[0]
    with open(org / "iam_policy.ndjson", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "name": granted["name"], "asset_type": INSTANCE,
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": [
                {"role": "roles/compute.osAdminLogin",
                 "members": ["user:alice@example-health.com"]}]},
            "ancestors": granted["ancestors"]}) + "\n")
    config = load_config(org / "phiguard.yaml")
    loaded = load_context(discover([org]), engine.context_types(), config.phi,
                          fields=engine.context_fields(),
                          reach_only=engine.reach_only_types())
    held = {a.name for a in loaded.inventory.of_types([INSTANCE])}
    assert held == {granted["name"]}
    asset = loaded.inventory.get(str(granted["name"]))
    assert asset is not None and "networkInterfaces" in asset.data
    # Without the narrowing every instance is held.
    every = load_context(discover([org]), engine.context_types(), config.phi,
                         fields=engine.context_fields())
    assert {a.name for a in every.inventory.of_types([INSTANCE])} == {
        i["name"] for i in instances}
