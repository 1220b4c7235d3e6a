"""The operator registry: each operator's semantics, edge cases and registry meta-tests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from phiguard.policy.language import ROOTS
from phiguard.policy.operators import OPERATORS
from phiguard.policy.paths import MISSING
from phiguard.policy.rule import load_rule
from phiguard.policy.schema import rule_schema

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@dataclass
class Ctx:
    """A stand-in for the evaluation: the run's clock and a fixed PHI scope."""

    now: datetime = NOW
    phi_networks: set[str] = field(default_factory=lambda: {"phi-vpc"})
    phi_projects: set[str] = field(default_factory=lambda: {"phi-prod", "111"})

    def network_is_phi(self, ref: str) -> bool:
        return ref.rstrip("/").rsplit("/", 1)[-1] in self.phi_networks

    def project_is_phi(self, key: str) -> bool:
        return key.removeprefix("projects/") in self.phi_projects


CTX = Ctx()


def op(name: str, value: Any, arg: Any, ctx: Any = CTX) -> bool | None:
    return OPERATORS[name].fn(value, arg, ctx)


# exists / equality / membership --------------------------------------------------------------


def test_exists_judges_presence_and_absence() -> None:
    """`exists` is True for any value, empty ones included, and False for absence and null."""
    for present in ("x", 0, False, "", [], {}):
        assert op("exists", present, True) is True
        assert op("exists", present, False) is False
    for absent in (MISSING, None):
        assert op("exists", absent, True) is False
        assert op("exists", absent, False) is True
    assert OPERATORS["exists"].judges_absence


def test_empty_counts_absence_null_and_empty_values_as_empty() -> None:
    """`empty` is True for absence, null, "", [] and {}; False for any other value."""
    for empty in (MISSING, None, "", [], {}):
        assert op("empty", empty, True) is True
        assert op("empty", empty, False) is False
    for value in ("x", 0, False, ["a"], {"k": "v"}):
        assert op("empty", value, True) is False
        assert op("empty", value, False) is True
    assert OPERATORS["empty"].judges_absence


def test_equals_is_case_sensitive_and_iequals_is_not() -> None:
    """`equals` compares exactly; `iequals` ignores case and is UNKNOWN for non-strings."""
    assert op("equals", "INGRESS", "INGRESS") is True
    assert op("equals", "ingress", "INGRESS") is False
    assert op("not_equals", "ingress", "INGRESS") is True
    assert op("iequals", "ingress", "INGRESS") is True
    assert op("iequals", "true", "TRUE") is True
    assert op("iequals", 3, "3") is None


def test_in_and_not_in() -> None:
    """`in` / `not_in` test membership in the argument list."""
    assert op("in", "TLS_1_2", ["TLS_1_2", "TLS_1_3"]) is True
    assert op("in", "TLS_1_0", ["TLS_1_2", "TLS_1_3"]) is False
    assert op("not_in", "COMPATIBLE", ["COMPATIBLE"]) is False
    assert op("not_in", "RESTRICTED", ["COMPATIBLE"]) is True


def test_matches_searches_and_is_unknown_on_non_strings() -> None:
    """`matches` uses re.search (not fullmatch); a non-string value cannot be judged."""
    assert op("matches", "roles/owner", "^roles/(owner|editor)$") is True
    assert op("matches", "x-compute@developer.y", "compute@") is True
    assert op("matches", "roles/viewer", "^roles/(owner|editor)$") is False
    assert op("not_matches", "roles/viewer", "owner") is True
    assert op("matches", 42, "4") is None
    assert op("not_matches", None, "x") is None


