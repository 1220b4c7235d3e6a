"""The scan run: a Cloud Asset Inventory snapshot judged once, written in every format asked."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from phiguard.runs.common import failing, framework_of, load_pack, rule_inputs
from phiguard.runs.outputs import Output, check, open_outputs

if TYPE_CHECKING:
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally
    from phiguard.scan import Scan
    from phiguard.store.gcs import GcsUrl

__all__ = ["SCAN_FORMATS", "ScanResult", "note_coverage_gaps", "note_run_coverage",
           "note_types_missing", "run_scan"]

SCAN_FORMATS = ("text", "json", "html", "sarif", "junit", "markdown", "csv", "ndjson")


@dataclass
class ScanResult:
    """What a scan found and wrote. `findings` is the list of every finding when the run kept
    them (a format other than JSON and text, a bundle, or no output at all); JSON and text
    reports alone are streamed, and only `tally` (counts and the non-passing findings) is
    kept."""

    scan: Scan
    pack: RulePack
    tally: Tally
    findings: list[Finding] | None
    outputs: list[Output] = field(default_factory=list)
    bundle: Path | GcsUrl | None = None
    # The pack as the reports' framework sees it (None: the default framework's view).
    view: RulePack | None = None

    def failing(self, fail_on: str, framework: str | None = None, *,
                unknown: bool = False) -> bool:
        """Whether a finding fails at or above `fail_on` ('none': never) among those of the
        framework the run reported with, or of `framework` when named: the CLI's exit code
        (1) for the same run and `--fail-on`; `unknown`: an UNKNOWN one counts too
        (`--fail-on-unknown`)."""
        return failing(self.tally, fail_on, framework_of(self.pack, self.view, framework),
                       unknown=unknown)


def run_scan(snapshot: Sequence[Path | str], *, rules: Sequence[Path] = (),
             config_path: Path | None = None, outputs: Sequence[Output] = (),
             output_dir: str | None = None, bundle: Path | GcsUrl | None = None,
             sign_key: Path | None = None, at: datetime | None = None, jobs: int = 1,
             color: bool | None = None, framework: str = "hipaa",
             notify: Callable[[str], None] = lambda note: None, engine: str = "local",
             pipeline_args: Sequence[str] = (),
             bigquery_shards: str | None = None) -> ScanResult:
    """Judge the snapshot (export files or a snapshot directory) and write `outputs`.

    `engine="beam"` judges it as an Apache Beam pipeline run with `pipeline_args` (see
    phiguard.beam); the snapshot may then name gs:// URLs, and the reports are the same.
    `bigquery_shards` (Beam only): a folder or gs:// prefix where the workers also write the
    findings as BigQuery NDJSON shards (phiguard.beam.bigquery).

    `notify` hears the notes about the input (skipped files, scope and content warnings, the
    manifest's coverage gaps) before any report is written, and the asset types rules look
    for that the snapshot does not know to be collected when the run is over. Raises a
    PhiguardError for bad input; nothing is written then. With PHIGUARD_STAGE_TIMES set, the
    time of each stage is written there (phiguard._util.stages).
    """
    from phiguard._util import stages
    from phiguard.policy import code_cache, codegen

    stages.begin("scan", jobs=jobs)
    try:
        # the rules' generated code compiled by an earlier run of the same pack is kept
        # (policy.code_cache, as the plan gate does); forked workers inherit the table
        with code_cache.kept(codegen._CODE):
            return _run_scan(snapshot, rules=rules, config_path=config_path, outputs=outputs,
                             output_dir=output_dir, bundle=bundle, sign_key=sign_key, at=at,
                             jobs=jobs, color=color, framework=framework, notify=notify,
                             engine=engine, pipeline_args=pipeline_args,
                             bigquery_shards=bigquery_shards)
    finally:
        stages.finish()


def _run_scan(snapshot: Sequence[Path | str], *, rules: Sequence[Path],
              config_path: Path | None,
              outputs: Sequence[Output], output_dir: str | None, bundle: Path | GcsUrl | None,
              sign_key: Path | None, at: datetime | None, jobs: int, color: bool | None,
              framework: str, notify: Callable[[str], None], engine: str = "local",
              pipeline_args: Sequence[str] = (),
              bigquery_shards: str | None = None) -> ScanResult:
    from phiguard._util import stages

    stages.stage("setup (rules, config)")
    from phiguard.config import load_config
    from phiguard.errors import OutputError, UsageError
    from phiguard.report.summary import Tally
    from phiguard.scan import Scan

    local = [Path(s) for s in snapshot if not str(s).startswith("gs://")]
    check(outputs, [*local, config_path, sign_key, *rule_inputs(rules)],
          output_dir=output_dir,
          others=[("--bundle", bundle if isinstance(bundle, Path) else None)])
    if bundle is not None and not isinstance(bundle, Path):
        from phiguard.report.remote import check_free
        from phiguard.store.gcs import Gcs, GcsError

        with Gcs() as gcs:
            try:
                check_free(gcs, bundle)  # exit 2 before the scan when the prefix is taken
            except GcsError as exc:
                raise OutputError(f"--bundle {bundle}: cannot read: {exc}") from None
    if bigquery_shards is not None:
        if engine != "beam":
            raise UsageError("--bigquery-shards are written by the Beam engine's workers: add "
                             "--engine beam, or write the rows with --format ndjson")
        from phiguard.beam.bigquery import check_shards_target

        check_shards_target(bigquery_shards)  # exit 2 before the scan when it holds shards
    pack = load_pack(rules)
    view = pack.for_framework(framework)  # an unknown framework fails before the scan
    config = load_config(config_path)
    job: Scan
    if engine == "beam":
        from phiguard.beam.scan import BeamScan

        job = BeamScan(list(snapshot), pack, config, at=at,  # type: ignore[assignment]
                       pipeline_args=list(pipeline_args))
    elif engine == "local":
        if len(local) < len(snapshot):
            raise UsageError("a gs:// snapshot is read in place by the Beam engine: add "
                             "--engine beam (pip install 'phiguard[beam]')")
        job = Scan(local, pack, config, at=at, jobs=jobs)
    else:
        raise UsageError(f"unknown engine {engine!r} (expected local or beam)")
    for note in job.notes:
        notify(note)
    note_run_coverage(job, notify)
    note_coverage_gaps(job, notify)
    if bigquery_shards is not None:
        from phiguard.beam.bigquery import write_bigquery_shards

        shards = write_bigquery_shards(job, bigquery_shards, pipeline_args)
        notify(f"{len(shards)} BigQuery NDJSON shards written to "
               f"{bigquery_shards.rstrip('/')}/findings-*.ndjson")
    if sign_key is not None and bundle is None:
        raise UsageError("--sign-key signs an evidence bundle: add --bundle DIR")
    tally = Tally()
    result = ScanResult(job, pack, tally, None, list(outputs), bundle, view)
    formats = [o.fmt for o in outputs]
    if bundle is None and formats and (set(formats) <= {"json", "text"} or (
            set(formats) <= {"ndjson", "text"})):
        # Streamed: the findings JSON is serialized by the workers and never held whole, the
        # BigQuery rows are written as the findings come; the text summary needs only the tally.
        with open_outputs(outputs) as streams:
            for output, out in zip(outputs, streams, strict=True):
                if output.fmt == "json":
                    job.write_json(out, tally)
                elif output.fmt == "ndjson":
                    from phiguard.report.bigquery import write_ndjson

                    write_ndjson(out, tally.watch(job.findings()), job.run_info())
            if "json" not in formats and "ndjson" not in formats:
                job.tally(tally)
            stages.stage("report")
            for output, out in zip(outputs, streams, strict=True):
                if output.fmt == "text":
                    _text(out, output, result, job.run_info(), color)
        stages.note(findings=dict(tally.outcomes))
        note_types_missing(job, tally, notify)
        return result
    run_info = job.run_info()
    if bundle is not None:
        from phiguard.report.remote import write_bundle_to

        # the bundle's report follows the framework, as the run's other reports do; its
        # findings JSON keeps every finding
        result.findings = write_bundle_to(bundle, run_info, tally.watch(job.findings()), view,
                                          lambda: job.waivers, config_file=config_path,
                                          sign_key=sign_key)
    else:
        result.findings = list(tally.watch(job.findings()))
    stages.stage("report")
    _write(result, run_info, color)
    stages.note(findings=dict(tally.outcomes))
    note_types_missing(job, tally, notify)
    return result


def note_coverage_gaps(job: Any, notify: Callable[[str], None]) -> None:
    """Before the run: the sources a collected snapshot's manifest says could not be read
    (`run.coverage_gaps`), one warning each, as `phiguard collect` and `audit` say them."""
    from phiguard.report._common import run_reasons

    gaps = (getattr(job.files, "manifest", None) or {}).get("coverage_gaps")
    for reason in run_reasons({"coverage_gaps": gaps}):
        notify(f"warning: coverage gap: {reason.text}")


def note_run_coverage(job: Any, notify: Callable[[str], None]) -> None:
    """Before the run: the rules that judge nothing of a type of theirs the snapshot does not
    know to be collected (`run.subject_types_missing`), and pre-v1 type names no rule judges
    (`run.pre_v1_asset_types`), of either engine."""
    from phiguard.inventory.coverage import run_coverage_warnings

    for text in run_coverage_warnings(getattr(job, "run_coverage", None) or {}):
        notify(f"warning: {text}")


def note_types_missing(job: Any, tally: Tally, notify: Callable[[str], None]) -> None:
    """Once the run is over: the asset types rules look for that the snapshot does not know to
    be collected (`run.asset_types_missing` of a scan, either engine), with the assets UNKNOWN
    for want of each (counted by `tally`)."""
    from phiguard.inventory.coverage import types_missing_warning

    missing = job.asset_types_missing
    if missing:
        counts = {t: len(assets) for t, assets in tally.types_unknown.items()}
        notify(f"warning: {types_missing_warning(missing, counts)}")


def _write(result: ScanResult, run_info: dict[str, Any], color: bool | None) -> None:
    from phiguard.report.summary import Tally

    waivers = result.scan.waivers
    with open_outputs(result.outputs) as streams:
        for output, out in zip(result.outputs, streams, strict=True):
            if output.fmt == "text":
                _text(out, output, result, run_info, color)
            elif output.fmt == "json":
                from phiguard.report.json_report import write_findings

                assert result.findings is not None
                write_findings(out, run_info, result.findings, Tally(keep=0), lambda: waivers)
            else:
                from phiguard.report.formats import render

                assert result.findings is not None
                render(output.fmt, out, result.findings, run_info, result.view or result.pack,
                       waivers)


def _text(out: IO[str], output: Output, result: ScanResult, run_info: dict[str, Any],
          color: bool | None) -> None:
    from phiguard.report.text import render_text

    use_color = color if color is not None else output.to_stdout and sys.stdout.isatty()
    render_text(out, run_info, result.tally, result.view or result.pack, result.scan.waivers,
                color=use_color)
