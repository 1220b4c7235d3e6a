"""Rule validation: every error names the rule file, line and column; the JSON Schema agrees."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phiguard.errors import RuleError
from phiguard.policy.rule import load_pack, load_rule
from phiguard.policy.schema import rule_schema
from phiguard.testing import check_examples

GOOD = """\
id: TST-001
title: Firewall rules keep SSH closed to the internet
severity: high
controls: [hipaa/164.312(e)(1)]
description: a test rule
asset_types: [compute.googleapis.com/Firewall]
params:
  ports: {type: list, default: ["22"]}
let:
  net: {ref: data.network, types: [compute.googleapis.com/Network]}
assert:
  all:
    - {path: data.sourceRanges, cidr_internet: false}
    - path: data.allowed
      none: {path: item.ports, ports_include: {param: ports}}
remediation:
  summary: close it
"""


def load(tmp_path: Path, text: str, folder: str = "TST-001") -> Any:
    path = tmp_path / folder / "rule.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_rule(path)


def error(tmp_path: Path, text: str, folder: str = "TST-001") -> RuleError:
    with pytest.raises(RuleError) as info:
        load(tmp_path, text, folder)
    err = info.value
    assert err.file == str(tmp_path / folder / "rule.yaml")
    return err


def test_the_base_rule_is_valid(tmp_path: Path) -> None:
    """The rule the other cases break is itself valid (so each failure is the edit's doing)."""
    rule = load(tmp_path, GOOD)
    assert rule.id == "TST-001" and rule.scope == "phi" and not rule.optional


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """An unknown top-level key is named with its line and column."""
    err = error(tmp_path, GOOD + "sevrity: low\n")
    assert "unknown key `sevrity`" in err.message
    assert (err.line, err.column) == (18, 1)
    assert str(err).startswith(f"{tmp_path / 'TST-001' / 'rule.yaml'}:18:1: ")


def test_unknown_operator(tmp_path: Path) -> None:
    """An unknown operator is named at its own position."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false", "cidr_anywhere: false"))
    assert "unknown operator `cidr_anywhere`" in err.message
    assert (err.line, err.column) == (13, 33)


def test_two_operators_in_a_leaf(tmp_path: Path) -> None:
    """A leaf with two operators is rejected at the leaf."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false}",
                                       "cidr_internet: false, exists: true}"))
    assert "exactly one operator, got 2" in err.message
    assert (err.line, err.column) == (13, 7)


def test_leaf_without_operator(tmp_path: Path) -> None:
    """A leaf with a path and no operator is rejected."""
    err = error(tmp_path, GOOD.replace(", cidr_internet: false}", "}"))
    assert "exactly one operator, got 0" in err.message
    assert err.line == 13


def test_bad_path_syntax(tmp_path: Path) -> None:
    """A path that does not parse is reported at its key with where it breaks."""
    err = error(tmp_path, GOOD.replace("path: data.sourceRanges", "path: data..sourceRanges"))
    assert "bad path 'data..sourceRanges'" in err.message
    assert (err.line, err.column) == (13, 8)


def test_unknown_path_root(tmp_path: Path) -> None:
    """A path starting at an unknown name lists the names known there."""
    err = error(tmp_path, GOOD.replace("path: data.sourceRanges", "path: dta.sourceRanges"))
    assert "unknown name 'dta'" in err.message and "net" in err.message
    assert (err.line, err.column) == (13, 8)


def test_item_is_unknown_outside_a_quantifier(tmp_path: Path) -> None:
    """`item` is only a name inside a quantifier."""
    err = error(tmp_path, GOOD.replace("path: data.sourceRanges", "path: item.sourceRanges"))
    assert "unknown name 'item'" in err.message


def test_unknown_param_reference(tmp_path: Path) -> None:
    """`{param: X}` must name a declared parameter."""
    err = error(tmp_path, GOOD.replace("{param: ports}", "{param: port}"))
    assert "unknown parameter 'port'" in err.message
    assert (err.line, err.column) == (15, 32)  # the operator it feeds


def test_unknown_param_in_a_path(tmp_path: Path) -> None:
    """A `params.X` path must name a declared parameter, or it would always be UNKNOWN."""
    text = GOOD.replace("- {path: data.sourceRanges, cidr_internet: false}",
                        "- {path: params.prots, count_gte: 1}")
    err = error(tmp_path, text)
    assert "unknown parameter 'prots'" in err.message
    assert (err.line, err.column) == (13, 8)
    load(tmp_path / "ok", text.replace("params.prots", "params.ports"))


