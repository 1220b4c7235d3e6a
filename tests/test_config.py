"""phiguard.yaml: the documented contract loads; every mistake is a located ConfigError."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, RULES
from phiguard.config import Config, load_config
from phiguard.errors import ConfigError
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import RulePack, load_pack

CONTRACT = """\
organization: "123456789012"
phi:
  all: false
  projects: [phi-prod, 731209564122]
  folders: ["folders/587410229301"]
  project_labels: {data-classification: phi, hipaa: true}
  networks:
    - https://www.googleapis.com/compute/v1/projects/shared/global/networks/phi-vpc
params:
  TLS-002: {min_version: TLS_1_3}
rules: {enable: [TLS-004], disable: [NET-001]}
waivers:
  - rule: NET-001
    asset: //compute.googleapis.com/projects/shared/global/firewalls/*
    reason: partners upload over SFTP
    approved_by: security@example.com
    expires: 2027-01-31
"""


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack([RULES])


def _fails(write: Any, text: str, match: str, line: int | None = None,
           column: int | None = None) -> ConfigError:
    path = write("phiguard.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert match in err.message, err.message
    if line is not None:
        assert err.line == line, str(err)
    if column is not None:
        assert err.column == column, str(err)
    return err


def test_documented_contract_loads(write: Any, pack: RulePack) -> None:
    """Every documented key loads into the typed Config and passes the pack check."""
    config = load_config(write("phiguard.yaml", CONTRACT))
    config.check_against(pack)
    assert config.organization == "123456789012"
    assert config.phi.projects == {"phi-prod", "731209564122"}
    assert config.phi.folders == {"folders/587410229301"}
    assert config.phi.project_labels == {"data-classification": "phi", "hipaa": "true"}
    assert config.params == {"TLS-002": {"min_version": "TLS_1_3"}}
    assert (config.enable, config.disable) == ({"TLS-004"}, {"NET-001"})
    (waiver,) = config.waivers
    assert waiver.expires == date(2027, 1, 31)
    assert waiver.matches("NET-001", "//compute.googleapis.com/projects/shared/global/firewalls/x")
    assert not waiver.matches("NET-002",
                              "//compute.googleapis.com/projects/shared/global/firewalls/x")
    assert not waiver.expired(datetime(2027, 1, 31, 23, 59, tzinfo=UTC))
    assert waiver.expired(datetime(2027, 2, 1, 0, 0, 1, tzinfo=UTC))
    assert config.to_json()["phi"]["projects"] == ["731209564122", "phi-prod"]


def test_demo_config_loads(pack: RulePack) -> None:
    """The demo organization's phiguard.yaml is valid against the bundled pack."""
    path = DEMO / "phiguard.yaml"
    config = load_config(path)
    config.check_against(pack)
    assert config.waivers


def test_no_file_and_empty_file_give_defaults(write: Any) -> None:
    """No config at all treats everything as PHI (never a silent pass for want of a scope);
    an empty file is an explicit config: nothing is PHI and nothing is overridden."""
    assert load_config(None) == Config(phi=PhiConfig(all=True))
    config = load_config(write("phiguard.yaml", "# nothing\n"))
    assert (config.phi.all, config.params, config.waivers) == (False, {}, ())


@pytest.mark.parametrize(("text", "line", "column", "key"), [
    ("organisation: 1\n", 1, 1, "organisation"),
    ("phi:\n  all: false\n  project: [a]\n", 3, 3, "project"),
    ("rules:\n  enabled: [TLS-002]\n", 2, 3, "enabled"),
    ("waivers:\n  - rule: NET-001\n    asset: x\n    reason: r\n    approved_by: a\n"
     "    expires: 2027-01-01\n    ticket: OPS-1\n", 7, 5, "ticket"),
])
def test_unknown_keys_are_located(write: Any, text: str, line: int, column: int,
                                  key: str) -> None:
    """An unknown key anywhere is an error at its file:line:column naming the key."""
    err = _fails(write, text, f"unknown key `{key}`", line, column)
    assert "expected one of" in err.message


def test_duplicate_keys_are_rejected(write: Any) -> None:
    """A key given twice is an error at the second occurrence, not a silent override."""
    _fails(write, "phi:\n  all: false\n  all: true\n", "duplicate key 'all'", 3, 3)
    _fails(write, "params: {}\nparams: {}\n", "duplicate key 'params'", 2, 1)


