"""`phiguard report FINDINGS.json`: render a findings file again (phiguard.runs.report)."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import (
    chosen_outputs,
    debug_option,
    framework_option,
    output_options,
    rules_option,
)

__all__ = ["report_command"]

FORMATS = ("html", "sarif", "junit", "markdown", "csv", "ndjson")


@click.command("report")
@click.argument("findings_file", metavar="FINDINGS.json", type=click.Path(path_type=Path))
@output_options(FORMATS, default=None)
@rules_option("Rule directory for titles and texts (default: the bundled HIPAA pack).")
@click.option("--journal", "journals", multiple=True, type=click.Path(path_type=Path),
              help="A `fix apply` journal: the HTML shows its fixes as remediation evidence.")
@framework_option
@debug_option
def report_command(findings_file: Path, fmt: tuple[str, ...], output: tuple[str, ...],
                   output_dir: str | None, rules: tuple[Path, ...], journals: tuple[Path, ...],
                   framework: str, debug: bool) -> None:
    """Re-render a findings JSON (v1) as html, markdown, csv, junit, sarif or ndjson (BigQuery
    rows; see `phiguard schema bigquery`), without rescanning."""

    def body() -> int:
        from phiguard.runs.report import run_report

        outputs = chosen_outputs(fmt, output, output_dir, FORMATS, default=None)
        run_report(findings_file, outputs, rules=rules, journals=journals,
                   output_dir=output_dir, framework=framework,
                   warn=lambda text: click.echo(f"phiguard: warning: {text}", err=True))
        return 0

    run(body, debug)
