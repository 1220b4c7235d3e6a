"""The engine: three-valued logic, paths, evidence, scope, parameters, joins and waivers."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _paths import DEMO, RULES
from phiguard.config import Waiver
from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import USER_TYPE, Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.compiler import MAX_EVIDENCE
from phiguard.policy.engine import Engine, evaluate
from phiguard.policy.rule import Rule, load_rule
from phiguard.policy.waivers import WaiverBook
from phiguard.testing import assets_from_records
from report_data import finding

NOW = datetime(2026, 11, 25, tzinfo=UTC)
FW = "compute.googleapis.com/Firewall"
NET = "compute.googleapis.com/Network"
POLICY = "compute.googleapis.com/SslPolicy"
PROXY = "compute.googleapis.com/TargetHttpsProxy"
SINK = "logging.googleapis.com/LogSink"
SA = "iam.googleapis.com/ServiceAccount"
PROJECT = "cloudresourcemanager.googleapis.com/Project"
FOLDER = "cloudresourcemanager.googleapis.com/Folder"
ORG = "cloudresourcemanager.googleapis.com/Organization"
PHI_ANC = ["projects/111", "folders/222", "organizations/1"]
DEV_ANC = ["projects/333", "folders/444", "organizations/1"]
CRM = "//cloudresourcemanager.googleapis.com/"
PHI = PhiConfig(projects=frozenset({"phi-prod"}))


def rec(name: str, asset_type: str = FW, data: dict[str, Any] | None = None,
        ancestors: list[str] | None = None, iam: dict[str, Any] | None = None,
        org: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A CAI record in the `gcloud asset export` shape."""
    out: dict[str, Any] = {"name": name, "asset_type": asset_type,
                           "resource": {"data": data or {}},
                           "ancestors": PHI_ANC if ancestors is None else ancestors}
    if iam is not None:
        out["iam_policy"] = iam
    if org is not None:
        out["org_policy"] = org
    return out


def fw(name: str, project: str = "phi-prod", **data: Any) -> dict[str, Any]:
    anc = PHI_ANC if project == "phi-prod" else DEV_ANC
    return rec(f"//compute.googleapis.com/projects/{project}/global/firewalls/{name}", FW,
               {"name": name, **data}, anc)


def hierarchy() -> list[dict[str, Any]]:
    """Projects phi-prod (111, folder 222) and dev (333, folder 444) under organization 1."""
    return [
        rec(CRM + "projects/111", PROJECT, {"projectId": "phi-prod", "projectNumber": "111"},
            PHI_ANC),
        rec(CRM + "projects/333", PROJECT, {"projectId": "dev", "projectNumber": "333"}, DEV_ANC),
        rec(CRM + "folders/222", FOLDER, {"name": "folders/222"},
            ["folders/222", "organizations/1"]),
        rec(CRM + "folders/444", FOLDER, {"name": "folders/444"},
            ["folders/444", "organizations/1"]),
        rec(CRM + "organizations/1", ORG, {"name": "organizations/1"}, ["organizations/1"]),
    ]


def make_rule(tmp_path: Path, assert_: Any, *, rid: str = "ENG-001", **extra: Any) -> Rule:
    """Write a rule.yaml into <tmp>/<id>/ and load it through the validator."""
    doc: dict[str, Any] = {
        "id": rid, "title": "Test condition holds", "severity": "high",
        "controls": ["hipaa/164.312(b)"], "description": "a test rule",
        "asset_types": [FW], "scope": "all", **extra, "assert": assert_,
        "remediation": {"summary": "fix it"},
    }
    folder = tmp_path / rid
    folder.mkdir(parents=True, exist_ok=True)
    # Written out in full: PyYAML would write a repeated object as an alias, which rules refuse.
    text = yaml.dump(doc, Dumper=_NoAliases, sort_keys=False)
    (folder / "rule.yaml").write_text(text, encoding="utf-8")
    return load_rule(folder / "rule.yaml")


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def run(rules: list[Rule], records: list[dict[str, Any]], *, phi: PhiConfig | None = None,
        params: dict[str, dict[str, Any]] | None = None, enable: tuple[str, ...] = (),
        assets: list[Asset] | None = None, at: datetime = NOW) -> dict[tuple[str, str], Finding]:
    """Findings of every rule on every asset, by (rule id, asset name)."""
    all_assets = assets_from_records(records) + list(assets or [])
    inv = Inventory(all_assets, phi=phi or PhiConfig(all=True))
    engine = Engine(rules, params=params, enable=enable)
    return {(f.rule_id, f.asset): f for f in evaluate(all_assets, inv, engine, at)}


def outcome_of(tmp_path: Path, assert_: Any, data: dict[str, Any], **extra: Any) -> Outcome:
    rule = make_rule(tmp_path, assert_, **extra)
    record = fw("x", **data)
    return run([rule], [record])[(rule.id, record["name"])].outcome


P = {"path": "data.t", "equals": True}    # PASS on DATA
F = {"path": "data.f", "equals": True}    # FAIL on DATA
U = {"path": "data.gone", "equals": True}  # UNKNOWN on DATA (absent)
DATA = {"t": True, "f": False}
_V = {"P": P, "F": F, "U": U}
_O = {"P": Outcome.PASS, "F": Outcome.FAIL, "U": Outcome.UNKNOWN}


# three-valued logic --------------------------------------------------------------------------

@pytest.mark.parametrize(("children", "want"), [
    ("PP", "P"), ("PF", "F"), ("FU", "F"), ("PU", "U"), ("UU", "U"), ("UF", "F"),
])
def test_all_is_kleene_and(tmp_path: Path, children: str, want: str) -> None:
    """`all` fails if any child fails, passes if all pass, else is UNKNOWN."""
    cond = {"all": [_V[c] for c in children]}
    assert outcome_of(tmp_path, cond, DATA) is _O[want]


@pytest.mark.parametrize(("children", "want"), [
    ("FF", "F"), ("FP", "P"), ("UP", "P"), ("FU", "U"), ("UU", "U"),
])
def test_any_is_kleene_or(tmp_path: Path, children: str, want: str) -> None:
    """`any` passes if any child passes, fails if all fail, else is UNKNOWN."""
    cond = {"any": [_V[c] for c in children]}
    assert outcome_of(tmp_path, cond, DATA) is _O[want]


@pytest.mark.parametrize(("child", "want"), [("P", "F"), ("F", "P"), ("U", "U")])
def test_not_keeps_unknown(tmp_path: Path, child: str, want: str) -> None:
    """`not` swaps PASS and FAIL and leaves UNKNOWN unknown."""
    assert outcome_of(tmp_path, {"not": _V[child]}, DATA) is _O[want]