def test_contains_on_lists_and_strings() -> None:
    """`contains` finds an element of a list or a substring of a string; else UNKNOWN."""
    assert op("contains", ["DATA_READ", "DATA_WRITE"], "DATA_READ") is True
    assert op("contains", ["ADMIN_READ"], "DATA_READ") is False
    assert op("contains", "roles/storage.admin", "admin") is True
    assert op("not_contains", ["allUsers"], "allUsers") is False
    assert op("not_contains", ["user:a@x.com"], "allUsers") is True
    assert op("contains", 5, "5") is None
    assert op("not_contains", {"a": 1}, "a") is None


def test_starts_and_ends_with() -> None:
    """`starts_with` / `ends_with` are string prefix and suffix tests."""
    assert op("starts_with", "user:a@x.com", "user:") is True
    assert op("starts_with", "group:a@x.com", "user:") is False
    assert op("ends_with", "sa@p.iam.gserviceaccount.com", ".iam.gserviceaccount.com") is True
    assert op("ends_with", ["x"], "x") is None


# numbers, counts, durations, versions --------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "arg", "want"), [
    ("gt", 5, 4, True), ("gt", 4, 4, False), ("gte", 4, 4, True), ("lt", 3, 4, True),
    ("lte", 4, 4, True), ("lte", 5, 4, False),
    ("gte", "7776000s", 7776000, True), ("gt", "7776000s", 7776000, False),
    ("gt", "3.5s", 3, True), ("gte", "30", 30, True), ("lt", " 2 ", 3, True),
])
def test_numeric_comparisons(name: str, value: Any, arg: Any, want: bool) -> None:
    """gt/gte/lt/lte compare numbers, numeric strings and "Ns" durations in seconds."""
    assert op(name, value, arg) is want


@pytest.mark.parametrize("value", [True, "abc", None, [], {}, "nan", "inf", "-Infinity", "12x"])
def test_numeric_comparisons_are_unknown_for_non_numbers(value: Any) -> None:
    """A boolean, a word, NaN or infinity is no number: the comparison is UNKNOWN, not FAIL."""
    for name in ("gt", "gte", "lt", "lte"):
        assert op(name, value, 1) is None


def test_counts() -> None:
    """count_gte / count_lte count a list's elements; a number cannot be counted."""
    assert op("count_gte", [1], 1) is True
    assert op("count_gte", [], 1) is False
    assert op("count_lte", [], 0) is True
    assert op("count_lte", [1, 2], 1) is False
    assert op("count_gte", 3, 1) is None


def test_distinct_gte_ignores_duplicates_and_nulls() -> None:
    """distinct_gte counts distinct values (dicts too), ignoring nulls."""
    assert op("distinct_gte", ["us-east4", "us-east4", None], 2) is False
    assert op("distinct_gte", ["us-east4", "us-central1"], 2) is True
    assert op("distinct_gte", [{"a": 1}, {"a": 1}, {"a": 2}], 2) is True
    assert op("distinct_gte", "ab", 1) is None


@pytest.mark.parametrize(("value", "arg", "gte"), [
    ("TLS_1_3", "TLS_1_2", True), ("TLS_1_2", "TLS_1_2", True), ("TLS_1_1", "TLS_1_2", False),
    ("TLS_1_0", "TLS_1_2", False), ("1.10", "1.9", True), ("1.2", "1.2.0", True),
    ("1.2.0", "1.2", True), ("1.2.1", "1.2", True), ("POSTGRES_15", "POSTGRES_9", True),
])
def test_version_ordering_is_ordinal(value: str, arg: str, gte: bool) -> None:
    """Versions compare part by part as integers (TLS_1_3 > TLS_1_2, 1.10 > 1.9, 1.2 == 1.2.0)."""
    assert op("version_gte", value, arg) is gte
    assert op("version_lt", value, arg) is (not gte)


@pytest.mark.parametrize("value", ["TLS", "", None, 12, ["TLS_1_2"]])
def test_version_without_numbers_is_unknown(value: Any) -> None:
    """A value with no version digits cannot be ordered: UNKNOWN."""
    assert op("version_gte", value, "TLS_1_2") is None
    assert op("version_lt", value, "TLS_1_2") is None


