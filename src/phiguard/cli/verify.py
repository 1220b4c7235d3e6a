"""`phiguard verify DIR`: check an evidence bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["verify_command"]


@click.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--public-key", type=click.Path(path_type=Path), envvar="PHIGUARD_PUBLIC_KEY",
              help="Ed25519 public key (PEM) the manifest must be signed with "
                   "(env PHIGUARD_PUBLIC_KEY). With it, an unsigned bundle is not intact.")
@click.option("--require-signature", is_flag=True,
              help="An unsigned bundle is not intact (a signed one needs --public-key).")
def verify_command(directory: Path, public_key: Path | None, require_signature: bool) -> None:
    """Check an evidence bundle: exit 0 intact, 1 not intact, 2 cannot be checked.

    Intact: exactly the manifest, the files it lists and its signature, all regular files whose
    sha256 match; a signed bundle's signature checked against --public-key (never against the
    key the bundle carries). See docs/security.md.
    """
    from phiguard.report.bundle import verify_bundle

    result = verify_bundle(directory, public_key, require_signature=require_signature)
    for note in result.notes:
        click.echo(f"phiguard: note: {_clean(note)}", err=True)
    for warning in result.warnings:
        click.echo(f"phiguard: warning: {_clean(warning)}", err=True)
    for problem in result.problems:
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
