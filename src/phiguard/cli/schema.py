"""`phiguard schema bigquery`: the BigQuery table schema of `--format ndjson` findings."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import debug_option

__all__ = ["schema_command"]


@click.command("schema")
@click.argument("kind", type=click.Choice(["bigquery"]), metavar="bigquery")
@click.option("--check", "check_file", type=click.Path(path_type=Path), metavar="FINDINGS.ndjson",
              help="Instead of printing the schema, check that every row of this NDJSON file "
                   "loads into it (exit 2 at the first row that would not, naming its line).")
@debug_option
def schema_command(kind: str, check_file: Path | None, debug: bool) -> None:
    """Print the BigQuery table schema (TableSchema.fields JSON) of the findings rows that
    `scan --format ndjson` and `report --format ndjson` write, for
    `bq load --source_format=NEWLINE_DELIMITED_JSON DATASET.TABLE FILE.ndjson SCHEMA.json`."""

    def body() -> int:
        from phiguard.report.bigquery import check_ndjson_file, schema_text

        if check_file is None:
            click.echo(schema_text(), nl=False)
            return 0
        rows = check_ndjson_file(str(check_file))
        click.echo(f"{check_file}: {rows} rows match the BigQuery findings schema")
        return 0

    run(body, debug)
