"""Named definitions a pack's rules share (`<pack>/_definitions.yaml`, `{use: NAME}`): expanded
at load time into exactly the tree the rule would hold inline, every error located."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main
from phiguard.errors import RuleError
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_definitions, load_pack, load_rule
from phiguard.policy.schema import definitions_schema, rule_schema

DEFS = """\
conditions:
  primary:
    description: an instance that holds its own data
    condition:
      all:
        - {path: data.instanceType, not_in: [READ_REPLICA_INSTANCE], default: CLOUD_SQL_INSTANCE}
        - {path: data.masterInstanceName, empty: true, because: a replica}
  primary_and_running:
    description: a primary that is running
    condition:
      all:
        - {use: primary}
        - {path: data.state, equals: RUNNABLE}
  replica_item:
    description: the quantified instance is a replica
    needs: [item]
    condition: {path: item.data.masterInstanceName, empty: false}
lets:
  same_project:
    description: the Cloud SQL instances of this project
    let: {find: {types: [sqladmin.googleapis.com/Instance], within: project}}
params:
  min_count: {type: integer, default: 2, description: fewest instances}
"""

RULE = """\
id: TST-001
title: PHI Cloud SQL primaries keep backups on
severity: high
controls: [hipaa/164.312(e)(1)]
description: a test rule
asset_types: [sqladmin.googleapis.com/Instance]
when: {use: primary}
assert:
  path: data.settings.backupConfiguration.enabled
  equals: true
remediation:
  summary: turn them on
"""

INLINE_WHEN = {"all": [
    {"path": "data.instanceType", "not_in": ["READ_REPLICA_INSTANCE"],
     "default": "CLOUD_SQL_INSTANCE"},
    {"path": "data.masterInstanceName", "empty": True, "because": "a replica"}]}


def pack(tmp_path: Path, rule: str = RULE, defs: str | None = DEFS) -> Path:
    folder = tmp_path / "hipaa" / "TST-001"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rule.yaml").write_text(rule, encoding="utf-8")
    if defs is not None:
        (tmp_path / "hipaa" / "_definitions.yaml").write_text(defs, encoding="utf-8")
    return folder / "rule.yaml"


def error(path: Path) -> RuleError:
    with pytest.raises(RuleError) as info:
        load_rule(path)
    return info.value


def plain(node: Any) -> Any:
    return json.loads(json.dumps(node))


def test_a_used_condition_is_the_inline_condition(tmp_path: Path) -> None:
    """`when: {use: primary}` loads as the definition's condition itself: what the compiler,
    projection and plan gate read is the tree the rule would hold inline."""
    rule = load_rule(pack(tmp_path))
    assert plain(rule.when) == INLINE_WHEN
    assert [(u.section, u.name, u.line) for u in rule.uses] == [("conditions", "primary", 2)]
    assert rule.definitions_file == str(tmp_path / "hipaa" / "_definitions.yaml")


def test_a_definition_may_use_another(tmp_path: Path) -> None:
    """A definition that uses another holds it expanded."""
    rule = load_rule(pack(tmp_path, RULE.replace("{use: primary}", "{use: primary_and_running}")))
    assert plain(rule.when) == {"all": [INLINE_WHEN, {"path": "data.state",
                                                      "equals": "RUNNABLE"}]}


def test_because_beside_use_replaces_the_definitions_sentence(tmp_path: Path) -> None:
    """`{use: NAME, because: ...}` keeps the definition and says the rule's own sentence,
    without changing the definition for other rules."""
    text = RULE.replace("when: {use: primary}\nassert:\n", """\
assert:
  all:
    - {use: primary, because: not a primary}
    - """).replace("  path: data.settings", "path: data.settings").replace(
        "  equals: true", "      equals: true")
    rule = load_rule(pack(tmp_path, text))
    assert plain(rule.assert_["all"][0]) == {**INLINE_WHEN, "because": "not a primary"}
    again = load_rule(pack(tmp_path / "other"))
    assert again.when is not None and "because" not in again.when


def test_let_and_parameter_definitions(tmp_path: Path) -> None:
    """`{use: NAME}` also stands for a let entry and a parameter declaration."""
    text = RULE.replace("when: {use: primary}\n", """\
