"""A type held only for `grants within: phi` (a Compute Engine instance, when no rule joins to
it) is held only when its name carries an IAM policy: one without is never a grant's resource,
and holding every instance of a large organization would cost memory for nothing."""

from __future__ import annotations

from pathlib import Path

from _paths import DEMO, RULES
from _reach import INSTANCE, org_with_one_granted_instance
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.inventory.snapshot import load_context
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack


def _engine() -> Engine:
    config = load_config(DEMO / "phiguard.yaml")
    return Engine(load_pack([RULES]).rules, params=config.params)


def test_instances_held_only_with_an_iam_policy(tmp_path: Path) -> None:
    engine = _engine()
    assert INSTANCE in engine.reach_only_types()
    org, granted, every_name = org_with_one_granted_instance(tmp_path)
    config = load_config(org / "phiguard.yaml")
    loaded = load_context(discover([org]), engine.context_types(), config.phi,
                          fields=engine.context_fields(),
                          reach_only=engine.reach_only_types())
    held = {a.name for a in loaded.inventory.of_types([INSTANCE])}
    assert held == {granted}
    asset = loaded.inventory.get(granted)
    assert asset is not None and "networkInterfaces" in asset.data
    # Without the narrowing every instance is held.
    every = load_context(discover([org]), engine.context_types(), config.phi,
                         fields=engine.context_fields())
    assert {a.name for a in every.inventory.of_types([INSTANCE])} == every_name