def test_durations_in_days() -> None:
    """"7776000s" is exactly 90 days: not longer than 90, but longer than 89."""
    assert op("duration_gt_days", "7776000s", 90) is False
    assert op("duration_lte_days", "7776000s", 90) is True
    assert op("duration_gt_days", "7776001s", 90) is True
    assert op("duration_gt_days", "7776000s", 89) is True
    assert op("duration_lte_days", 86400, 1) is True
    assert op("duration_gt_days", "90d", 1) is None


def test_older_than_days_uses_the_run_clock() -> None:
    """older_than_days measures against ctx.now, not the wall clock; nanoseconds are read."""
    stamp = "2026-08-27T00:00:00.123456789Z"  # 89.99... days before NOW
    assert op("older_than_days", stamp, 89) is True
    assert op("older_than_days", stamp, 90) is False
    later = Ctx(now=datetime(2027, 1, 1, tzinfo=UTC))
    assert op("older_than_days", stamp, 90, later) is True
    assert op("older_than_days", "2026-08-26T23:00:00-02:00", 90) is False  # offsets respected
    assert op("older_than_days", "yesterday", 1) is None
    assert op("older_than_days", 1234, 1) is None


# CIDRs and ports -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "0.0.0.0", "::", "::0", " 0.0.0.0/0",
                                   ["10.0.0.0/8", "0.0.0.0/0"], ["::/0"], "0.0.0.0/0.0.0.0"])
def test_cidr_internet_detects_any_address(value: Any) -> None:
    """Every spelling of the any-address range (IPv4 or IPv6, alone or in a list) is internet."""
    assert op("cidr_internet", value, True) is True
    assert op("cidr_internet", value, False) is False


@pytest.mark.parametrize("value", ["10.0.0.0/8", ["35.191.0.0/16", "130.211.0.0/22"],
                                   "2001:db8::/32", "0.0.0.0/1", "1.2.3.4", []])
def test_cidr_internet_rejects_private_and_partial_ranges(value: Any) -> None:
    """Private ranges, half the internet (/1) and an empty list are not the any-address range."""
    assert op("cidr_internet", value, True) is False
    assert op("cidr_internet", value, False) is True


@pytest.mark.parametrize("value", ["not-a-cidr", ["10.0.0.0/8", "bogus"], [1], 7])
def test_cidr_internet_is_unknown_for_unreadable_ranges(value: Any) -> None:
    """A range phiguard cannot read might be the internet: UNKNOWN, never "not exposed"."""
    assert op("cidr_internet", value, False) is None


def test_cidr_overlaps_v4_and_v6() -> None:
    """cidr_overlaps is true when any range overlaps any argument of the same IP version."""
    assert op("cidr_overlaps", "10.20.5.0/24", ["10.20.0.0/16"]) is True
    assert op("cidr_overlaps", ["192.168.0.0/16", "10.0.0.0/8"], ["10.20.0.0/16"]) is True
    assert op("cidr_overlaps", "10.21.0.0/16", ["10.20.0.0/16"]) is False
    assert op("cidr_overlaps", "2001:db8::/48", ["2001:db8::/32"]) is True
    assert op("cidr_overlaps", "2001:db9::/48", ["2001:db8::/32"]) is False
    assert op("cidr_overlaps", "::/0", ["10.0.0.0/8"]) is False  # different versions never meet
    assert op("cidr_overlaps", "10.0.0.1", ["10.0.0.0/30"]) is True
    assert op("cidr_overlaps", "nonsense", ["10.0.0.0/8"]) is None


def test_cidr_prefix_lt() -> None:
    """cidr_prefix_lt is true when some range is wider than /N."""
    assert op("cidr_prefix_lt", ["10.0.0.0/24", "10.0.0.0/7"], 8) is True
    assert op("cidr_prefix_lt", "10.0.0.0/8", 8) is False
    assert op("cidr_prefix_lt", "x", 8) is None