params:
  min_count: {use: min_count}
let:
  peers: {use: same_project}
when: {use: primary}
""").replace("assert:\n  path: data.settings.backupConfiguration.enabled\n  equals: true\n",
             "assert: {path: peers, count_gte: {param: min_count}}\n")
    rule = load_rule(pack(tmp_path, text))
    assert plain(rule.let["peers"]) == {"find": {"types": ["sqladmin.googleapis.com/Instance"],
                                                 "within": "project"}}
    assert rule.defaults() == {"min_count": 2}
    assert [u.name for u in rule.uses] == ["min_count", "same_project", "primary"]


def test_projection_keeps_fields_read_only_through_a_definition(tmp_path: Path) -> None:
    """The fields kept of joined assets include those a used definition reads: the replica
    test reads item.data.masterInstanceName of every joined instance."""
    text = RULE.replace("when: {use: primary}\n", """\
let:
  replicas:
    find:
      types: [sqladmin.googleapis.com/Instance]
      where: {use: replica_item}
""").replace("assert:\n  path: data.settings.backupConfiguration.enabled\n  equals: true\n",
             "assert: {path: replicas, count_gte: 1}\n")
    rule = load_rule(pack(tmp_path, text))
    kept = Engine([rule]).context_fields()["sqladmin.googleapis.com/Instance"]
    assert kept is not None and "masterInstanceName" in kept


def test_unknown_definition_is_located_in_the_rule(tmp_path: Path) -> None:
    """A name the definitions file lacks is an error at the `use`, naming what it has."""
    err = error(pack(tmp_path, RULE.replace("{use: primary}", "{use: primery}")))
    assert err.file == str(tmp_path / "hipaa" / "TST-001" / "rule.yaml")
    assert (err.line, err.column) == (7, 8)
    assert "unknown condition definition 'primery'" in err.message
    assert "primary, primary_and_running, replica_item" in err.message


def test_a_definition_of_another_kind_is_not_found(tmp_path: Path) -> None:
    """A let definition is not a condition: the sections are separate name spaces."""
    err = error(pack(tmp_path, RULE.replace("{use: primary}", "{use: same_project}")))
    assert "unknown condition definition 'same_project'" in err.message and err.line == 7


def test_use_without_a_definitions_file(tmp_path: Path) -> None:
    """A rule naming a definition in a pack that has none says where the file belongs."""
    err = error(pack(tmp_path, defs=None))
    assert err.line == 7 and "_definitions.yaml" in err.message
    assert str(tmp_path / "hipaa" / "_definitions.yaml") in err.message


def test_use_beside_other_keys_is_refused(tmp_path: Path) -> None:
    """`use` stands alone in a condition (only `because` may join it)."""
    err = error(pack(tmp_path, RULE.replace("{use: primary}", "{use: primary, default: 1}")))
    assert "`use` cannot be combined with default" in err.message and err.line == 7


def test_a_needed_name_missing_at_the_use(tmp_path: Path) -> None:
    """A definition that reads a let name can only be used where the rule defines it."""
    err = error(pack(tmp_path, RULE.replace("{use: primary}", "{use: replica_item}")))
    assert "reads item, which is not defined here" in err.message and err.line == 7


@pytest.mark.parametrize(("defs", "line", "needle"), [
    ("conditions:\n  a:\n    description: x\n    condition: {use: a}\n", 4,
     "definition a uses itself (a -> a)"),
    ("conditions:\n  a:\n    description: x\n    condition: {use: b}\n"
     "  b:\n    description: y\n    condition: {not: {use: a}}\n", 7,
     "definition a uses itself (a -> b -> a)"),
])
def test_cycles_are_refused(tmp_path: Path, defs: str, line: int, needle: str) -> None:
    """A definition that uses itself, directly or through another, is an error in the
    definitions file at the `use` that closes the cycle."""
    err = error(pack(tmp_path, RULE.replace("{use: primary}", "{path: data.name, exists: true}"),
                     defs))
    assert err.file == str(tmp_path / "hipaa" / "_definitions.yaml")
    assert needle in err.message and err.line == line


@pytest.mark.parametrize(("edit", "line", "needle"), [
    (("lets:", "condtions: {}\nlets:"), 18, "unknown key `condtions` in a definitions file"),
    (("    description: an instance that holds its own data\n", ""), 3,
     "definition primary needs `description`"),
    (("not_in: [READ_REPLICA_INSTANCE]", "not_inn: [READ_REPLICA_INSTANCE]"), 6,
     "unknown operator `not_inn`"),
    (("{path: data.state,", "{path: dta.state,"), 13, "starts with unknown name 'dta'"),
    (("needs: [item]", "needs: [data]"), 16, "`needs` must be a list of names"),
    (("  min_count: {type: integer, default: 2", "  min_count: {type: integer, default: x"),
     23, "parameter min_count needs a default of type integer"),
    (("    let: {find:", "    let: {fnd:"), 21, "let same_project needs exactly one of"),
    (("  replica_item:", "  data:"), 14, "definition name 'data' must be an identifier"),
])
def test_errors_in_the_definitions_file_are_located_there(
        tmp_path: Path, edit: tuple[str, str], line: int, needle: str) -> None:
    """Every definition is validated when the file loads, even one no rule uses, with the
    definitions file's own line in the error."""
    assert edit[0] in DEFS
    err = error(pack(tmp_path, defs=DEFS.replace(*edit)))
    assert err.file == str(tmp_path / "hipaa" / "_definitions.yaml")
    assert needle in err.message and err.line == line


