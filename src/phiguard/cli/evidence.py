"""`phiguard evidence check gs://BUCKET`: is the evidence bucket fit to keep evidence six years."""

from __future__ import annotations

import json
from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import (
    config_option,
    debug_option,
    rules_option,
    single_format_option,
)

__all__ = ["evidence_group"]


@click.group("evidence")
def evidence_group() -> None:
    """Where phiguard keeps its own evidence (see docs/evidence.md)."""


@evidence_group.command("check")
@click.argument("bucket", metavar="gs://BUCKET")
@single_format_option(("text", "json"))
@config_option("phiguard.yaml whose `params` tune the rules applied (BAK-005's "
               "min_soft_delete_seconds, LOG-003's min_retention_seconds, never below six "
               "years).")
@rules_option("Rule directory whose bucket rules are applied (default: the bundled pack).")
@debug_option
def check_command(bucket: str, fmt: str, config_path: Path | None, rules: tuple[Path, ...],
                  debug: bool) -> None:
    """Check the evidence bucket: a locked retention policy of at least six years
    (164.316(b)(2)(i)), uniform bucket-level access and public access prevention, Object
    Versioning or soft delete (the pack's bucket rules whose fix is that setting: PUB-005,
    BAK-005), and that the identity running this command can create objects but not delete
    them (testIamPermissions). Run it as the identity that runs
    the audits. Exit 0 every check passes, 1 a check fails or cannot be decided, 2 bad input
    or an unreachable bucket."""

    def body() -> int:
        from phiguard.config import load_config
        from phiguard.errors import StoreError
        from phiguard.report.evidence_check import check_evidence_bucket
        from phiguard.report.text import printable
        from phiguard.runs.common import load_pack
        from phiguard.store.gcs import Gcs, GcsError, parse_gcs_url

        url = parse_gcs_url(bucket, "evidence check", bucket_only=True)
        pack = load_pack(rules)
        config = load_config(config_path)
        config.check_against(pack)
        with Gcs() as gcs:
            try:
                checks = check_evidence_bucket(url.bucket, pack, gcs, config.params)
            except GcsError as exc:
                raise StoreError(f"evidence check {url}: {exc}") from None
        if fmt == "json":
            click.echo(json.dumps({"bucket": str(url), "checks": [
                {"check": c.name, "outcome": c.outcome, "detail": c.detail, "source": c.source}
                for c in checks]}, indent=2))
        else:
            for c in checks:
                click.echo(f"{c.outcome:<8} {c.name:<10} {printable(c.detail)}  [{c.source}]")
            bad = [c for c in checks if c.outcome != "PASS"]
            click.echo(f"{url}: " + ("fit to keep evidence for six years" if not bad
                                     else f"{len(bad)} of {len(checks)} checks not passed"))
        return 1 if any(c.outcome != "PASS" for c in checks) else 0

    run(body, debug)
