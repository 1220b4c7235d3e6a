"""The options of the commands that read the live organization (collect, audit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["scope_options", "warn_gap"]


def scope_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--org", help="Organization id (numeric)."),
        click.option("--folder", help="Folder id (numeric)."),
        click.option("--project", "projects", multiple=True,
                     help="Project id (repeatable)."),
        click.option("--directory-customer",
                     help="Admin SDK customer (`my_customer`) for directory users and 2SV; "
                          "without it, the MFA rules report UNKNOWN."),
        click.option("--asset-type", "asset_types", multiple=True,
                     help="Collect only these asset types (repeatable; default: what the "
                          "rule pack needs)."),
        click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
                     help="Concurrent Cloud Asset listings (respect your quota)."),
        click.option("--export", "export_uri", metavar="gs://BUCKET/PREFIX",
                     help="For very large orgs: ExportAssets to this Cloud Storage prefix "
                          "(one export per content type, at one read time), wait for the "
                          "operations and download the shards, instead of listing."),
        click.option("--export-timeout", type=click.FloatRange(min=1), default=3600.0,
                     show_default=True,
                     help="Seconds to wait for each export operation; one that has not "
                          "finished is a coverage gap."),
    ]):
        fn = option(fn)
    return fn


def warn_gap(gap: dict[str, Any]) -> None:
    click.echo(f"phiguard: warning: coverage gap: {gap['source']} {gap['what']}: "
               f"{gap['reason']}", err=True)
