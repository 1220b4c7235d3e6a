"""The fix registry's declarations, plan-file checking and the show command (no network)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from _paths import REPO, RULES, SRC
from phiguard.cli import main
from phiguard.fix import ACTIONS, Verifier, actions_for
from phiguard.fix.api import SERVICES
from phiguard.fix.plan import PLAN_SCHEMA, plan_digest

RULE_IDS = {p.name for p in (RULES / "hipaa").iterdir() if p.is_dir()}


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


def test_every_action_is_named_by_a_rule_it_can_act_on() -> None:
    """Action ids are unique; each action is some rule's `remediation.fix` (none is dead), and
    the resource kind it acts on is one the naming rule judges."""
    assert len({a.id for a in ACTIONS}) == len(ACTIONS)
    verifier = Verifier.of_recorded(None)
    for action in ACTIONS:
        rules = verifier.rules_fixed_by(action.id)
        assert rules, f"no rule names {action.id} under remediation.fix"
        for rule in rules:
            assert action.kind.asset_type in rule.asset_types, (action.id, rule.id)


def test_rule_remediation_fix_names_a_registered_action() -> None:
    """Every rule's `remediation.fix` names a registered action (the link lives in the rule
    alone), and a rule without one says why under `remediation.manual` or gets the default."""
    for rule in Verifier.of_recorded(None).pack.rules:
        fix = rule.remediation.get("fix")
        if fix is not None:
            assert [a.id for a in actions_for(rule)] == [fix], f"{rule.path}: {fix!r}"
        else:
            assert actions_for(rule) == ()


def test_no_rule_id_is_written_in_the_source() -> None:
    """Rule knowledge lives in the rules: no rule id literal in the package's code (the Terraform
    fixes, fix actions and plan-only unknowns are each rule's `remediation` / `unknown_in_plan`)."""
    literal = re.compile(r'"(TLS|NET|PUB|MFA|IAM|JIT|BAK|DR|LOG|ENC|GOV|PLAT)-[0-9]{3}"')
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
             for path in sorted((SRC / "phiguard").rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if literal.search(line)]
    assert found == []


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
                             "status": "manual",
                             "reason": Verifier.of_recorded(None).rule("TLS-007")
                             .remediation["manual"]}])  # type: ignore[union-attr]
    result = CliRunner().invoke(main, ["fix", "show", str(path)])
    assert result.exit_code == 0
    assert "TLS-007 //x/db: manual" in result.output and "recreate" in result.output
