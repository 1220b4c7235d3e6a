"""LOG-003 on an export without log sinks: no default decides it (Cloud Logging's predefined
_Required and _Default sinks route a project's own logs to its own buckets; only a folder's or
organization's aggregated sink routes other projects' logs, and one exists only if someone
made it), so a bucket that would fail stays UNKNOWN, and its message says what to export."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from _partial import partial_demo
from _paths import DEMO
from phiguard import load_config, load_pack, scan_snapshot
from phiguard.findings import Finding, Outcome
from phiguard.inventory.coverage import types_cited

SINK = "logging.googleapis.com/LogSink"
AT = datetime(2026, 11, 25, tzinfo=UTC)


def _log003(path: Path) -> dict[str, Finding]:
    found = scan_snapshot(path, pack=load_pack(), config=load_config(DEMO / "phiguard.yaml"),
                          at=AT)
    by_rule: dict[str, dict[str, Finding]] = defaultdict(dict)
    for f in found:
        by_rule[f.rule_id][f.asset] = f
    return by_rule["LOG-003"]


def test_without_sinks_the_message_says_what_to_export(tmp_path: Path) -> None:
    full = _log003(DEMO)
    partial = _log003(partial_demo(tmp_path, {SINK}))
    # what the aggregated sinks feed keeps its verdict where the bucket passes anyway
    for name, finding in full.items():
        assert partial[name].outcome == finding.outcome == Outcome.PASS
    unknown = [f for f in partial.values() if f.outcome == Outcome.UNKNOWN]
    assert unknown and not [f for f in partial.values() if f.outcome == Outcome.FAIL]
    for f in unknown:
        assert types_cited(f.message) == [SINK], f.message
        # the export that decides it: the sinks, at the organization (its and its folders'
        # aggregated sinks are where a project-scoped export cannot see)
        assert f"--asset-types={SINK}" in f.message, f.message
        assert "organization" in f.message, f.message
