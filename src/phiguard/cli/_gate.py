"""The exit-code gate of scan, plan and audit (`--fail-on`), against the framework the run
reports with (`--framework`).

A finding whose rule evidences none of the chosen framework's controls is left out of that
framework's reports (phiguard.report.framework); it is left out of the gate too, so the
printed summary, the report and the exit code speak of the same findings. The findings JSON
and the run store keep every finding of every framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally

__all__ = ["exit_code", "framework_view", "rules_seen_by", "seen_by"]

T = TypeVar("T")


def exit_code(tally: Tally, fail_on: str, view: RulePack, unknown: bool = False) -> int:
    """1 when a finding the framework's report shows fails at or above `fail_on` ('none':
    never), or with `unknown` (`--fail-on-unknown`) is UNKNOWN at or above it, else 0.
    `tally` counts every finding of the run; `view` is the pack as the framework sees it
    (`RulePack.for_framework`)."""
    from phiguard.runs.common import failing

    # the results API's answer, not a copy
    return 1 if failing(tally, fail_on, view, unknown=unknown) else 0


def framework_view(rules: Sequence[Path], framework: str) -> RulePack:
    """The pack of `--rules` (the bundled one by default) as `framework` sees it."""
    from phiguard.runs.common import load_pack

    return load_pack(rules).for_framework(framework)


def seen_by(view: RulePack, findings: Iterable[Finding]) -> list[Finding]:
    """The findings the framework's reports show (phiguard.report.framework)."""
    from phiguard.report.framework import framework_findings

    return list(framework_findings(findings, view))


def rules_seen_by(view: RulePack, items: Iterable[T]) -> list[T]:
    """Items with a `rule_id` (drift changes) of the rules the framework's reports show:
    every rule when the pack has no catalog of that name (`view.framework` is None)."""
    if view.framework is None:
        return list(items)
    rules = view.by_id()
    return [item for item in items if _rule_id(item) in rules]


def _rule_id(item: Any) -> str:
    return str(item.rule_id)