@pytest.mark.parametrize(("quant", "values", "want"), [
    ("some", [1, 2], "P"), ("some", [1, 3], "F"), ("some", [1, None], "U"),
    ("some", [None, 2], "P"), ("some", [], "F"),
    ("every", [2, 2], "P"), ("every", [2, 3], "F"), ("every", [2, None], "U"),
    ("every", [None, 3], "F"), ("every", [], "P"),
    ("none", [1, 3], "P"), ("none", [1, 2], "F"), ("none", [1, None], "U"),
    ("none", [None, 2], "F"), ("none", [], "P"),
])
def test_quantifiers_with_unknown_elements(tmp_path: Path, quant: str, values: list[Any],
                                           want: str) -> None:
    """some/every/none over elements whose `v` is 2 (PASS), other (FAIL) or absent (UNKNOWN)."""
    items = [{"v": v} if v is not None else {} for v in values]
    cond = {"path": "data.items", quant: {"path": "item.v", "equals": 2}}
    assert outcome_of(tmp_path, cond, {"items": items}) is _O[want]


def test_quantifier_over_missing_list_is_empty(tmp_path: Path) -> None:
    """A missing list is empty (some FAILs, every PASSes) unless `default:` says otherwise."""
    some = {"path": "data.items", "some": {"path": "item", "equals": 1}}
    every = {"path": "data.items", "every": {"path": "item", "equals": 1}}
    assert outcome_of(tmp_path, some, {}) is Outcome.FAIL
    assert outcome_of(tmp_path, every, {}) is Outcome.PASS
    with_default = {**some, "default": [1]}
    assert outcome_of(tmp_path, with_default, {}) is Outcome.PASS


def test_quantifier_over_non_list_is_unknown(tmp_path: Path) -> None:
    """A quantifier over a string or mapping cannot be judged."""
    cond = {"path": "data.items", "every": {"path": "item", "equals": 1}}
    assert outcome_of(tmp_path, cond, {"items": "1"}) is Outcome.UNKNOWN


def test_quantifier_as_renames_and_nests(tmp_path: Path) -> None:
    """`as:` names the element, so nested quantifiers can read both levels."""
    cond = {"path": "data.bindings", "as": "b", "every": {
        "path": "b.members", "as": "m", "every": {
            "any": [{"path": "b.role", "equals": "roles/viewer"},
                    {"path": "m", "starts_with": "group:"}]}}}
    ok = {"bindings": [{"role": "roles/owner", "members": ["group:g@x.com"]},
                       {"role": "roles/viewer", "members": ["user:a@x.com"]}]}
    bad = {"bindings": [{"role": "roles/owner", "members": ["group:g@x.com", "user:a@x.com"]}]}
    assert outcome_of(tmp_path, cond, ok) is Outcome.PASS
    assert outcome_of(tmp_path, cond, bad) is Outcome.FAIL


# absence, defaults, unknown values -----------------------------------------------------------

@pytest.mark.parametrize("leaf", [
    {"path": "data.gone", "not_equals": "x"}, {"path": "data.gone", "not_in": ["x"]},
    {"path": "data.gone", "not_contains": "x"}, {"path": "data.gone", "cidr_internet": False},
    {"path": "data.gone.deeper[0]", "not_matches": "x"},
])
def test_absent_path_without_default_is_unknown_never_pass(tmp_path: Path,
                                                            leaf: dict[str, Any]) -> None:
    """A negative operator on an absent path is UNKNOWN: phiguard never guesses PASS."""
    assert outcome_of(tmp_path, leaf, {}) is Outcome.UNKNOWN
    assert outcome_of(tmp_path, {"not": leaf}, {}) is Outcome.UNKNOWN


def test_null_is_absent(tmp_path: Path) -> None:
    """A JSON null reads as absent."""
    assert outcome_of(tmp_path, {"path": "data.v", "not_equals": 1}, {"v": None}) \
        is Outcome.UNKNOWN


def test_default_is_used_for_an_absent_path(tmp_path: Path) -> None:
    """`default:` stands in for an absent value (minTlsVersion absent means TLS_1_0)."""
    leaf = {"path": "data.minTlsVersion", "version_gte": "TLS_1_2", "default": "TLS_1_0"}
    assert outcome_of(tmp_path, leaf, {}) is Outcome.FAIL
    assert outcome_of(tmp_path, leaf, {"minTlsVersion": "TLS_1_3"}) is Outcome.PASS


def test_exists_judges_absence_itself(tmp_path: Path) -> None:
    """`exists` is PASS or FAIL on presence, never UNKNOWN for a plain absent field."""
    assert outcome_of(tmp_path, {"path": "data.x", "exists": True}, {}) is Outcome.FAIL
    assert outcome_of(tmp_path, {"path": "data.x", "exists": False}, {}) is Outcome.PASS
    assert outcome_of(tmp_path, {"path": "data.x", "exists": True}, {"x": 1}) is Outcome.PASS


def test_unknown_value_in_data_is_unknown(tmp_path: Path) -> None:
    """A value known only after apply makes a leaf UNKNOWN, even for `exists` and ports."""
    rule = make_rule(tmp_path, {"all": [
        {"path": "data.sourceRanges", "cidr_internet": False},
    ]})
    later = UnknownValue()
    asset = Asset("//compute.googleapis.com/projects/p/global/firewalls/plan", FW,
                  {"sourceRanges": later})
    found = run([rule], [], assets=[asset])[(rule.id, asset.name)]
    assert found.outcome is Outcome.UNKNOWN
    assert "known only after apply" in found.message
    for leaf in ({"path": "data.x", "exists": True},
                 {"path": "data.allowed[*].ports", "ports_include": ["22"]},
                 {"path": "data.allowed", "every": {"path": "item.ports", "exists": True}}):
        rule2 = make_rule(tmp_path / "x", leaf, rid="ENG-002")
        plan = Asset(asset.name, FW, {"x": later, "allowed": [{"ports": later}]})
        got = run([rule2], [], assets=[plan])[(rule2.id, plan.name)]
        assert got.outcome is Outcome.UNKNOWN, leaf


def test_unknown_value_deep_in_a_fan_out_is_unknown(tmp_path: Path) -> None:
    """`[*]` over elements where one is unknown gives UNKNOWN, not a shorter list."""
    rule = make_rule(tmp_path, {"path": "data.allowed[*].IPProtocol", "not_contains": "all"})
    asset = Asset("//compute.googleapis.com/projects/p/global/firewalls/plan", FW,
                  {"allowed": [{"IPProtocol": "tcp"}, {"IPProtocol": UnknownValue()}]})
    assert run([rule], [], assets=[asset])[(rule.id, asset.name)].outcome is Outcome.UNKNOWN