def test_param_default_must_match_its_type(tmp_path: Path) -> None:
    """A parameter's default must have its declared type."""
    err = error(tmp_path, GOOD.replace('default: ["22"]', "default: 22"))
    assert "parameter ports needs a default of type list" in err.message
    assert err.line == 8


@pytest.mark.parametrize("control", ["164.312(e)(1)", "hipaa/164.312e1", "HIPAA/164.312(e)(1)"])
def test_bad_control_id(tmp_path: Path, control: str) -> None:
    """A control id must look like hipaa/164.312(e)(1); the error points at the item."""
    err = error(tmp_path, GOOD.replace("[hipaa/164.312(e)(1)]", f"['{control}']"))
    assert "does not look like" in err.message
    assert (err.line, err.column) == (4, 12)


@pytest.mark.parametrize("title", ["Ensure SSH is closed", "ensure ssh is closed"])
def test_title_must_not_start_with_ensure(tmp_path: Path, title: str) -> None:
    """A title states what is true when the rule passes, never "Ensure ..."."""
    err = error(tmp_path, GOOD.replace("Firewall rules keep SSH closed to the internet", title))
    assert "Ensure" in err.message
    assert (err.line, err.column) == (2, 1)


def test_id_must_match_its_folder(tmp_path: Path) -> None:
    """The rule id equals its folder name."""
    err = error(tmp_path, GOOD, folder="TST-002")
    assert "differs from its folder name TST-002" in err.message
    assert (err.line, err.column) == (1, 1)


@pytest.mark.parametrize("rid", ["CKV_GCP_56", "tls-002", "TLS-2", "TLS002"])
def test_id_format(tmp_path: Path, rid: str) -> None:
    """Ids are readable AREA-NNN."""
    err = error(tmp_path, GOOD.replace("id: TST-001", f"id: {rid}"), folder=rid)
    assert "AREA-NNN" in err.message


def test_bad_severity(tmp_path: Path) -> None:
    """Severity is an enum."""
    err = error(tmp_path, GOOD.replace("severity: high", "severity: urgent"))
    assert "`severity` must be one of" in err.message and err.line == 3


def test_missing_required_key(tmp_path: Path) -> None:
    """A missing required key is named."""
    err = error(tmp_path, GOOD.replace("remediation:\n  summary: close it\n", ""))
    assert "missing required key `remediation`" in err.message


def test_bad_asset_type(tmp_path: Path) -> None:
    """Asset types look like service.googleapis.com/Kind."""
    err = error(tmp_path, GOOD.replace("[compute.googleapis.com/Firewall]", "[Firewall]"))
    assert "not a CAI asset type" in err.message and (err.line, err.column) == (6, 15)


def test_unknown_key_in_a_let_form(tmp_path: Path) -> None:
    """A let form with an unknown key, or a ref without types, is rejected."""
    err = error(tmp_path, GOOD.replace(", types: [compute.googleapis.com/Network]", ""))
    assert "`ref` is used with `types`" in err.message and err.line == 10
    err = error(tmp_path / "b", GOOD.replace("net: {ref:", "net: {refz:"))
    assert "needs exactly one of" in err.message


def test_unknown_key_beside_a_quantifier(tmp_path: Path) -> None:
    """A quantifier takes only path, as, default and because beside it."""
    err = error(tmp_path, GOOD.replace("      none:", "      every: {path: item, exists: true}\n"
                                                      "      none:"))
    assert "beside a quantifier" in err.message and err.line == 14


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    """A YAML mapping with a key twice is an error at the second key."""
    err = error(tmp_path, GOOD.replace("severity: high\n", "severity: high\nseverity: low\n"))
    assert "duplicate key 'severity'" in err.message and (err.line, err.column) == (4, 1)


def test_bad_operator_argument_type(tmp_path: Path) -> None:
    """An operator argument of the wrong type is reported against the operator's schema."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false", "cidr_internet: nope"))
    assert "takes true or false" in err.message and (err.line, err.column) == (13, 33)
    err = error(tmp_path / "b", GOOD.replace("{param: ports}", "'22'"))
    assert "takes a list" in err.message


def test_bad_regex(tmp_path: Path) -> None:
    """A `matches` argument must be a valid regex."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false", "matches: '(['"))
    assert "invalid regex" in err.message


def test_missing_examples_are_rejected(tmp_path: Path) -> None:
    """A rule without a pass/ or without a fail/ example is rejected when its examples run."""
    rule = load(tmp_path, GOOD)
    with pytest.raises(RuleError, match="no pass/ example"):
        check_examples(rule)
    example = {"assets": [{"name": "//compute.googleapis.com/projects/p/global/firewalls/f",
                           "asset_type": "compute.googleapis.com/Firewall",
                           "resource": {"data": {"sourceRanges": ["10.0.0.0/8"]}},
                           "ancestors": ["projects/1"]}]}
    (tmp_path / "TST-001" / "pass").mkdir()
    (tmp_path / "TST-001" / "pass" / "a.json").write_text(json.dumps(example))
    with pytest.raises(RuleError, match="no fail/ example"):
        check_examples(rule)


