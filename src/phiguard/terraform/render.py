"""Plan-gate outputs: a terminal summary, SARIF with .tf locations, the Markdown PR comment
(the findings JSON, schema phiguard.findings/v1, carries the plan fields `address`, `change`,
`terraform_fix`, `location`, and `run.not_evaluated`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.report._common import run_reasons
from phiguard.report.summary import OUTCOMES, Tally
from phiguard.report.text import printable

if TYPE_CHECKING:
    from phiguard.policy.rule import RulePack
    from phiguard.terraform.gate import PlanFinding

__all__ = ["framed", "render_plan_markdown", "render_plan_sarif", "render_plan_text"]


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
    reasons = run_reasons(run)
    if reasons:  # why results are UNKNOWN for want of data (a partial --snapshot), as scan says
        out.write(f"\nWhy results are UNKNOWN: what this run's input lacks ({len(reasons)})\n")
        for reason in reasons:
            out.write(f"  {reason.title}: {printable(reason.text)}\n")
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


def framed(findings: Iterable[PlanFinding], pack: RulePack) -> list[PlanFinding]:
    """The findings as the reports' framework sees them (`framework_findings` under
    `framework_pack`): what the SARIF and the Markdown comment each start from, so a run
    writing both can frame them once and pass `framed=True`."""
    from phiguard.report.framework import framework_findings, framework_pack

    return list(framework_findings(findings, framework_pack(pack)))


def render_plan_sarif(out: IO[str], run_info: dict[str, Any], findings: list[PlanFinding],
                      pack: RulePack, waivers: list[dict[str, Any]], *,
                      framed_already: bool = False) -> None:
    """SARIF through the report package, with the plan's addresses, fixes and .tf
    locations added. `framed_already`: `findings` is `framed(findings, pack)`."""
    import orjson

    from phiguard.report.framework import framework_pack
    from phiguard.report.json_report import write_utf8
    from phiguard.report.sarif import sarif_document

    # results and locations below: the framework's findings only
    if not framed_already:
        findings = framed(findings, pack)
    pack = framework_pack(pack)
    doc = sarif_document(findings, run_info, pack, waivers)
    shown = [f for f in findings if f.outcome.value != "PASS"]
    for result, finding in zip(doc["runs"][0]["results"], shown, strict=True):
        if finding.location is not None:
            for loc in result["locations"]:
                loc["physicalLocation"] = {
                    "artifactLocation": {"uri": finding.location["file"]},
                    "region": {"startLine": finding.location["line"]}}
        if finding.terraform_fix is not None:
            result["properties"]["terraformFix"] = finding.terraform_fix
        if finding.address:
            result["properties"]["address"] = finding.address
    doc["runs"][0]["properties"]["notEvaluated"] = run_info.get("not_evaluated", [])
    # the UTF-8 orjson wrote, as it is (a large plan's SARIF is tens of MB)
    write_utf8(out, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def render_plan_markdown(out: IO[str], run_info: dict[str, Any], findings: list[PlanFinding],
                         pack: RulePack, waivers: list[dict[str, Any]], *,
                         framed_already: bool = False) -> None:
    """The PR comment: the report package's Markdown, then where to fix each failure.
    `framed_already`: `findings` is `framed(findings, pack)`."""
    from phiguard.report.framework import framework_pack
    from phiguard.report.markdown import md_escape, render_markdown

    # the comment and its fix table: the framework's findings
    if not framed_already:
        findings = framed(findings, pack)
    pack = framework_pack(pack)
    out.write("<!-- phiguard-plan -->\n")
    render_markdown(out, findings, run_info, pack, waivers)
    failing = [f for f in findings if f.outcome.value == "FAIL"]
    if failing:
        out.write("\n#### Where to fix it\n\n| rule | resource | fix |\n|---|---|---|\n")
        for f in failing[:100]:
            fix = f.terraform_fix or {}
            text = f"{fix.get('attribute')} = {fix.get('value')}" if fix.get("attribute") \
                else fix.get("note", "")
            out.write(f"| {md_escape(f.rule_id)} | {md_escape(f.address or f.asset, 120)} | "
                      f"{md_escape(text, 160)} |\n")
    skipped = run_info.get("not_evaluated") or []
    if skipped:
        out.write(f"\n<details><summary>Not evaluated: {len(skipped)} planned resources of "
                  "types phiguard does not convert</summary>\n\n")
        for item in skipped[:200]:
            out.write(f"- {md_escape(item['change'])} {md_escape(item['address'], 160)}\n")
        out.write("\n</details>\n")