# evidence and messages -----------------------------------------------------------------------

def test_evidence_records_concrete_paths_and_values(tmp_path: Path) -> None:
    """Evidence names the element that decided (data.allowed[1].ports) with the value seen."""
    rule = make_rule(tmp_path, {"path": "data.allowed", "none": {
        "path": "item.ports", "ports_include": ["22"]}}, evidence=["data.direction"])
    record = fw("ssh", direction="INGRESS",
                allowed=[{"IPProtocol": "tcp", "ports": ["443"]},
                         {"IPProtocol": "tcp", "ports": ["20-23"]}])
    found = run([rule], [record])[(rule.id, record["name"])]
    assert found.outcome is Outcome.FAIL
    evidence = dict(found.evidence)
    assert evidence["data.allowed[0].ports"] == ["443"]
    assert evidence["data.allowed[1].ports"] == ["20-23"]
    assert evidence["data.direction"] == "INGRESS"
    assert "data.allowed[1]" in found.message


def test_evidence_records_absence_as_null(tmp_path: Path) -> None:
    """An absent value is recorded as None under the path as far as it exists, and the message
    names where the path breaks."""
    rule = make_rule(tmp_path, {"path": "data.logConfig.enable", "equals": True})
    record = fw("quiet")
    found = run([rule], [record])[(rule.id, record["name"])]
    assert found.evidence == (("data.logConfig", None),)
    assert found.message == "Cannot evaluate: data.logConfig is absent"
    half = fw("half", logConfig={})
    found = run([rule], [half])[(rule.id, half["name"])]
    assert found.evidence == (("data.logConfig.enable", None),)


def test_declared_evidence_is_never_crowded_out(tmp_path: Path) -> None:
    """The rule's `evidence:` paths are recorded even when a long list fills the evidence cap."""
    rule = make_rule(tmp_path, {"path": "data.sourceRanges[*]", "every": {
        "path": "item", "cidr_internet": False}}, when={"path": "data.items", "every": {
            "path": "item", "exists": True}}, evidence=["data.direction"])
    record = fw("many", direction="INGRESS", sourceRanges=["10.0.0.0/8"],
                items=list(range(MAX_EVIDENCE + 10)))
    found = run([rule], [record])[(rule.id, record["name"])]
    assert dict(found.evidence)["data.direction"] == "INGRESS"


def test_because_replaces_the_generated_message(tmp_path: Path) -> None:
    """A failing node's `because:` is the finding's message; without it the message names the
    path, the value and the expectation."""
    leaf = {"path": "data.disabled", "equals": True}
    rule = make_rule(tmp_path, {**leaf, "because": "the rule is enabled"})
    record = fw("x", disabled=False)
    assert run([rule], [record])[(rule.id, record["name"])].message == "the rule is enabled"
    rule2 = make_rule(tmp_path / "b", leaf, rid="ENG-002")
    msg = run([rule2], [record])[(rule2.id, record["name"])].message
    assert "data.disabled" in msg and "False" in msg and "equals" in msg


def test_because_on_all_and_every(tmp_path: Path) -> None:
    """`because:` on a combinator or quantifier speaks for its failing child."""
    cond = {"path": "data.items", "every": {"path": "item", "equals": 1},
            "because": "an item is not one"}
    rule = make_rule(tmp_path, {"all": [P, cond]})
    record = fw("x", t=True, items=[1, 2])
    assert run([rule], [record])[(rule.id, record["name"])].message == "an item is not one"


def test_pass_message_is_the_title(tmp_path: Path) -> None:
    """A PASS finding's message is the rule's title."""
    rule = make_rule(tmp_path, P)
    record = fw("x", t=True)
    assert run([rule], [record])[(rule.id, record["name"])].message == "Test condition holds"


# applicability: when, scope, params, optional, types -----------------------------------------

def test_when_excludes_assets_but_unknown_when_does_not(tmp_path: Path) -> None:
    """An asset whose `when` FAILs gets no finding; an UNKNOWN `when` still gets judged, but
    a failing assertion is then UNKNOWN (whether the rule applies is not known: a FAIL would
    rest on missing data) while a passing one holds either way."""
    rule = make_rule(tmp_path, {"path": "data.ok", "equals": True},
                     when={"path": "data.direction", "equals": "INGRESS"})
    ingress = fw("in", direction="INGRESS", ok=True)
    egress = fw("out", direction="EGRESS", ok=False)
    unsure = fw("unsure", ok=False)
    unsure_ok = fw("unsure-ok", ok=True)
    found = run([rule], [ingress, egress, unsure, unsure_ok])
    assert found[(rule.id, ingress["name"])].outcome is Outcome.PASS
    assert (rule.id, egress["name"]) not in found
    undecided = found[(rule.id, unsure["name"])]
    assert undecided.outcome is Outcome.UNKNOWN
    assert undecided.message.startswith("Cannot evaluate: ")
    assert "data.direction" in undecided.message and "(if it applies: " in undecided.message
    assert found[(rule.id, unsure_ok["name"])].outcome is Outcome.PASS


def test_phi_scope_excludes_non_phi_assets(tmp_path: Path) -> None:
    """`scope: phi` judges only PHI assets; `scope: all` judges every asset."""
    phi_rule = make_rule(tmp_path, P, scope="phi")
    all_rule = make_rule(tmp_path, P, rid="ENG-002", scope="all")
    prod, dev = fw("a", t=True), fw("b", project="dev", t=True)
    found = run([phi_rule, all_rule], [*hierarchy(), prod, dev], phi=PHI)
    assert found[(phi_rule.id, prod["name"])].outcome is Outcome.PASS
    assert (phi_rule.id, dev["name"]) not in found
    assert found[(all_rule.id, dev["name"])].outcome is Outcome.PASS


def test_params_default_and_override(tmp_path: Path) -> None:
    """A parameter's default applies unless the configuration overrides it for that rule."""
    rule = make_rule(tmp_path, {"path": "data.minTlsVersion", "version_gte": {"param": "min"}},
                     params={"min": {"type": "string", "default": "TLS_1_2"}})
    record = fw("x", minTlsVersion="TLS_1_2")
    key = (rule.id, record["name"])
    assert run([rule], [record])[key].outcome is Outcome.PASS
    raised = run([rule], [record], params={rule.id: {"min": "TLS_1_3"}})
    assert raised[key].outcome is Outcome.FAIL
    assert run([rule], [record], params={"OTHER-001": {"min": "TLS_1_3"}})[key].outcome \
        is Outcome.PASS