@pytest.mark.parametrize(("expires", "match"), [
    ("2027-02-30", "must be a date"),
    ("2027-13-01", "must be a date"),
    ("next year", "must be a date"),
    ("2027-01-31T00:00:00Z", "must be a date"),
    ("20270131", "must be a date"),
    ("", "needs `expires`"),
])
def test_bad_waiver_dates_are_located(write: Any, expires: str, match: str) -> None:
    """A waiver expiry that is not a calendar date fails at the expires line."""
    text = ("waivers:\n  - rule: NET-001\n    asset: x\n    reason: r\n    approved_by: a\n"
            f"    expires: {expires}\n")
    _fails(write, text, match, 6 if expires else None)


def test_waiver_missing_field_is_located(write: Any) -> None:
    """A waiver without a reason names the missing field and the waiver's line."""
    text = ("waivers:\n  - rule: NET-001\n    asset: x\n    approved_by: a\n"
            "    expires: 2027-01-01\n")
    _fails(write, text, "needs `reason`", 2, 5)


@pytest.mark.parametrize(("text", "match", "line"), [
    ("phi: [a]\n", "`phi` must be a mapping", 1),
    ("phi:\n  all: yes please\n", "`phi.all` must be true or false", 2),
    ("phi:\n  projects: phi-prod\n", "`projects` must be a list of strings", 2),
    ("phi:\n  folders: ['587']\n", "must be written folders/NUMBER", 2),
    ("phi:\n  project_labels: {data: [phi]}\n", "project_labels", 2),
    ("phi:\n  project_labels: [data]\n", "`phi.project_labels` must be a mapping", 2),
    ("phi:\n  networks: [{a: 1}]\n", "`networks` must be a list of strings", 2),
    ("params: [TLS-002]\n", "`params` must be a mapping", 1),
    ("params:\n  TLS-002: 5\n", "params for TLS-002 must be a mapping", 2),
    ("rules: [TLS-002]\n", "`rules` must be a mapping", 1),
    ("waivers: {rule: x}\n", "`waivers` must be a list", 1),
    ("waivers: [x]\n", "a waiver must be a mapping", 1),
    ("organization: [1]\n", "`organization` must be", 1),
    ("- a\n- b\n", "must be a mapping of settings", 1),
    ("phi: {all: true\n", "", None),
    ("a: !!python/object:os.system x\n", "", 1),
])
def test_wrong_types_are_located(write: Any, text: str, match: str, line: int | None) -> None:
    """Wrong types and broken YAML are ConfigErrors at their line, never another exception."""
    _fails(write, text, match, line)


def test_non_utf8_config_is_an_error(write: Any) -> None:
    """A config that is not UTF-8 is a ConfigError naming the file and line."""
    path = write("phiguard.yaml", b"organization: '1'\nphi:\n  projects: [\xff]\n")
    with pytest.raises(ConfigError, match="UTF-8") as info:
        load_config(path)
    assert (info.value.file, info.value.line) == (str(path), 3)