@pytest.mark.parametrize(("ports", "wanted", "want"), [
    (["22"], ["22"], True), (["80", "443"], ["22", "3389"], False),
    (["1000-2000"], ["1500"], True), (["1000-2000"], ["2000"], True),
    (["1000-2000"], ["2001"], False), (["20-23"], ["22"], True),
    (["443"], ["400-500"], True), (["80"], ["400-500"], False),
    ([22], ["22"], True), (["0-65535"], ["3389"], True),
])
def test_ports_include(ports: list[Any], wanted: list[str], want: bool) -> None:
    """ports_include: single ports and "a-b" ranges on both sides, inclusive at both ends."""
    assert op("ports_include", ports, wanted) is want


@pytest.mark.parametrize("absent", [MISSING, None, []])
def test_ports_include_absent_means_every_port(absent: Any) -> None:
    """A firewall rule with no `ports` opens every port of its protocol: it includes port 22."""
    assert op("ports_include", absent, ["22"]) is True


@pytest.mark.parametrize(("ports", "wanted"), [
    (["ssh"], ["22"]), (["22"], ["twenty"]), (["2000-1000"], ["1500"]), (["²"], ["2"]),
    ([True], ["1"]),
])
def test_ports_include_is_unknown_for_unreadable_ports(ports: list[Any], wanted: list[Any]) -> None:
    """A port spelling that is no number or range (or a reversed range) cannot be judged."""
    assert op("ports_include", ports, wanted) is None


def test_ports_include_bad_argument_is_unknown_even_when_ports_absent() -> None:
    """An unreadable wanted port is UNKNOWN even for an all-ports rule (no silent PASS)."""
    assert op("ports_include", MISSING, ["ssh"]) is None


# PHI scope and members -----------------------------------------------------------------------


def test_phi_network_and_project_ask_the_scope() -> None:
    """phi_network / phi_project delegate to the run's PHI scope; non-strings are UNKNOWN."""
    link = "https://www.googleapis.com/compute/v1/projects/p/global/networks/phi-vpc"
    assert op("phi_network", link, True) is True
    assert op("phi_network", "projects/p/global/networks/dev", True) is False
    assert op("phi_network", "projects/p/global/networks/dev", False) is True
    assert op("phi_network", None, True) is None
    assert op("phi_project", "phi-prod", True) is True
    assert op("phi_project", "projects/phi-prod", True) is True
    assert op("phi_project", 111, True) is True
    assert op("phi_project", "dev", False) is True
    assert op("phi_project", ["phi-prod"], True) is None


@pytest.mark.parametrize(("member", "want"), [
    ("user:dr.a@Example-Health.com", True), ("group:ops@example-health.com", True),
    ("domain:EXAMPLE-HEALTH.COM", True), ("user:x@gmail.com", False),
    ("serviceAccount:sa@p.iam.gserviceaccount.com", False),
    ("deleted:user:old@example-health.com?uid=123", True),
    ("allUsers", False), ("allAuthenticatedUsers", False), ("projectOwner:phi-prod", False),
])
def test_member_domain_in(member: str, want: bool) -> None:
    """member_domain_in reads the member's domain case-insensitively; public members have none."""
    assert op("member_domain_in", member, ["example-health.com"]) is want


@pytest.mark.parametrize("member", ["principal://iam.googleapis.com/x", "user:no-at-sign", 7])
def test_member_domain_in_unknown_for_unreadable_members(member: Any) -> None:
    """A member whose domain cannot be read (federated principal, malformed) is UNKNOWN."""
    assert op("member_domain_in", member, ["example-health.com"]) is None


# property tests ------------------------------------------------------------------------------

_port = st.integers(min_value=0, max_value=300)
_range = st.tuples(_port, _port).map(lambda t: (min(t), max(t)))


def _spell(r: tuple[int, int]) -> str:
    return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"