def test_params_root_and_path_arguments(tmp_path: Path) -> None:
    """`params.X` is a path root and `{path: P}` compares with a value from elsewhere."""
    rule = make_rule(tmp_path, {"all": [
        {"path": "params.ports", "count_gte": 2},
        {"path": "data.a", "equals": {"path": "data.b"}},
    ]}, params={"ports": {"type": "list", "default": ["22", "3389"]}})
    same, differ = fw("s", a=1, b=1), fw("d", a=1, b=2)
    found = run([rule], [same, differ])
    assert found[(rule.id, same["name"])].outcome is Outcome.PASS
    assert found[(rule.id, differ["name"])].outcome is Outcome.FAIL
    absent = fw("n", a=1)
    assert run([rule], [absent])[(rule.id, absent["name"])].outcome is Outcome.UNKNOWN


def test_optional_rules_run_only_when_enabled(tmp_path: Path) -> None:
    """An `optional: true` rule is off unless enabled; `disable` turns any rule off."""
    rule = make_rule(tmp_path, P, optional=True)
    record = fw("x", t=True)
    assert run([rule], [record]) == {}
    assert run([rule], [record], enable=(rule.id,))[(rule.id, record["name"])].outcome \
        is Outcome.PASS
    assert Engine([rule], enable=[rule.id], disable=[rule.id]).rules == []


def test_rules_are_indexed_by_type_and_star_rules_see_everything(tmp_path: Path) -> None:
    """Each asset meets only the rules of its type plus the `*` rules."""
    fw_rule = make_rule(tmp_path, P)
    star = make_rule(tmp_path, {"path": "asset.name", "exists": True}, rid="ENG-002",
                     asset_types=["*"])
    net_rule = make_rule(tmp_path, P, rid="ENG-003", asset_types=[NET])
    engine = Engine([net_rule, star, fw_rule])
    assert [cr.rule.id for cr in engine.rules_for(FW)] == ["ENG-001", "ENG-002"]
    assert [cr.rule.id for cr in engine.rules_for(NET)] == ["ENG-002", "ENG-003"]
    assert [cr.rule.id for cr in engine.rules_for("x.googleapis.com/Y")] == ["ENG-002"]
    assert engine.any_type_needs() == frozenset()
    assert Engine([fw_rule, net_rule]).subject_types() == frozenset({FW, NET})
    assert Engine([fw_rule]).rules_for(NET) == []


def test_missing_directory_source_gives_unknown(tmp_path: Path) -> None:
    """Without a directory export, rules on users are UNKNOWN for the organization, not silent."""
    rule = make_rule(tmp_path, {"path": "data.isEnrolledIn2Sv", "equals": True},
                     asset_types=[USER_TYPE])
    inv = Inventory([], missing_sources=[USER_TYPE])
    findings = evaluate([], inv, Engine([rule]), NOW, organization="1")
    assert [(f.rule_id, f.outcome, f.asset) for f in findings] == [
        (rule.id, Outcome.UNKNOWN, CRM + "organizations/1")]
    assert "directory users" in findings[0].message
    assert evaluate([], Inventory([]), Engine([rule]), NOW) == []


# let forms -----------------------------------------------------------------------------------

def _proxy(name: str, policy: str | None, project: str = "phi-prod") -> dict[str, Any]:
    data = {"name": name} if policy is None else {"name": name, "sslPolicy": policy}
    return rec(f"//compute.googleapis.com/projects/{project}/global/targetHttpsProxies/{name}",
               PROXY, data)


def _policy(name: str, min_tls: str) -> dict[str, Any]:
    return rec(f"//compute.googleapis.com/projects/phi-prod/global/sslPolicies/{name}", POLICY,
               {"name": name, "minTlsVersion": min_tls, "selfLink":
                f"https://www.googleapis.com/compute/v1/projects/phi-prod/global/sslPolicies/{name}"})


def test_ref_follows_every_spelling_and_unresolved_is_unknown(tmp_path: Path) -> None:
    """`ref` joins by selfLink, relative path or CAI name; a target not in the snapshot makes
    every path through it UNKNOWN, `exists` included; no reference gives no value."""
    rule = make_rule(tmp_path, {"path": "policy.data.minTlsVersion", "version_gte": "TLS_1_2"},
                     asset_types=[PROXY],
                     let={"policy": {"ref": "data.sslPolicy", "types": [POLICY]}})
    pol = _policy("strict", "TLS_1_2")
    link = "https://www.googleapis.com/compute/v1/projects/phi-prod/global/sslPolicies/strict"
    spellings = [link, "projects/phi-prod/global/sslPolicies/strict",
                 "//compute.googleapis.com/projects/phi-prod/global/sslPolicies/strict",
                 "https://compute.googleapis.com/compute/v1/projects/111/global/sslPolicies/strict"]
    proxies = [_proxy(f"p{i}", s) for i, s in enumerate(spellings)]
    missing = _proxy("gone", link.replace("strict", "nowhere"))
    none = _proxy("none", None)
    found = run([rule], [*hierarchy(), pol, *proxies, missing, none])
    for p in proxies:
        assert found[(rule.id, p["name"])].outcome is Outcome.PASS, p["resource"]["data"]
    gone = found[(rule.id, missing["name"])]
    assert gone.outcome is Outcome.UNKNOWN
    assert "not in the snapshot" in gone.message
    assert found[(rule.id, none["name"])].outcome is Outcome.UNKNOWN
    exists = make_rule(tmp_path / "e", {"path": "policy.data", "exists": True}, rid="ENG-002",
                       asset_types=[PROXY],
                       let={"policy": {"ref": "data.sslPolicy", "types": [POLICY]}})
    found = run([exists], [missing, none])
    assert found[(exists.id, missing["name"])].outcome is Outcome.UNKNOWN
    assert found[(exists.id, none["name"])].outcome is Outcome.FAIL


def test_ref_respects_types(tmp_path: Path) -> None:
    """A reference to an asset of another type does not join."""
    rule = make_rule(tmp_path, {"path": "target.data.minTlsVersion", "exists": True},
                     asset_types=[PROXY],
                     let={"target": {"ref": "data.sslPolicy", "types": [NET]}})
    pol = _policy("strict", "TLS_1_2")
    proxy = _proxy("p", pol["name"])
    assert run([rule], [pol, proxy])[(rule.id, proxy["name"])].outcome is Outcome.UNKNOWN