def test_example_with_unknown_param_is_rejected(tmp_path: Path) -> None:
    """An example's misspelt parameter is an error naming the example, not a silent default."""
    rule = load(tmp_path, GOOD)
    example = {"params": {"prots": ["23"]},
               "assets": [{"name": "//compute.googleapis.com/projects/p/global/firewalls/f",
                           "asset_type": "compute.googleapis.com/Firewall",
                           "resource": {"data": {}}, "ancestors": ["projects/1"]}]}
    path = tmp_path / "TST-001" / "pass" / "a.json"
    path.parent.mkdir()
    path.write_text(json.dumps(example))
    with pytest.raises(RuleError, match="no parameter 'prots'") as info:
        check_examples(rule)
    assert info.value.file == str(path)
    example["params"] = {}
    example["config"] = {"phi": {"project": ["p"]}}
    path.write_text(json.dumps(example))
    with pytest.raises(RuleError, match=r"unknown `config.phi` keys: project"):
        check_examples(rule)


def test_pack_rejects_unknown_controls_and_duplicate_ids(tmp_path: Path) -> None:
    """A pack names a control missing from its catalog with position, and a duplicate id."""
    (tmp_path / "controls").mkdir()
    (tmp_path / "controls" / "hipaa.yaml").write_text(
        "controls:\n  - {id: hipaa/164.312(b), title: Audit controls}\n")
    load(tmp_path / "pack", GOOD)
    with pytest.raises(RuleError, match=r"control hipaa/164.312\(e\)\(1\) is not in the") as info:
        load_pack([tmp_path / "pack"])
    assert (info.value.line, info.value.column) == (4, 12)
    with pytest.raises(RuleError, match="no such rule directory"):
        load_pack([tmp_path / "nowhere"])


# JSON Schema ---------------------------------------------------------------------------------