@settings(max_examples=200, deadline=None)
@given(opened=st.lists(_range, min_size=1, max_size=4),
       wanted=st.lists(_range, min_size=1, max_size=4))
def test_ports_include_matches_a_set_model(opened: list[tuple[int, int]],
                                           wanted: list[tuple[int, int]]) -> None:
    """ports_include equals: the set of opened ports intersects the set of wanted ports."""
    opened_set = {p for lo, hi in opened for p in range(lo, hi + 1)}
    wanted_set = {p for lo, hi in wanted for p in range(lo, hi + 1)}
    got = op("ports_include", [_spell(r) for r in opened], [_spell(r) for r in wanted])
    assert got is bool(opened_set & wanted_set)


_v4 = st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False),
                st.integers(0, 2**32 - 1), st.integers(0, 32))
_v6 = st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False),
                st.integers(0, 2**128 - 1), st.integers(0, 128))
_net = st.one_of(_v4, _v6)


@settings(max_examples=200, deadline=None)
@given(mine=st.lists(_net, min_size=1, max_size=3), theirs=st.lists(_net, min_size=1, max_size=3))
def test_cidr_overlaps_matches_ipaddress(mine: list[Any], theirs: list[Any]) -> None:
    """cidr_overlaps equals ipaddress' overlaps over every same-version pair."""
    want = any(a.version == b.version and a.overlaps(b) for a in mine for b in theirs)
    assert op("cidr_overlaps", [str(n) for n in mine], [str(n) for n in theirs]) is want


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.integers(0, 30), min_size=1, max_size=4),
       b=st.lists(st.integers(0, 30), min_size=1, max_size=4),
       sep=st.sampled_from([".", "_"]))
def test_version_order_matches_padded_tuples(a: list[int], b: list[int], sep: str) -> None:
    """version_gte agrees with comparing zero-padded integer tuples; version_lt is its negation."""
    width = max(len(a), len(b))
    want = tuple(a) + (0,) * (width - len(a)) >= tuple(b) + (0,) * (width - len(b))
    va, vb = "TLS" + sep + sep.join(map(str, a)), sep.join(map(str, b))
    assert op("version_gte", va, vb) is want
    assert op("version_lt", va, vb) is (not want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3"]), min_size=3,
                max_size=3))
def test_version_order_is_transitive(vs: list[str]) -> None:
    """version_gte is transitive over TLS version names."""
    a, b, c = vs
    if op("version_gte", a, b) and op("version_gte", b, c):
        assert op("version_gte", a, c) is True


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_operators_never_raise_on_strange_strings(text: str) -> None:
    """Every operator returns True, False or None for any string value: it never raises."""
    for name, operator in OPERATORS.items():
        arg = operator.example[name]
        assert operator.fn(text, arg, CTX) in (True, False, None)


# registry meta-tests -------------------------------------------------------------------------


def test_registry_is_not_empty_and_names_match() -> None:
    """Every operator is registered under its own name, including each one docs/rules.md lists."""
    documented = {"exists", "empty", "protocol_in", "equals", "not_equals", "iequals", "in",
                  "not_in", "matches", "not_matches", "contains", "not_contains", "starts_with",
                  "ends_with", "gt",
                  "gte", "lt", "lte", "count_gte", "count_lte", "distinct_gte", "version_gte",
                  "version_lt", "duration_gt_days", "duration_lte_days", "older_than_days",
                  "cidr_internet", "cidr_overlaps", "cidr_prefix_lt", "ports_include",
                  "phi_network", "phi_project", "member_domain_in"}
    assert documented <= set(OPERATORS)
    assert all(o.name == n for n, o in OPERATORS.items())


