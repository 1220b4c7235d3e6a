"""`phiguard audit`: collect, scan, report and record one run (phiguard.runs.audit)."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import (
    config_option,
    debug_option,
    fail_on_option,
    fail_on_unknown_option,
    framework_option,
    rules_option,
)
from phiguard.cli._scope import scope_options, warn_gap

__all__ = ["audit_command"]


@click.command("audit")
@scope_options
@config_option()
@click.option("--store", "store_path", required=True, metavar="FILE|gs://BUCKET/OBJECT",
              help="SQLite run history (created if missing). In Cloud Storage it is downloaded "
                   "and uploaded back only if nobody changed it meanwhile; an older restored "
                   "copy is refused (see docs/evidence.md).")
@click.option("--bundle", metavar="DIR|gs://BUCKET/PREFIX",
              help="Write the evidence bundle (report, findings, manifest) here; in Cloud "
                   "Storage it is uploaded object by object, never overwriting, manifest last.")
@click.option("--evidence", metavar="DIR|gs://BUCKET/PREFIX",
              help="Write the evidence bundle to a new folder under this location, named by "
                   "the run's UTC time and number (PREFIX/20261207T060012Z-run57).")
@click.option("--sign-key", type=click.Path(path_type=Path),
              help="Ed25519 private key (PEM) to sign the bundle's manifest with.")
@click.option("--accept-store-rollback", is_flag=True,
              help="Continue from a --store that is older than runs already recorded (a "
                   "restored copy); its next run is numbered after the highest recorded.")
@click.option("--output", "-o", help="Also write the HTML report here.")
@click.option("--snapshot", type=click.Path(path_type=Path),
              help="Keep the collected snapshot here (default: a temporary directory).")
@fail_on_option
@fail_on_unknown_option
@rules_option("Rule directory (default: the bundled HIPAA pack).")
@framework_option
@click.option("--engine", type=click.Choice(["local", "beam"]), default="local",
              show_default=True,
              help="Where the scan stage runs: in this process, or as an Apache Beam pipeline "
                   "(pip install 'phiguard[beam]') with the Beam pipeline options given after "
                   "`--` (--runner DataflowRunner --project ... --temp_location gs://...).")
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- BEAM_OPTIONS]")
@debug_option
def audit_command(org: str | None, folder: str | None, projects: tuple[str, ...],
                  directory_customer: str | None, asset_types: tuple[str, ...],
                  concurrency: int, export_uri: str | None, export_timeout: float,
                  config_path: Path | None, store_path: str,
                  bundle: str | None, evidence: str | None, sign_key: Path | None,
                  accept_store_rollback: bool, output: str | None, snapshot: Path | None,
                  fail_on: str, fail_on_unknown: bool, rules: tuple[Path, ...],
                  framework: str, engine: str,
                  beam_args: tuple[str, ...], debug: bool) -> None:
    """Collect, scan, report and record one run in the history store."""

    def body() -> int:
        from phiguard.cli._gate import exit_code, framework_view, rules_seen_by, seen_by
        from phiguard.report.summary import Tally
        from phiguard.report.text import printable
        from phiguard.runs.audit import outcome_counts, run_audit

        store = store_path if store_path.startswith("gs://") else Path(store_path)
        result = run_audit(store, org=org, folder=folder, projects=projects, rules=rules,
                           config_path=config_path, bundle=bundle, evidence=evidence,
                           sign_key=sign_key, output=output,
                           snapshot=snapshot, asset_types=asset_types,
                           directory_customer=directory_customer, concurrency=concurrency,
                           export_uri=export_uri, export_timeout=export_timeout,
                           accept_store_rollback=accept_store_rollback, on_gap=warn_gap,
                           framework=framework, engine=engine, beam_args=beam_args,
                           notify=lambda text: click.echo(f"phiguard: note: {text}", err=True))
        # What is printed and the exit code follow --framework, as the HTML report does; the
        # store and the bundle keep every finding of every framework.
        view = framework_view(rules, framework)
        findings = seen_by(view, result.findings)
        new, resolved, persisting, unknown, judged = (rules_seen_by(view, items) for items in (
            result.change.new, result.change.resolved, result.change.persisting,
            result.change.unknown, result.change.was_unknown))
        gaps = result.manifest["coverage_gaps"]
        # unknown: failing in the run before, UNKNOWN in this one (not known to be resolved)
        click.echo(f"run {result.run_id}: {outcome_counts(findings)} · "
                   f"{len(new)} new, {len(resolved)} resolved, "
                   f"{len(persisting)} persisting failures"
                   + (f", {len(unknown)} now UNKNOWN" if unknown else "")
                   + (f", {len(judged)} now failing (was UNKNOWN)" if judged else "")
                   + (f" · {len(gaps)} coverage gaps" if gaps else ""))
        for c in new:
            click.echo(f"  new  {c.severity:<8} {c.rule_id:<9} {printable(c.asset)}")
        tally = Tally(keep=0)
        for finding in findings:
            tally.add(finding)
        return exit_code(tally, fail_on, view, fail_on_unknown)

    run(body, debug)
