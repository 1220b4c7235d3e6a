"""`phiguard collect`: a snapshot of the live organization (phiguard.runs.collect)."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import config_option, debug_option, rules_option
from phiguard.cli._scope import scope_options, warn_gap

__all__ = ["collect_command"]


@click.command("collect")
@scope_options
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="New snapshot directory (written atomically).")
@config_option("phiguard.yaml: enabled rules decide which asset types are collected.")
@rules_option("Rule directory (default: the bundled HIPAA pack).")
@debug_option
def collect_command(org: str | None, folder: str | None, projects: tuple[str, ...],
                    directory_customer: str | None, asset_types: tuple[str, ...],
                    concurrency: int, export_uri: str | None, export_timeout: float,
                    output: Path, config_path: Path | None,
                    rules: tuple[Path, ...], debug: bool) -> None:
    """Collect a snapshot from the live organization (Application Default Credentials)."""

    def body() -> int:
        from phiguard.runs.collect import run_collect

        manifest = run_collect(output, org=org, folder=folder, projects=projects, rules=rules,
                               config_path=config_path, asset_types=asset_types,
                               directory_customer=directory_customer, concurrency=concurrency,
                               export_uri=export_uri, export_timeout=export_timeout,
                               on_gap=warn_gap)
        records = sum(s.get("records", 0) for s in manifest["sources"])
        click.echo(f"{output}: {records} records at {manifest['read_time']}, "
                   f"{len(manifest['coverage_gaps'])} coverage gaps")
        return 0

    run(body, debug)
