"""`phiguard audit`: collect, scan, report and record one run (phiguard.runs.audit)."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import config_option, debug_option, fail_on_option, rules_option
from phiguard.cli._scope import scope_options, warn_gap

__all__ = ["audit_command"]


@click.command("audit")
@scope_options
@config_option()
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path),
              help="SQLite run history (created if missing).")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Write the evidence bundle (report, findings, manifest) here.")
@click.option("--output", "-o", help="Also write the HTML report here.")
@click.option("--snapshot", type=click.Path(path_type=Path),
              help="Keep the collected snapshot here (default: a temporary directory).")
@fail_on_option
@rules_option("Rule directory (default: the bundled HIPAA pack).")
@debug_option
def audit_command(org: str | None, folder: str | None, projects: tuple[str, ...],
                  directory_customer: str | None, asset_types: tuple[str, ...],
                  concurrency: int, export_uri: str | None, export_timeout: float,
                  config_path: Path | None, store_path: Path,
                  bundle: Path | None, output: str | None, snapshot: Path | None,
                  fail_on: str, rules: tuple[Path, ...], debug: bool) -> None:
    """Collect, scan, report and record one run in the history store."""

    def body() -> int:
        from phiguard.runs.audit import outcome_counts, run_audit

        result = run_audit(store_path, org=org, folder=folder, projects=projects, rules=rules,
                           config_path=config_path, bundle=bundle, output=output,
                           snapshot=snapshot, asset_types=asset_types,
                           directory_customer=directory_customer, concurrency=concurrency,
                           export_uri=export_uri, export_timeout=export_timeout,
                           on_gap=warn_gap)
        change, gaps = result.change, result.manifest["coverage_gaps"]
        click.echo(f"run {result.run_id}: {outcome_counts(result.findings)} · "
                   f"{len(change.new)} new, {len(change.resolved)} resolved, "
                   f"{len(change.persisting)} persisting failures"
                   + (f" · {len(gaps)} coverage gaps" if gaps else ""))
        for c in change.new:
            click.echo(f"  new  {c.severity:<8} {c.rule_id:<9} {c.asset}")
        return 1 if result.failing(fail_on) else 0

    run(body, debug)
