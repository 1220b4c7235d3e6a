"""The operator registry: every leaf operator a rule may use, with its argument schema.

The rule validator and the JSON Schema of rules are generated from `OPERATORS`, so adding an
operator here is the one place to change. Plugins add theirs with the public `operator(...)`
(docs/extending.md); built-ins use `_op`, which skips the plugin checks. An operator returns
True, False, or None when the value cannot be judged (wrong type): None becomes UNKNOWN,
never PASS.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from phiguard._util.times import parse_time
from phiguard.policy.paths import MISSING
from phiguard.policy.regex import RegexError, compile_regex

__all__ = ["OPERATORS", "EvalContext", "Operator", "operator", "parse_time"]


class EvalContext(Protocol):
    """What operators may ask of the evaluation: the clock of the run and the PHI scope."""

    now: datetime

    def network_is_phi(self, ref: str) -> bool: ...

    def project_is_phi(self, key: str) -> bool: ...


@dataclass(frozen=True)
class Operator:
    """One operator: its function, the JSON Schema of its argument, a one-line doc, an example."""

    name: str
    fn: Callable[[Any, Any, EvalContext], bool | None]
    arg: dict[str, Any]
    doc: str
    example: dict[str, Any]
    # `exists`, `empty` and `ports_include` judge absence themselves.
    judges_absence: bool = False
    # Who defined it: "" for phiguard itself, else the plugin (entry point) that did.
    origin: str = ""


OPERATORS: dict[str, Operator] = {}


def _op(name: str, arg: dict[str, Any], doc: str, example: dict[str, Any],
        judges_absence: bool = False,
        ) -> Callable[[Callable[..., bool | None]], Callable[..., bool | None]]:
    def register(fn: Callable[..., bool | None]) -> Callable[..., bool | None]:
        OPERATORS[name] = Operator(name, fn, arg, doc, example, judges_absence)
        return fn
    return register


# The plugin whose entry point is being loaded (set by `policy.plugins`), so an operator it
# registers records where it came from and a collision can name both sides.
_loading: list[str] = []

OPERATOR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# The argument schema keywords the validator understands (a subset of JSON Schema).
ARG_KEYWORDS = frozenset({"type", "items", "format", "minimum", "description", "enum", "const",
                          "pattern", "minLength", "minItems", "uniqueItems"})
ARG_TYPES = frozenset({"boolean", "string", "number", "integer", "array", "object"})


def operator(name: str, *, arg: dict[str, Any] | None = None, doc: str,
             example: dict[str, Any], judges_absence: bool = False,
             ) -> Callable[[Callable[..., bool | None]], Callable[..., bool | None]]:
    """Register a leaf operator a rule may use, as `{path: ..., <name>: <argument>}`.

    The function is called as `fn(value, arg, ctx)` with the value at the path, the argument
    (already checked against `arg`, a JSON Schema subset: `type` boolean, string, number,
    integer, array or object, `items`, `enum`, `const`, `pattern`, `minLength`, `minItems`,
    `uniqueItems`, `minimum`, `format: regex`) and an `EvalContext`. It returns
    True (the condition holds), False (it does not), or None (the value cannot be judged, which
    the rule reports as UNKNOWN, never PASS). Absent values never reach it unless
    `judges_absence` is set. `doc` is one line for `phiguard rules operators`; `example` a
    condition using it. A name that is already taken raises PluginError.
    """
    from phiguard.errors import PluginError

    arg = dict(arg or {})
    origin = _loading[-1] if _loading else "the caller"
    if not OPERATOR_NAME.match(name):
        raise PluginError(f"{origin}: operator name {name!r} must be lower_case_with_underscores")
    bad = set(arg) - ARG_KEYWORDS
    if bad or ("type" in arg and arg["type"] not in ARG_TYPES):
        raise PluginError(f"{origin}: operator `{name}`'s argument schema uses what the rule "
                          f"validator does not check: {sorted(bad) or arg.get('type')} (use "
                          f"{', '.join(sorted(ARG_KEYWORDS))}; type one of "
                          f"{', '.join(sorted(ARG_TYPES))})")
    if name in OPERATORS:
        other = OPERATORS[name].origin or "phiguard's built-in operators"
        raise PluginError(f"{origin}: operator `{name}` is already defined by {other}")
    if not isinstance(example, dict) or example.get(name, _MISSING_EXAMPLE) is _MISSING_EXAMPLE:
        raise PluginError(f"{origin}: operator `{name}` needs an example condition using it")

    def register(fn: Callable[..., bool | None]) -> Callable[..., bool | None]:
        OPERATORS[name] = Operator(name, fn, arg, doc, example, judges_absence, origin)
        return fn
    return register


_MISSING_EXAMPLE = object()
_ANY: dict[str, Any] = {}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
_NUM = {"type": "number"}
_INT = {"type": "integer", "minimum": 0}
_LIST = {"type": "array"}
_STR_LIST = {"type": "array", "items": {"type": "string"}}


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("s") and text[:-1].replace(".", "", 1).isdigit():
            text = text[:-1]
        try:
            number = float(text)
        except ValueError:
            return None
        # "nan" and "inf" parse as floats but are no measurement: they compare False either way.
        return number if math.isfinite(number) else None
    return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@_op("exists", _BOOL, "is present, even if empty (true), or absent or null (false)",
     {"path": "data.labels['goog-gke-node']", "exists": False},
     judges_absence=True)
def _exists(value: Any, arg: bool, ctx: EvalContext) -> bool:
    # A label `goog-gke-node: ""` is there: an empty value is a value. Null is no value
    # (Google's JSON omits unset fields; a producer that writes null means the same).
    present = value is not MISSING and value is not None
    return present == bool(arg)


@_op("empty", _BOOL, "is absent, null, \"\", [] or {} (true), or has content (false)",
     {"path": "data.sslPolicy", "empty": False},
     judges_absence=True)
def _empty(value: Any, arg: bool, ctx: EvalContext) -> bool:
    # For fields where the API (or a Terraform state) writes "" or [] for "not set": a
    # reference or a key name that is empty configures nothing.
    blank = value is MISSING or value is None or (
        isinstance(value, str | list | dict) and not value)
    return blank == bool(arg)


@_op("equals", _ANY, "equals the argument", {"path": "data.direction", "equals": "INGRESS"})
def _equals(value: Any, arg: Any, ctx: EvalContext) -> bool:
    return bool(value == arg)


@_op("not_equals", _ANY, "differs from the argument",
     {"path": "data.name", "not_equals": "default"})
def _not_equals(value: Any, arg: Any, ctx: EvalContext) -> bool:
    return bool(value != arg)


@_op("iequals", _STR, "equals the argument ignoring case",
     {"path": "item.value", "iequals": "TRUE"})
def _iequals(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    if not isinstance(value, str | bool):
        return None
    return str(value).lower() == str(arg).lower()


@_op("in", _LIST, "is one of the listed values", {"path": "data.profile", "in": ["RESTRICTED"]})
def _in(value: Any, arg: list[Any], ctx: EvalContext) -> bool:
    return value in arg


@_op("not_in", _LIST, "is none of the listed values",
     {"path": "data.profile", "not_in": ["COMPATIBLE"]})
def _not_in(value: Any, arg: list[Any], ctx: EvalContext) -> bool:
    return value not in arg


@_op("matches", {"type": "string", "format": "regex"},
     "(a string) contains a match of the regex (RE2 syntax, linear time)",
     {"path": "item.role", "matches": "^roles/(owner|editor)$"})
def _matches(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    if not isinstance(value, str) or not isinstance(arg, str):
        return None
    try:
        return compile_regex(arg).search(value)
    except (RegexError, UnicodeError):
        # Validation refuses bad literal and parameter patterns at load time; this is a
        # pattern read from data (`{path: ...}`) or a value that is not valid text.
        return None


@_op("not_matches", {"type": "string", "format": "regex"}, "(a string) has no match of the regex",
     {"path": "data.email", "not_matches": "-compute@developer"})
def _not_matches(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    result = _matches(value, arg, ctx)
    return None if result is None else not result


@_op("contains", _ANY, "(a list) has the element, (a string) the substring",
     {"path": "data.logTypes", "contains": "DATA_READ"})
def _contains(value: Any, arg: Any, ctx: EvalContext) -> bool | None:
    if isinstance(value, list):
        return arg in value
    if isinstance(value, str) and isinstance(arg, str):
        return arg in value
    return None


@_op("not_contains", _ANY, "(a list) lacks the element, (a string) the substring",
     {"path": "item.members", "not_contains": "allUsers"})
def _not_contains(value: Any, arg: Any, ctx: EvalContext) -> bool | None:
    result = _contains(value, arg, ctx)
    return None if result is None else not result


@_op("starts_with", _STR, "(a string) starts with the argument",
     {"path": "item", "starts_with": "user:"})
def _starts_with(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    return value.startswith(arg) if isinstance(value, str) else None


@_op("ends_with", _STR, "(a string) ends with the argument",
     {"path": "data.email", "ends_with": ".iam.gserviceaccount.com"})
def _ends_with(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    return value.endswith(arg) if isinstance(value, str) else None


def _compare(cmp: Callable[[float, float], bool]) -> Callable[[Any, Any, EvalContext], bool | None]:
    def fn(value: Any, arg: Any, ctx: EvalContext) -> bool | None:
        a, b = _num(value), _num(arg)
        if a is None or b is None:
            return None
        return cmp(a, b)
    return fn


for _name, _cmp, _doc in (
    ("gt", lambda a, b: a > b, "is greater than"),
    ("gte", lambda a, b: a >= b, "is at least"),
    ("lt", lambda a, b: a < b, "is less than"),
    ("lte", lambda a, b: a <= b, "is at most"),
):
    OPERATORS[_name] = Operator(_name, _compare(_cmp), _NUM,
                                f"{_doc} the number (numeric strings and \"600s\" durations too)",
                                {"path": "data.autoscalingPolicy.cpuUtilization.utilizationTarget",
                                 _name: 0.5})


@_op("count_gte", _INT, "(a list) has at least N elements",
     {"path": "data.healthChecks", "count_gte": 1})
def _count_gte(value: Any, arg: int, ctx: EvalContext) -> bool | None:
    return len(value) >= arg if isinstance(value, list | dict | str) else None


@_op("count_lte", _INT, "(a list) has at most N elements",
     {"path": "data.peerings", "count_lte": 0})
def _count_lte(value: Any, arg: int, ctx: EvalContext) -> bool | None:
    return len(value) <= arg if isinstance(value, list | dict | str) else None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


@_op("distinct_gte", _INT, "(a list) has at least N distinct values",
     {"path": "tier[*].asset.region", "distinct_gte": 2})
def _distinct_gte(value: Any, arg: int, ctx: EvalContext) -> bool | None:
    if not isinstance(value, list):
        return None
    return len({_hashable(v) for v in value if v is not None}) >= arg


_VERSION_PART = re.compile(r"\d+")


def _version(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, str):
        return None
    parts = tuple(int(p) for p in _VERSION_PART.findall(value))
    return parts or None


def _version_cmp(value: Any, arg: Any) -> int | None:
    """-1, 0 or 1 comparing two versions part by part; missing parts count as 0 (1.2 == 1.2.0)."""
    a, b = _version(value), _version(arg)
    if a is None or b is None:
        return None
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


@_op("version_gte", _STR, "is the same version or newer (TLS_1_3 > TLS_1_2 > TLS_1_0)",
     {"path": "policy.data.minTlsVersion", "version_gte": "TLS_1_2"})
def _version_gte(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    order = _version_cmp(value, arg)
    return None if order is None else order >= 0


@_op("version_lt", _STR, "is an older version",
     {"path": "data.minTlsVersion", "version_lt": "TLS_1_2"})
def _version_lt(value: Any, arg: str, ctx: EvalContext) -> bool | None:
    order = _version_cmp(value, arg)
    return None if order is None else order < 0


def _days(value: Any) -> float | None:
    seconds = _num(value)
    return None if seconds is None else seconds / 86400.0


@_op("duration_gt_days", _NUM, "(a \"7776000s\" duration or seconds) is longer than N days",
     {"path": "data.rotationPeriod", "duration_gt_days": 90})
def _duration_gt_days(value: Any, arg: float, ctx: EvalContext) -> bool | None:
    days = _days(value)
    return None if days is None else days > arg


@_op("duration_lte_days", _NUM, "(a duration or seconds) is at most N days",
     {"path": "data.rotationPeriod", "duration_lte_days": 90})
def _duration_lte_days(value: Any, arg: float, ctx: EvalContext) -> bool | None:
    days = _days(value)
    return None if days is None else days <= arg


@_op("older_than_days", _NUM, "(an RFC 3339 time) is more than N days before the evaluation time",
     {"path": "data.validAfterTime", "older_than_days": 90})
def _older_than_days(value: Any, arg: float, ctx: EvalContext) -> bool | None:
    when = parse_time(value)
    if when is None:
        return None
    return ctx.now - when > timedelta(days=float(arg))


_INTERNET = {"0.0.0.0/0", "::/0", "0.0.0.0", "::", "::0"}


@lru_cache(maxsize=4096)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@_op("cidr_internet", _BOOL, "(a CIDR or list) includes an any-address range (true) or not (false)",
     {"path": "data.sourceRanges", "cidr_internet": True})
def _cidr_internet(value: Any, arg: bool, ctx: EvalContext) -> bool | None:
    items = _as_list(value)
    if not all(isinstance(v, str) for v in items):
        return None
    nets = [_network(v) for v in items]
    if any(n is None for n in nets):
        return None  # a range we cannot read might be the internet: never guess "not exposed"
    hit = any(v.strip() in _INTERNET or (n is not None and n.prefixlen == 0)
              for v, n in zip(items, nets, strict=True))
    return hit == bool(arg)


@_op("cidr_overlaps", {"type": "array", "items": {"type": "string"}},
     "(a CIDR or list) overlaps any CIDR of the argument",
     {"path": "data.sourceRanges", "cidr_overlaps": ["10.20.0.0/16"]})
def _cidr_overlaps(value: Any, arg: list[str], ctx: EvalContext) -> bool | None:
    mine = [_network(v) for v in _as_list(value) if isinstance(v, str)]
    if any(n is None for n in mine):
        return None
    index = _interval_index(arg)
    for net in mine:
        assert net is not None
        starts, ends = index.get(net.version, ((), ()))
        lo, hi = int(net.network_address), int(net.broadcast_address)
        i = bisect.bisect_right(starts, hi) - 1
        if i >= 0 and ends[i] >= lo:
            return True
    return False


_INDEXES: dict[int, tuple[Any, dict[int, tuple[list[int], list[int]]]]] = {}


def _interval_index(arg: Any) -> dict[int, tuple[list[int], list[int]]]:
    """Merged, sorted address intervals of a CIDR list, per IP version, for binary search.

    Rules compare every firewall against the same list (all non-PHI ranges, say); the index
    of the last few list objects is kept, so that costs one sort, not one per asset.
    """
    cached = _INDEXES.get(id(arg))
    if cached is not None and cached[0] is arg:
        return cached[1]
    spans: dict[int, list[tuple[int, int]]] = {}
    for text in _as_list(arg):
        net = _network(text) if isinstance(text, str) else None
        if net is not None:
            spans.setdefault(net.version, []).append(
                (int(net.network_address), int(net.broadcast_address)))
    index: dict[int, tuple[list[int], list[int]]] = {}
    for version, items in spans.items():
        items.sort()
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in items:
            if starts and lo <= ends[-1] + 1:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        index[version] = (starts, ends)
    if isinstance(arg, list):
        if len(_INDEXES) >= 16:
            _INDEXES.clear()
        _INDEXES[id(arg)] = (arg, index)  # the entry keeps `arg` alive, so its id stays its own
    return index


@_op("cidr_prefix_lt", _INT, "(a CIDR or list) has a range with a prefix shorter than N",
     {"path": "data.settings.ipConfiguration.authorizedNetworks[*].value", "cidr_prefix_lt": 8})
def _cidr_prefix_lt(value: Any, arg: int, ctx: EvalContext) -> bool | None:
    nets = [_network(v) for v in _as_list(value) if isinstance(v, str)]
    if any(n is None for n in nets):
        return None
    return any(n.prefixlen < arg for n in nets if n)


_PORTS = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")


def _port_range(text: Any) -> tuple[int, int] | None:
    """`"22"` or `"1000-2000"` as an inclusive (low, high); None if it is neither."""
    if isinstance(text, bool):
        return None
    match = _PORTS.fullmatch(str(text).strip())
    if match is None:
        return None
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else lo
    return (lo, hi) if lo <= hi else None


@_op("ports_include", {"type": "array"},
     "(a firewall `ports` list; absent or empty = every port) opens any of the ports or ranges",
     {"path": "item.ports", "ports_include": ["22", "3389"]}, judges_absence=True)
def _ports_include(value: Any, arg: list[Any], ctx: EvalContext) -> bool | None:
    wanted = [_port_range(a) for a in arg]
    if any(w is None for w in wanted):
        return None
    if value is MISSING or value is None or value == []:
        return True
    opened = [_port_range(v) for v in _as_list(value)]
    if any(o is None for o in opened):
        return None
    return any(o[0] <= w[1] and w[0] <= o[1] for o in opened if o for w in wanted if w)


@_op("phi_network", _BOOL, "(a network reference) is a PHI network (true) or not (false)",
     {"path": "item.network", "phi_network": False})
def _phi_network(value: Any, arg: bool, ctx: EvalContext) -> bool | None:
    if not isinstance(value, str):
        return None
    return ctx.network_is_phi(value) == bool(arg)


@_op("phi_project", _BOOL, "(a project id, number or projects/X) is a PHI project (true) or not",
     {"path": "asset.project", "phi_project": True})
def _phi_project(value: Any, arg: bool, ctx: EvalContext) -> bool | None:
    if not isinstance(value, str | int):
        return None
    return ctx.project_is_phi(str(value)) == bool(arg)


# compute v1 Firewall.allowed[].IPProtocol: "one of the following well known protocol strings
# (tcp, udp, icmp, esp, ah, ipip, sctp) or the IP protocol number" (and `all`); names are
# matched without regard to case. Numbers are the IANA assignments of those names.
_PROTOCOL_NUMBERS = {"1": "icmp", "6": "tcp", "17": "udp", "50": "esp", "51": "ah", "94": "ipip",
                     "132": "sctp"}


def _protocol(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower()
    return _PROTOCOL_NUMBERS.get(text, text)


@_op("protocol_in", _STR_LIST,
     "(a firewall IPProtocol: a name in any case or the protocol number) is one of the listed "
     "protocols", {"path": "item.IPProtocol", "protocol_in": ["tcp", "all"]})
def _protocol_in(value: Any, arg: list[str], ctx: EvalContext) -> bool | None:
    mine = _protocol(value)
    if mine is None:
        return None
    return mine in {_protocol(a) for a in arg}


# Members that name no identity in any domain: never in a list of domains.
_DOMAINLESS = ("allUsers", "allAuthenticatedUsers", "projectOwner:", "projectEditor:",
               "projectViewer:")


def _member_domain(member: str) -> str | None:
    if member.startswith(_DOMAINLESS):
        return ""
    kind, _, ident = member.partition(":")
    if kind in ("user", "group", "serviceAccount", "deleted"):
        _, at, domain = ident.rpartition("@")
        return domain.split("?")[0].lower() if at else None
    if kind == "domain":
        return ident.lower()
    return None


@_op("member_domain_in", _STR_LIST,
     "(an IAM member: user:, group:, domain:) has its domain in the list (case-insensitive)",
     {"path": "item", "member_domain_in": ["example-health.com"]})
def _member_domain_in(value: Any, arg: list[str], ctx: EvalContext) -> bool | None:
    if not isinstance(value, str):
        return None
    domain = _member_domain(value)
    if domain is None:
        return None
    return domain in {a.lower() for a in arg}


# Firewall evaluation order -------------------------------------------------------------------
# Firewall evaluation order: when a firewall policy's `deny` certainly shadows an allowing rule.
#
# Google evaluates ingress traffic to a VM through the hierarchical firewall policies (the
# organization's, then each folder's from the top down), then the VPC firewall rules and the
# network firewall policies in the order the network's `networkFirewallPolicyEnforcementOrder`
# says; within a policy by priority (lowest number first). `allow`, `deny` and
# `apply_security_profile_group` end the evaluation, `goto_next` hands the connection to the next
# level (https://cloud.google.com/firewall/docs/firewall-policies-rule-eval-order).
#
# Two operators let a rule credit a `deny` reached before an allowing rule, and only when that
# is certain; every doubt answers False, which leaves the allowing rule judged alone (as before),
# never a PASS resting on a guess:
#
# - `firewall_deny_covers` (value: a firewall policy rule; argument: the allowing rule, a VPC
#   firewall's data or a firewall policy rule): the value is an enabled INGRESS `deny` for every
#   VM of the policy (no target narrowing), whose match names only source ranges and layer-4
#   configurations, and those cover every source range and every protocol and port of the
#   allowing rule.
# - `firewall_deny_first` (value: the data of the firewall policies evaluated at the deny's
#   level, one policy or a list; argument: the deny): no rule that could match the deny's traffic
#   and does not deny it comes before the deny: in the deny's own policy, a rule with a lower
#   priority number whose action is not `deny` (`allow`, `apply_security_profile_group` and
#   `goto_next` all take the connection away from the deny); in another policy of the list,
#   whose order against the deny's is not known, any such rule. "Could match" over-approximates:
#   only a disabled or EGRESS rule, or one whose protocols and ports or whose source ranges
#   certainly miss the deny's, is left out.

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Ranges = list[tuple[int, int]]

# Bare any-addresses the Compute API reads as every address (as `cidr_internet` does).
_ANY_ADDRESS = {"0.0.0.0": "0.0.0.0/0", "::": "::/0", "::0": "::/0"}
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
        net = _network(_ANY_ADDRESS.get(text.strip(), text))
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
