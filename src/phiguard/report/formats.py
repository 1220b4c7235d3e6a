"""The report formats rendered from a list of findings, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack

__all__ = ["RENDERED_FORMATS", "render"]

RENDERED_FORMATS = ("html", "sarif", "junit", "markdown", "csv", "ndjson")
Renderer = Callable[..., None]


def _renderer(fmt: str) -> Renderer:
    # Imported on use: each renderer pulls in its own libraries (jinja2, rich, ...).
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
    if fmt == "ndjson":
        from phiguard.report.bigquery import render_ndjson

        return render_ndjson
    raise ValueError(f"unknown format {fmt}")


def render(fmt: str, out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
           pack: RulePack, waivers: Sequence[Mapping[str, Any]]) -> None:
    """Render findings in one of RENDERED_FORMATS."""
    _renderer(fmt)(out, findings, run, pack, waivers)
