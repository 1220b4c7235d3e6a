"""The engine's compiled fast paths give exactly what the general ones give.

Paths are compiled per rule (subject roots fetched directly, walks shared by an asset's rules,
paths through once-per-scan lets resolved once), and evidence is rendered and redacted in one
pass: each must agree with the plain `Env.resolve` / `redact(evidence_value(...))`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from phiguard.findings import Outcome
from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.compiler import AssetView, Env, evidence_value, resolver
from phiguard.policy.engine import Engine, _render, evaluate
from phiguard.policy.paths import MISSING, Misshapen, Unresolved, parse_path, walk
from phiguard.policy.rule import Rule, load_rule
from phiguard.redaction import REDACTED, redact

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FW = "compute.googleapis.com/Firewall"
NET = "compute.googleapis.com/Network"
ANC = ("projects/111", "organizations/1")


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _rule(tmp_path: Path, assert_: Any, **extra: Any) -> Rule:
    doc: dict[str, Any] = {
        "id": "ENG-901", "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [FW], "scope": "all", **extra, "assert": assert_,
        "remediation": {"summary": "fix it"},
    }
    folder = tmp_path / "ENG-901"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rule.yaml").write_text(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False),
                                      encoding="utf-8")
    return load_rule(folder / "rule.yaml")


def _fw(name: str, **data: Any) -> Asset:
    return Asset(f"//compute.googleapis.com/projects/p/global/firewalls/{name}", FW,
                 {"name": name, **data}, ancestors=ANC)


def _net(name: str) -> Asset:
    return Asset(f"//compute.googleapis.com/projects/p/global/networks/{name}", NET,
                 {"name": name}, ancestors=ANC)


_VIEW_INV = Inventory([_net("vpc")], phi=PhiConfig(all=True))
_VIEW = AssetView(_net("vpc"), _VIEW_INV)


@pytest.mark.parametrize("path", [
    "data.allowed", "data.metadata.items", "data.config.env", "data.secrets",
    "data.containers[*].env", "item", "data.settings", "policy.data.commonInstanceMetadata",
    "data.labels", "data.password",
])
@pytest.mark.parametrize("value", [
    [{"IPProtocol": "tcp", "ports": ["22"]}, {"IPProtocol": "udp"}],
    [{"key": "enable-oslogin", "value": "TRUE"}, {"key": "startup-script", "value": "x"}],
    {"password": "p", "apiKey": "k", "name": "n", "nested": {"clientSecret": "s", "n": [1]},
     "metadata": {"ssh-keys": "k", "enable-oslogin": "TRUE"}, "env": [{"name": "A",
                                                                       "value": "s"}]},
    {"items": [{"key": "a", "value": "b"}], "kmsKeyName": "k", "privateKey": None},
    [[1, 2], [{"token": "t"}], None, "s", 3, 1.5, True],
    list(range(80)),
    {f"k{i}": i for i in range(70)},
    [MISSING, _VIEW, Unresolved("projects/x"), UnknownValue("unknown: why"), (1, 2)],
    {"a": MISSING, "b": _VIEW, "secretRef": Unresolved("r"), "c": UnknownValue(),
     "d": (1, "x"), "value": [1]},
    [],
    {},
])
def test_rendering_in_one_pass_equals_redacting_the_rendered_value(path: str,
                                                                   value: Any) -> None:
    want = redact(path, evidence_value(value))
    got = _render(path, value, {})
    assert json.dumps(got) == json.dumps(want)


def test_a_rendered_value_is_reused_only_for_the_same_object() -> None:
    cache: dict[tuple[str, int], tuple[Any, Any]] = {}
    first = [{"a": 1}]
    assert _render("data.x", first, cache) == [{"a": 1}]
    assert _render("data.x", first, cache) is cache[("data.x", id(first))][1]
    assert _render("data.x", [{"a": 2}], cache) == [{"a": 2}]


@pytest.mark.parametrize("text", [
    "data", "data.name", "data.allowed", "data.allowed[0].ports", "data.allowed[*].ports",
    "data.allowed[*].ports[*]", "data.allowed[-1].IPProtocol", "data.gone.deeper",
    "data.name.deeper", "data['name']", "asset.project", "asset.phi", "iam_policy",
    "iam_policy.bindings", "org_policy", "params.ports", "params", "params.gone",
])
def test_compiled_paths_resolve_as_env_resolve(text: str) -> None:
    asset = _fw("a", allowed=[{"IPProtocol": "tcp", "ports": ["22", "80"]},
                              {"IPProtocol": "udp"}])
    inv = Inventory([asset], phi=PhiConfig(all=True))
    env = Env(AssetView(asset, inv), inv, NOW, {"ports": ["22"]}, {})
    path = parse_path(text)
    assert resolver(path)(env) == env.resolve(path)
    assert resolver(path)(env) == env.resolve(path)  # again, through the view's cache


def _findings(rule: Rule, assets: list[Asset]) -> dict[str, Any]:
    inv = Inventory(assets, phi=PhiConfig(all=True))
    return {f.asset.rsplit("/", 1)[1]: f for f in evaluate(assets, inv, Engine([rule]), NOW)
            if f.asset_type == FW}


def test_a_quantifier_variable_named_like_a_once_per_scan_let_is_the_element(
        tmp_path: Path) -> None:
    # `nets` reads nothing of the asset (computed once per scan), but inside the quantifier
    # the name is the list element: it must not be read as the let there.
    rule = _rule(tmp_path, {"path": "data.allowed", "as": "nets",
                            "some": {"path": "nets.IPProtocol", "equals": "tcp"}},
                 let={"nets": {"find": {"types": [NET]}}},
                 evidence=["nets[*].data.name"])
    found = _findings(rule, [_fw("a", allowed=[{"IPProtocol": "tcp"}]),
                             _fw("b", allowed=[{"IPProtocol": "udp"}]), _net("vpc")])
    assert found["a"].outcome is Outcome.PASS
    assert found["b"].outcome is Outcome.FAIL
    assert dict(found["a"].evidence)["nets[*].data.name"] == ["vpc"]


def test_paths_through_a_once_per_scan_let_and_list_walks_stay_per_asset(
        tmp_path: Path) -> None:
    rule = _rule(tmp_path, {"path": "data.sourceRanges", "none": {
                     "path": "item", "in": {"path": "nets[*].data.name"}}},
                 let={"nets": {"find": {"types": [NET]}}},
                 evidence=["data.allowed[*].ports", "nets[*].data.name"])
    found = _findings(rule, [_fw("a", sourceRanges=["vpc"], allowed=[{"ports": ["22"]}]),
                             _fw("b", sourceRanges=["x"], allowed=[{"ports": ["80"]}]),
                             _net("vpc")])
    assert found["a"].outcome is Outcome.FAIL
    assert found["b"].outcome is Outcome.PASS
    assert dict(found["a"].evidence)["data.allowed[*].ports"] == [["22"]]
    assert dict(found["b"].evidence)["data.allowed[*].ports"] == [["80"]]
    assert dict(found["b"].evidence)["nets[*].data.name"] == ["vpc"]


def test_secret_named_evidence_is_redacted_through_the_fast_path(tmp_path: Path) -> None:
    rule = _rule(tmp_path, {"path": "data.name", "exists": True},
                 evidence=["data.config", "data.metadata"])
    found = _findings(rule, [_fw("a", config={"password": "hunter2", "keep": 1},
                                 metadata={"items": [{"key": "startup-script",
                                                      "value": "secret"}]})])
    evidence = dict(found["a"].evidence)
    assert evidence["data.config"] == {"password": REDACTED, "keep": 1}
    assert evidence["data.metadata"] == {"items": [{"key": "startup-script",
                                                    "value": REDACTED}]}


SINK = "logging.googleapis.com/LogSink"
PROJECT = "cloudresourcemanager.googleapis.com/Project"


def test_find_within_ancestry_keeps_each_assets_own_in_order(tmp_path: Path) -> None:
    # Candidates are looked up by their owner once per Inventory, not filtered per asset: each
    # project still gets exactly the sinks of its own ancestry, in the Inventory's order.
    doc: dict[str, Any] = {
        "id": "ENG-903", "title": "holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [PROJECT], "scope": "all",
        "let": {"sinks": {"find": {"types": [SINK], "within": "ancestry"}}},
        "assert": {"path": "sinks", "count_gte": 2}, "evidence": ["sinks"],
        "remediation": {"summary": "fix it"}}
    folder = tmp_path / "ENG-903"
    folder.mkdir()
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    rule = load_rule(folder / "rule.yaml")

    def project(number: str, *above: str) -> Asset:
        return Asset(f"//cloudresourcemanager.googleapis.com/projects/{number}", PROJECT,
                     {"projectNumber": number, "projectId": f"p{number}"},
                     ancestors=(f"projects/{number}", *above))

    def sink(owner: str, name: str) -> Asset:
        return Asset(f"//logging.googleapis.com/{owner}/sinks/{name}", SINK, {"name": name},
                     ancestors=(owner,))
    one = project("111", "folders/5", "organizations/1")
    two = project("222", "organizations/1")
    sinks = [sink("projects/222", "a"), sink("organizations/1", "b"), sink("folders/5", "c"),
             sink("projects/111", "d"), sink("folders/6", "e"), sink("projects/p111", "f"),
             sink("projects/333", "g"), sink("organizations/1", "h")]
    inv = Inventory([one, two, *sinks], phi=PhiConfig(all=True))
    engine = Engine([rule])
    got = {f.asset: (f.outcome, dict(f.evidence)["sinks"])
           for asset in (one, two, one) for f in engine.evaluate_asset(asset, inv, NOW)}
    short = "//logging.googleapis.com/"
    assert got == {
        one.name: (Outcome.PASS, [short + s for s in (
            "organizations/1/sinks/b", "folders/5/sinks/c", "projects/111/sinks/d",
            "projects/p111/sinks/f", "organizations/1/sinks/h")]),
        two.name: (Outcome.PASS, [short + s for s in (
            "projects/222/sinks/a", "organizations/1/sinks/b", "organizations/1/sinks/h")]),
    }


_UNKNOWN = UnknownValue("unknown: known after apply")
_SHAPE = Misshapen("a string where Google defines an object")


@pytest.mark.parametrize(("text", "want"), [
    # Keys after a fan-out are read in place: absent and null keys are left out, an element
    # that is not an object is walked in general, an unknown value stops the walk at its
    # element, and so does a key read through a value that is not an object (a shape the
    # path does not read, named where it is); other shapes take the general walk.
    ("data.nics[*].network", (_SHAPE, "data.nics[2]")),
    ("data.nics[*].cfg.mode", (_SHAPE, "data.nics[2]")),
    ("data.objs[*].network", (["n0", "n2"], "data.objs[*].network")),
    ("data.objs[*].cfg.mode", (["m0"], "data.objs[*].cfg.mode")),
    ("data.nics[*]", ([{"network": "n0", "cfg": {"mode": "m0"}}, {"network": None}, "n1",
                       {"network": "n2", "cfg": "flat"}, {"network": "n4"}], "data.nics[*]")),
    ("data.objs[*].network.deeper", (_SHAPE, "data.objs[0].network")),
    ("data.odd[*].network", (_UNKNOWN, "data.odd[1]")),
    ("data.odd[*].cfg.mode", (_UNKNOWN, "data.odd[2]")),
    ("data.lists[*].items[*].k", ([1, 2, 3], "data.lists[*].items.k")),
    ("data.lists[*].items[0].k", ([1, 3], "data.lists[*].items[0].k")),
    ("data.none[*].k", (MISSING, "data.none")),
    ("data.flat[*].k", (_SHAPE, "data.flat")),
])
def test_a_fan_out_walks_each_element_as_the_general_walk(text: str, want: Any) -> None:
    data = {
        "nics": [{"network": "n0", "cfg": {"mode": "m0"}}, {"network": None}, "n1",
                 {"network": "n2", "cfg": "flat"}, {"network": "n4"}],
        "odd": [{"network": "a"}, {"network": _UNKNOWN}, {"cfg": _UNKNOWN}],
        "lists": [{"items": [{"k": 1}, {"k": 2}]}, {"items": []}, {"items": [{"k": 3}]}],
        "flat": "x",
        "objs": [{"network": "n0", "cfg": {"mode": "m0"}}, {"network": None}, {},
                 {"network": "n2"}],
    }
    path = parse_path(text)
    got = walk(data, path.root, path.segments, lambda v, k: MISSING)
    assert got == want
    assert type(got[0]) is type(want[0])