def test_deeply_nested_yaml_is_an_error(write: Any) -> None:
    """Pathologically nested YAML is a ConfigError, not a RecursionError."""
    path = write("phiguard.yaml", "params: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """A config path that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.file == str(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("text", "match", "line", "column"), [
    ("params:\n  NOPE-001: {x: 1}\n", "params names unknown rule NOPE-001", 2, 3),
    ("params:\n  TLS-002: {min_versio: TLS_1_3}\n", "rule TLS-002 has no parameter 'min_versio'",
     2, 13),
    ("params:\n  TLS-002:\n    min_version: 3\n", "TLS-002.min_version must be of type string",
     3, 5),
    ("params:\n  BAK-002: {min_retained_backups: true}\n", "must be of type integer", 2, 13),
    ("rules:\n  enable: [TLS-002, NOPE-002]\n", "rules.enable names unknown rule NOPE-002", 2, 21),
    ("rules:\n  disable: [nope]\n", "rules.disable names unknown rule nope", 2, 13),
    ("waivers:\n  - rule: NOPE-003\n    asset: x\n    reason: r\n    approved_by: a\n"
     "    expires: 2027-01-01\n", "waiver names unknown rule NOPE-003", 2, 5),
])
def test_names_checked_against_the_pack(write: Any, pack: RulePack, text: str, match: str,
                                        line: int, column: int) -> None:
    """Params, rule selections and waivers naming rules or params the pack lacks (or values of
    the wrong type) fail check_against at file:line:column."""
    path = write("phiguard.yaml", text)
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        config.check_against(pack)
    err = info.value
    assert match in err.message, err.message
    assert (err.file, err.line, err.column) == (str(path), line, column)


def test_params_of_the_right_type_pass(write: Any, pack: RulePack) -> None:
    """A parameter override of the declared type is accepted as given."""
    config = load_config(write("phiguard.yaml",
                               "params:\n  BAK-002: {min_retained_backups: 14}\n"))
    config.check_against(pack)
    assert config.params["BAK-002"]["min_retained_backups"] == 14


ALIAS_BOMB = """\
params:
  NET-001:
    ports: &a9 [&a8 [&a7 [&a6 [&a5 [&a4 [&a3 [&a2 [&a1 ["22"]]]]]]]]]
a: &b1 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b2 [*b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1, *b1]
c: &b3 [*b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2]
d: &b4 [*b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3]
e: &b5 [*b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4]
f: &b6 [*b5, *b5, *b5, *b5, *b5, *b5, *b5, *b5, *b5]
g: &b7 [*b6, *b6, *b6, *b6, *b6, *b6, *b6, *b6, *b6]
h: &b8 [*b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7, *b7]
i: &b9 [*b8, *b8, *b8, *b8, *b8, *b8, *b8, *b8, *b8]
"""


def test_yaml_aliases_are_refused_with_their_place(write: Any) -> None:
    """An alias bomb (a 1 KB file that expands to billions of items) is a ConfigError at the
    reused anchor's line, found before anything walks the expansion."""
    text = ("params:\n  NET-001:\n    ports: &p [\"22\"]\n    protocols: *p\n")
    _fails(write, text, "aliases", 3)
    _fails(write, ALIAS_BOMB, "aliases", 4)


def test_a_yaml_anchor_that_is_never_reused_is_harmless(write: Any) -> None:
    """An anchor alone expands nothing: the config loads."""
    config = load_config(write("phiguard.yaml", "phi: &scope {projects: [phi-prod]}\n"))
    assert config.phi.projects == frozenset({"phi-prod"})


@pytest.mark.parametrize(("text", "match", "line"), [
    ("params:\n  NET-001:\n    ports: [\"22\", [\"3389\"]]\n",
     "NET-001.ports must be a list of strings: item 2 is a list", 3),
    ("params:\n  NET-001:\n    ports: [\"22\", {a: b}]\n",
     "NET-001.ports must be a list of strings: item 2 is a mapping", 3),
    ("params:\n  NET-001:\n    ports: [22]\n",
     "NET-001.ports must be a list of strings: item 1 is a number", 3),
    ("params:\n  IAM-001:\n    admin_role_pattern: '(?<=x)admin'\n",
     "IAM-001.admin_role_pattern is not a regular expression phiguard can run", 3),
    ("params:\n  IAM-001:\n    admin_role_pattern: '(['\n",
     "IAM-001.admin_role_pattern is not a regular expression phiguard can run", 3),
])
def test_list_and_regex_params_are_type_checked(write: Any, pack: RulePack, text: str,
                                                match: str, line: int) -> None:
    """List parameter items must be strings, and a parameter used as a regex must compile in
    the linear-time regex engine: both are ConfigErrors naming rule, parameter and line."""
    config = load_config(write("phiguard.yaml", text))
    with pytest.raises(ConfigError) as info:
        config.check_against(pack)
    assert match in info.value.message, info.value.message
    assert info.value.line == line


def test_a_phi_scope_that_matches_nothing_is_warned_on_stderr_and_in_the_run(
        tmp_path: Path) -> None:
    """`phiguard scan` with a misspelt PHI project warns on stderr and records the warning in
    the findings' run metadata; the scan itself still runs (exit 0 or 1)."""
    import json

    from click.testing import CliRunner

    from phiguard.cli import main

    demo = DEMO
    config = tmp_path / "phiguard.yaml"
    config.write_text("phi: {projects: [oh-phi-prd]}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(demo), "-c", str(config), "-f", "json",
                                       "--fail-on", "none"])
    assert result.exit_code == 0, result.output
    assert "phi.projects: oh-phi-prd" in result.stderr
    assert "nothing in the snapshot is in PHI scope" in result.stderr
    run = json.loads(result.stdout)["run"]
    assert any("oh-phi-prd" in w for w in run["scope_warnings"])
