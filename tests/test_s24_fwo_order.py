"""Firewall evaluation order: a firewall policy `deny` certainly reached first and covering an
allowing rule is credited (NET-001, NET-009, NET-010); every doubt leaves the rule judged alone.

The operators are `firewall_deny_covers` and `firewall_deny_first` (the firewall
evaluation-order section of src/phiguard/policy/operators.py); the rules' examples are the
end-to-end cases.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _engines import interpreted
from _paths import RULES as PACK
from phiguard.findings import Outcome
from phiguard.policy.operators import OPERATORS, deny_covers, deny_first
from phiguard.runs.common import load_pack
from phiguard.testing import DEFAULT_AT, _example_assets, load_example, run_rule

RULES = PACK / "hipaa"
NOW = datetime(2026, 11, 25, tzinfo=UTC)


class _Ctx:
    now = NOW

    def network_is_phi(self, ref: str) -> bool:
        return False

    def project_is_phi(self, key: str) -> bool:
        return False


CTX = _Ctx()
SSH = [{"ipProtocol": "tcp", "ports": ["22"]}]


def _rule(priority: int, action: str, src: list[str], l4: list[dict[str, Any]],
          **extra: Any) -> dict[str, Any]:
    return {"priority": priority, "action": action, "direction": "INGRESS",
            "match": {"srcIpRanges": src, "layer4Configs": l4}, **extra}


def _vpc(src: list[str], allowed: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"direction": "INGRESS", "sourceRanges": src, "allowed": allowed, **extra}


DENY_ALL_SSH = _rule(100, "deny", ["0.0.0.0/0", "::/0"], [{"ipProtocol": "tcp", "ports": ["22"]}])


def test_the_operators_are_registered_as_built_ins() -> None:
    for name in ("firewall_deny_covers", "firewall_deny_first"):
        assert OPERATORS[name].origin == ""


@pytest.mark.parametrize(("allow", "covered"), [
    (_vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22"]}]), True),
    (_vpc(["0.0.0.0"], [{"IPProtocol": "6", "ports": ["22"]}]), True),   # bare any, number
    (_vpc(["0.0.0.0/0", "::/0"], [{"IPProtocol": "TCP", "ports": ["22"]}]), True),
    (_vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22", "3389"]}]), False),
    (_vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp"}]), False),             # every tcp port
    (_vpc(["0.0.0.0/0"], [{"IPProtocol": "all"}]), False),
    (_vpc(["0.0.0.0/0"], [{"IPProtocol": "udp", "ports": ["22"]}]), False),
    (_vpc([], [{"IPProtocol": "tcp", "ports": ["22"]}], sourceTags=["bastion"]), False),
    (_rule(1000, "allow", ["203.0.113.0/24"], SSH), True),              # narrower source
    (_rule(1000, "allow", ["0.0.0.0/0"], SSH, ), True),
    (_rule(1000, "allow", [], SSH) | {"match": {"srcRegionCodes": ["KP"],
                                                "layer4Configs": SSH}}, True),
    (_rule(1000, "allow", ["0.0.0.0/0"], [{"ipProtocol": "tcp", "ports": ["20-22"]}]), False),
])
def test_covers_every_source_protocol_and_port(allow: dict[str, Any], covered: bool) -> None:
    assert deny_covers(DENY_ALL_SSH, allow, CTX) is covered


def test_covers_a_port_range_split_across_entries() -> None:
    deny = _rule(100, "deny", ["0.0.0.0/0"], [{"ipProtocol": "tcp", "ports": ["20-21"]},
                                                {"ipProtocol": "tcp", "ports": ["22"]}])
    allow = _vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["20-22"]}])
    assert deny_covers(deny, allow, CTX) is True
    wider = _vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["20-23"]}])
    assert deny_covers(deny, wider, CTX) is False


@pytest.mark.parametrize("change", [
    {"action": "allow"}, {"action": "goto_next"}, {"disabled": True}, {"direction": "EGRESS"},
    {"direction": None}, {"priority": None}, {"priority": "100"},
    {"targetResources": ["projects/p/global/networks/n"]},
    {"targetServiceAccounts": ["a@p.iam.gserviceaccount.com"]},
    {"targetSecureTags": [{"name": "tagValues/1"}]},
])
def test_a_deny_that_may_not_apply_covers_nothing(change: dict[str, Any]) -> None:
    deny = {**DENY_ALL_SSH, **change}
    deny = {k: v for k, v in deny.items() if v is not None}
    allow = _vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22"]}])
    assert deny_covers(deny, allow, CTX) is False


@pytest.mark.parametrize("extra", [
    {"srcNetworkType": "NON_INTERNET"}, {"srcNetworkContext": "VPC_NETWORKS"},
    {"destIpRanges": ["10.0.0.0/8"]}, {"srcSecureTags": [{"name": "tagValues/1"}]},
    {"srcFqdns": ["example.com"]},
])
def test_a_deny_narrowed_by_other_match_fields_covers_nothing(extra: dict[str, Any]) -> None:
    deny = copy.deepcopy(DENY_ALL_SSH)
    deny["match"].update(extra)
    allow = _vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22"]}])
    assert deny_covers(deny, allow, CTX) is False
    deny["match"].update({key: [] for key in extra if isinstance(extra[key], list)})
    if all(isinstance(v, list) for v in extra.values()):
        assert deny_covers(deny, allow, CTX) is True  # empty lists narrow nothing


def test_unreadable_values_cover_nothing() -> None:
    allow = _vpc(["0.0.0.0/0"], [{"IPProtocol": "tcp", "ports": ["22"]}])
    assert deny_covers("deny", allow, CTX) is False
    assert deny_covers(DENY_ALL_SSH, "allow", CTX) is False
    assert deny_covers(_rule(100, "deny", ["not-a-cidr"], SSH), allow, CTX) is False
    assert deny_covers(_rule(100, "deny", ["0.0.0.0/0"], [{"ipProtocol": "tcp",
                                                          "ports": ["x"]}]), allow, CTX) is False


def _policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"rules": list(rules), "associations": [{"attachmentTarget": "organizations/1"}]}


@pytest.mark.parametrize(("before", "first"), [
    (_rule(50, "allow", ["0.0.0.0/0"], SSH), False),
    (_rule(50, "goto_next", ["0.0.0.0/0"], SSH), False),
    (_rule(50, "apply_security_profile_group", ["0.0.0.0/0"], SSH), False),
    (_rule(50, "allow", ["35.235.240.0/20"], SSH), False),       # matches part of the traffic
    (_rule(50, "allow", ["0.0.0.0/0"], [{"ipProtocol": "tcp", "ports": ["443"]}]), True),
    (_rule(50, "allow", ["0.0.0.0/0"], [{"ipProtocol": "udp"}]), True),
    (_rule(50, "allow", ["::/0"], SSH), True),                   # deny's traffic is IPv4 only
    (_rule(50, "allow", ["0.0.0.0/0"], SSH, disabled=True), True),
    (_rule(50, "allow", ["0.0.0.0/0"], SSH, direction="EGRESS"), True),
    (_rule(50, "deny", ["0.0.0.0/0"], SSH), True),
    (_rule(500, "allow", ["0.0.0.0/0"], SSH), True),             # after the deny
    (_rule(100, "allow", ["0.0.0.0/0"], SSH), False),            # same priority: order unknown
    ({"action": "allow", "direction": "INGRESS", "match": {"srcIpRanges": ["0.0.0.0/0"],
                                                           "layer4Configs": SSH}}, False),
    (_rule(50, "allow", [], SSH) | {"match": {"srcFqdns": ["x.example"],
                                              "layer4Configs": SSH}}, False),
])
def test_first_within_its_policy(before: dict[str, Any], first: bool) -> None:
    deny = _rule(100, "deny", ["0.0.0.0/0"], SSH)
    assert deny_first(_policy(before, deny), deny, CTX) is first


def test_another_policy_of_the_level_counts_wherever_its_rule_stands() -> None:
    deny = _rule(100, "deny", ["0.0.0.0/0"], SSH)
    late_allow = _rule(9000, "allow", ["0.0.0.0/0"], SSH)
    assert deny_first([_policy(deny), _policy(late_allow)], deny, CTX) is False
    assert deny_first([_policy(deny), _policy(_rule(9000, "goto_next", ["10.0.0.0/8"],
                                                    SSH))], deny, CTX) is False
    assert deny_first([_policy(deny), _policy(_rule(9000, "deny", ["0.0.0.0/0"], SSH))],
                      deny, CTX) is True


def test_a_deny_outside_the_policies_is_not_first() -> None:
    deny = _rule(100, "deny", ["0.0.0.0/0"], SSH)
    assert deny_first(_policy(_rule(50, "deny", ["1.2.3.0/24"], SSH)), deny, CTX) is False
    assert deny_first(_policy(deny), _rule(100, "allow", ["0.0.0.0/0"], SSH), CTX) is False
    assert deny_first("policy", deny, CTX) is False
    assert deny_first({"rules": "x"}, deny, CTX) is False


def test_an_equal_copy_of_the_deny_is_found() -> None:
    deny = _rule(100, "deny", ["0.0.0.0/0"], SSH)
    assert deny_first(_policy(copy.deepcopy(deny)), deny, CTX) is True


# End to end: every NET-001/009/010 example judged alike by the generated evaluators and the
# interpreter (the examples themselves are `phiguard rules test`'s).
def _judged(rule: Any, path: Path) -> dict[str, Any]:
    doc = load_example(path).doc
    return run_rule(rule, _example_assets(load_example(path)), config=doc.get("config"),
                    params=doc.get("params"), at=doc.get("at", DEFAULT_AT))


@pytest.mark.parametrize("rule_id", ["NET-001", "NET-009", "NET-010"])
def test_examples_judged_alike_by_both_engines(rule_id: str) -> None:
    rule = next(r for r in load_pack([]).rules if r.id == rule_id)
    paths = sorted((RULES / rule_id).glob("*/*.json"))
    generated = [_judged(rule, p) for p in paths]
    with interpreted():
        interpreted_ = [_judged(rule, p) for p in paths]
    assert generated == interpreted_
    verdicts = {f.outcome for found in generated for f in found.values()}
    assert {Outcome.PASS, Outcome.FAIL} <= verdicts  # both sides are exercised
