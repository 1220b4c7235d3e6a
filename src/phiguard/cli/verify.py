"""`phiguard verify DIR|gs://BUCKET/PREFIX/RUN`: check an evidence bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["verify_command"]


@click.command("verify")
@click.argument("location", metavar="DIR|gs://BUCKET/PREFIX/RUN")
@click.option("--public-key", type=click.Path(path_type=Path), envvar="PHIGUARD_PUBLIC_KEY",
              help="Ed25519 public key (PEM) the manifest must be signed with "
                   "(env PHIGUARD_PUBLIC_KEY). With it, an unsigned bundle is not intact.")
@click.option("--require-signature", is_flag=True,
              help="An unsigned bundle is not intact (a signed one needs --public-key).")
def verify_command(location: str, public_key: Path | None, require_signature: bool) -> None:
    """Check an evidence bundle: exit 0 intact, 1 not intact, 2 cannot be checked.

    Intact: exactly the manifest, the files it lists and its signature, all regular files whose
    sha256 match; a signed bundle's signature checked against --public-key (never against the
    key the bundle carries). A bundle in Cloud Storage is checked in place (its objects); one
    without its manifest is an upload that did not finish: incomplete, exit 1. See
    docs/security.md and docs/evidence.md.
    """
    from phiguard.report.bundle import verify_bundle

    if location.startswith("gs://"):
        from phiguard.errors import UsageError
        from phiguard.report.remote import verify_remote
        from phiguard.store.gcs import parse_gcs_url

        try:
            url = parse_gcs_url(location, "verify", object_required=True)
        except UsageError as exc:
            click.echo(f"phiguard: error: {_clean(str(exc))}", err=True)
            sys.exit(2)
        result = verify_remote(url, public_key, require_signature=require_signature)
    else:
        result = verify_bundle(Path(location), public_key, require_signature=require_signature)
    directory = location
    for note in result.notes:
        click.echo(f"phiguard: note: {_clean(note)}", err=True)
    for warning in result.warnings:
        click.echo(f"phiguard: warning: {_clean(warning)}", err=True)
    for problem in result.problems:
        if problem.startswith("incomplete: "):  # a Cloud Storage upload that did not finish
            click.echo(f"phiguard: {_clean(problem)}", err=True)
        else:
            click.echo(f"phiguard: tampered: {_clean(problem)}", err=True)
    for problem in result.unverified:
        click.echo(f"phiguard: error: {_clean(problem)}", err=True)
    if result.exit_code == 0:
        click.echo(f"{_clean(str(directory))}: intact")
    sys.exit(result.exit_code)


def _clean(text: str) -> str:
    """A file name from a hostile directory, safe on a terminal (control characters escaped)."""
    from phiguard.report.text import printable

    return printable(text)
