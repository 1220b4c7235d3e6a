"""The fix registry's declarations, plan-file checking and the show command (no network)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.fix import ACTIONS, NO_FIX
from phiguard.fix.api import SERVICES
from phiguard.fix.plan import PLAN_SCHEMA, plan_digest

REPO = Path(__file__).resolve().parent.parent
RULE_IDS = {p.name for p in (REPO / "rules" / "hipaa").iterdir() if p.is_dir()}


def _known_permissions() -> set[str]:
    text = resources.files("phiguard.fix").joinpath("permissions.txt").read_text()
    return {line.strip() for line in text.splitlines() if line.strip()
            and not line.startswith("#")}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.id)
def test_action_permissions_are_real_gcp_permissions(action: object) -> None:
    """Every action declares the IAM permissions it needs, each a real GCP permission name."""
    perms = action.permissions  # type: ignore[attr-defined]
    assert perms
    known = _known_permissions()
    for perm in perms:
        assert re.fullmatch(r"[a-z]+\.[A-Za-z]+\.[A-Za-z]+", perm), perm
        assert perm in known, f"{perm} is not in src/phiguard/fix/permissions.txt"


def test_permission_list_is_well_formed() -> None:
    """The stored list holds service.resource.verb names only, without duplicates."""
    text = resources.files("phiguard.fix").joinpath("permissions.txt").read_text()
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(names) == len(set(names)) and names == sorted(names)


def test_actions_fix_existing_rules_and_no_fix_rules_exist() -> None:
    """Each action names rules that exist; each 'no safe fix' reason is for a real rule with
    no action; action ids are unique."""
    assert len({a.id for a in ACTIONS}) == len(ACTIONS)
    for action in ACTIONS:
        assert set(action.rules) <= RULE_IDS, action.id
    fixed = {r for a in ACTIONS for r in a.rules}
    assert set(NO_FIX) <= RULE_IDS and not set(NO_FIX) & fixed


def test_rule_remediation_fix_and_the_registry_agree() -> None:
    """Every rule's `remediation.fix` names a registered action that fixes that rule, and every
    rule an action fixes names that action in its YAML (the link is declared next to the rule)."""
    import yaml

    ids = {a.id: a for a in ACTIONS}
    declared: dict[str, str] = {}
    for path in (REPO / "rules" / "hipaa").glob("*/rule.yaml"):
        rule = yaml.safe_load(path.read_text())
        fix = rule.get("remediation", {}).get("fix")
        if fix is not None:
            assert fix in ids, f"{path}: remediation.fix {fix!r} is not a registered action"
            assert rule["id"] in ids[fix].rules, path
            declared[rule["id"]] = fix
    assert declared == {r: a.id for a in ACTIONS for r in a.rules}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.id)
def test_action_calls_exist_in_the_shipped_discovery_documents(action: object) -> None:
    """The read and write calls name methods the static discovery documents define."""
    kind = action.kind  # type: ignore[attr-defined]
    docs = resources.files("googleapiclient").joinpath("discovery_cache/documents")
    for call in (kind.read_call, kind.write_call):
        service, *path, verb = call.split(".")
        version = SERVICES[service][0]
        doc = json.loads(docs.joinpath(f"{service}.{version}.json").read_text())
        node = doc
        for resource in path:
            node = node["resources"][resource]
        assert verb in node["methods"], call


def _plan(tmp_path: Path, actions: list[dict[str, object]], *, seal: bool = True) -> Path:
    plan: dict[str, object] = {"schema": PLAN_SCHEMA, "created": "2026-01-01T00:00:00Z",
                               "findings": "f.json", "actions": actions}
    if seal:
        plan["digest"] = plan_digest(plan)
    path = tmp_path / "fixplan.json"
    path.write_text(json.dumps(plan))
    return path


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "invalid JSON"),
    ('{"schema": "other"}', "not a phiguard fix plan"),
])
def test_bad_plan_file_names_file_and_reason(tmp_path: Path, content: str, reason: str) -> None:
    """A plan that cannot be read exits 2 naming the file and why."""
    path = tmp_path / "fixplan.json"
    path.write_text(content)
    for command in (["fix", "show", str(path)], ["fix", "apply", str(path)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2
        assert str(path) in result.output and reason in result.output


def test_edited_plan_is_refused(tmp_path: Path) -> None:
    """A plan edited after it was written (digest mismatch) is refused with exit 2."""
    path = _plan(tmp_path, [{"id": "001", "rule_id": "TLS-007", "asset": "a",
                             "status": "manual", "reason": "r"}])
    plan = json.loads(path.read_text())
    plan["actions"][0]["status"] = "change"
    path.write_text(json.dumps(plan))
    result = CliRunner().invoke(main, ["fix", "apply", str(path), "--yes", "--journal",
                                       str(tmp_path / "j")])
    assert result.exit_code == 2 and "digest mismatch" in result.output


def test_change_entry_missing_fields_is_refused(tmp_path: Path) -> None:
    """A sealed plan whose change entry lacks its request is refused, naming the entry."""
    path = _plan(tmp_path, [{"id": "001", "rule_id": "TLS-003", "asset": "a",
                             "status": "change", "action": "ssl-policy-modern-tls"}])
    result = CliRunner().invoke(main, ["fix", "show", str(path)])
    assert result.exit_code == 2 and "actions[0]" in result.output


def test_show_lists_manual_reasons(tmp_path: Path) -> None:
    """fix show prints each entry and why a manual one has no automatic fix."""
    path = _plan(tmp_path, [{"id": "001", "rule_id": "TLS-007", "asset": "//x/db",
                             "status": "manual", "reason": NO_FIX["TLS-007"]}])
    result = CliRunner().invoke(main, ["fix", "show", str(path)])
    assert result.exit_code == 0
    assert "TLS-007 //x/db: manual" in result.output and "recreate" in result.output
