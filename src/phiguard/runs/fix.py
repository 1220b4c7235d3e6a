"""The fix runs: a reviewed plan of API changes from failing findings, and applying exactly
that plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phiguard.fix.apply import ApplyReport

__all__ = ["FixPlanResult", "apply_fix_plan", "build_fix_plan", "refuse_journal_on_inputs"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FixPlanResult:
    plan: dict[str, Any]
    selected: int  # failing findings the plan was built from
    counts: dict[str, int]  # actions by status

    @property
    def unreadable(self) -> bool:
        return bool(self.counts.get("unreadable"))


def build_fix_plan(findings: Path, output: str, *, rule: str | None = None,
                   asset_glob: str | None = None, ssl_policy: str | None = None,
                   sign_key: Path | None = None, timeout: float = 60.0,
                   now: Callable[[], datetime] = _now) -> FixPlanResult:
    """Read each failing resource of `findings` through the API and write the plan of changes
    that fixes it to `output` (atomically). Nothing is changed."""
    import json

    from phiguard._util.outputs import atomic_output, check_outputs
    from phiguard.fix.api import FixApi
    from phiguard.fix.integrity import sign_plan
    from phiguard.fix.plan import build_plan, select_findings
    from phiguard.fix.verify import Verifier
    from phiguard.report.bundle import load_private_key
    from phiguard.report.json_report import read_findings

    check_outputs([("--output", output)], [findings])  # before reading anything
    if sign_key is not None:
        load_private_key(sign_key)  # a bad key is said before any API call
    doc = read_findings(str(findings))
    selected = select_findings(doc, rule, asset_glob)
    with FixApi(timeout=timeout) as api:
        # judged as the findings were: their rule pack, parameters and waivers (recorded)
        plan = build_plan(api, selected, source=str(findings), created=now(),
                          options={"ssl_policy": ssl_policy} if ssl_policy else {},
                          verifier=Verifier.of_findings(doc))
    if sign_key is not None:
        sign_plan(plan, sign_key)
    with atomic_output(output) as out:
        out.write(json.dumps(plan, indent=2) + "\n")
    counts: dict[str, int] = {}
    for entry in plan["actions"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return FixPlanResult(plan, len(selected), counts)


def refuse_journal_on_inputs(journal: Path | None, plan_file: Path | None,
                             plan: dict[str, Any]) -> None:
    """A UsageError when --journal is the plan file (its path, a link to it, the same inode)
    or the findings file the plan names: appending to either would corrupt an input."""
    from phiguard._util.outputs import refuse_inputs

    findings = plan.get("findings")
    refuse_inputs([("--journal", journal)],
                  [plan_file, findings if isinstance(findings, str) and findings else None])


def apply_fix_plan(plan: dict[str, Any], *, journal: Path | None, yes: bool, resume: bool,
                   timeout: float = 60.0, echo: Callable[[str], Any] = print,
                   now: Callable[[], datetime] = _now,
                   plan_file: Path | None = None) -> ApplyReport:
    """Apply exactly `plan` (read with phiguard.fix.plan.read_plan, from `plan_file`); a dry
    run unless `yes`. A journal that is an input is refused before the API is touched."""
    from phiguard.fix.api import FixApi
    from phiguard.fix.apply import apply_plan

    refuse_journal_on_inputs(journal, plan_file, plan)
    with FixApi(timeout=timeout) as api:
        return apply_plan(api, plan, journal=journal, yes=yes, resume=resume, now=now,
                          echo=echo)
