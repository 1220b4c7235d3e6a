"""Property tests: random mutations of a valid phiguard.yaml and of a valid rule never crash.

Two input paths a user (or a pull request) hands phiguard: the configuration and a rule folder.
Each mutation (truncation, a deleted span, injected bytes or YAML syntax, an alias, a value of
another type, a hostile regex) must end as a clean input error (ConfigError or RuleError naming
the file; exit 2 from the CLI) or as a valid input that then evaluates without an exception,
never a traceback, never exit 1 from a crash, never a hang (each example has a deadline).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _paths import RULES
from phiguard.cli import main
from phiguard.config import load_config
from phiguard.errors import ConfigError, RuleError
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.engine import Engine, evaluate
from phiguard.policy.rule import RulePack, load_pack, load_rule
from phiguard.testing import assets_from_records

NOW = datetime(2026, 11, 25, tzinfo=UTC)

CONFIG = """\
organization: "123456789012"
phi:
  all: false
  projects: [phi-prod, "111"]
  folders: ["folders/222"]
  project_labels: {data-classification: phi}
  networks: [projects/phi-prod/global/networks/phi-vpc]
params:
  NET-001: {ports: ["22", "3389"], protocols: [tcp, all]}
  IAM-001: {admin_role_pattern: '(?i)admin'}
  BAK-002: {min_retained_backups: 7}
rules: {enable: [TLS-004], disable: [GOV-001]}
waivers:
  - rule: NET-001
    asset: //compute.googleapis.com/projects/phi-prod/global/firewalls/*
    reason: partners upload over SFTP
    approved_by: security@example.com
    expires: 2027-01-31
"""

RULE = """\
id: TST-001
title: Firewall rules keep SSH closed to the internet
severity: high
controls: [hipaa/164.312(e)(1)]
description: a test rule
asset_types: [compute.googleapis.com/Firewall]
scope: all
params:
  ports: {type: list, default: ["22"]}
  name_pattern: {type: string, default: '^allow-'}
  limit: {type: integer, default: 2}
let:
  net: {ref: data.network, types: [compute.googleapis.com/Network]}
  label: {format: "{data.name}:{data.direction}"}
when: {path: data.direction, equals: INGRESS, default: INGRESS}
assert:
  all:
    - {path: data.sourceRanges, cidr_internet: false, default: []}
    - {path: data.name, matches: {param: name_pattern}}
    - {path: data.allowed, count_lte: {param: limit}, default: []}
    - path: data.allowed
      none:
        all:
          - {path: item.IPProtocol, protocol_in: [tcp, all]}
          - {path: item.ports, ports_include: {param: ports}}
    - any:
        - {path: net, exists: false}
        - {path: net.data.autoCreateSubnetworks, equals: false, default: true}
evidence: [data.sourceRanges, label]
remediation:
  summary: close it
