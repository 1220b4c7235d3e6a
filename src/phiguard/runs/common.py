"""What every run shares: the rule pack it judges with, and the evaluation time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from phiguard._util.bundled import rules_dir

if TYPE_CHECKING:
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally

__all__ = ["failing", "framework_of", "load_pack", "rule_inputs"]


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


def failing(tally: Tally, fail_on: str, view: RulePack | None = None, *,
            unknown: bool = False) -> bool:
    """Whether a finding at or above `fail_on` fails ('none': never), as the command line's
    exit code answers (phiguard.cli._gate): counting only the findings the framework's
    reports show when `view` is the pack as a framework sees it (`RulePack.for_framework`;
    `tally` counts every finding of the run); None counts every finding. `unknown`
    (`--fail-on-unknown`): an UNKNOWN finding at or above `fail_on` fails too."""
    if fail_on == "none":
        return False
    if view is not None:
        from phiguard.report.framework import framework_tally

        tally = framework_tally(tally, view, notable=False)  # the counts decide
    return bool(tally.failing_at_or_above(fail_on)
                or (unknown and tally.unknown_at_or_above(fail_on)))


def framework_of(pack: RulePack, view: RulePack | None, framework: str | None) -> RulePack:
    """The view a result's `failing` counts with: the `framework` named, else the run's own
    view, else the default framework's (phiguard.report.framework.framework_pack)."""
    if framework is not None:
        return pack.for_framework(framework)
    if view is not None:
        return view
    from phiguard.report.framework import framework_pack

    return framework_pack(pack)
