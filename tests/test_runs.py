"""The named runs as a library: they return data and write only what they are asked to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phiguard.errors import UsageError
from phiguard.runs.outputs import Output, choose_outputs
from phiguard.runs.plan import run_plan_gate
from phiguard.runs.scan import run_scan


def test_run_scan_returns_the_findings_the_json_report_holds(demo_dir: Path,
                                                             tmp_path: Path) -> None:
    notes: list[str] = []
    kept = run_scan([demo_dir], config_path=demo_dir / "phiguard.yaml", notify=notes.append)
    assert kept.findings is not None and kept.outputs == []
    assert sorted(tmp_path.iterdir()) == []  # nothing written without outputs
    target = tmp_path / "f.json"
    written = run_scan([demo_dir], config_path=demo_dir / "phiguard.yaml",
                       outputs=[Output("json", str(target))])
    assert written.findings is None  # a single JSON report is streamed, not kept
    doc = json.loads(target.read_text())
    assert [f.to_json() for f in kept.findings] == doc["results"]
    assert kept.tally.outcomes == written.tally.outcomes
    assert kept.failing("high") == written.failing("high") is True
    assert not kept.failing("none")


def test_run_plan_gate_returns_findings_and_tally(demo_dir: Path) -> None:
    plans = demo_dir.parent.parent / "plans"
    result = run_plan_gate(plans / "unknowns.json", config_path=plans / "phiguard.yaml")
    outcomes = [f.outcome.value for f in result.findings]
    assert "UNKNOWN" in outcomes and "FAIL" not in outcomes  # every read value unknown
    assert result.tally.outcomes["UNKNOWN"] == outcomes.count("UNKNOWN")
    assert result.run["rules_evaluated"] and not result.failing("info")


@pytest.mark.parametrize("formats, outputs, directory, want", [
    ((), (), None, [Output("text")]),
    (("json",), ("f.json",), None, [Output("json", "f.json")]),
    (("json", "sarif"), (), "d", [Output("json", "d/phiguard.json", "--output-dir"),
                                   Output("sarif", "d/phiguard.sarif", "--output-dir")]),
    (("text",), ("json=a.json",), None, [Output("text"), Output("json", "a.json")]),
    # a plain path that merely contains '=' is a path
    ((), ("x=y.txt",), None, [Output("text", "x=y.txt")]),
])
def test_choose_outputs(formats: tuple[str, ...], outputs: tuple[str, ...],
                        directory: str | None, want: list[Output]) -> None:
    got = choose_outputs(formats, outputs, directory,
                         choices=("text", "json", "sarif"), default="text")
    assert got == want


def test_choose_outputs_refuses_a_plain_file_beside_an_output_dir() -> None:
    with pytest.raises(UsageError, match="name the format"):
        choose_outputs(("json",), ("f.json",), "d", choices=("json",))


def test_choose_outputs_sends_one_format_at_most_to_standard_output() -> None:
    """`-` is standard output: two formats there would be one unreadable stream."""
    with pytest.raises(UsageError, match="only one format can go to standard output"):
        choose_outputs((), ("json=-", "sarif=-"), None, choices=("json", "sarif"))
    with pytest.raises(UsageError, match="only one format can go to standard output"):
        choose_outputs(("text",), ("json=-",), None, choices=("text", "json"))
    assert choose_outputs(("text",), ("json=-",), "d", choices=("text", "json")) == [
        Output("text", "d/phiguard.txt", "--output-dir"), Output("json", "-")]


def test_json_and_text_together_stay_streamed(demo_dir: Path, tmp_path: Path) -> None:
    """JSON and text from one run keep no list of findings (memory stays that of one
    report); the text is the one a text-only run writes."""
    alone = tmp_path / "alone.txt"
    run_scan([demo_dir], config_path=demo_dir / "phiguard.yaml", color=False,
             outputs=[Output("text", str(alone))])
    both = run_scan([demo_dir], config_path=demo_dir / "phiguard.yaml", color=False,
                    outputs=[Output("text", str(tmp_path / "t.txt")),
                             Output("json", str(tmp_path / "f.json"))])
    assert both.findings is None
    assert (tmp_path / "t.txt").read_bytes() == alone.read_bytes()
    assert json.loads((tmp_path / "f.json").read_text())["results"]
