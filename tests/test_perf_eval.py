"""Rule evaluation's cheaper paths give what the general ones give: `Inventory.phi` is the facts'
`phi`, a generated evaluator that asks it alone judges as the loop does, and comparisons with
a value read from a path are written out with the operator's own answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _paths import DEMO, PLANS
from phiguard.config import load_config
from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy import codegen
from phiguard.policy import engine as engine_module
from phiguard.policy.compiler import compile_condition
from phiguard.policy.engine import Engine
from phiguard.policy.rule import Rule, load_rule
from phiguard.runs.common import load_pack
from phiguard.scan import Scan, _assets, _State
from phiguard.terraform.gate import PlanGate
from phiguard.terraform.plan import load_plan

NOW = datetime(2026, 11, 25, tzinfo=UTC)
PACK = load_pack([])
FW = "compute.googleapis.com/Firewall"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, UnknownValue) or isinstance(b, UnknownValue):
        return type(a) is type(b) and a.why == b.why
    return type(a) is type(b) and a == b


def _demo_assets() -> tuple[Scan, list[Asset]]:
    config = load_config(DEMO / "phiguard.yaml")
    scan = Scan([DEMO], PACK, config, at=NOW, jobs=1)
    state = _State(scan.engine, scan.loaded, scan.engine.subject_types(),
                   scan.engine.any_type_needs(), scan.now, config.waivers, "objects")
    assets = [a for task in scan._tasks() for a in _assets(state, task) if a is not None]
    return scan, assets


def test_phi_alone_is_the_facts_phi_of_every_demo_asset() -> None:
    scan, assets = _demo_assets()
    inv = scan.loaded.inventory
    assert len(assets) > 100
    kinds = set()
    for asset in assets:
        alone = inv.phi(asset)  # asked first: nothing cached for it yet
        assert _same(alone, inv.facts(asset)["phi"]), asset.name
        assert _same(inv.phi(asset), alone)  # and again, once its facts are kept
        kinds.add(alone)
    assert kinds == {True, False}


@pytest.mark.parametrize("plan", ["network.json", "unknowns.json", "compute-hardening.json"])
def test_phi_alone_is_the_facts_phi_of_planned_assets(plan: str) -> None:
    # A planned asset whose network is known only after apply: `phi` is an UnknownValue.
    gate = PlanGate(load_plan(PLANS / plan), PACK, load_config(PLANS / "phiguard.yaml"),
                    at=NOW, everything=True)
    inv = gate.inventory
    subjects = gate._subjects()
    assert subjects
    for asset in subjects:
        assert _same(inv.phi(asset), inv.facts(asset)["phi"]), asset.name


def test_phi_alone_knows_an_unknown_network() -> None:
    # Fails if `phi` skipped the planned scope test: the interface's network is unknown.
    vm = Asset("//compute.googleapis.com/projects/p/zones/z/instances/vm",
               "compute.googleapis.com/Instance",
               {"networkInterfaces": [{"network": UnknownValue()}]},
               ancestors=("projects/1",))
    from phiguard.inventory.coverage import PLAN

    inv = Inventory([vm], phi=PhiConfig(networks=("//compute.googleapis.com/projects/h/global/"
                                                  "networks/phi",)), origin=PLAN)
    got = inv.phi(vm)
    assert isinstance(got, UnknownValue)
    assert _same(got, inv.facts(vm)["phi"])


def _rule(tmp_path: Path, check: dict[str, Any], *, scope: str = "phi",
          let: dict[str, Any] | None = None, rule_id: str = "GEN-951") -> Rule:
    doc: dict[str, Any] = {
        "id": rule_id, "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [FW], "scope": scope, "assert": check, "evidence": ["data.name"],
        "remediation": {"summary": "fix it"}}
    if let:
        doc["let"] = let
    folder = tmp_path / rule_id
    folder.mkdir()
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_rule(folder / "rule.yaml")


def _fw(name: str, project: str = "phi-proj", **data: Any) -> Asset:
    return Asset(f"//compute.googleapis.com/projects/{project}/global/firewalls/{name}", FW,
                 {"name": name, **data}, ancestors=("projects/111", "organizations/1"))


def _looped(rules: list[Rule], assets: list[Asset], inv: Inventory) -> list[Any]:
    real_generate = codegen.generate_condition
    real_eval = Engine._evaluator

    def closures(node: Any, consts: frozenset[str] = frozenset(), name: str = "",
                 lets: frozenset[str] = frozenset()) -> Any:
        return compile_condition(node, consts)

    def loop(self: Engine, asset_type: str) -> Any:
        return self._judge
    codegen.generate_condition = closures  # type: ignore[assignment]
    Engine._evaluator = loop  # type: ignore[method-assign]
    try:
        engine = Engine(rules)
        return [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    finally:
        codegen.generate_condition = real_generate  # type: ignore[assignment]
        Engine._evaluator = real_eval  # type: ignore[method-assign]


def test_comparisons_with_a_path_are_written_out_and_judge_as_the_operators(
        tmp_path: Path) -> None:
    # `equals`/`not_equals`/`in`/`not_in` whose argument is read from a path: the generated
    # condition compares in place (no operator call) and gives the interpreted verdicts.
    check = {"all": [
        {"path": "data.sourceRanges", "every": {"path": "item", "in": {"path": "data.allowed"}}},
        {"path": "data.direction", "equals": {"path": "data.expected"}},
        {"path": "data.name", "not_equals": {"path": "data.forbidden"}},
        {"path": "data.priority", "not_in": {"path": "data.bad"}}]}
    rules = [_rule(tmp_path, check, scope="all")]
    source, _ = codegen.generate_source(check)
    for test in (r"x(\d+) in a\1:", r"x(\d+) == a\1:", r"x(\d+) != a\1:", r"x(\d+) not in a\1:"):
        assert re.search(test, source), test
    assert not re.search(r"t\d+ = K\d+\(", source)  # no operator called
    assets = [
        _fw("ok", sourceRanges=["a"], allowed=["a", "b"], direction="IN", expected="IN",
            forbidden="x", priority=1, bad=[2]),
        _fw("range", sourceRanges=["c"], allowed=["a"], direction="IN", expected="IN",
            forbidden="x", priority=1, bad=[2]),
        _fw("substring", sourceRanges=["ab"], allowed="xaby", direction="IN", expected="IN",
            forbidden="x", priority=1, bad=[2]),
        _fw("dir", sourceRanges=[], allowed=[], direction="IN", expected="OUT",
            forbidden="x", priority=1, bad=[2]),
        _fw("x", sourceRanges=[], allowed=[], direction="IN", expected="IN",
            forbidden="x", priority=1, bad=[2]),
        _fw("prio", sourceRanges=[], allowed=[], direction="IN", expected="IN",
            forbidden="y", priority=2, bad=[2, 3]),
        _fw("absent-arg", sourceRanges=[], allowed=[], direction="IN", priority=1, bad=[2]),
        _fw("unknown-arg", sourceRanges=[], allowed=[], direction="IN",
            expected=UnknownValue(), priority=1, bad=[2]),
    ]
    inv = Inventory(assets, phi=PhiConfig(all=True))
    engine = Engine(rules)
    generated = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    looped = _looped(rules, assets, inv)
    assert generated == looped
    assert [f.outcome.value for f in generated] == [
        "PASS", "FAIL", "PASS", "FAIL", "FAIL", "FAIL", "UNKNOWN", "UNKNOWN"]


def test_an_evaluator_asking_phi_alone_judges_as_the_loop(tmp_path: Path) -> None:
    # No rule of the type reads the asset's other facts: `phi` alone is asked, and assets out
    # of PHI scope get no finding, no Env and no source; in scope, the same findings.
    rules = [_rule(tmp_path, {"path": "data.disabled", "equals": False})]
    engine = Engine(rules)
    source, _ = codegen.evaluator_source(engine.rules_for(FW), engine_module._RUNTIME)
    assert "_phi(view)" in source and "_facts_phi" not in source
    assets = [_fw("a", disabled=False), _fw("b", disabled=True),
              _fw("c", project="other", disabled=True)]
    inv = Inventory(assets, phi=PhiConfig(projects=("phi-proj",)))
    generated = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    assert generated == _looped(rules, assets, inv)
    assert [(f.asset.rsplit("/", 1)[1], f.outcome.value) for f in generated] == [
        ("a", "PASS"), ("b", "FAIL")]
    assert all(f.source is None for f in generated)


def test_an_evaluator_whose_rules_read_facts_computes_them_once(tmp_path: Path) -> None:
    rules = [_rule(tmp_path, {"path": "asset.project", "equals": "phi-proj"})]
    engine = Engine(rules)
    source, _ = codegen.evaluator_source(engine.rules_for(FW), engine_module._RUNTIME)
    assert "_facts_phi(view)" in source
    assets = [_fw("a"), _fw("c", project="other")]
    inv = Inventory(assets, phi=PhiConfig(projects=("phi-proj",)))
    generated = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    assert generated == _looped(rules, assets, inv)
    assert [f.outcome.value for f in generated] == ["PASS"]


@pytest.mark.parametrize("path", [
    "data.metadata.items", "project.data.commonInstanceMetadata.items",
    "data.template.containers[0].env", "data.spec.template.spec.containers[*].env",
    "data.metadata", "data.metadata.items[0]", "data.config.environmentVariables",
    "data.metadata.secretKeys"])
def test_metadata_and_environment_evidence_is_redacted_as_before(path: str) -> None:
    # `_render` of a value read in metadata or environment variables (one pass for a list
    # of flat objects) gives `redact(path, evidence_value(value))`, the two-pass reference.
    from phiguard.policy.compiler import evidence_value
    from phiguard.policy.paths import MISSING
    from phiguard.redaction import REDACTED, redact

    values: list[Any] = [
        [{"key": "enable-oslogin", "value": "TRUE"}, {"key": "startup-script", "value": "x"}],
        [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "PORT", "value": 8080}],
        [{"key": "ssh-keys", "value": None}, {"key": "k"}, {"value": "lonely"}],
        [{"key": "enable-oslogin", "value": "TRUE", "password": "p", "note": None}],
        [{"key": "a", "value": {"nested": "secret"}}],  # not flat: the two passes
        [{"key": "a", "value": MISSING}], [{"key": "a", "value": UnknownValue()}],
        [{"key": str(i), "value": str(i)} for i in range(60)],  # cut to 50
        [{f"k{i}": i for i in range(60)}], [], ["enable-oslogin", 3, None], [[{"value": 1}]],
        {"items": [{"key": "enable-oslogin", "value": "TRUE"}], "fingerprint": "f"},
    ]
    for value in values:
        got = engine_module._render(path, value, {})
        assert got == redact(path, evidence_value(value)), value
    flat = [{"key": "startup-script", "value": "rm -rf /"}]
    shown = engine_module._render(path, flat, {})
    assert "rm -rf /" not in repr(shown) and REDACTED in repr(shown)
    assert flat == [{"key": "startup-script", "value": "rm -rf /"}]  # the data is not changed
