"""Firewall evaluation order: when a firewall policy's `deny` certainly shadows an allowing rule.

Google evaluates ingress traffic to a VM through the hierarchical firewall policies (the
organization's, then each folder's from the top down), then the VPC firewall rules and the
network firewall policies in the order the network's `networkFirewallPolicyEnforcementOrder`
says; within a policy by priority (lowest number first). `allow`, `deny` and
`apply_security_profile_group` end the evaluation, `goto_next` hands the connection to the next
level (https://cloud.google.com/firewall/docs/firewall-policies-rule-eval-order).

Two operators let a rule credit a `deny` reached before an allowing rule, and only when that
is certain; every doubt answers False, which leaves the allowing rule judged alone (as before),
never a PASS resting on a guess:

- `firewall_deny_covers` (value: a firewall policy rule; argument: the allowing rule, a VPC
  firewall's data or a firewall policy rule): the value is an enabled INGRESS `deny` for every
  VM of the policy (no target narrowing), whose match names only source ranges and layer-4
  configurations, and those cover every source range and every protocol and port of the
  allowing rule.
- `firewall_deny_first` (value: the data of the firewall policies evaluated at the deny's
  level, one policy or a list; argument: the deny): no rule that could match the deny's traffic
  and does not deny it comes before the deny: in the deny's own policy, a rule with a lower
  priority number whose action is not `deny` (`allow`, `apply_security_profile_group` and
  `goto_next` all take the connection away from the deny); in another policy of the list,
  whose order against the deny's is not known, any such rule. "Could match" over-approximates:
  only a disabled or EGRESS rule, or one whose protocols and ports or whose source ranges
  certainly miss the deny's, is left out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from phiguard.policy.operators import EvalContext, _network, _op, _port_range, _protocol

__all__ = ["deny_covers", "deny_first"]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Ranges = list[tuple[int, int]]

# Bare any-addresses the Compute API reads as every address (as `cidr_internet` does).
_ANY = {"0.0.0.0": "0.0.0.0/0", "::": "::/0", "::0": "::/0"}
_ALL_V4 = ipaddress.ip_network("0.0.0.0/0")
_ALL_V6 = ipaddress.ip_network("::/0")
_EVERY_PORT: Ranges = [(0, 65535)]
# A firewall policy rule's match keys that only add sources (addresses) to a rule: an allowing
# rule with any of them is covered only by a deny of every IPv4 and IPv6 address.
_OTHER_SOURCES = ("srcRegionCodes", "srcFqdns", "srcAddressGroups", "srcThreatIntelligences",
                  "srcSecureTags", "srcNetworks")
# A deny's match may hold these (empty or unspecified forms of the others are allowed too).
_DENY_MATCH = frozenset({"srcIpRanges", "layer4Configs"})
_UNSPECIFIED: tuple[Any, ...] = (None, "", [], {}, "UNSPECIFIED")


def _nets(values: Any) -> list[Net] | None:
    """Source ranges as networks; None if one cannot be read."""
    if values is None:
        return []
    if not isinstance(values, list):
        return None
    out: list[Net] = []
    for text in values:
        if not isinstance(text, str):
            return None
        net = _network(_ANY.get(text.strip(), text))
        if net is None:
            return None
        out.append(net)
    return out


def _ports(values: Any) -> Ranges | None:
    """A firewall `ports` list as port ranges (absent or empty: every port); None if unread."""
    if values is None or values == []:
        return list(_EVERY_PORT)
    if not isinstance(values, list):
        return None
    out: Ranges = []
    for text in values:
        got = _port_range(text)
        if got is None:
            return None
        out.append(got)
    return out


def _l4(entries: Any, protocol_key: str) -> list[tuple[str, Ranges]] | None:
    """(protocol, port ranges) of each entry of `allowed` or `layer4Configs`; None if unread."""
    if not isinstance(entries, list) or not entries:
        return None
    out: list[tuple[str, Ranges]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            return None
        proto = _protocol(entry.get(protocol_key))
        ports = _ports(entry.get("ports"))
        if proto is None or ports is None:
            return None
        out.append((proto, ports))
    return out


def _covered(need: Ranges, have: Ranges) -> bool:
    """Whether the union of `have` holds every port of `need`."""
    merged: Ranges = []
    for lo, hi in sorted(have):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return all(any(m_lo <= lo and hi <= m_hi for m_lo, m_hi in merged) for lo, hi in need)


def _overlap(a: Ranges, b: Ranges) -> bool:
    return any(alo <= bhi and blo <= ahi for alo, ahi in a for blo, bhi in b)


def _allowing(rule: Mapping[str, Any]) -> tuple[list[Net], bool, list[tuple[str, Ranges]]] | None:
    """What an allowing rule admits: its source ranges, whether it has sources other than
    ranges, and its (protocol, ports); for a VPC firewall's data or a firewall policy rule."""
    if "match" in rule:
        match = rule.get("match")
        if not isinstance(match, Mapping):
            return None
        nets = _nets(match.get("srcIpRanges"))
        other = any(match.get(key) not in _UNSPECIFIED for key in _OTHER_SOURCES)
        l4 = _l4(match.get("layer4Configs"), "ipProtocol")
    else:
        # a VPC firewall: sourceTags and sourceServiceAccounts name VMs of the network, not
        # the internet; the ranges are what reaches it from outside
        nets = _nets(rule.get("sourceRanges"))
        other = False
        l4 = _l4(rule.get("allowed"), "IPProtocol")
    if nets is None or l4 is None or (not nets and not other):
        return None
    return nets, other, l4