def test_a_definition_may_not_read_rule_parameters(tmp_path: Path) -> None:
    """Definitions know no rule's parameters (a rule passes values in its own conditions)."""
    defs = DEFS.replace("{path: data.state, equals: RUNNABLE}",
                        "{path: data.state, equals: {param: state}}")
    err = error(pack(tmp_path, defs=defs))
    assert "unknown parameter 'state'" in err.message and err.line == 13


def test_the_pack_digest_covers_the_definitions(tmp_path: Path) -> None:
    """Editing a definition changes the rule pack digest (it changes verdicts)."""
    pack(tmp_path)
    (tmp_path / "controls").mkdir()
    (tmp_path / "controls" / "hipaa.yaml").write_text(
        "controls:\n  - {id: hipaa/164.312(e)(1), title: Transmission security}\n")
    first = load_pack([tmp_path]).digest
    (tmp_path / "hipaa" / "_definitions.yaml").write_text(
        DEFS.replace("READ_REPLICA_INSTANCE]", "READ_REPLICA_INSTANCE, ON_PREMISES_INSTANCE]"))
    assert load_pack([tmp_path]).digest != first


def test_the_definitions_file_loads_once_per_content(tmp_path: Path) -> None:
    """The file is parsed and validated once however many rules use it; new content reloads."""
    pack(tmp_path)
    path = tmp_path / "hipaa" / "_definitions.yaml"
    assert load_definitions(path) is load_definitions(path)
    first = load_definitions(path)
    path.write_text(DEFS + "\n# edited\n")
    assert load_definitions(path) is not first


