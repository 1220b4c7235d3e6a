"""Plan-gate outputs: a terminal summary and the findings JSON (schema phiguard.findings/v1
with plan fields: `address`, `change`, `terraform_fix`, and `run.not_evaluated`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.report.summary import OUTCOMES, Tally
from phiguard.report.text import printable

__all__ = ["render_plan_text"]


def render_plan_text(out: IO[str], run: dict[str, Any], tally: Tally,
                     waivers: list[dict[str, Any]], suppressed: int,
                     locate: Callable[[str], tuple[str, int] | None] | None = None) -> None:
    """Write the human summary of a plan evaluation: failures with their fix first."""
    plan = run["plan"]
    out.write(f"phiguard {run['tool_version']} · terraform plan · {run['inputs'][0]['path']} · "
              f"{plan['resources']} resources, {plan['changed']} changed · judged: "
              f"{'every planned asset' if plan['scope'] == 'all' else 'created/updated assets'}"
              f"\n")
    out.write("outcomes  " + "   ".join(f"{o} {tally.outcomes.get(o, 0)}" for o in OUTCOMES))
    if suppressed:
        out.write(f"   (in baseline, not shown: {suppressed})")
    out.write("\n")
    failing = sorted((f for f in tally.notable if f.outcome is Outcome.FAIL),
                     key=lambda f: (-severity_rank(f.severity), _address(f), f.rule_id))
    if failing:
        out.write("\nFailures\n")
        for f in failing:
            out.write(f"  {f.severity.upper():<8} {f.rule_id:<9} {_address(f)}\n")
            where = locate(_address(f)) if locate else None
            if where:
                out.write(f"           at {where[0]}:{where[1]}\n")
            out.write(f"           {printable(f.message)}\n")
    unknown = [f for f in tally.notable if f.outcome is Outcome.UNKNOWN]
    if unknown:
        out.write(f"\nNot evaluable ({len(unknown)}): a value known only after apply, or data "
                  "the plan does not show; UNKNOWN never counts as PASS\n")
        for f in unknown[:30]:
            out.write(f"  {f.rule_id:<9} {_address(f)}\n           {printable(f.message)}\n")
        if len(unknown) > 30:
            out.write(f"  … and {len(unknown) - 30} more (use --format json)\n")
    skipped = run.get("not_evaluated") or []
    if skipped:
        out.write(f"\nNot evaluated ({len(skipped)}): phiguard does not convert these types\n")
        for item in skipped[:30]:
            out.write(f"  {printable(str(item['change'])):<8} {printable(str(item['address']))}\n")
        if len(skipped) > 30:
            out.write(f"  … and {len(skipped) - 30} more\n")
    for w in waivers:
        if w["status"] != "unused":
            out.write(printable(f"waiver {w['status']}: {w['rule']} {w['asset']} "
                                f"(expires {w['expires']})") + "\n")


def _address(finding: Finding) -> str:
    address = getattr(finding, "address", None)
    # printable: an address or asset name from a plan may carry terminal escape sequences
    return printable(address if isinstance(address, str) and address else finding.asset)


def stream(findings: Iterable[Finding], tally: Tally) -> Iterable[Finding]:
    for finding in findings:
        tally.add(finding)
        yield finding