def test_refs_joins_a_list(tmp_path: Path) -> None:
    """`refs` joins a list of references; any unresolved member makes reads through it UNKNOWN."""
    rule = make_rule(tmp_path, {"path": "pols[*].data.minTlsVersion", "every": {
        "path": "item", "version_gte": "TLS_1_2"}}, asset_types=[PROXY],
        let={"pols": {"refs": "data.policies", "types": [POLICY]}})
    a, b = _policy("a", "TLS_1_2"), _policy("b", "TLS_1_0")
    good = rec(_proxy("good", None)["name"], PROXY, {"policies": [a["name"]]})
    bad = rec(_proxy("bad", None)["name"], PROXY, {"policies": [a["name"], b["name"]]})
    lost = rec(_proxy("lost", None)["name"], PROXY, {"policies": [a["name"], "projects/x/y/z"]})
    found = run([rule], [a, b, good, bad, lost])
    assert found[(rule.id, good["name"])].outcome is Outcome.PASS
    assert found[(rule.id, bad["name"])].outcome is Outcome.FAIL
    assert found[(rule.id, lost["name"])].outcome is Outcome.UNKNOWN


def test_referrers_find_assets_pointing_here(tmp_path: Path) -> None:
    """`referrers` gives the assets whose path references the subject (with `[*]`, `data.`)."""
    rule = make_rule(tmp_path, {"path": "users", "count_gte": 1}, asset_types=[POLICY],
                     let={"users": {"referrers": {"types": [PROXY], "path": "data.sslPolicy"}}})
    used, unused = _policy("used", "TLS_1_2"), _policy("unused", "TLS_1_2")
    proxy = _proxy("p", used["resource"]["data"]["selfLink"])
    found = run([rule], [used, unused, proxy])
    assert found[(rule.id, used["name"])].outcome is Outcome.PASS
    assert found[(rule.id, unused["name"])].outcome is Outcome.FAIL


def _sink(name: str, parent: str, ancestors: list[str], dest: str) -> dict[str, Any]:
    return rec(f"//logging.googleapis.com/{parent}/sinks/{name}", SINK,
               {"name": name, "destination": dest}, ancestors)


@pytest.mark.parametrize(("within", "expected"), [
    ("project", {"prod-sink"}),
    ("ancestry", {"prod-sink", "phi-folder-sink", "org-sink"}),
    ("phi", {"prod-sink", "phi-folder-sink"}),
    ("nonphi", {"dev-sink", "dev-folder-sink", "org-sink"}),
    ("all", {"prod-sink", "dev-sink", "phi-folder-sink", "dev-folder-sink", "org-sink"}),
])
def test_find_within(tmp_path: Path, within: str, expected: set[str]) -> None:
    """`find` keeps candidates in the same project, the subject's ancestry (project, folders,
    organization), PHI or non-PHI scope (an organization-level sink is not itself PHI), or
    anywhere."""
    rule = make_rule(tmp_path, {"path": "sinks[*].data.name", "exists": True},
                     let={"sinks": {"find": {"types": [SINK], "within": within}}},
                     evidence=["sinks[*].data.name"])
    sinks = [
        _sink("prod-sink", "projects/111", PHI_ANC, "x"),
        _sink("dev-sink", "projects/333", DEV_ANC, "x"),
        _sink("phi-folder-sink", "folders/222", ["folders/222", "organizations/1"], "x"),
        _sink("dev-folder-sink", "folders/444", ["folders/444", "organizations/1"], "x"),
        _sink("org-sink", "organizations/1", ["organizations/1"], "x"),
    ]
    subject = fw("subject")
    found = run([rule], [*hierarchy(), *sinks, subject], phi=PhiConfig(
        projects=frozenset({"phi-prod"}), folders=frozenset({"folders/222"})))
    names = dict(found[(rule.id, subject["name"])].evidence)["sinks[*].data.name"]
    assert set(names) == expected


def test_find_where_and_one(tmp_path: Path) -> None:
    """`where` filters candidates (as `item` or `as:`), `one: true` gives the first match or no
    value, and the filter's reads do not pose as the subject's evidence."""
    let = {"bq": {"find": {"types": [SINK], "within": "project", "as": "s", "one": True,
                           "where": {"path": "s.data.destination", "starts_with": "bigquery"}}}}
    rule = make_rule(tmp_path, {"path": "bq", "exists": True}, let=let,
                     evidence=["bq.data.name"])
    storage = _sink("a-storage", "projects/111", PHI_ANC, "storage.googleapis.com/b")
    bq = _sink("b-bq", "projects/111", PHI_ANC, "bigquery.googleapis.com/projects/x/datasets/d")
    dev_bq = _sink("c-bq", "projects/333", DEV_ANC, "bigquery.googleapis.com/x")
    subject, dev_subject = fw("s"), fw("d", project="dev")
    found = run([rule], [*hierarchy(), storage, bq, dev_bq, subject, dev_subject])
    hit = found[(rule.id, subject["name"])]
    assert hit.outcome is Outcome.PASS
    assert dict(hit.evidence)["bq.data.name"] == "b-bq"
    assert not any(p.startswith("s.") for p, _ in hit.evidence)
    only_storage = run([rule], [*hierarchy(), storage, subject])
    assert only_storage[(rule.id, subject["name"])].outcome is Outcome.FAIL


def test_grants_effective_iam_and_audit_configs(tmp_path: Path) -> None:
    """`grants` lists a principal's bindings (within PHI or all), `effective_iam` and
    `effective_audit_configs` merge the asset's and every ancestor's policies."""
    org_iam = {"bindings": [{"role": "roles/viewer", "members": ["user:a@x.com"]}],
               "audit_configs": [{"service": "allServices", "audit_log_configs": [
                   {"log_type": "DATA_READ"}, {"log_type": "DATA_WRITE"}]}]}
    proj_iam = {"bindings": [{"role": "roles/owner", "members": ["user:a@x.com",
                                                                 "group:g@x.com"]}]}
    dev_iam = {"bindings": [{"role": "roles/editor", "members": ["user:a@x.com"]}]}
    records = hierarchy()
    records[0]["iam_policy"] = proj_iam
    records[1]["iam_policy"] = dev_iam
    records[4]["iam_policy"] = org_iam
    user = {"primaryEmail": "A@x.com", "isEnrolledIn2Sv": True}
    grants_rule = make_rule(tmp_path, {"path": "g[*].role", "contains": "roles/editor"},
                            rid="ENG-001", asset_types=[USER_TYPE],
                            let={"g": {"grants": {"within": "phi"}}},
                            evidence=["g[*].role"])
    grants_rule_all = make_rule(tmp_path, {"path": "g[*].role", "contains": "roles/editor"},
                                rid="ENG-002", asset_types=[USER_TYPE],
                                let={"g": {"grants": {}}})
    eff = make_rule(tmp_path, {"all": [
        {"path": "iam[*].role", "contains": "roles/viewer"},
        {"path": "audit", "some": {"all": [{"path": "item.service", "equals": "allServices"},
                                           {"path": "item.logTypes", "contains": "DATA_READ"}]}},
    ]}, rid="ENG-003", let={"iam": {"effective_iam": True},
                            "audit": {"effective_audit_configs": True}},
        evidence=["iam[*].resource"])
    subject = fw("x")
    assets = assets_from_records([*records, subject], users=[user])
    inv = Inventory(assets, phi=PHI)
    engine = Engine([grants_rule, grants_rule_all, eff])
    found = {(f.rule_id, f.asset): f for f in evaluate(assets, inv, engine, NOW)}
    uname = "//admin.googleapis.com/users/a@x.com"
    phi_only = found[(grants_rule.id, uname)]
    assert phi_only.outcome is Outcome.FAIL  # the editor grant is on the non-PHI project
    assert sorted(dict(phi_only.evidence)["g[*].role"]) == ["roles/owner", "roles/viewer"]
    assert found[(grants_rule_all.id, uname)].outcome is Outcome.PASS
    hit = found[(eff.id, subject["name"])]
    assert hit.outcome is Outcome.PASS
    assert dict(hit.evidence)["iam[*].resource"] == [CRM + "projects/111",
                                                     CRM + "organizations/1"]