"""

TOKENS = ["\x00", "\ufeff", ":", ": ", "- ", "[", "]", "{", "}", "&a ", "*a", "<<: *a\n",
          "!!python/object/apply:os.system ['true']", "\t", '"', "'", "\n  x: 1\n", "? ",
          "%YAML 1.1\n", "---\n", "...\n", "null", "-1", "1e999", ".nan", "[[[[", "\\",
          "\n" + " " * 3, "#", "|\n", ">\n", "~"]
VALUES = ["null", "[]", "{}", "[1, [2]]", "{a: b}", "true", "12", "-3.5", '"x"', '"(["',
          '"^(a+)+$"', '"(?=x)"', '"(a)\\\\1"', "[22, 3389]", "2027-13-45", '""', "&x [1]",
          "*x", "!!binary aGk=", "0x10", "1_000"]
_SCALAR = re.compile(r"(?<=[:\[,{-] )[^\s,\]\}\[{:][^,\]\}\n]*")


@st.composite
def mutated(draw: Any, text: str) -> bytes:
    """A valid YAML text changed by one to three mutations."""
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "delete", "insert", "value", "bytes"]))
        at = draw(st.integers(0, len(text)))
        if kind == "truncate":
            text = text[:at]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif kind == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif kind == "value":
            spots = list(_SCALAR.finditer(text))
            if spots:
                spot = draw(st.sampled_from(spots))
                text = text[:spot.start()] + draw(st.sampled_from(VALUES)) + text[spot.end():]
        else:
            raw = text.encode("utf-8")
            junk = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\x80\x80", b"\x00"]))
            return raw[:at] + junk + raw[at:]
    return text.encode("utf-8")


@st.composite
def retyped(draw: Any, text: str) -> bytes:
    """A valid YAML text with one or two values replaced by values of other types (mostly
    still YAML, so the validators and then the engine meet them)."""
    for _ in range(draw(st.integers(1, 2))):
        spots = list(_SCALAR.finditer(text))
        spot = draw(st.sampled_from(spots))
        text = text[:spot.start()] + draw(st.sampled_from(VALUES)) + text[spot.end():]
    return text.encode("utf-8")


SETTINGS = settings(max_examples=150, deadline=5000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
CLI_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow])


@cache
def pack() -> RulePack:
    return load_pack([RULES])


def _config_outcome(path: Path) -> str:
    """'ok' or 'error'; any other exception escapes (and fails the property)."""
    try:
        load_config(path).check_against(pack())
    except ConfigError as exc:
        assert exc.file == str(path), exc
        return "error"
    return "ok"


def test_the_unmutated_config_is_valid(tmp_path: Path) -> None:
    """The base the mutations start from is valid, so each error is the mutation's doing."""
    path = tmp_path / "phiguard.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    assert _config_outcome(path) == "ok"


@SETTINGS
@given(st.one_of(mutated(CONFIG), retyped(CONFIG)))
def test_a_mutated_config_loads_or_is_a_config_error(blob: bytes) -> None:
    """A mutated phiguard.yaml either loads and checks against the pack, or is a ConfigError
    naming the file: never another exception, never a hang (aliases are refused)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "phiguard.yaml"
        path.write_bytes(blob)
        _config_outcome(path)


SNAPSHOT = ('{"name": "//compute.googleapis.com/projects/phi-prod/global/firewalls/allow-ssh", '
            '"asset_type": "compute.googleapis.com/Firewall", "resource": {"data": '
            '{"name": "allow-ssh", "direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"], '
            '"allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}}, '
            '"ancestors": ["projects/111", "folders/222", "organizations/123456789012"], '
            '"update_time": "2026-11-20T00:00:00Z"}\n')


@pytest.mark.usefixtures("pack_loaded_once")  # the config is the subject, not the rules
@CLI_SETTINGS
@given(mutated(CONFIG))
def test_scan_with_a_mutated_config_exits_0_1_or_2_never_a_traceback(blob: bytes) -> None:
    """Through the CLI: an invalid config is exit 2 with one `phiguard: error:` line naming
    the file; a valid one scans (0 or 1). Never a traceback, never exit 1 for a bad config."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "phiguard.yaml"
        config.write_bytes(blob)
        snapshot = Path(tmp) / "export.ndjson"
        snapshot.write_text(SNAPSHOT, encoding="utf-8")
        expected = _config_outcome(config)
        result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config),
                                           "-f", "json"])
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), repr(result.exception)
        if expected == "error":
            assert result.exit_code == 2, result.output
            assert str(config) in result.stderr
        else:
            assert result.exit_code in (0, 1), result.output


FIREWALLS = [
    {"name": "//compute.googleapis.com/projects/p/global/firewalls/allow-ssh",
     "asset_type": "compute.googleapis.com/Firewall",
     "resource": {"data": {"name": "allow-ssh", "direction": "INGRESS",
                           "network": "projects/p/global/networks/default",
                           "sourceRanges": ["0.0.0.0/0"],
                           "allowed": [{"IPProtocol": "TCP", "ports": ["22"]}]}},
     "ancestors": ["projects/1", "organizations/9"]},
    {"name": "//compute.googleapis.com/projects/p/global/firewalls/" + "a" * 60,
     "asset_type": "compute.googleapis.com/Firewall",
     "resource": {"data": {"name": "a" * 60 + "!", "sourceRanges": "10.0.0.0/8",
                           "allowed": [{"IPProtocol": 6}, {"ports": [None]}]}},
     "ancestors": ["projects/1", "organizations/9"]},
    {"name": "//compute.googleapis.com/projects/p/global/networks/default",
     "asset_type": "compute.googleapis.com/Network",
     "resource": {"data": {"name": "default", "autoCreateSubnetworks": True}},
     "ancestors": ["projects/1", "organizations/9"]},
]