def _bundled(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*/*/rule.yaml"))


def test_schema_is_a_valid_2020_12_schema() -> None:
    """rule_schema() is itself a valid JSON Schema 2020-12 document."""
    jsonschema.Draft202012Validator.check_schema(rule_schema())


def test_schema_accepts_every_bundled_rule(rules_dir: Path) -> None:
    """Every bundled rule.yaml satisfies the generated JSON Schema."""
    validator = jsonschema.Draft202012Validator(rule_schema())
    files = _bundled(rules_dir)
    assert len(files) >= 40
    problems = {}
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message[:200] for e in validator.iter_errors(doc)]
        if errors:
            problems[str(path)] = errors[:2]
    assert problems == {}


def _break(doc: dict[str, Any], how: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    if how == "unknown top key":
        doc["sevrity"] = "low"
    elif how == "unknown operator":
        doc["assert"] = {"path": "data.x", "cidr_anywhere": True}
    elif how == "two operators":
        doc["assert"] = {"path": "data.x", "exists": True, "equals": 1}
    elif how == "bad severity":
        doc["severity"] = "urgent"
    elif how == "bad id":
        doc["id"] = "CKV_GCP_56"
    elif how == "bad arg":
        doc["assert"] = {"path": "data.x", "cidr_internet": "yes"}
    elif how == "ref without types":
        doc["let"] = {"n": {"ref": "data.network"}}
    elif how == "empty all":
        doc["assert"] = {"all": []}
    return doc


@pytest.mark.parametrize("how", ["unknown top key", "unknown operator", "two operators",
                                 "bad severity", "bad id", "bad arg", "ref without types",
                                 "empty all"])
def test_schema_rejects_a_broken_rule(how: str) -> None:
    """The schema accepts the base rule and rejects each way of breaking it."""
    validator = jsonschema.Draft202012Validator(rule_schema())
    doc = yaml.safe_load(GOOD)
    assert list(validator.iter_errors(doc)) == []
    assert list(validator.iter_errors(_break(doc, how))) != []


def test_yaml_aliases_in_a_rule_are_refused(tmp_path: Path) -> None:
    """A rule that reuses an anchor (the way an alias bomb does) is a RuleError at the
    anchor's line, before anything expands it."""
    text = GOOD.replace('ports: {type: list, default: ["22"]}',
                        'ports: {type: list, default: &p ["22"]}\n  more: {type: list, '
                        'default: *p}')
    err = error(tmp_path, text)
    assert "aliases" in err.message and err.line == 8


@pytest.mark.parametrize(("edit", "match"), [
    (("cidr_internet: false", "matches: '(?=x)'"), "invalid regex"),
    (("cidr_internet: false", "matches: '(a)\\1'"), "invalid regex"),
    (('ports: {type: list, default: ["22"]}',
      'ports: {type: list, default: ["22"]}\n  pat: {type: string, default: "(?<=a)b"}'),
     "parameter pat is used as a regular expression"),
    (('ports: {type: list, default: ["22"]}', 'ports: {type: list, default: [22, ["x"]]}'),
     "parameter ports needs a default of type list of strings"),
])
def test_regexes_must_run_in_linear_time(tmp_path: Path, edit: tuple[str, str],
                                         match: str) -> None:
    """Regexes (literal or parameter defaults) must compile in RE2, which cannot backtrack
    catastrophically; list parameter defaults hold strings."""
    text = GOOD.replace(*edit)
    if "pat:" in text:
        text = text.replace("cidr_internet: false", "matches: {param: pat}")
    err = error(tmp_path, text)
    assert match in err.message, err.message


@pytest.mark.parametrize("kind", ["[]", "{a: b}", "null", "3"])
def test_a_parameter_type_that_is_not_a_name_is_a_rule_error(tmp_path: Path, kind: str) -> None:
    """`type: []` once raised TypeError (found by the property tests): it is a RuleError."""
    err = error(tmp_path, GOOD.replace("ports: {type: list,", f"ports: {{type: {kind},"))
    assert "needs a type" in err.message and err.line == 8


def test_example_params_are_checked_like_config_overrides(tmp_path: Path) -> None:
    """An example's parameter override is type-checked (list items are strings) and a regex
    parameter must compile in RE2, as in phiguard.yaml: an error naming the example."""
    text = GOOD.replace('ports: {type: list, default: ["22"]}',
                        'ports: {type: list, default: ["22"]}\n  pat: {type: string, '
                        'default: "^allow"}')
    rule = load(tmp_path, text.replace("cidr_internet: false", "matches: {param: pat}"))
    example: dict[str, Any] = {
        "assets": [{"name": "//compute.googleapis.com/projects/p/global/firewalls/f",
                    "asset_type": "compute.googleapis.com/Firewall",
                    "resource": {"data": {}}, "ancestors": ["projects/1"]}]}
    path = tmp_path / "TST-001" / "pass" / "a.json"
    path.parent.mkdir()
    for params, match in (({"ports": [22]}, "takes a list"),
                          ({"pat": "(?<=x)y"}, "not a regular expression phiguard can run")):
        example["params"] = params
        path.write_text(json.dumps(example))
        with pytest.raises(RuleError, match=re.escape(match)) as info:
            check_examples(rule)
        assert info.value.file == str(path)


def test_a_list_parameter_used_as_a_regex_is_a_rule_error(tmp_path: Path) -> None:
    """A parameter that feeds `matches` must be a string parameter (a list once crashed the
    validator with an unhashable-type error)."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false", "matches: {param: ports}"))
    assert "used as a regular expression, so its type must be string" in err.message
    assert err.line == 8


def test_a_param_reference_that_is_not_a_name_is_a_rule_error(tmp_path: Path) -> None:
    """`{param: {all: x}}` once raised an unhashable-type TypeError (found by fuzzing the
    rule's structure): it is an unknown parameter at the operator's line."""
    err = error(tmp_path, GOOD.replace("cidr_internet: false", "matches: {param: {all: x}}"))
    assert "unknown parameter" in err.message and err.line == 13


# One definition: the loader and the schema come from the same tables ------------------------

_BROKEN = {
    "title starting with Ensure": ("title: Firewall rules", "title: Ensure firewall rules"),
    "blank title": ("title: Firewall rules keep SSH closed to the internet", "title: '  '"),
    "asset type that is not one": ("[compute.googleapis.com/Firewall]", "[Firewall]"),
    "let named after a root": ("  net: {ref:", "  data: {ref:"),
    "parameter default of another type": ('default: ["22"]', "default: 22"),
    "parameter list of non-strings": ('default: ["22"]', "default: [22]"),
    "parameter name not an identifier": ("  ports: {type", "  2ports: {type"),
    "quantifier name not an identifier": ("      none:", "      as: 2x\n      none:"),
    "format without a field": ("  net: {ref: data.network, types: [compute.googleapis.com/"
                               "Network]}", "  net: {format: plain}"),
    "fix and manual both": ("  summary: close it", "  summary: close it\n  fix: a\n  manual: b"),
    "terraform fix attribute without value": (
        "  summary: close it", "  summary: close it\n  terraform_fixes:\n"
        "    - {resource_types: [google_compute_firewall], attribute: disabled}"),
    "terraform fix with neither attribute nor note": (
        "  summary: close it", "  summary: close it\n  terraform_fixes:\n"
        "    - {resource_types: [google_compute_firewall]}"),
    "unknown_in_plan without a reason": (
        "remediation:", "unknown_in_plan: {resource_types: [google_compute_firewall]}\n"
        "remediation:"),
    "content type that is not one": ("remediation:", "content_types: [DATA]\nremediation:"),
    "scope that is not one": ("remediation:", "scope: some\nremediation:"),
}


@pytest.mark.parametrize("how", sorted(_BROKEN))
def test_loader_and_schema_reject_the_same_rule(tmp_path: Path, how: str) -> None:
    """Each broken rule is refused by the loader (with a position) and by the published JSON
    Schema: both read the one definition of the language in `policy/language.py`."""
    old, new = _BROKEN[how]
    assert old in GOOD
    text = GOOD.replace(old, new)
    err = error(tmp_path, text)
    assert err.line is not None
    validator = jsonschema.Draft202012Validator(rule_schema())
    assert list(validator.iter_errors(yaml.safe_load(text))) != []


def test_every_let_form_is_declared_once_and_compiled() -> None:
    """The let forms the loader, the schema and `rules operators` show are those the compiler
    runs: one table declares them."""
    from phiguard.policy.compiler import LET_COMPILERS
    from phiguard.policy.language import LET_FORMS

    assert set(LET_COMPILERS) == set(LET_FORMS)
    schema_forms = {next(iter(b["required"])) for b in rule_schema()["$defs"]["let"]["oneOf"]}
    assert schema_forms == set(LET_FORMS)


_RICH = GOOD.replace("remediation:\n  summary: close it\n", """\
scope: all
optional: false
when: {path: data.disabled, equals: false, default: false}
evidence: [data.sourceRanges]
references: [https://cloud.google.com/firewall/docs/firewalls]
content_types: [RESOURCE]
unknown_in_plan: {resource_types: [google_compute_firewall], reason: known after apply}
remediation:
  summary: close it
  gcloud: gcloud compute firewall-rules update
  terraform_fixes:
    - {resource_types: [google_compute_firewall], attribute: disabled, value: true}
""")

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["", "x", "data.name", "hipaa/164.312(b)", "Ensure x", "google_x", "TST-001", "phi",
     "constraints/x", "{data.name}", "*", "RESOURCE", "low"]),
    st.lists(st.sampled_from(["a", "22", "google_compute_firewall"]), max_size=2),
    st.just({}), st.just({"x": 1}))


def _spots(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _spots(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _spots(value, (*at, i))
    return out


@st.composite
def _mutated_rules(draw: st.DrawFn) -> dict[str, Any]:
    doc = yaml.safe_load(_RICH)
    for _ in range(draw(st.integers(1, 2))):
        spot = draw(st.sampled_from(_spots(doc)[1:]))
        parent = doc
        for step in spot[:-1]:
            parent = parent[step]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "delete":
            del parent[spot[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["types", "as", "note", "x", "because", "one"]))] = \
                draw(_VALUES)
        else:
            parent[spot[-1]] = draw(_VALUES)
    return doc


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutated_rules())
def test_what_the_loader_accepts_the_schema_accepts(tmp_path: Path, doc: dict[str, Any]) -> None:
    """Random edits of a rule using every top-level key: whenever the loader accepts the
    result, the published JSON Schema accepts it too (the schema is never stricter than
    phiguard, so an editor never flags a rule phiguard runs)."""
    assert load(tmp_path / "rich", _RICH).id == "TST-001"
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        load(tmp_path, text)
    except RuleError:
        return
    validator = jsonschema.Draft202012Validator(rule_schema())
    assert [e.message for e in validator.iter_errors(doc)] == []


@pytest.mark.parametrize("name", ["café", "ports\n", "2x"])
def test_names_are_ascii_identifiers_for_loader_and_schema(tmp_path: Path, name: str) -> None:
    """A parameter name the JSON Schema refuses (not an ASCII identifier) the loader refuses
    too, at the name."""
    text = GOOD.replace("  ports: {type", f"  {json.dumps(name)}: {{type").replace(
        "{param: ports}", "'22'")
    err = error(tmp_path, text.replace("'22'", "['22']"))
    assert "must be an identifier" in err.message and err.line == 8
    doc = yaml.safe_load(text)
    assert list(jsonschema.Draft202012Validator(rule_schema()).iter_errors(doc)) != []
