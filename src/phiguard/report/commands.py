"""The report-side commands: scan's extra formats and --bundle, `phiguard report`, `verify`.

cli.py registers these and calls `scan_outputs`; library imports stay inside the functions so
`phiguard --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack
    from phiguard.scan import Scan

__all__ = ["RENDERED_FORMATS", "render", "report_command", "scan_outputs", "verify_command"]

RENDERED_FORMATS = ("html", "sarif", "junit", "markdown", "csv")
Renderer = Callable[..., None]


def _renderer(fmt: str) -> Renderer:
    if fmt == "html":
        from phiguard.report.html_report import render_html

        return render_html
    if fmt == "sarif":
        from phiguard.report.sarif import render_sarif

        return render_sarif
    if fmt == "junit":
        from phiguard.report.junit import render_junit

        return render_junit
    if fmt == "markdown":
        from phiguard.report.markdown import render_markdown

        return render_markdown
    if fmt == "csv":
        from phiguard.report.csv_report import render_csv

        return render_csv
    raise ValueError(f"unknown format {fmt}")


def render(fmt: str, out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
           pack: RulePack, waivers: Sequence[Mapping[str, Any]]) -> None:
    """Render findings in one of RENDERED_FORMATS."""
    _renderer(fmt)(out, findings, run, pack, waivers)


def scan_outputs(job: Scan, pack: RulePack, *, fmt: str, output: str | None,
                 bundle: Path | None, sign_key: Path | None, config_path: Path | None,
                 color: bool | None, fail_on: str,
                 open_output: Callable[[str | None], AbstractContextManager[IO[str]]]) -> int:
    """Scan once; write the bundle (if asked) and the chosen format; return the exit code."""
    from phiguard.report.summary import Tally

    run_info = job.run_info()
    tally = Tally()
    if bundle is not None:
        from phiguard.report.bundle import write_bundle

        findings: list[Finding] = write_bundle(bundle, run_info, tally.watch(job.findings()),
                                               pack, lambda: job.waivers,
                                               config_file=config_path, sign_key=sign_key)
    else:
        findings = list(tally.watch(job.findings()))
    waivers = job.waivers
    if fmt == "json":
        from phiguard.report.json_report import write_findings

        with open_output(output) as out:
            write_findings(out, run_info, findings, Tally(keep=0), lambda: waivers)
    elif fmt == "text":
        from phiguard.report.text import render_text

        with open_output(output) as out:
            use_color = color if color is not None else (output in (None, "-")
                                                         and sys.stdout.isatty())
            render_text(out, run_info, tally, pack, waivers, color=use_color)
    else:
        with open_output(output) as out:
            render(fmt, out, findings, run_info, pack, waivers)
    if bundle is not None:
        click.echo(f"phiguard: evidence bundle written to {bundle}", err=True)
    if fail_on != "none" and tally.failing_at_or_above(fail_on):
        return 1
    return 0


def _iter_findings(results: list[dict[str, Any]], path: str) -> Iterator[Finding]:
    from phiguard.errors import InputError
    from phiguard.findings import Finding

    for i, obj in enumerate(results):
        try:
            yield Finding.from_json(obj)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"results[{i}] is not a finding ({type(exc).__name__}: {exc})",
                             file=path) from None


@click.command("report")
@click.argument("findings_file", metavar="FINDINGS.json", type=click.Path(path_type=Path))
@click.option("--format", "-f", "fmt", type=click.Choice(RENDERED_FORMATS), required=True)
@click.option("--output", "-o", help="Write here instead of stdout (atomically).")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Rule directory for titles and texts (default: the bundled HIPAA pack).")
@click.option("--journal", "journals", multiple=True, type=click.Path(path_type=Path),
              help="A `fix apply` journal: the HTML shows its fixes as remediation evidence.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def report_command(findings_file: Path, fmt: str, output: str | None, rules: tuple[Path, ...],
                   journals: tuple[Path, ...], debug: bool) -> None:
    """Re-render a findings JSON (v1) as html, markdown, csv, junit or sarif, without rescanning."""
    from phiguard import cli

    def run() -> int:
        from phiguard.errors import InputError
        from phiguard.report.json_report import read_findings
        from phiguard.report.validate import check_renderable_run

        cli._refuse_inputs([("--output", output)],
                           [findings_file, *journals, *(rules or [cli._default_rules_dir()])])
        doc = read_findings(str(findings_file))
        check_renderable_run(doc, str(findings_file))
        run_info, results = doc.get("run"), doc.get("results")
        if not isinstance(run_info, dict) or not isinstance(results, list):
            raise InputError("findings file has no run block or results list",
                             file=str(findings_file))
        pack = cli._load_pack(rules)
        if run_info.get("rule_pack_digest") != f"sha256:{pack.digest}":
            click.echo("phiguard: warning: the findings were produced with another rule pack "
                       f"({run_info.get('rule_pack_digest')}); titles and texts come from "
                       f"sha256:{pack.digest}", err=True)
        findings = _iter_findings(results, str(findings_file))
        if journals:
            from phiguard.errors import UsageError
            from phiguard.report.fixes import fix_rows, read_journal_records
            from phiguard.report.html_report import render_html

            if fmt != "html":
                raise UsageError("--journal adds applied fixes to the html report: use -f html")
            rows = fix_rows([r for path in journals for r in read_journal_records(path)])
            with cli._output(output) as out:
                render_html(out, findings, run_info, pack, doc.get("waivers") or [], fixes=rows)
            return 0
        with cli._output(output) as out:
            render(fmt, out, findings, run_info, pack, doc.get("waivers") or [])
        return 0

    cli._run(run, debug)


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
