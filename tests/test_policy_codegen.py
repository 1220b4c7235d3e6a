"""Rule conditions generated as Python source give exactly what the interpreted closures give,
and a rule's text never becomes source code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _engines import interpreted as _interpreted
from _engines import looped as _looped
from _paths import DEMO
from phiguard.findings import Finding
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy import codegen, compiler
from phiguard.policy import engine as engine_module
from phiguard.policy.engine import Engine
from phiguard.policy.rule import Rule, load_rule
from phiguard.runs.common import load_pack
from phiguard.testing import DEFAULT_AT, _example_assets, load_example, run_rule

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FW = "compute.googleapis.com/Firewall"
ANC = ("projects/111", "organizations/1")


def _examples(rule: Rule) -> list[Path]:
    folder = Path(rule.path).parent
    return sorted(p for sub in ("pass", "fail", "unknown") for p in (folder / sub).glob("*.json"))


def _judged(rule: Rule, path: Path) -> dict[str, Finding]:
    example = load_example(path)
    doc = example.doc
    return run_rule(rule, _example_assets(example), config=doc.get("config"),
                    params=doc.get("params"), at=doc.get("at", DEFAULT_AT))


PACK = load_pack([])


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_every_example_judged_alike(rule: Rule) -> None:
    # Verdict, message (reasons and their order), evidence (values and order): all equal.
    paths = _examples(rule)
    assert paths
    generated = [_judged(rule, p) for p in paths]
    with _interpreted():
        interpreted = [_judged(rule, p) for p in paths]
    assert generated == interpreted


def _rule(tmp_path: Path, assert_: Any, **extra: Any) -> Rule:
    doc: dict[str, Any] = {
        "id": "GEN-901", "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [FW], "scope": "all", **extra, "assert": assert_,
        "remediation": {"summary": "fix it"},
    }
    folder = tmp_path / "GEN-901"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return load_rule(folder / "rule.yaml")


def _fw(name: str, **data: Any) -> Asset:
    return Asset(f"//compute.googleapis.com/projects/p/global/firewalls/{name}", FW,
                 {"name": name, **data}, ancestors=ANC)


def _both(rule: Rule, assets: list[Asset]) -> tuple[list[Finding], list[Finding]]:
    inv = Inventory(assets, phi=PhiConfig(all=True))
    engine = Engine([rule])
    generated = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    with _interpreted():
        engine = Engine([rule])
        interpreted = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    return generated, interpreted


# A value that would run code if it were pasted into the generated source.
HOSTILE = "x'\"); __import__('os').system('touch /tmp/owned') #\n\"\"\"'''"


def test_rule_text_is_never_source(tmp_path: Path) -> None:
    rule = _rule(tmp_path, {
        "all": [
            {"path": "data['" + "odd\"key" + "']", "equals": HOSTILE, "because": HOSTILE},
            {"path": "data.sourceRanges", "every": {"path": "item", "not_equals": HOSTILE},
             "because": HOSTILE + "{c0}"},
            {"not": {"path": "data.name", "in": [HOSTILE, "{x}"]}, "because": "{v0}"},
        ]})
    source, ns = codegen.generate_source(rule.assert_)
    for text in (HOSTILE, "odd", "sourceRanges", "{c0}", "{x}", "{v0}"):
        assert text not in source  # every value of the rule is a constant of the namespace
    assert HOSTILE in ns.values()
    bad = _fw(HOSTILE, sourceRanges=[HOSTILE], **{"odd\"key": HOSTILE})
    good = _fw("b", sourceRanges=["10.0.0.0/8"], **{"odd\"key": "y"})
    generated, interpreted = _both(rule, [bad, good])
    assert generated == interpreted
    assert [f.outcome.value for f in generated] == ["FAIL", "FAIL"]
    assert generated[0].message == HOSTILE + "{c0}"  # not formatted either
    assert generated[1].message == HOSTILE
    assert not Path("/tmp/owned").exists()


def test_only_the_template_builtins_are_reachable() -> None:
    _, ns = codegen.generate_source({"path": "data.x", "equals": 1})
    assert set(ns["__builtins__"]) == {"isinstance", "len", "enumerate", "list", "type", "dict"}


@pytest.mark.parametrize("assert_", [
    # Each combinator and quantifier, with and without `because`, defaults, params, paths.
    {"any": [{"path": "data.a", "equals": 1}, {"path": "data.b", "exists": True},
             {"path": "data.c", "empty": False, "because": "c empty"}]},
    {"all": [{"path": "data.a", "in": [1, 2]}, {"path": "data.b", "not_in": [3]},
             {"path": "data.c", "equals": {"path": "data.a"}}], "because": "all of them"},
    {"path": "data.rules", "some": {"path": "item.ports", "every": {
        "path": "item", "matches": "^(22|3389)$"}, "as": "port"}},
    {"path": "data.rules", "none": {"all": [
        {"path": "item.action", "equals": "allow"},
        {"not": {"path": "item.ranges", "contains": "0.0.0.0/0"}}]}, "default": []},
    {"path": "data.rules", "every": {"path": "item.action", "starts_with": "al",
                                     "default": "allow"}, "because": "every rule"},
    {"not": {"path": "data.rules", "some": {"path": "item.action", "iequals": "DENY"}}},
    {"path": "data.n", "gte": {"param": "least"}},
])
def test_shapes_judged_alike(tmp_path: Path, assert_: Any) -> None:
    rule = _rule(tmp_path, assert_, params={"least": {"type": "integer", "default": 3,
                                                       "description": "at least"}})
    assets = [
        _fw("empty"),
        _fw("ok", a=1, b=None, c="x", n=4, rules=[
            {"action": "allow", "ports": ["443"], "ranges": ["10.0.0.0/8"]}]),
        _fw("bad", a=3, b=[], c="", n=2, rules=[
            {"action": "allow", "ports": ["22", "80"], "ranges": ["0.0.0.0/0"]},
            {"action": "DENY", "ports": ["3389"]}, {"ports": []}, "junk"]),
        _fw("odd", a=[1], c=["x"], n="many", rules={"not": "a list"}),
    ]
    generated, interpreted = _both(rule, assets)
    assert generated == interpreted
    assert len({f.outcome for f in generated}) >= 2  # the cases tell the branches apart


def test_too_deep_for_the_compiler_is_interpreted() -> None:
    node: dict[str, Any] = {"path": "data.x", "equals": 1}
    for _ in range(40):  # past Python's limit of nested blocks (each quantifier is two)
        node = {"path": "data.rules", "some": node}
    fn = codegen.compiled(codegen.generate_condition(node))
    assert fn.__name__ != "condition"  # the closures of compile_condition


NET = "compute.googleapis.com/Network"


def test_lets_declared_alike_are_shared_per_asset(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Two rules with the same `referrers` let: the Inventory is asked once per asset, and
    # each rule's findings are what it gives alone.
    rules = []
    for i, op in enumerate(({"count_gte": 1}, {"count_lte": 1})):
        doc: dict[str, Any] = {
            "id": f"GEN-90{i + 2}", "title": "holds", "severity": "high",
            "controls": ["hipaa/164.312(b)"], "description": "a test rule",
            "asset_types": [NET], "scope": "all",
            "let": {"rules": {"referrers": {"types": [FW], "path": "data.network"}}},
            "assert": {"path": "rules", **op}, "evidence": ["rules"],
            "remediation": {"summary": "fix it"}}
        folder = tmp_path / doc["id"]
        folder.mkdir()
        (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                          encoding="utf-8")
        rules.append(load_rule(folder / "rule.yaml"))
    net = Asset("//compute.googleapis.com/projects/p/global/networks/n", NET, {"name": "n"},
                ancestors=ANC)
    fws = [_fw(f"f{i}", network="https://www.googleapis.com/compute/v1/projects/p/global/"
               "networks/n") for i in range(2)]
    inv = Inventory([net, *fws], phi=PhiConfig(all=True))
    alone = [f for r in rules for f in Engine([r]).evaluate_asset(net, inv, NOW)]
    calls = []
    real = Inventory.referrers

    def counted(self: Inventory, *args: Any) -> Any:
        calls.append(args)
        return real(self, *args)
    monkeypatch.setattr(Inventory, "referrers", counted)
    together = Engine(rules).evaluate_asset(net, inv, NOW)
    assert len(calls) == 1
    assert together == alone
    assert [f.outcome.value for f in together] == ["PASS", "FAIL"]
    assert together[0].evidence == (("rules", [fws[0].name, fws[1].name]),)


def test_a_let_read_through_a_path_is_computed_once_per_rule(tmp_path: Path) -> None:
    rule = _rule(tmp_path, {"all": [{"path": "net.data.name", "equals": "n"},
                                    {"path": "net.data.mtu", "gte": 1300, "default": 1460},
                                    {"path": "data.sourceRanges", "every": {
                                        "path": "net.data.name", "not_equals": "item"}}]},
                 let={"net": {"ref": "data.network", "types": [NET]}})
    net = Asset("//compute.googleapis.com/projects/p/global/networks/n", NET,
                {"name": "n", "selfLink": "https://www.googleapis.com/compute/v1/projects/p/"
                 "global/networks/n"}, ancestors=ANC)
    fw = _fw("a", network=net.data["selfLink"], sourceRanges=["10.0.0.0/8"])
    lost = _fw("b", network="https://www.googleapis.com/compute/v1/projects/p/global/"
               "networks/gone", sourceRanges=["10.0.0.0/8"])
    generated, interpreted = _both(rule, [net, fw, lost])
    assert generated == interpreted
    assert [f.outcome.value for f in generated] == ["PASS", "UNKNOWN"]


def test_evidence_through_a_let_as_env_resolve_gives(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rule = _rule(tmp_path, {"path": "net.data.name", "equals": "n"},
                 let={"net": {"ref": "data.network", "types": [NET]}},
                 evidence=["net.data.mtu", "net", "net.data['name']", "net.data.peerings[*]"])
    net = Asset("//compute.googleapis.com/projects/p/global/networks/n", NET,
                {"name": "n", "mtu": 1460, "peerings": [{"name": "x"}], "selfLink":
                 "https://www.googleapis.com/compute/v1/projects/p/global/networks/n"},
                ancestors=ANC)
    assets = [net, _fw("a", network=net.data["selfLink"]), _fw("b", network="gone"), _fw("c")]
    direct, _ = _both(rule, assets)
    real = compiler.resolver

    def through_env(path: Any, consts: frozenset[str] = frozenset(),
                    lets: frozenset[str] = frozenset()) -> Any:
        return real(path, consts)  # named: Env.resolve, Env.root
    monkeypatch.setattr(compiler, "resolver", through_env)
    _, general = _both(rule, assets)  # the loop's resolvers, through Env.resolve
    assert direct == general
    assert [f.outcome.value for f in direct] == ["PASS", "UNKNOWN", "UNKNOWN"]
    assert dict(direct[0].evidence)["net.data.mtu"] == 1460


HKEY = 'x"); __import__("os").system("touch /tmp/owned") #'  # a hostile key a path can name


def test_evaluator_text_holds_no_rule_text(tmp_path: Path) -> None:
    # A type's generated evaluator: the rule's id, title, parameters, evidence paths and
    # messages are constants of its namespace, never source; it judges as the loop does.
    rule = _rule(tmp_path, {"path": "data.name", "not_equals": {"param": "odd"},
                            "because": HOSTILE},
                 title=HOSTILE, when={"path": "data['" + "odd\"key" + "']", "exists": True},
                 evidence=["data['" + HKEY + "']", "data.sourceRanges[*]"],
                 params={"odd": {"type": "string", "default": HOSTILE, "description": "x"}})
    engine = Engine([rule])
    source, ns = codegen.evaluator_source(engine.rules_for(FW), engine_module._RUNTIME)
    for text in (HOSTILE, HKEY, "odd", "sourceRanges", "GEN-901"):
        assert text not in source
    assert HOSTILE in ns.values()
    bad = _fw(HOSTILE, sourceRanges=[HOSTILE], **{"odd\"key": 1, HKEY: HOSTILE})
    good = _fw("b", sourceRanges=["10.0.0.0/8"], **{"odd\"key": 1})
    skipped = _fw("c")
    generated, interpreted = _both(rule, [bad, good, skipped])
    assert generated == interpreted
    assert [(f.outcome.value, f.message) for f in generated] == [("FAIL", HOSTILE),
                                                                 ("PASS", HOSTILE)]
    assert not Path("/tmp/owned").exists()


def test_evaluators_judge_the_demo_org_as_the_loop_does() -> None:
    # The whole pack (types with many rules, `*` rules, content and PHI scope checks, shared
    # lets, waivers aside): every finding, its message and evidence, in the same order.
    from phiguard.config import load_config
    from phiguard.scan import Scan

    config = load_config(DEMO / "phiguard.yaml")
    generated = list(Scan([DEMO], PACK, config, at=NOW, jobs=1).findings())
    with _looped():
        looped = list(Scan([DEMO], PACK, config, at=NOW, jobs=1).findings())
    assert generated == looped
    assert len({f.rule_id for f in generated}) > 100


def test_a_when_rules_share_is_judged_once_and_recorded_by_each(tmp_path: Path) -> None:
    # Two rules of a type with the same `when` reading the asset alone share its verdict per
    # asset; each still records what it read. One whose `when` reads a parameter does not.
    when = {"all": [{"path": "data.direction", "equals": "INGRESS"},
                    {"path": "data.labels.env", "not_equals": "dev", "default": "prod"}]}
    rules = []
    for i, (cond, assert_) in enumerate((
            (when, {"path": "data.disabled", "equals": False}),
            (when, {"path": "data.priority", "gte": 1000}),
            ({"path": "data.direction", "equals": {"param": "way"}},
             {"path": "data.priority", "lte": 1000}))):
        doc: dict[str, Any] = {
            "id": f"GEN-91{i}", "title": "holds", "severity": "high",
            "controls": ["hipaa/164.312(b)"], "description": "a test rule",
            "asset_types": [FW], "scope": "all", "when": cond, "assert": assert_,
            "params": {"way": {"type": "string", "default": "INGRESS", "description": "w"}},
            "evidence": ["data.name"], "remediation": {"summary": "fix it"}}
        folder = tmp_path / doc["id"]
        folder.mkdir()
        (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                          encoding="utf-8")
        rules.append(load_rule(folder / "rule.yaml"))
    engine = Engine(rules)
    source, _ = codegen.evaluator_source(engine.rules_for(FW), engine_module._RUNTIME)
    assert source.count("when0 = None") == 1 and "when1" not in source
    assets = [_fw("in", direction="INGRESS", disabled=False, priority=900),
              _fw("dev", direction="INGRESS", labels={"env": "dev"}, priority=1000),
              _fw("out", direction="EGRESS", disabled=True), _fw("bare")]
    inv = Inventory(assets, phi=PhiConfig(all=True))
    generated = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    with _interpreted():
        engine = Engine(rules)
        interpreted = [f for a in assets for f in engine.evaluate_asset(a, inv, NOW)]
    assert generated == interpreted
    assert [(f.rule_id, f.outcome.value) for f in generated[:3]] == [
        ("GEN-910", "PASS"), ("GEN-911", "FAIL"), ("GEN-912", "PASS")]
    assert [p for p, _ in generated[1].evidence] == [
        "data.priority", "data.direction", "data.labels.env", "data.name"]  # its default
