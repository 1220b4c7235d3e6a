"""`phiguard plan -f text` says why results are UNKNOWN for want of data, as every other
format does: over a snapshot that lacks an asset type rules look for, the terminal summary
names the type; over the whole demo it says nothing of the kind."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from _partial import partial_demo
from _paths import DEMO, PLANS
from phiguard.cli import main

PLAN = PLANS / "cis-misc.json"
LOST = "logging.googleapis.com/LogMetric"


def _text(snapshot: Path) -> str:
    result = CliRunner().invoke(main, ["plan", str(PLAN), "--config", str(DEMO / "phiguard.yaml"),
                                       "--snapshot", str(snapshot), "-f", "text",
                                       "--at", "2026-11-25T00:00:00Z"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_plan_text_names_the_asset_type_the_snapshot_lacks(tmp_path: Path) -> None:
    text = _text(partial_demo(tmp_path, {LOST}))
    head, _, rest = text.partition("Why results are UNKNOWN")
    assert rest, text
    assert "outcomes  " in head  # after the outcomes line
    assert LOST in rest.split("\n\n")[0]


def test_plan_text_over_a_whole_snapshot_gives_no_reasons() -> None:
    assert "Why results are UNKNOWN" not in _text(DEMO)
