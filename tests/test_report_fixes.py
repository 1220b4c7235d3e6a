"""Applied fixes in the auditor report: the `fix apply` journal as remediation evidence."""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
from click.testing import CliRunner

from phiguard.cli import main


def _journal(path: Path, *, torn: bool = False) -> None:
    records = [
        {"time": "2026-11-25T07:00:00Z", "plan_digest": "sha256:x", "action_id": "a1",
         "rule_id": "TLS-003", "asset": "//compute.googleapis.com/projects/p/global/sslPolicies/"
         "<b>weak</b>", "action": "ssl-policy-min-tls", "result": "applied",
         "rule_outcome": "PASS", "before": {"profile": "COMPATIBLE"},
         "after": {"profile": "MODERN", "minTlsVersion": "TLS_1_2"}},
        {"time": "2026-11-25T07:00:02Z", "plan_digest": "sha256:x", "action_id": "a2",
         "rule_id": "NET-001", "asset": "//compute.googleapis.com/projects/p/global/firewalls/f",
         "action": "firewall-disable", "result": "skipped-changed"},
    ]
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(text + ('{"time": "2026-11-25T07:0' if torn else ""))


def test_report_shows_applied_fixes_from_a_journal(tmp_path: Path, demo_scan: Path) -> None:
    """`report --journal` adds each journal record (result, rule outcome after the change,
    before → after) to the HTML, escaped; a torn last line is ignored."""
    findings = demo_scan
    runner = CliRunner()
    journal = tmp_path / "fixes.ndjson"
    _journal(journal, torn=True)
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", str(findings), "-f", "html", "-o", str(out),
                                  "--journal", str(journal)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    html5lib.HTMLParser(strict=True).parse(page)
    assert 'id="applied-fixes"' in page
    assert page.count('<tr data-result="') == 2
    assert 'data-result="skipped-changed"' in page
    assert "&lt;b&gt;weak&lt;/b&gt;" in page and "<b>weak</b>" not in page
    assert "MODERN" in page


def test_bad_journal_is_an_input_error(tmp_path: Path, demo_scan: Path) -> None:
    """A malformed journal line (not the torn last one) exits 2 naming the line."""
    findings = demo_scan
    runner = CliRunner()
    journal = tmp_path / "fixes.ndjson"
    journal.write_text('{"x": 1}\n{"action_id": "a"}\n')
    result = runner.invoke(main, ["report", str(findings), "-f", "html", "--journal",
                                  str(journal)])
    assert result.exit_code == 2
    assert f"{journal}:1:" in result.output
    wrong = runner.invoke(main, ["report", str(findings), "-f", "csv", "--journal",
                                 str(journal)])
    assert wrong.exit_code == 2