def _rule_around(condition: dict[str, Any]) -> dict[str, Any]:
    """A minimal rule whose assert is `condition`, binding whatever root it reads."""
    root = condition["path"].split(".")[0].split("[")[0]
    lets: dict[str, Any] = {}
    if root == "item":
        condition = {"path": "data.things", "some": condition}
    elif root not in ROOTS:
        lets[root] = {"value": "data.other"}
    rule: dict[str, Any] = {
        "id": "OPS-001", "title": "An operator example validates", "severity": "low",
        "controls": ["hipaa/164.312(b)"], "description": "meta",
        "asset_types": ["compute.googleapis.com/Firewall"], "assert": condition,
        "remediation": {"summary": "none"},
    }
    if lets:
        rule["let"] = lets
    return rule


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_has_schema_doc_and_valid_example(name: str, tmp_path: Path) -> None:
    """Each operator declares an argument schema, a doc and an example that validates as a rule
    condition, both through the validator and through the generated JSON Schema."""
    operator = OPERATORS[name]
    assert isinstance(operator.arg, dict)
    assert operator.doc and operator.doc.strip() == operator.doc
    assert name in operator.example and "path" in operator.example
    assert set(operator.example) == {"path", name}
    jsonschema.Draft202012Validator.check_schema({"$schema": rule_schema()["$schema"],
                                                  **operator.arg})
    jsonschema.validate(operator.example[name], operator.arg)
    doc = _rule_around(dict(operator.example))
    folder = tmp_path / "OPS-001"
    folder.mkdir()
    (folder / "rule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    rule = load_rule(folder / "rule.yaml")
    assert rule.id == "OPS-001"
    jsonschema.Draft202012Validator(rule_schema()).validate(doc)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_example_evaluates(name: str) -> None:
    """Each operator accepts its own example argument on a plausible value without raising."""
    operator = OPERATORS[name]
    for value in ("x", ["22"], 5, "10.0.0.0/8", "2026-01-01T00:00:00Z", MISSING):
        if value is MISSING and not operator.judges_absence:
            continue
        assert operator.fn(value, operator.example[name], CTX) in (True, False, None)


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    """`^(a+)+$` against "aaaa...b" backtracks for minutes in a backtracking engine; rules run
    regexes with RE2, so the match is decided at once (and is False)."""
    import time

    started = time.perf_counter()
    assert op("matches", "a" * 34 + "b", "^(a+)+$") is False
    assert op("matches", "a" * 100_000 + "!", "^(a+)+$") is False
    assert op("not_matches", "a" * 34, "^(a+)+$") is False
    # 2**34 backtracking steps take hours; RE2 takes microseconds (a generous bound for a
    # loaded machine, not a speed claim)
    assert time.perf_counter() - started < 10.0


def test_a_regex_read_from_data_that_cannot_run_is_unknown() -> None:
    """A pattern that comes from data (`matches: {path: ...}`) and RE2 refuses gives None
    (UNKNOWN), never an exception."""
    assert op("matches", "abc", "(?=a)") is None
    assert op("matches", "abc", "([") is None
    assert op("not_matches", "abc", "(a)\\1") is None


def test_protocol_in_normalizes_what_the_compute_api_accepts() -> None:
    """Firewall `IPProtocol` is a well-known name (any case) or the IP protocol number: "TCP",
    "tcp", "6" and 6 are all TCP; names not in the list, and odd types, are not guessed."""
    for value in ("tcp", "TCP", "Tcp", "6", 6, " tcp "):
        assert op("protocol_in", value, ["tcp", "all"]) is True, value
    assert op("protocol_in", "ALL", ["all"]) is True
    assert op("protocol_in", "17", ["udp"]) is True
    assert op("protocol_in", "udp", ["6"]) is False
    assert op("protocol_in", "132", ["sctp"]) is True
    assert op("protocol_in", "47", ["tcp", "all"]) is False
    assert op("protocol_in", "47", ["47"]) is True
    for odd in (True, None, {"x": 1}, [6], ""):
        assert op("protocol_in", odd, ["tcp"]) is None, odd