def test_org_policy_nearest_wins_and_lists_inherit(tmp_path: Path) -> None:
    """`org_policy` gives the nearest ancestor's policy, merging list values that inherit."""
    rule = make_rule(tmp_path, {"all": [
        {"path": "skip.enforced", "equals": True},
        {"path": "locs.allowedValues", "count_gte": 2},
    ]}, let={"skip": {"org_policy": "constraints/compute.skipDefaultNetworkCreation"},
             "locs": {"org_policy": "constraints/gcp.resourceLocations"}})
    records = hierarchy()
    records[4]["org_policy"] = [
        {"constraint": "constraints/compute.skipDefaultNetworkCreation",
         "boolean_policy": {"enforced": True}},
        {"constraint": "constraints/gcp.resourceLocations",
         "list_policy": {"allowed_values": ["in:us-locations"]}}]
    records[0]["org_policy"] = [
        {"constraint": "constraints/gcp.resourceLocations",
         "list_policy": {"allowed_values": ["in:us-east4-locations"], "inherit_from_parent": True}}]
    records[1]["org_policy"] = [
        {"constraint": "constraints/compute.skipDefaultNetworkCreation",
         "boolean_policy": {"enforced": False}}]
    prod, dev = fw("a"), fw("b", project="dev")
    found = run([rule], [*records, prod, dev])
    assert found[(rule.id, prod["name"])].outcome is Outcome.PASS
    dev_finding = found[(rule.id, dev["name"])]
    assert dev_finding.outcome is Outcome.FAIL  # the project turns enforcement off
    bare = run([rule], [fw("c")])[(rule.id, fw("c")["name"])]
    assert bare.outcome is Outcome.UNKNOWN  # no policy anywhere: no value


def test_value_let_and_lazy_lets(tmp_path: Path) -> None:
    """`value` names a value; lets are computed once, lazily, and usable from `when`."""
    rule = make_rule(tmp_path, {"path": "ranges", "cidr_internet": False},
                     when={"path": "dir", "equals": "INGRESS"},
                     let={"dir": {"value": "data.direction"},
                          "ranges": {"value": "data.sourceRanges"}})
    open_fw = fw("o", direction="INGRESS", sourceRanges=["0.0.0.0/0"])
    egress = fw("e", direction="EGRESS", sourceRanges=["0.0.0.0/0"])
    found = run([rule], [open_fw, egress])
    assert found[(rule.id, open_fw["name"])].outcome is Outcome.FAIL
    assert (rule.id, egress["name"]) not in found


# the engine as a value -----------------------------------------------------------------------

def test_engine_pickles_and_evaluates_the_same(tmp_path: Path, rules_dir: Path) -> None:
    """An Engine (with parameter overrides and enabled optional rules) survives pickling and
    judges exactly as before: it can be shipped to worker processes."""
    from phiguard.policy.rule import load_pack
    pack = load_pack([rules_dir])
    optional = [r.id for r in pack.rules if r.optional]
    engine = Engine(pack.rules, params={"TLS-002": {"min_version": "TLS_1_3"}}, enable=optional)
    clone = pickle.loads(pickle.dumps(engine))
    assert [cr.rule.id for cr in clone.rules] == [cr.rule.id for cr in engine.rules]
    assert [cr.params for cr in clone.rules] == [cr.params for cr in engine.rules]
    proxy = _proxy("p", _policy("s", "TLS_1_2")["name"])
    records = [*hierarchy(), _policy("s", "TLS_1_2"), proxy, fw("f", sourceRanges=["0.0.0.0/0"],
                                                              direction="INGRESS")]
    assets = assets_from_records(records)
    inv = Inventory(assets, phi=PHI)
    before = evaluate(assets, inv, engine, NOW)
    after = evaluate(assets, inv, clone, NOW)
    assert before == after
    assert any(f.rule_id == "TLS-002" and f.outcome is Outcome.FAIL for f in after)


def test_findings_are_immutable_and_inputs_untouched(tmp_path: Path) -> None:
    """Evaluation leaves the assets' data as it was and returns frozen findings."""
    rule = make_rule(tmp_path, {"path": "data.allowed", "every": {"path": "item.ports",
                                                                  "ports_include": ["22"]}})
    record = fw("x", allowed=[{"ports": ["22"]}])
    assets = assets_from_records([record])
    snapshot = repr(assets)
    finding = evaluate(assets, Inventory(assets), Engine([rule]), NOW)[0]
    assert repr(assets) == snapshot
    with pytest.raises(AttributeError):
        finding.outcome = Outcome.PASS  # type: ignore[misc]
    assert Finding.from_json(finding.to_json()) == finding


# waivers -------------------------------------------------------------------------------------

def _waiver(asset: str, expires: date, rule: str = "NET-001") -> Waiver:
    return Waiver(rule=rule, asset=asset, reason="vendor migration", approved_by="ciso@x.com",
                  expires=expires)


A = "//compute.googleapis.com/projects/phi-prod/global/firewalls/legacy-ssh"


def test_waiver_turns_fail_into_waived_before_expiry() -> None:
    """A matching unexpired waiver turns a FAIL into WAIVED, with the waiver attached."""
    book = WaiverBook((_waiver(A, date(2026, 12, 31)),), NOW)
    got = book.apply(finding(A))
    assert got.outcome is Outcome.WAIVED
    assert got.waiver is not None and got.waiver["status"] == "active"
    assert book.report()[0]["status"] == "active" and book.report()[0]["matched"] == 1


