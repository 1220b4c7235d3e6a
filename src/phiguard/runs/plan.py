"""The plan gate run: a Terraform plan (`terraform show -json`) judged once before it is
applied, optionally over the current snapshot and against a baseline, written in every
format asked (the PR gate writes SARIF, the Markdown comment and JSON from one judgement)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from phiguard.runs.common import failing, framework_of, load_pack, rule_inputs
from phiguard.runs.outputs import Output, check, open_outputs

if TYPE_CHECKING:
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally
    from phiguard.terraform.gate import PlanFinding, PlanGate

__all__ = ["PLAN_FORMATS", "PlanResult", "run_plan_gate"]

PLAN_FORMATS = ("text", "json", "markdown", "sarif")


@dataclass
class PlanResult:
    """The judged plan: every finding (passing ones too), their tally, the files written."""

    gate: PlanGate
    run: dict[str, Any]
    findings: list[PlanFinding]
    tally: Tally
    outputs: list[Output] = field(default_factory=list)
    # The pack as the reports' framework sees it (None: the default framework's view).
    view: RulePack | None = None

    def failing(self, fail_on: str, framework: str | None = None, *,
                unknown: bool = False) -> bool:
        """Whether a finding fails at or above `fail_on` ('none': never) among those of the
        framework the run reported with, or of `framework` when named: the CLI's exit code
        (1) for the same plan and `--fail-on`; `unknown`: an UNKNOWN one counts too
        (`--fail-on-unknown`)."""
        return failing(self.tally, fail_on, framework_of(self.gate.pack, self.view, framework),
                       unknown=unknown)


def run_plan_gate(plan_file: Path, *, rules: Sequence[Path] = (),
                  config_path: Path | None = None, snapshots: Sequence[Path] = (),
                  everything: bool = False, baseline: Path | None = None,
                  tf_root: Path | None = None, outputs: Sequence[Output] = (),
                  output_dir: str | None = None, at: datetime | None = None,
                  jobs: int = 0, framework: str = "hipaa",
                  notify: Callable[[str], None] = lambda note: None) -> PlanResult:
    """Judge `plan_file` and write `outputs`. `jobs` 0: a large plan in two processes when
    the CPUs are otherwise idle, else one (`PlanGate`). Raises a PhiguardError
    for bad input (a malformed plan is never a pass). With PHIGUARD_STAGE_TIMES set, the time
    of each stage is written there (phiguard._util.stages). `notify` hears, before any report
    is written, the asset types rules look for that a `snapshots` does not know to be collected.
    """
    import gc

    from phiguard._util import stages

    stages.begin("plan", jobs=jobs)
    # The run builds only long-lived objects (the plan, its assets, the findings): the cyclic
    # collector would walk them again and again for almost nothing to free (a quarter of the
    # CPU of a 10,000-resource plan), so it is off until the run is over. Not while reading a
    # snapshot too, whose reader's garbage is not this module's to vouch for.
    collecting = gc.isenabled()
    if not snapshots:
        gc.disable()
    from phiguard.policy import code_cache, codegen

    try:
        # the rules' generated code compiled by an earlier run of the same pack and Python
        # (0.11 of 1.7 CPU s for a 10,000-resource plan), kept for the next when new
        with code_cache.kept(codegen._CODE):
            return _run_plan_gate(plan_file, rules=rules, config_path=config_path,
                                  snapshots=snapshots, everything=everything,
                                  baseline=baseline,
                                  tf_root=tf_root, outputs=outputs, output_dir=output_dir,
                                  at=at, jobs=jobs, framework=framework, notify=notify)
    finally:
        if collecting:
            gc.enable()
        stages.finish()


def _run_plan_gate(plan_file: Path, *, rules: Sequence[Path], config_path: Path | None,
                   snapshots: Sequence[Path], everything: bool, baseline: Path | None,
                   tf_root: Path | None, outputs: Sequence[Output], output_dir: str | None,
                   at: datetime | None, jobs: int, framework: str,
                   notify: Callable[[str], None]) -> PlanResult:
    from phiguard._util import stages

    stages.stage("setup (rules, config)")
    from datetime import UTC

    from phiguard._util.outputs import refuse_terraform_files
    from phiguard.config import load_config
    from phiguard.report.json_report import read_findings
    from phiguard.report.summary import Tally
    from phiguard.terraform.gate import PlanGate, fingerprint, snapshot_base
    from phiguard.terraform.locate import Locator
    from phiguard.terraform.plan import load_plan

    check(outputs, [plan_file, config_path, *snapshots, baseline, *rule_inputs(rules)],
          output_dir=output_dir)
    refuse_terraform_files([(o.option, o.path) for o in outputs], tf_root)
    stages.stage("load/parse plan")
    plan = load_plan(plan_file)
    pack = load_pack(rules)
    view = pack.for_framework(framework)  # the reports' framework; the gate judges every rule
    config = load_config(config_path)
    base = numbers = ancestors = content = asset_types = None
    inputs: list[dict[str, str]] = []
    gaps: tuple[tuple[str, str], ...] = ()
    if snapshots:
        from phiguard.policy.engine import Engine

        engine = Engine(pack.rules, params=config.params, enable=config.enable,
                        disable=config.disable)
        current = snapshot_base(list(snapshots), engine, config)
        base, numbers, ancestors, inputs = (current.assets, current.numbers, current.ancestors,
                                            current.inputs)
        content, gaps = current.content, current.content_gaps
        asset_types = current.asset_types
    prints: set[str] = set()
    fails: dict[str, str] = {}  # of the baseline's FAILs: the only ones that excuse a FAIL
    if baseline is not None:
        from phiguard.findings import severity_rank

        doc = read_findings(str(baseline))  # checked: every result has its outcome, severity
        ids = {n: i for i, n in numbers.items()} if numbers else {}
        for item in doc.get("results") or ():
            if isinstance(item, dict) and item.get("outcome") != "PASS":
                key = fingerprint(str(item.get("rule_id")), str(item.get("asset")), ids)
                prints.add(key)
                severity = str(item.get("severity"))
                if item.get("outcome") == "FAIL" and (
                        key not in fails or severity_rank(severity) > severity_rank(fails[key])):
                    fails[key] = severity
    stages.stage("convert/build world")
    gate = PlanGate(plan, pack, config, at=at or datetime.now(UTC), base=base, numbers=numbers,
                    ancestors=ancestors, everything=everything, baseline=prints,
                    baseline_fails=fails,
                    snapshot_inputs=inputs, content=content, content_gaps=gaps,
                    jobs=jobs, asset_types=asset_types)
    stages.note(jobs=gate.jobs, split=gate._split)
    stages.stage("judge")
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
    for f in findings:
        tally.add(f)
    if snapshots:
        # The asset types rules look for that the snapshot does not know to be collected (a
        # plan alone declares every asset it is judged against: none then).
        from phiguard.inventory.coverage import (
            asset_types_missing,
            types_missing_warning,
            types_sought,
        )

        missing = asset_types_missing(gate.inventory.coverage,
                                      types_sought(cr.rule for cr in gate.engine.rules))
        if missing:
            run_info["asset_types_missing"] = missing
            counts = {t: len(assets) for t, assets in tally.types_unknown.items()}
            notify(f"warning: {types_missing_warning(missing, counts)}")
    result = PlanResult(gate, run_info, findings, tally, list(outputs), view)
    stages.stage("render")
    framed: list[PlanFinding] = []  # the framework's findings, made once for SARIF and Markdown
    with open_outputs(result.outputs) as streams:
        for output, out in zip(result.outputs, streams, strict=True):
            _render(output.fmt, out, result, view, locator.locate if locator else None, framed)
    return result


def _render(fmt: str, out: IO[str], result: PlanResult, pack: RulePack,
            locate: Any, framed: list[PlanFinding]) -> None:
    """`framed`: empty, or `terraform.render.framed` of the findings (kept there when made)."""
    gate, run_info, findings = result.gate, result.run, result.findings
    if fmt in ("sarif", "markdown") and not framed:
        from phiguard.terraform.render import framed as framing

        framed.extend(framing(findings, pack))
    if fmt == "json":
        from phiguard.report.json_report import (
            finding_bytes,
            write_footer,
            write_header,
            write_utf8,
        )

        # as write_findings, with the tally the run already made of these findings; the
        # results as UTF-8 bytes, a few large writes (never decoded to text to be encoded
        # again on the way out)
        write_header(out, run_info)
        for start in range(0, len(findings), 4096):
            write_utf8(out, (b"\n" if start == 0 else b",\n") + b",\n".join(
                [finding_bytes(f) for f in findings[start:start + 4096]]))
        write_footer(out, result.tally, gate.waivers)
    elif fmt == "text":
        from phiguard.report.framework import framework_tally
        from phiguard.terraform.render import render_plan_text

        # the framework's findings, as the SARIF and the Markdown (and the exit code) count;
        # of the hidden ones too
        rules = pack.by_id() if pack.framework is not None else None
        hidden = gate.suppressed if rules is None else sum(
            n for rid, n in gate.suppressed_rules.items() if rid in rules)
        render_plan_text(out, run_info, framework_tally(result.tally, pack), gate.waivers,
                         hidden, locate)
    elif fmt == "sarif":
        from phiguard.terraform.render import render_plan_sarif

        render_plan_sarif(out, run_info, framed, pack, gate.waivers, framed_already=True)
    else:
        from phiguard.terraform.render import render_plan_markdown

        render_plan_markdown(out, run_info, framed, pack, gate.waivers, framed_already=True)
