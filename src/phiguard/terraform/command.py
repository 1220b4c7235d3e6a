"""`phiguard plan PLAN.json`: the PR gate on `terraform show -json` output.

Only click is imported at module level, so registering the command keeps `phiguard --help`
fast; the converter, engine and renderers load when the command runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from phiguard.policy.rule import RulePack
    from phiguard.terraform.gate import PlanFinding

__all__ = ["plan_command"]

FORMATS = ("text", "json", "markdown", "sarif")


@click.command("plan")
@click.argument("plan_file", type=click.Path(path_type=Path))
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path),
              help="phiguard.yaml: organization, PHI scope, parameters, waivers.")
@click.option("--snapshot", "snapshots", multiple=True, type=click.Path(path_type=Path),
              help="Current CAI snapshot to overlay the plan on (creates add, updates "
                   "replace, deletes remove). Repeatable.")
@click.option("--all", "everything", is_flag=True,
              help="Judge every asset (plan and snapshot), not only what the plan creates or "
                   "updates.")
@click.option("--baseline", type=click.Path(path_type=Path),
              help="Findings JSON (e.g. of main): report only findings not already in it.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True)
@click.option("--output", "-o", help="Write here instead of stdout (atomically).")
@click.option("--tf-root", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Terraform root directory: point findings at the .tf file and line.")
@click.option("--fail-on", type=click.Choice(("critical", "high", "medium", "low", "info",
                                              "none")),
              default="low", show_default=True,
              help="Exit 1 when a finding at or above this severity fails ('none': never).")
@click.option("--at", "at", help="Evaluation time (RFC 3339); default: now.")
@click.option("--jobs", "-j", type=click.IntRange(0, 2), default=0, show_default=True,
              help="Processes judging a large plan: 1 or 2 (0: 2 when there are 2 CPUs).")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Rule directory or rule.yaml (repeatable; default: the bundled HIPAA pack).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def plan_command(plan_file: Path, config_path: Path | None, snapshots: tuple[Path, ...],
                 everything: bool, baseline: Path | None, fmt: str, output: str | None,
                 tf_root: Path | None, fail_on: str, at: str | None, jobs: int,
                 rules: tuple[Path, ...], debug: bool) -> None:
    """Judge a Terraform plan (`terraform show -json plan.out`) before it is applied.

    Exit codes: 0 nothing failing at or above --fail-on, 1 failing findings, 2 a usage,
    config or input error (a malformed plan is never a pass).
    """
    from phiguard.cli import (
        _default_rules_dir,
        _load_pack,
        _noting_scope,
        _output,
        _parse_at,
        _refuse_inputs,
        _run,
    )

    when = _parse_at(at)

    def run() -> int:
        from datetime import UTC, datetime

        from phiguard.config import load_config
        from phiguard.report.json_report import read_findings, write_findings
        from phiguard.report.summary import Tally
        from phiguard.terraform.gate import PlanGate, fingerprint, snapshot_base
        from phiguard.terraform.locate import Locator
        from phiguard.terraform.plan import load_plan
        from phiguard.terraform.render import render_plan_text

        _refuse_inputs([("--output", output)],  # before reading anything (H6's guard)
                       [plan_file, config_path, *snapshots, baseline,
                        *(rules or [_default_rules_dir()])])
        plan = load_plan(plan_file)
        pack = _load_pack(rules)
        config = load_config(config_path)
        base = numbers = ancestors = None
        inputs: list[dict[str, str]] = []
        if snapshots:
            from phiguard.policy.engine import Engine

            engine = Engine(pack.rules, params=config.params, enable=config.enable,
                            disable=config.disable)
            base, numbers, ancestors, inputs = snapshot_base(list(snapshots), engine, config)
        prints: set[str] = set()
        if baseline is not None:
            doc = read_findings(str(baseline))
            ids = {}
            if numbers:
                ids = {n: i for i, n in numbers.items()}
            for item in doc.get("results") or ():
                if isinstance(item, dict) and item.get("outcome") != "PASS":
                    prints.add(fingerprint(str(item.get("rule_id")), str(item.get("asset")), ids))
        now = when or datetime.now(UTC)
        gate = PlanGate(plan, pack, config, at=now, base=base, numbers=numbers,
                        ancestors=ancestors, everything=everything, baseline=prints,
                        snapshot_inputs=inputs,
                        jobs=jobs or (2 if (os.cpu_count() or 1) >= 2 else 1))
        findings = list(gate.findings())
        locator = Locator(tf_root, plan) if tf_root is not None else None
        if locator is not None:
            from dataclasses import replace

            located = []
            for f in findings:
                where = locator.locate(f.address) if f.address and f.outcome.value != "PASS" \
                    else None
                located.append(replace(f, location={"file": where[0], "line": where[1]})
                               if where else f)
            findings = located
        run_info = gate.run_info()
        if baseline is not None:
            run_info["baseline"] = {"path": str(baseline), "suppressed": gate.suppressed}
        tally = Tally()
        if fmt == "json":
            with _output(output) as out:
                write_findings(out, run_info, findings, tally, lambda: gate.waivers)
        else:
            for f in findings:
                tally.add(f)
            with _output(output) as out:
                if fmt == "text":
                    render_plan_text(out, run_info, tally, gate.waivers, gate.suppressed,
                                     locator.locate if locator else None)
                else:
                    _render_other(fmt, out, run_info, findings, pack, gate.waivers)
        if fail_on != "none" and tally.failing_at_or_above(fail_on):
            return 1
        return 0

    _run(_noting_scope(run, config_path), debug)


def _render_other(fmt: str, out: IO[str], run_info: dict[str, Any],
                  findings: list[PlanFinding], pack: RulePack,
                  waivers: list[dict[str, Any]]) -> None:
    """markdown (PR comment) and sarif through the report package's renderers, with the plan's
    addresses, fixes and .tf locations added."""
    if fmt == "sarif":
        import orjson

        from phiguard.report.sarif import sarif_document

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
        out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from phiguard.report.markdown import md_escape, render_markdown

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


if __name__ == "__main__":  # pragma: no cover
    plan_command(sys.argv[1:])