def test_waiver_lasts_to_the_end_of_its_day() -> None:
    """A waiver expiring today still applies until the day ends (UTC)."""
    book = WaiverBook((_waiver(A, date(2026, 11, 25)),), datetime(2026, 11, 25, 23, 59, tzinfo=UTC))
    assert book.apply(finding(A)).outcome is Outcome.WAIVED


def test_expired_waiver_leaves_fail() -> None:
    """An expired waiver leaves the FAIL, attached with status `expired` and said so."""
    book = WaiverBook((_waiver(A, date(2026, 11, 1)),), NOW)
    got = book.apply(finding(A))
    assert got.outcome is Outcome.FAIL
    assert got.waiver is not None and got.waiver["status"] == "expired"
    assert "waiver expired 2026-11-01" in got.message
    assert book.report()[0]["status"] == "expired"


def test_renewed_waiver_wins_over_an_expired_one() -> None:
    """When an expired and a renewed waiver both match, the finding is WAIVED by the renewal."""
    old, new = _waiver(A, date(2026, 6, 30)), _waiver(A, date(2027, 6, 30))
    book = WaiverBook((old, new), NOW)
    got = book.apply(finding(A))
    assert got.outcome is Outcome.WAIVED
    assert got.waiver is not None and got.waiver["expires"] == "2027-06-30"
    assert [w["matched"] for w in book.report()] == [0, 1]


def test_unused_waiver_is_reported_and_pass_is_never_waived() -> None:
    """A waiver that matched no FAIL is reported unused; PASS and UNKNOWN pass through."""
    book = WaiverBook((_waiver(A, date(2027, 1, 1)), _waiver("//other", date(2027, 1, 1))), NOW)
    assert book.apply(finding(A, Outcome.PASS)).outcome is Outcome.PASS
    assert book.apply(finding(A, Outcome.UNKNOWN)).outcome is Outcome.UNKNOWN
    assert book.apply(finding(A, rule="NET-002")).outcome is Outcome.FAIL
    assert [w["status"] for w in book.report()] == ["unused", "unused"]


def test_waiver_glob_matches_assets() -> None:
    """A waiver asset with `*` matches by glob; a plain name matches exactly."""
    book = WaiverBook((_waiver("//compute.googleapis.com/projects/phi-prod/*/legacy-*",
                               date(2027, 1, 1)),), NOW)
    assert book.apply(finding(A)).outcome is Outcome.WAIVED
    other = A.replace("legacy-ssh", "web")
    assert book.apply(finding(other)).outcome is Outcome.FAIL
    exact = WaiverBook((_waiver(A[:-1], date(2027, 1, 1)),), NOW)
    assert exact.apply(finding(A)).outcome is Outcome.FAIL
    assert book.report()[0]["matched"] == 1


def test_asset_independent_find_is_computed_once_per_scan() -> None:
    """A `find` that reads nothing of the judged asset runs once, not once per asset, and a
    `find` whose filter reads the asset (directly or through another let) is not cached."""
    from phiguard.policy.compiler import _independent

    assert _independent({"find": {"types": ["t/A"], "within": "nonphi"}}, set())
    assert _independent({"find": {"types": ["t/A"], "where": {"path": "item.data.x",
                                                              "equals": 1}}}, set())
    assert not _independent({"find": {"types": ["t/A"], "within": "project"}}, set())
    assert not _independent({"find": {"types": ["t/A"], "where": {
        "path": "item.data.x", "equals": {"path": "data.y"}}}}, set())
    assert not _independent({"find": {"types": ["t/A"], "where": {
        "path": "item.data.x", "equals": {"path": "mine"}}}}, set())
    assert _independent({"find": {"types": ["t/A"], "where": {
        "path": "item.data.x", "equals": {"path": "shared"}}}}, {"shared"})
    assert _independent({"value": "shared[*].data.ipCidrRange"}, {"shared"})
    assert not _independent({"value": "data.x"}, set())


def test_format_builds_strings_and_is_absent_when_a_part_is(tmp_path: Path) -> None:
    """`format` joins path values into text; a missing part makes the whole value absent."""
    rule = make_rule(tmp_path, {"path": "ref", "equals": "phi-prod:db-1"},
                     let={"ref": {"format": "{data.proj}:{data.label}"}})
    ok = run([rule], [fw("fw-a", proj="phi-prod", label="db-1")])
    assert [f.outcome for f in ok.values()] == [Outcome.PASS]
    missing = run([rule], [fw("fw-b", proj="phi-prod")])
    assert [f.outcome for f in missing.values()] == [Outcome.UNKNOWN]


def test_find_by_equality_matches_a_full_scan(tmp_path: Path) -> None:
    """A `find` whose `where` requires item.P == a value of the asset (looked up through an
    index) keeps exactly the candidates a candidate-by-candidate test keeps."""
    from phiguard.policy import compiler

    where = {"all": [{"path": "item.data.peer", "equals": {"path": "data.label"}},
                     {"path": "item.data.zone", "not_equals": "z-1"}]}
    assert compiler._equality_key(where, "item") is not None
    assert compiler._equality_key({"any": [where]}, "item") is None
    indexed = make_rule(tmp_path, {"path": "peers", "count_gte": 2}, rid="ENG-010",
                        let={"peers": {"find": {"types": [FW], "where": where}}})
    scanned = make_rule(tmp_path, {"path": "peers", "count_gte": 2}, rid="ENG-011",
                        let={"peers": {"find": {"types": [FW], "where": {"any": [where]}}}})
    records = [fw("a", label="a"), fw("b", label="b", peer="a", zone="z-2"),
               fw("c", label="c", peer="a", zone="z-3"), fw("d", label="d", peer="a", zone="z-1"),
               fw("e", label="e", peer="b", zone="z-2")]
    got_indexed = {a.rsplit("/", 1)[-1]: f.outcome
                   for (_, a), f in run([indexed], records).items()}
    got_scanned = {a.rsplit("/", 1)[-1]: f.outcome
                   for (_, a), f in run([scanned], records).items()}
    assert got_indexed == got_scanned
    assert got_indexed["a"] is Outcome.PASS and got_indexed["b"] is Outcome.FAIL


# content types the snapshot lacks: UNKNOWN, never PASS (nor FAIL) -----------------------------

