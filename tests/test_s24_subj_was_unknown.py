"""The HTML report's "Changed since the last run" table shows a result that was UNKNOWN in the
last run and fails now as "now failing, was UNKNOWN" (since 98687ba it is no longer "new", and
was shown nowhere), beside the new failures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import html5lib

from _paths import RULES
from phiguard.findings import Outcome
from phiguard.policy.rule import load_pack
from phiguard.report.html_report import render_html
from phiguard.store.db import Store
from phiguard.store.trend import trend_view
from report_data import finding


def _run(time: str) -> dict[str, Any]:
    return {"snapshot_time": time, "tool_version": "0", "rule_pack_digest": "sha256:x",
            "config": {}, "inputs": [], "evaluated_at": time, "rules_evaluated": []}


def test_a_failure_that_was_unknown_is_shown_as_such(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as store:
        store.record(_run("2026-11-24T06:00:00Z"),
                     [finding("//a", Outcome.UNKNOWN, rule="NET-001"),
                      finding("//b", Outcome.PASS, rule="NET-002")], scope="o")
        current = [finding("//a", rule="NET-001"), finding("//b", rule="NET-002")]
        trend = trend_view(store, current)
    out = io.StringIO()
    render_html(out, current, _run("2026-11-25T06:00:00Z"), load_pack([RULES]), [], trend=trend)
    page = out.getvalue()
    html5lib.HTMLParser(strict=True).parse(page)
    start = page.index('id="changes-since-last-run"')
    table = page[start:page.index("</table>", start)]
    assert table.count('data-change="new"') == 1 and "//b" in table
    assert table.count('data-change="was-unknown"') == 1
    row = table[table.index('data-change="was-unknown"'):]
    assert "now failing, was UNKNOWN" in row and "//a" in row.split("</tr>")[0]
    assert "2026-11-24T06:00:00Z" in row.split("</tr>")[0]
    assert "no failure appeared" not in table


def test_the_chart_counts_what_went_unknown(tmp_path: Path) -> None:
    # a run whose failures became UNKNOWN is not remediated: the chart says how many results
    # were UNKNOWN under each column and in each area's point
    with Store(tmp_path / "h.db") as store:
        store.record(_run("2026-11-24T06:00:00Z"),
                     [finding("//a", rule="NET-001"), finding("//b", rule="NET-002")],
                     scope="o")
        current = [finding("//a", Outcome.UNKNOWN, rule="NET-001"),
                   finding("//b", Outcome.UNKNOWN, rule="NET-002")]
        trend = trend_view(store, current)
    out = io.StringIO()
    render_html(out, current, _run("2026-11-25T06:00:00Z"), load_pack([RULES]), [], trend=trend)
    page = out.getvalue()
    html5lib.HTMLParser(strict=True).parse(page)
    chart = page[page.index('<section id="trend">'):page.index("</svg>",
                                                                 page.index('id="trend"'))]
    assert chart.count('class="trend-unknown"') == 1 and ">2 UNKNOWN</text>" in chart
    assert "NET: 0 failing, 2 UNKNOWN (not judged)" in chart
