"""`phiguard scan`: judge a Cloud Asset Inventory snapshot (phiguard.runs.scan)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import click

from phiguard.cli._errors import exiting_at_once, run
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

__all__ = ["scan_command"]

FORMATS = ("text", "json", "html", "sarif", "junit", "markdown", "csv", "ndjson")

PIPELINE_ARGS = "phiguard.pipeline_args"


class _ScanCommand(click.Command):
    """With `--engine beam`, everything after `--` is Beam pipeline options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            head = args[:cut]
            beam = "--engine=beam" in head or any(
                a == "--engine" and b == "beam" for a, b in pairwise(head))
            if beam:
                ctx.meta[PIPELINE_ARGS] = args[cut + 1:]
                args = head
        return super().parse_args(ctx, args)


@click.command("scan", cls=_ScanCommand)
@click.argument("snapshot", nargs=-1, required=True, type=click.Path(path_type=str))
@config_option()
@output_options(FORMATS)
@click.option("--bundle", metavar="DIR|gs://BUCKET/PREFIX",
              help="Also write an evidence bundle (report, findings, config, manifest) here; "
                   "in Cloud Storage it is uploaded object by object, never overwriting, "
                   "manifest last.")
@click.option("--sign-key", type=click.Path(path_type=Path),
              help="Ed25519 private key (PEM) to sign the bundle's manifest with.")
@fail_on_option
@fail_on_unknown_option
@at_option("the snapshot's read time, or the time of the run when the snapshot has none "
           "(a note says so).")
@jobs_option(0, 64, 0, "Processes reading and judging the snapshot (0: chosen when the scan "
                       "starts: 1 unless the snapshot is large and CPUs and memory are free).")
@click.option("--engine", type=click.Choice(["local", "beam"]), default="local",
              show_default=True,
              help="beam: run the scan as an Apache Beam pipeline (pip install "
                   "'phiguard[beam]'); Beam pipeline options follow `--`, e.g. "
                   "`-- --runner DataflowRunner --project P --region R "
                   "--temp_location gs://B/tmp`. "
                   "The snapshot may then be a gs:// prefix, read in place.")
@click.option("--bigquery-shards", metavar="DIR|gs://BUCKET/PREFIX",
              help="With --engine beam: the pipeline's workers also write the findings as "
                   "BigQuery NDJSON shards, PREFIX/findings-NNNNN-of-MMMMM.ndjson, for "
                   "`bq load --source_format=NEWLINE_DELIMITED_JSON TABLE 'PREFIX/findings-*' "
                   "SCHEMA` (schema: `phiguard schema bigquery`). A second, short pipeline on "
                   "the same runner.")
@click.option("--color/--no-color", default=None, help="Colour text output (default: on a TTY).")
@rules_option()
@framework_option
@debug_option
def scan_command(snapshot: tuple[str, ...], config_path: Path | None, fmt: tuple[str, ...],
                 output: tuple[str, ...], output_dir: str | None, bundle: str | None,
                 sign_key: Path | None, fail_on: str, fail_on_unknown: bool, at: str | None,
                 jobs: int, engine: str,
                 bigquery_shards: str | None, color: bool | None, rules: tuple[Path, ...],
                 framework: str, debug: bool) -> None:
    """Scan a CAI snapshot (export file(s) or a snapshot directory)."""
    when = parse_at(at)
    pipeline_args: list[str] = click.get_current_context().meta.get(PIPELINE_ARGS, [])
    # a gs:// URL stays text (a Path would read gs:/...): the local engine says to add
    # --engine beam
    inputs: list[Any] = list(snapshot) if engine == "beam" else [
        s if s.startswith("gs://") else Path(s) for s in snapshot]
    # The run's result outlives `body`: were it dropped when `body` returns, the whole
    # Inventory would be freed object by object just before the command exits at once
    # (exiting_at_once), about half a second at a million assets.
    kept: list[Any] = []

    def body() -> int:
        from phiguard.cli._gate import exit_code
        from phiguard.report.remote import bundle_target
        from phiguard.runs.scan import run_scan

        outputs = chosen_outputs(fmt, output, output_dir, FORMATS)
        result = run_scan(inputs, rules=rules, config_path=config_path, outputs=outputs,
                          output_dir=output_dir, bundle=bundle_target(bundle),
                          sign_key=sign_key, at=when,
                          jobs=jobs, color=color, framework=framework, engine=engine,
                          pipeline_args=pipeline_args, bigquery_shards=bigquery_shards,
                          notify=lambda note: click.echo(f"phiguard: note: {note}", err=True))
        kept.append(result)
        if bundle is not None:
            click.echo(f"phiguard: evidence bundle written to {bundle}", err=True)
        # the findings of the framework reported with (--framework) only, as the reports
        return exit_code(result.tally, fail_on, result.view or result.pack, fail_on_unknown)

    # The local engine leaves nothing behind at exit (a Beam scan cleans its work directory
    # when its process ends), so the command need not tear a million-asset heap down.
    body_now = noting_scope(body, config_path)
    run(exiting_at_once(body_now) if engine == "local" else body_now, debug)