def _scan_outcomes(snapshot: Path, config: Path | None = None,
                   stderr: list[str] | None = None) -> dict[str, list[Any]]:
    """`phiguard scan -f json` of a directory: {rule id: [(asset, outcome, message), ...]}."""
    import json

    from click.testing import CliRunner

    from phiguard.cli import main

    args = ["scan", str(snapshot), "-f", "json", "--fail-on", "none"]
    if config is not None:
        args += ["-c", str(config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    if stderr is not None:
        stderr.append(result.stderr)
        stderr.append(json.dumps(json.loads(result.stdout)["run"].get("content_missing")))
    out: dict[str, list[Any]] = {}
    for item in json.loads(result.stdout)["results"]:
        out.setdefault(item["rule_id"], []).append(
            (item["asset"], item["outcome"], item["message"]))
    return out


def _copy(tmp_path: Path, *names: str) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    for name in names:
        (snap / name).write_bytes((DEMO / name).read_bytes())
    return snap


def test_a_resource_only_export_leaves_iam_rules_unknown(tmp_path: Path) -> None:
    """A real-shaped export with RESOURCE content only (no IAM_POLICY records): rules that read
    IAM policies (directly or through effective IAM) are UNKNOWN on every project, saying that
    the snapshot has no IAM policies; none PASSes for want of bindings."""
    snap = _copy(tmp_path, "resources.ndjson", "directory-users.json")
    said: list[str] = []
    found = _scan_outcomes(snap, DEMO / "phiguard.yaml", said)
    # Said up front too, on stderr and in the run block: the snapshot lacks IAM content.
    assert all("holds no IAM_POLICY content" in text for text in said), said
    for rule_id in ("IAM-004", "IAM-007", "JIT-001"):
        outcomes = found[rule_id]
        assert outcomes, rule_id
        assert {o for _, o, _ in outcomes} == {"UNKNOWN"}, (rule_id, outcomes)
        assert all("IAM_POLICY" in message for _, _, message in outcomes), outcomes


def test_an_iam_only_record_is_unknown_for_rules_that_read_the_resource(tmp_path: Path) -> None:
    """A bucket that the snapshot knows only by its IAM policy (an IAM_POLICY record, no
    RESOURCE record) is UNKNOWN for PUB-005, which reads the bucket's `iamConfiguration`:
    absent resource content is not an absent setting."""
    snap = _copy(tmp_path, "iam_policy.ndjson", "org_policy.ndjson", "directory-users.json")
    config = tmp_path / "phiguard.yaml"
    config.write_text("phi: {all: true}\n", encoding="utf-8")
    found = _scan_outcomes(snap, config)
    buckets = found["PUB-005"]
    assert buckets
    assert {o for _, o, _ in buckets} == {"UNKNOWN"}, buckets
    assert all("RESOURCE" in message for _, _, message in buckets), buckets


def test_a_coverage_gap_in_the_manifest_makes_iam_rules_unknown(tmp_path: Path) -> None:
    """The collector lists IAM_POLICY under the PHI folder as a coverage gap: even though
    other IAM records are there, rules reading IAM are UNKNOWN on the projects below the gap."""
    import json

    snap = _copy(tmp_path, "resources.ndjson", "iam_policy.ndjson", "org_policy.ndjson",
                 "access_policy.ndjson", "directory-users.json")
    manifest = json.loads((DEMO / "manifest.json").read_text(encoding="utf-8"))
    # As `phiguard collect` writes a shard that failed: no file, the error, and a gap.
    manifest["sources"].append({"file": None, "content_type": "IAM_POLICY",
                                "parent": "folders/587410229301", "records": 0,
                                "error": {"reason": "PERMISSION_DENIED", "error": "403"}})
    manifest["coverage_gaps"] = [{"source": "cloudasset",
                                  "what": "IAM_POLICY under folders/587410229301",
                                  "reason": "PERMISSION_DENIED", "error": "403"}]
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    found = _scan_outcomes(snap, DEMO / "phiguard.yaml")
    for rule_id in ("IAM-007", "JIT-001"):
        below = [f for f in found[rule_id] if f[0].endswith(("/projects/731209564122",
                                                              "/projects/731209564018"))]
        assert below, found[rule_id]
        assert {o for _, o, _ in below} == {"UNKNOWN"}, below
        assert all("coverage gap" in m for _, _, m in below), below


def test_the_full_demo_export_still_judges_iam_rules(demo_scan: Path) -> None:
    """With every content type present, IAM rules are judged (PASS and FAIL), not UNKNOWN."""
    found: dict[str, set[str]] = {}
    for item in json.loads(demo_scan.read_text())["results"]:
        found.setdefault(item["rule_id"], set()).add(item["outcome"])
    assert "PASS" in found["IAM-007"]
    assert "FAIL" in found["JIT-001"]


def test_unknown_content_that_cannot_change_the_verdict_does_not_hide_a_fail() -> None:
    """Kleene logic over absent content: with no org policies in the snapshot, a bucket with
    uniform access off still FAILs PUB-005 (that branch alone decides), while a bucket whose
    only gap is the org policy is UNKNOWN."""
    rule = load_rule(RULES / "hipaa" / "PUB-005" / "rule.yaml")

    def bucket(name: str, uniform: bool) -> dict[str, Any]:
        return rec(f"//storage.googleapis.com/{name}", "storage.googleapis.com/Bucket",
                   {"name": name, "iamConfiguration": {
                       "publicAccessPrevention": "inherited",
                       "uniformBucketLevelAccess": {"enabled": uniform}}})

    found = run([rule], [*hierarchy(), bucket("acl-bucket", False), bucket("ubla-bucket", True)])
    assert found[("PUB-005", "//storage.googleapis.com/acl-bucket")].outcome is Outcome.FAIL
    unknown = found[("PUB-005", "//storage.googleapis.com/ubla-bucket")]
    assert unknown.outcome is Outcome.UNKNOWN
    assert "no ORG_POLICY content" in unknown.message


def test_a_fail_decided_by_known_values_is_not_hidden_by_values_known_after_apply() -> None:
    """A planned project whose owner binding's members are known only after apply, but which
    grants Editor to a person: IAM-007 FAILs (the known binding decides); with the unknown
    binding alone it is UNKNOWN, never PASS."""
    rule = load_rule(RULES / "hipaa" / "IAM-007" / "rule.yaml")

    def project(*bindings: dict[str, Any]) -> Asset:
        return Asset(name=CRM + "projects/111", asset_type=PROJECT,
                     data={"projectId": "phi-prod", "projectNumber": "111"},
                     iam_policy={"bindings": list(bindings)}, ancestors=tuple(PHI_ANC))

    unknown = {"role": "roles/owner", "members": [UnknownValue()]}
    person = {"role": "roles/editor", "members": ["user:dev@example-health.com"]}
    for bindings, want in (((unknown, person), Outcome.FAIL), ((unknown,), Outcome.UNKNOWN)):
        found = run([rule], hierarchy()[2:], assets=[project(*bindings)], phi=PHI)
        assert found[("IAM-007", CRM + "projects/111")].outcome is want, bindings
