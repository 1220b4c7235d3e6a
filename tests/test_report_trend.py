"""The audit report's history section: failures by area over runs, and what changed."""

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


def test_trend_counts_failures_by_area_and_lists_changes(tmp_path: Path) -> None:
    """Each recorded run and the current one become a column; new and resolved failures are
    those that differ from the last recorded run."""
    with Store(tmp_path / "h.db") as store:
        store.record(_run("2026-11-23T06:00:00Z"),
                     [finding("//a", rule="NET-001"), finding("//b", rule="TLS-002")], scope="o")
        store.record(_run("2026-11-24T06:00:00Z"),
                     [finding("//a", rule="NET-001"), finding("//c", rule="NET-002"),
                      finding("//b", Outcome.PASS, rule="TLS-002")], scope="o")
        current = [finding("//c", rule="NET-002"), finding("//d", rule="IAM-001")]
        trend = trend_view(store, current)
    assert trend["columns"][-1] == "this run"
    assert len(trend["columns"]) == 3
    counts = {s["area"]: [n for _, _, n in s["points"]] for s in trend["series"]}
    assert counts == {"IAM": [0, 0, 1], "NET": [1, 2, 1], "TLS": [1, 0, 0]}
    changes = trend["changes"]
    assert [(c["rule_id"], c["asset"]) for c in changes["new"]] == [("IAM-001", "//d")]
    assert [(c["rule_id"], c["asset"]) for c in changes["resolved"]] == [("NET-001", "//a")]


def test_report_renders_the_trend_section(tmp_path: Path) -> None:
    """With history, the HTML report gains a chart per area and a changed-since table; the
    asset names in it are escaped."""
    with Store(tmp_path / "h.db") as store:
        store.record(_run("2026-11-24T06:00:00Z"), [finding("//a", rule="NET-001")], scope="o")
        current = [finding("//<script>x</script>", rule="NET-002")]
        trend = trend_view(store, current)
    out = io.StringIO()
    pack = load_pack([RULES])
    render_html(out, current, _run("2026-11-25T06:00:00Z"), pack, [], trend=trend)
    page = out.getvalue()
    html5lib.HTMLParser(strict=True).parse(page)
    assert 'id="trend"' in page and 'id="changes-since-last-run"' in page
    assert 'data-change="new"' in page and 'data-change="resolved"' in page
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    without = io.StringIO()
    render_html(without, current, _run("2026-11-25T06:00:00Z"), pack, [])
    assert 'id="trend"' not in without.getvalue()


def test_paragraph_no_rule_can_evidence_is_marked_not_covered() -> None:
    """A control the catalog marks `covered: false` shows NOT COVERED, not a status."""
    out = io.StringIO()
    pack = load_pack([RULES])
    render_html(out, [finding("//a", rule="NET-001")], _run("2026-11-25T06:00:00Z"), pack, [])
    page = out.getvalue()
    row = page[page.index('<tr data-control="hipaa/164.308(a)(5)(ii)(C)">'):]
    assert "NOT COVERED" in row[:row.index("</tr>")]