def test_the_schemas_accept_use_and_describe_the_definitions_file(tmp_path: Path) -> None:
    """The rule schema accepts `use` where a condition, let or parameter goes (and only a name
    there); the definitions schema accepts the test file and the bundled one, and refuses an
    unknown section."""
    validator = jsonschema.Draft202012Validator(rule_schema())
    doc = yaml.safe_load(RULE)
    doc["let"] = {"x": {"use": "same_project"}}
    doc["params"] = {"n": {"use": "min_count"}}
    assert list(validator.iter_errors(doc)) == []
    doc["when"] = {"use": 3}
    assert list(validator.iter_errors(doc)) != []
    jsonschema.Draft202012Validator.check_schema(definitions_schema())
    defs = jsonschema.Draft202012Validator(definitions_schema())
    assert list(defs.iter_errors(yaml.safe_load(DEFS))) == []
    bundled = RULES / "hipaa" / "_definitions.yaml"
    assert list(defs.iter_errors(yaml.safe_load(bundled.read_text()))) == []
    assert list(defs.iter_errors({"condtions": {}})) != []


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_cli_unknown_definition_exits_2_with_the_position(tmp_path: Path) -> None:
    """`phiguard rules test` on a pack whose rule names an unknown definition: exit 2, the
    rule file's line and column, no traceback."""
    pack(tmp_path, RULE.replace("{use: primary}", "{use: nope}"))
    result = _invoke("rules", "test", str(tmp_path / "hipaa"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'hipaa' / 'TST-001' / 'rule.yaml'}:7:8" in result.output
    assert "Traceback" not in result.output


def test_cli_show_names_the_definitions_a_rule_uses() -> None:
    """`rules show` lists each definition a bundled rule uses, with its place and meaning."""
    shown = _invoke("rules", "show", "MFA-002", "--rules", str(RULES / "hipaa" / "MFA-002"))
    assert shown.exit_code == 0, shown.output
    assert "condition active_person_reaching_phi (" in shown.output
    assert "let phi_grants (" in shown.output and "_definitions.yaml:" in shown.output


def test_cli_schema_of_the_definitions_file() -> None:
    """`rules schema --definitions` prints the definitions file's schema."""
    result = _invoke("rules", "schema", "--definitions")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "phiguard rule pack definitions"


# The bundled pack --------------------------------------------------------------------------

PRIMARY_SQL = {"all": [
    {"path": "data.instanceType", "not_in": ["READ_REPLICA_INSTANCE", "ON_PREMISES_INSTANCE"],
     "default": "CLOUD_SQL_INSTANCE"},
    {"path": "data.masterInstanceName", "empty": True}]}
SQL_SETTINGS_KNOWN = {"path": "data.settings.tier", "matches": "."}
ACTIVE_PERSON = {"all": [
    {"path": "data.suspended", "equals": False, "default": False},
    {"path": "data.archived", "equals": False, "default": False},
    {"path": "grants", "count_gte": 1, "default": []}]}


@pytest.mark.parametrize("rule_id", ["BAK-001", "BAK-002", "BAK-007", "DR-001", "DR-002"])
def test_bundled_primary_sql_rules_hold_the_condition_they_copied(rule_id: str) -> None:
    """The five Cloud SQL rules that copied the primary-instance condition use the definition,
    and load with exactly the condition they held inline (so their verdicts are unchanged)."""
    rule = load_rule(RULES / "hipaa" / rule_id / "rule.yaml")
    if rule_id == "BAK-002":  # and only where the record shows its settings (b37e24d)
        assert plain(rule.when) == {"all": [PRIMARY_SQL, SQL_SETTINGS_KNOWN]}
    else:
        assert plain(rule.when) == PRIMARY_SQL
    assert [u.name for u in rule.uses][:1] == ["primary_sql_instance"]


@pytest.mark.parametrize("rule_id", ["MFA-001", "MFA-002"])
def test_bundled_mfa_rules_share_their_population(rule_id: str) -> None:
    """MFA-001 and MFA-002 judge the same people: the shared let and `when` load exactly as
    the rules held them inline."""
    rule = load_rule(RULES / "hipaa" / rule_id / "rule.yaml")
    assert plain(rule.let) == {"grants": {"grants": {"within": "phi"}}}
    assert plain(rule.when) == ACTIVE_PERSON


NOT_GKE_NODE = {"path": "data.labels['goog-gke-node']", "exists": False}
COMPUTE_PROJECT = {"find": {"types": ["compute.googleapis.com/Project"], "within": "project",
                            "one": True}}
PHI_REACH = {"any": [{"path": "asset.phi", "equals": True},
                     {"path": "phi_grants", "count_gte": 1}]}
ADMIN = {"any": [{"path": "data.isAdmin", "equals": True, "default": False},
                 {"path": "data.isDelegatedAdmin", "equals": True, "default": False}]}


def _uses(rule_id: str) -> tuple[Any, set[str]]:
    rule = load_rule(RULES / "hipaa" / rule_id / "rule.yaml")
    return rule, {u.name for u in rule.uses}


@pytest.mark.parametrize("rule_id", ["IAM-005", "VM-001", "VM-002", "VM-003", "VM-004",
                                     "VM-005"])
def test_bundled_instance_rules_leave_out_gke_nodes_through_one_definition(rule_id: str) -> None:
    rule, uses = _uses(rule_id)
    assert plain(rule.when) == NOT_GKE_NODE
    assert "not_gke_node" in uses


@pytest.mark.parametrize("rule_id", ["MFA-006", "VM-002", "VM-005"])
def test_bundled_metadata_rules_join_the_compute_project_through_definitions(
        rule_id: str) -> None:
    """The join and the "its record is in the snapshot" condition (UNKNOWN without it)."""
    rule, uses = _uses(rule_id)
    assert plain(rule.let)["project"] == COMPUTE_PROJECT
    assert {"compute_project", "compute_project_known"} <= uses
    assert json.dumps({"path": "project.asset.name", "matches": "."}) in json.dumps(
        plain(rule.assert_))


def test_bundled_iam_003_states_phi_reach_once() -> None:
    """IAM-003's reach (PHI project or PHI grant), written three times before, loads as it was:
    in `when`, as the first conjunct of the assert, and negated in the second."""
    rule, uses = _uses("IAM-003")
    assert {"in_phi_project_or_phi_grant", "user_managed_key", "phi_grants"} <= uses
    assert plain(rule.when)["all"][2] == PHI_REACH
    assert plain(rule.when)["all"][0] == {"path": "data.keyType", "equals": "USER_MANAGED",
                                          "default": "USER_MANAGED"}
    assert plain(rule.assert_)["all"][0] == PHI_REACH
    assert plain(rule.assert_)["all"][1]["any"][0] == {"not": PHI_REACH}


def test_bundled_mfa_003_names_directory_administrators_once() -> None:
    rule, uses = _uses("MFA-003")
    assert "directory_administrator" in uses
    text = json.dumps(plain({"when": rule.when, "assert": rule.assert_}))
    assert text.count(json.dumps(ADMIN)) == 3


@pytest.mark.parametrize("rule_id", ["SRV-002", "SRV-004", "SRV-006"])
def test_bundled_serverless_rules_share_the_default_account_pattern(rule_id: str) -> None:
    rule, _ = _uses(rule_id)
    assert rule.params["default_accounts"]["default"] == (
        r"(^[0-9]+-compute@developer|@appspot)\.gserviceaccount\.com$")


@pytest.mark.parametrize("rule_id", ["ENC-012", "LOG-003"])
def test_bundled_log_bucket_rules_share_the_sinks_routing_to_them(rule_id: str) -> None:
    rule, uses = _uses(rule_id)
    assert plain(rule.let)["feeding_sinks"] == {"referrers": {
        "types": ["logging.googleapis.com/LogSink"], "path": "data.destination"}}
    assert {"sinks_routing_here", "aggregated_sink"} <= uses


@pytest.mark.parametrize(("rule_ids", "param", "spec"), [
    (["PUB-006", "PUB-008", "PUB-009", "PUB-010", "PUB-012"], "public_members",
     {"type": "list", "default": ["allUsers", "allAuthenticatedUsers"],
      "description": "IAM members that make a resource public"}),
    (["IAM-009", "IAM-010"], "roles",
     {"type": "list", "default": ["roles/editor", "roles/owner"],
      "description": "roles the default service account must not hold on PHI projects"}),
    (["JIT-001", "JIT-002"], "phi_data_role_pattern",
     {"type": "string", "default": r"^roles/healthcare\.",
      "description": "regular expression; roles whose name matches it are PHI data roles too"}),
    (["JIT-001", "JIT-002"], "expiry_pattern",
     {"type": "string", "default": r"request\.time\s*<",
      "description": "regular expression an IAM condition expression must contain to count as "
                     "time-bound"}),
    (["SRV-003", "SRV-005"], "allowed",
     {"type": "list", "default": ["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"],
      "description": "the ingress settings accepted on a PHI function"}),
])
def test_bundled_rules_share_parameters_they_copied(rule_ids: list[str], param: str,
                                                    spec: dict[str, Any]) -> None:
    """Each rule keeps its parameter's name (phiguard.yaml overrides still name it) and loads
    it with exactly the declaration it held inline."""
    for rule_id in rule_ids:
        rule, _ = _uses(rule_id)
        assert plain(rule.params[param]) == spec
