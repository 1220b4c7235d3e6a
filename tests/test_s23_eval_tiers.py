"""The first assets of a type are judged with the conditions interpreted, the rest by the type's
generated evaluator, and a condition compiles only when first called: the findings are the
same whichever judges them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _engines import interpreted as _interpreted
from _paths import DEMO
from phiguard.config import load_config
from phiguard.findings import Finding
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.codegen import LazyCondition
from phiguard.policy.engine import Engine
from phiguard.policy.rule import Rule, load_rule
from phiguard.runs.common import load_pack
from phiguard.scan import Scan

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FW = "compute.googleapis.com/Firewall"
ANC = ("projects/111", "organizations/1")
PACK = load_pack([])


@pytest.fixture()
def first(request: pytest.FixtureRequest) -> Iterator[int]:
    """`Engine.interpret_first` set to the test's parameter (the suite runs with 0)."""
    saved = Engine.interpret_first
    Engine.interpret_first = request.param
    try:
        yield request.param
    finally:
        Engine.interpret_first = saved


def _rule(tmp_path: Path, rule_id: str, when: Any, assert_: Any) -> Rule:
    doc: dict[str, Any] = {
        "id": rule_id, "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [FW], "scope": "all", "assert": assert_,
        "evidence": ["data.name"], "remediation": {"summary": "fix it"},
    }
    if when is not None:
        doc["when"] = when
    folder = tmp_path / rule_id
    folder.mkdir()
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_rule(folder / "rule.yaml")


def _fw(i: int, **data: Any) -> Asset:
    return Asset(f"//compute.googleapis.com/projects/p/global/firewalls/fw{i}", FW,
                 {"name": f"fw{i}", **data}, ancestors=ANC)


def _rules(tmp_path: Path) -> list[Rule]:
    return [
        _rule(tmp_path, "GEN-931", None, {
            "path": "data.sourceRanges", "none": {"path": "item", "equals": "0.0.0.0/0"}}),
        # its `when` never holds for these firewalls: its assertion is never called
        _rule(tmp_path, "GEN-932", {"path": "data.direction", "equals": "EGRESS"},
              {"path": "data.priority", "gte": 1000}),
    ]


def _assets() -> list[Asset]:
    ranges: tuple[list[str] | None, ...] = (["10.0.0.0/8"], ["0.0.0.0/0"], [], None)
    return [_fw(i, direction="INGRESS", priority=i,
                **({} if ranges[i % 4] is None else {"sourceRanges": ranges[i % 4]}))
            for i in range(12)]


def _judge(engine: Engine, assets: list[Asset]) -> list[Finding]:
    inv = Inventory(assets, phi=PhiConfig(all=True))
    return [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]


@pytest.mark.parametrize("first", [5], indirect=True)
def test_the_first_assets_are_interpreted_then_the_evaluator_judges(
        tmp_path: Path, first: int) -> None:
    rules = _rules(tmp_path)
    assets = _assets()
    engine = Engine(rules)
    check = {cr.rule.id: cr.check for cr in engine.rules}
    inv = Inventory(assets, phi=PhiConfig(all=True))
    found: list[Finding] = []
    for i, asset in enumerate(assets):
        found += engine.evaluate_asset(asset, inv, NOW)
        generated = FW in engine._evaluators
        assert generated == (i >= first), i  # generated at the asset after the first five
        lazy = check["GEN-931"]
        assert isinstance(lazy, LazyCondition)
        assert (lazy._fn is not None) == generated  # nothing compiled before
    # a condition never called is never compiled, the evaluator generated or not
    never = check["GEN-932"]
    assert isinstance(never, LazyCondition) and never._fn is None
    with _interpreted():
        reference = _judge(Engine(rules), assets)
    assert found == reference
    assert [f.outcome.value for f in found[:4]] == ["PASS", "FAIL", "PASS", "PASS"]


@pytest.mark.parametrize("first", [0], indirect=True)
def test_a_generated_evaluator_compiles_a_condition_when_first_called(
        tmp_path: Path, first: int) -> None:
    rules = _rules(tmp_path)
    engine = Engine(rules)
    check = {cr.rule.id: cr.check for cr in engine.rules}
    found = _judge(engine, _assets())
    assert FW in engine._evaluators
    called, never = check["GEN-931"], check["GEN-932"]
    assert isinstance(called, LazyCondition) and called._fn is not None
    assert isinstance(never, LazyCondition) and never._fn is None
    with _interpreted():
        assert found == _judge(Engine(rules), _assets())
    # and once it is compiled, a new evaluator calls it directly
    egress = [_fw(20, direction="EGRESS", priority=10)]
    again = Engine(rules)
    assert [f.outcome.value for f in _judge(again, egress)] == ["PASS", "FAIL"]
    assert isinstance(again.rules[1].check, LazyCondition)
    assert again.rules[1].check._fn is not None


def _demo(jobs: int = 1) -> list[Finding]:
    config = load_config(DEMO / "phiguard.yaml")
    return list(Scan([DEMO], PACK, config, at=NOW, jobs=jobs).findings())


@pytest.mark.parametrize("first", [0], indirect=True)
def test_the_demo_org_is_judged_alike_by_every_tier(first: int) -> None:
    generated = _demo()
    Engine.interpret_first = 3  # most types judged by both
    mixed = _demo()
    Engine.interpret_first = 10**9  # nothing generated
    interpreted = _demo()
    assert generated == mixed == interpreted
    assert len({f.rule_id for f in generated}) > 100
    assert len(generated) > 500


@pytest.mark.parametrize("first", [5], indirect=True)
def test_prepare_leaves_a_type_of_few_assets_interpreted(tmp_path: Path, first: int) -> None:
    # A scan prepares evaluators before forking, from how many assets of each type it holds:
    # a type of no more than `interpret_first` would never use its evaluator.
    rules = _rules(tmp_path)
    few = Engine(rules)
    few.prepare({FW: 5, "compute.googleapis.com/Network": 100})
    assert FW not in few._evaluators
    many = Engine(rules)
    many.prepare({FW: 6})
    assert FW in many._evaluators
    named = Engine(rules)
    named.prepare([FW])  # no counts: generated, as asked
    assert FW in named._evaluators
    assets = _assets()[:5]
    assert _judge(few, assets) == _judge(many, assets) == _judge(named, assets)
    assert FW not in few._evaluators  # its five assets judged interpreted
