"""What every run shares: the rule pack it judges with, and the evaluation time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from phiguard._util.bundled import rules_dir

if TYPE_CHECKING:
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally

__all__ = ["failing", "load_pack", "rule_inputs"]


def rule_inputs(rules: Sequence[Path]) -> list[Path]:
    """The rule directories a run reads: those given, or the bundled pack. Control catalog
    files alone (`--rules acme-baseline.yaml`) are read beside the bundled pack."""
    from phiguard.policy.rule import is_catalog_file

    given = list(rules)
    if all(is_catalog_file(p) for p in given):
        return [rules_dir(), *given]
    return given


def load_pack(rules: Sequence[Path]) -> RulePack:
    """The rule pack, after every installed plugin (operators, catalogs, converters) loaded."""
    from phiguard.plugins import load_plugins
    from phiguard.policy.rule import load_pack as load

    load_plugins()
    pack = load(rule_inputs(rules))
    if not pack.rules:
        # (a folder of control catalogs only, say): a run would judge nothing and pass
        from phiguard.errors import RuleError

        given = ", ".join(str(p) for p in rules) or "the bundled pack"
        raise RuleError("no rules found (expected ID/rule.yaml folders or a rule.yaml): a run "
                        "without rules judges nothing", file=given)
    return pack


def failing(tally: Tally, fail_on: str) -> bool:
    """Whether a finding at or above `fail_on` fails ('none': never)."""
    return fail_on != "none" and bool(tally.failing_at_or_above(fail_on))
