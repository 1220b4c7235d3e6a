"""A rule's own remediation knowledge: `remediation.fix` / `manual`, `terraform_fixes` per
Terraform resource type and `unknown_in_plan`, checked by the loader (file and line) and by the
JSON Schema alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from phiguard.errors import RuleError
from phiguard.policy.rule import load_rule
from phiguard.policy.schema import rule_schema

BASE = """\
id: TST-001
title: Firewall rules keep SSH closed to the internet
severity: high
controls: [hipaa/164.312(e)(1)]
description: a test rule
asset_types: [compute.googleapis.com/Firewall]
assert: {path: data.sourceRanges, cidr_internet: false}
remediation:
  summary: close it
"""

GOOD = BASE + """\
  fix: firewall-disable
  terraform_fixes:
    - resource_types: [google_compute_firewall]
      attribute: source_ranges
      value: ["35.235.240.0/20"]
      note: reach SSH through IAP
    - resource_types: [google_compute_network]
      note: delete the default network
unknown_in_plan:
  resource_types: [google_compute_firewall]
  reason: a firewall's hits exist only after apply
"""


def _load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "TST-001" / "rule.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return load_rule(path)


def _schema_ok(text: str) -> bool:
    try:
        jsonschema.validate(yaml.safe_load(text), rule_schema())
    except jsonschema.ValidationError:
        return False
    return True


def test_terraform_fixes_and_unknown_in_plan_are_read_by_resource_type(tmp_path: Path) -> None:
    """Each entry is indexed by every type it lists; an entry without an attribute keeps its
    note alone; the JSON Schema accepts the same rule."""
    rule = _load(tmp_path, GOOD)
    assert rule.terraform_fixes == {
        "google_compute_firewall": {"attribute": "source_ranges", "value": ["35.235.240.0/20"],
                                    "note": "reach SSH through IAP"},
        "google_compute_network": {"attribute": "", "value": None,
                                   "note": "delete the default network"}}
    assert rule.unknown_in_plan == {
        "google_compute_firewall": "a firewall's hits exist only after apply"}
    assert _schema_ok(GOOD)


@pytest.mark.parametrize(("edit", "message", "line"), [
    (("  fix: firewall-disable\n", "  fix: firewall-disable\n  manual: recreate it\n"),
     "keep one", 11),
    (("      attribute: source_ranges\n", ""), "give both", 12),
    (("[google_compute_firewall]\n      attribute", "[compute.googleapis.com/Firewall]\n"
                                                  "      attribute"),
     "not a Terraform resource type", 12),
    (("[google_compute_network]", "[google_compute_firewall]"), "listed twice", 16),
    (("      note: delete the default network\n", ""), "needs a `note`", 16),
    (("      note: reach SSH through IAP\n", "      notes: x\n"), "unknown key `notes`", 15),
    (("  reason: a firewall's hits exist only after apply\n", ""), "needs a `reason`", 19),
    (("  terraform_fixes:\n", "  terraform_fixes: nope\n  x:\n"), "unknown key `x`", 12),
])
def test_bad_remediation_blocks_name_the_line(tmp_path: Path, edit: tuple[str, str],
                                              message: str, line: int) -> None:
    """Each malformed block is a RuleError at its line, and the JSON Schema refuses it too
    (the fix/manual exclusion and duplicate types across entries are the loader's alone)."""
    old, new = edit
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(RuleError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)
    assert info.value.line == line, str(info.value)
    if message not in ("keep one", "listed twice"):
        assert not _schema_ok(text)


def test_terraform_fixes_must_be_a_non_empty_list(tmp_path: Path) -> None:
    """An empty `terraform_fixes` is an error for the loader and the schema (it fixes nothing)."""
    text = BASE + "  terraform_fixes: []\n"
    with pytest.raises(RuleError, match="non-empty list"):
        _load(tmp_path, text)
    assert not _schema_ok(text)
