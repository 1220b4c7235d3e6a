"""`phiguard plan PLAN.json`: the PR gate on `terraform show -json` output
(phiguard.runs.plan)."""

from __future__ import annotations

import gc
from pathlib import Path

import click

from phiguard.cli._errors import exiting_at_once, run, the_command
from phiguard.cli._options import (
    at_option,
    chosen_outputs,
    config_option,
    debug_option,
    fail_on_option,
    fail_on_unknown_option,
    framework_option,
    jobs_option,
    noting_scope,
    output_options,
    parse_at,
    rules_option,
)

__all__ = ["plan_command"]

FORMATS = ("text", "json", "markdown", "sarif")
_KEPT: list[object] = []  # see plan_command's body


@click.command("plan")
@click.argument("plan_file", type=click.Path(path_type=Path))
@config_option()
@click.option("--snapshot", "snapshots", multiple=True, type=click.Path(path_type=Path),
              help="Current CAI snapshot to overlay the plan on (creates add, updates "
                   "replace, deletes remove). Repeatable.")
@click.option("--all", "everything", is_flag=True,
              help="Judge every asset (plan and snapshot), not only what the plan creates or "
                   "updates.")
@click.option("--baseline", type=click.Path(path_type=Path),
              help="Findings JSON (e.g. of main): report only findings not already in it.")
@output_options(FORMATS)
@click.option("--tf-root", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Terraform root directory: point findings at the .tf file and line.")
@fail_on_option
@fail_on_unknown_option
@at_option("now.")
@jobs_option(0, 2, 0, "Processes judging a large plan: 1 or 2 (0: two when the CPUs are "
                      "otherwise idle, else one).")
@rules_option()
@framework_option
@debug_option
def plan_command(plan_file: Path, config_path: Path | None, snapshots: tuple[Path, ...],
                 everything: bool, baseline: Path | None, fmt: tuple[str, ...],
                 output: tuple[str, ...], output_dir: str | None, tf_root: Path | None,
                 fail_on: str, fail_on_unknown: bool, at: str | None, jobs: int,
                 rules: tuple[Path, ...], framework: str, debug: bool) -> None:
    """Judge a Terraform plan (`terraform show -json plan.out`) before it is applied.

    Exit codes: 0 nothing failing at or above --fail-on, 1 failing findings (with
    --fail-on-unknown, UNKNOWN ones too), 2 a usage, config or input error (a malformed plan
    is never a pass).
    """
    when = parse_at(at)

    def body() -> int:
        from phiguard.runs.plan import run_plan_gate

        if not snapshots and the_command():
            # run_plan_gate turns the cyclic collector off while it runs and on again after;
            # on again, its first collection would walk every object the run made (0.3 s of
            # CPU for a 10,000-resource plan) just before this process exits without it
            gc.disable()
        outputs = chosen_outputs(fmt, output, output_dir, FORMATS)
        result = run_plan_gate(plan_file, rules=rules, config_path=config_path,
                               snapshots=snapshots, everything=everything, baseline=baseline,
                               tf_root=tf_root, outputs=outputs, output_dir=output_dir,
                               at=when, jobs=jobs, framework=framework,
                               notify=lambda note: click.echo(f"phiguard: note: {note}", err=True))
        from phiguard.cli._gate import exit_code

        # the findings of the framework reported with (--framework) only, as the reports
        code = exit_code(result.tally, fail_on, result.gate.pack.for_framework(framework),
                         fail_on_unknown)
        if the_command():
            # This process exits at once after the body (`exiting_at_once`): what the run
            # built stays referenced until then, rather than freed object by object when
            # this frame ends (0.06 CPU s for a 10,000-resource plan) just before the exit
            # gives all of the memory back at once.
            _KEPT.append(result)
        return code

    run(exiting_at_once(noting_scope(body, config_path)), debug)