def _enabled_ingress(rule: Mapping[str, Any]) -> bool:
    return rule.get("disabled") in (None, False) and rule.get("direction") == "INGRESS"


@_op("firewall_deny_covers", {"type": "object"},
     "(a firewall policy rule) is an enabled INGRESS deny for every VM that covers every source "
     "range, protocol and port of the argument (a VPC firewall's data or a policy rule)",
     {"path": "data.rules[0]", "firewall_deny_covers": {"path": "data.rules[1]"}})
def deny_covers(value: Any, arg: Any, ctx: EvalContext) -> bool:
    if not isinstance(value, Mapping) or not isinstance(arg, Mapping):
        return False
    if value.get("action") != "deny" or not _enabled_ingress(value):
        return False
    if not isinstance(value.get("priority"), int) or isinstance(value.get("priority"), bool):
        return False
    if any(value.get(key) not in _UNSPECIFIED
           for key in ("targetResources", "targetServiceAccounts", "targetSecureTags")):
        return False
    match = value.get("match")
    if not isinstance(match, Mapping) or any(
            match.get(key) not in _UNSPECIFIED for key in set(match) - _DENY_MATCH):
        return False
    deny_nets = _nets(match.get("srcIpRanges"))
    deny_l4 = _l4(match.get("layer4Configs"), "ipProtocol")
    allowed = _allowing(arg)
    if not deny_nets or deny_l4 is None or allowed is None:
        return False
    nets, other, l4 = allowed
    if other and not (any(n == _ALL_V4 for n in deny_nets)
                      and any(n == _ALL_V6 for n in deny_nets)):
        return False
    for net in nets:
        if not any(d.version == net.version and net.subnet_of(d)  # type: ignore[arg-type]
                   for d in deny_nets):
            return False
    for proto, ports in l4:
        # `all` is covered only by `all`; a protocol by itself or by `all`
        have = [r for p, rs in deny_l4 if p in ("all", proto) for r in rs]
        if not _covered(ports, have):
            return False
    return True


def _could_match(rule: Any, nets: list[Net], l4: list[tuple[str, Ranges]]) -> bool:
    """Whether `rule` might match some of the traffic (`nets` x `l4`): True unless certainly
    not (disabled, EGRESS, protocols and ports apart, or source ranges apart)."""
    if not isinstance(rule, Mapping):
        return True
    if rule.get("disabled") is True or rule.get("direction") == "EGRESS":
        return False
    match = rule.get("match")
    if not isinstance(match, Mapping):
        return True
    theirs = _l4(match.get("layer4Configs"), "ipProtocol")
    if theirs is not None and not any(
            (p == "all" or q == "all" or p == q) and _overlap(rs, qs)
            for p, rs in theirs for q, qs in l4):
        return False
    if any(match.get(key) not in _UNSPECIFIED for key in _OTHER_SOURCES):
        return True
    src = _nets(match.get("srcIpRanges"))
    if src:
        return any(s.version == n.version and s.overlaps(n) for s in src for n in nets)
    return True


def _policies(value: Any) -> list[Mapping[str, Any]] | None:
    items: Iterable[Any] = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list | tuple):
        return None
    out = [p for p in items if isinstance(p, Mapping)]
    return out if len(out) == len(items) else None


@_op("firewall_deny_first", {"type": "object"},
     "(the data of the firewall policies evaluated at one level: one policy or a list) holds "
     "the argument, a deny, and no rule that could match its traffic without denying it comes "
     "before it (a lower priority number in its policy; any place in another policy)",
     {"path": "data", "firewall_deny_first": {"path": "data.rules[0]"}})
def deny_first(value: Any, arg: Any, ctx: EvalContext) -> bool:
    policies = _policies(value)
    if policies is None or not isinstance(arg, Mapping) or arg.get("action") != "deny":
        return False
    priority = arg.get("priority")
    match = arg.get("match")
    if not isinstance(priority, int) or isinstance(priority, bool) \
            or not isinstance(match, Mapping):
        return False
    nets = _nets(match.get("srcIpRanges"))
    l4 = _l4(match.get("layer4Configs"), "ipProtocol")
    if not nets or l4 is None:
        return False
    owners = [p for p in policies if isinstance(p.get("rules"), list)
              and any(r is arg for r in p["rules"])]
    if not owners:
        owners = [p for p in policies if isinstance(p.get("rules"), list) and arg in p["rules"]]
    if not owners:
        return False
    for policy in policies:
        rules = policy.get("rules")
        if not isinstance(rules, list):
            return False
        own = any(policy is o for o in owners)
        for rule in rules:
            if rule is arg or (own and rule == arg):
                continue
            if isinstance(rule, Mapping) and rule.get("action") == "deny":
                continue  # a deny before it ends in a deny too
            if own:
                theirs = rule.get("priority") if isinstance(rule, Mapping) else None
                if isinstance(theirs, int) and not isinstance(theirs, bool) \
                        and theirs > priority:
                    continue  # after the deny
            if _could_match(rule, nets, l4):
                return False
    return True