def _rule_outcome(path: Path) -> str:
    try:
        rule = load_rule(path)
    except RuleError as exc:
        assert exc.file == str(path), exc
        return "error"
    # A rule the validator accepts must evaluate without an exception on odd data too.
    assets = assets_from_records(FIREWALLS)
    inv = Inventory(assets, phi=PhiConfig(all=True))
    evaluate(assets, inv, Engine([rule], enable=[rule.id]), NOW)
    return "ok"


def test_the_unmutated_rule_is_valid(tmp_path: Path) -> None:
    """The rule the mutations start from is valid and judges the sample firewalls."""
    path = tmp_path / "TST-001" / "rule.yaml"
    path.parent.mkdir()
    path.write_text(RULE, encoding="utf-8")
    assert _rule_outcome(path) == "ok"


@SETTINGS
@given(st.one_of(mutated(RULE), retyped(RULE)))
def test_a_mutated_rule_loads_and_evaluates_or_is_a_rule_error(blob: bytes) -> None:
    """A mutated rule.yaml is a RuleError naming the file, or a valid rule that evaluates
    without an exception in bounded time (regexes run in RE2, aliases are refused)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "TST-001" / "rule.yaml"
        path.parent.mkdir()
        path.write_bytes(blob)
        _rule_outcome(path)


@CLI_SETTINGS
@given(mutated(RULE))
def test_rules_list_of_a_mutated_rule_exits_0_or_2_never_a_traceback(blob: bytes) -> None:
    """Through the CLI: `phiguard rules list --rules DIR` on a mutated rule is exit 2 naming
    the rule file, or exit 0 when the mutation left it valid; never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "TST-001" / "rule.yaml"
        path.parent.mkdir()
        path.write_bytes(blob)
        expected = _rule_outcome(path)
        result = CliRunner().invoke(main, ["rules", "list", "--rules", tmp])
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), repr(result.exception)
        if expected == "error":
            assert result.exit_code == 2, result.output
            assert str(path) in result.stderr
        else:
            assert result.exit_code == 0, result.output


# structural mutations: a value anywhere in the parsed document replaced by another value --------

_WORDS = ["", "x", "a.b", "item", "params", "(?=x)", "^(a+)+$", "tcp", "string", "list",
          "INGRESS", "data.name", "constraints/x", "phi", "project", "[*]", "TST-001",
          "data.allowed[*].ports", "folders/1", "NET-001", "2027-01-31"]
_KEYS = ["param", "path", "all", "any", "not", "some", "as", "types", "equals", "matches",
         "within", "where", "one", "x", "type", "default", "projects", "enable"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, width=16)
    | st.sampled_from(_WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner,
                                                                 max_size=2),
    max_leaves=6)


class _Plain(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _places(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _places(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _places(value, (*prefix, i))
    return out


@st.composite
def restructured(draw: Any, text: str) -> str:
    """The document with one or two values (anywhere in its tree) replaced by other JSON-like
    values, written back out as plain YAML."""
    doc = yaml.safe_load(text)
    for _ in range(draw(st.integers(1, 2))):
        place = draw(st.sampled_from(_places(doc)))
        node = doc
        for key in place[:-1]:
            node = node[key]
        node[place[-1]] = draw(JSON_VALUES)
    return str(yaml.dump(doc, Dumper=_Plain))


@SETTINGS
@given(restructured(CONFIG))
def test_a_restructured_config_loads_or_is_a_config_error(text: str) -> None:
    """Any value of phiguard.yaml replaced by any other: a ConfigError naming the file, or a
    config that checks against the pack; never another exception."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "phiguard.yaml"
        path.write_text(text, encoding="utf-8")
        _config_outcome(path)


@SETTINGS
@given(restructured(RULE))
def test_a_restructured_rule_loads_and_evaluates_or_is_a_rule_error(text: str) -> None:
    """Any value of a rule replaced by any other: a RuleError naming the file, or a rule that
    evaluates on odd data without an exception."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "TST-001" / "rule.yaml"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        _rule_outcome(path)
