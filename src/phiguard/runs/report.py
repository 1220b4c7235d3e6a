"""The report run: a findings file (JSON v1) rendered again, without rescanning."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phiguard.runs.common import load_pack, rule_inputs
from phiguard.runs.outputs import Output, check, open_outputs

if TYPE_CHECKING:
    from phiguard.findings import Finding

__all__ = ["run_report"]


def _iter_findings(results: list[dict[str, Any]], path: str) -> Iterator[Finding]:
    from phiguard.errors import InputError
    from phiguard.findings import Finding

    for i, obj in enumerate(results):
        try:
            yield Finding.from_json(obj)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"results[{i}] is not a finding ({type(exc).__name__}: {exc})",
                             file=path) from None


def run_report(findings_file: Path, outputs: Sequence[Output], *, rules: Sequence[Path] = (),
               journals: Sequence[Path] = (), output_dir: str | None = None,
               framework: str = "hipaa", warn: Callable[[str], None] = lambda text: None) -> None:
    """Render `findings_file` in each of `outputs`; `warn` hears that the findings came from
    another rule pack than the one giving titles and texts. With `journals` (html only),
    the applied fixes are shown as remediation evidence. The reports follow `framework`
    (a control catalog of the pack)."""
    from phiguard.errors import InputError
    from phiguard.report.json_report import read_findings
    from phiguard.report.validate import check_renderable_run

    check(outputs, [findings_file, *journals, *rule_inputs(rules)], output_dir=output_dir)
    doc = read_findings(str(findings_file))
    check_renderable_run(doc, str(findings_file))
    run_info, results = doc.get("run"), doc.get("results")
    if not isinstance(run_info, dict) or not isinstance(results, list):
        raise InputError("findings file has no run block or results list",
                         file=str(findings_file))
    if any(o.fmt == "ndjson" for o in outputs):
        from phiguard.report.bigquery import check_findings_doc

        check_findings_doc(doc, str(findings_file))  # exit 2 before any report is written
    pack = load_pack(rules).for_framework(framework)
    if run_info.get("rule_pack_digest") != f"sha256:{pack.digest}":
        warn("the findings were produced with another rule pack "
             f"({run_info.get('rule_pack_digest')}); titles and texts come from "
             f"sha256:{pack.digest}")
    waivers = doc.get("waivers") or []
    rows = None
    if journals:
        from phiguard.errors import UsageError
        from phiguard.report.fixes import fix_rows, read_journal_records

        if any(o.fmt != "html" for o in outputs):
            raise UsageError("--journal adds applied fixes to the html report: use -f html")
        rows = fix_rows([r for path in journals for r in read_journal_records(path)])
    # One pass over the results per report: a renderer may keep only what it shows.
    with open_outputs(outputs) as streams:
        for output, out in zip(outputs, streams, strict=True):
            findings = _iter_findings(results, str(findings_file))
            if rows is not None:
                from phiguard.report.html_report import render_html

                render_html(out, findings, run_info, pack, waivers, fixes=rows)
            else:
                from phiguard.report.formats import render

                render(output.fmt, out, findings, run_info, pack, waivers)
