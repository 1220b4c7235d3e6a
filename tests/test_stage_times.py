"""PHIGUARD_STAGE_TIMES: a scan or plan writes the wall and CPU time of each of its stages to
the named file (benchmarks/run.py and plan_run.py print them); unset, nothing is timed or
written and the findings are the same byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DEMO, PLANS
from phiguard._util import stages
from phiguard.cli import main

AT = "2026-11-25T00:00:00Z"
SCAN_STAGES = ["startup", "setup (rules, config)", "envelope pass", "join index build",
               "judging pass", "read/parse", "rule evaluation", "serialization"]
PLAN_STAGES = ["startup", "setup (rules, config)", "load/parse plan", "convert/build world",
               "judge", "render"]
SLACK = 1e-3  # each figure is rounded to 0.1 ms


def _scan(out: Path, *extra: str) -> int:
    result = CliRunner().invoke(main, ["scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
                                       "--format", "json", "--output", str(out), "--at", AT,
                                       *extra], catch_exceptions=False)
    return result.exit_code


def _check_times(doc: dict[str, Any], names: list[str]) -> dict[str, dict[str, float]]:
    by_name = {s["name"]: s for s in doc["stages"]}
    assert [n for n in by_name if n in names] == names  # every stage, in the order run
    for s in doc["stages"]:
        assert s["wall_s"] >= 0 and s["cpu_s"] >= 0, s
    assert sum(s["wall_s"] for s in doc["stages"]) <= doc["total"]["wall_s"] + SLACK
    assert sum(s["cpu_s"] for s in doc["stages"]) <= doc["total"]["cpu_s"] + SLACK
    return by_name


def test_scan_writes_every_stage_and_the_same_findings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stages.ENV, raising=False)
    assert _scan(tmp_path / "plain.json") == 1
    timing = tmp_path / "stages.json"
    monkeypatch.setenv(stages.ENV, str(timing))
    assert _scan(tmp_path / "timed.json") == 1
    doc = json.loads(timing.read_text())
    assert doc["version"] == 1 and doc["command"] == "scan" and doc["jobs"] == 1
    by_name = _check_times(doc, SCAN_STAGES)
    assert by_name["rule evaluation"]["wall_s"] > 0
    assert "workers" not in doc  # one process: every stage is its own
    assert (tmp_path / "timed.json").read_bytes() == (tmp_path / "plain.json").read_bytes()


def test_scan_with_workers_reports_their_stages_apart(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard._util import parallel

    # --jobs 2 is this process and one worker, which judge tasks in turn: the worker's are
    # kept however slow it is to start (not taken back and run here)
    monkeypatch.setattr(parallel, "SLOWER", 1e6)
    timing = tmp_path / "stages.json"
    monkeypatch.setenv(stages.ENV, str(timing))
    assert _scan(tmp_path / "out.json", "--jobs", "2") == 1
    doc = json.loads(timing.read_text())
    assert doc["jobs"] == 2
    own = _check_times(doc, [n for n in SCAN_STAGES if n != "read/parse"])
    workers = {s["name"]: s for s in doc["workers"]["stages"]}
    assert sorted(workers) == ["read/parse", "rule evaluation", "serialization"]
    assert workers["rule evaluation"]["wall_s"] + own["rule evaluation"]["wall_s"] > 0


def test_off_by_default_times_and_writes_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(stages.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    seen: list[bool] = []
    real = stages.stage

    def spy(name: str) -> None:
        seen.append(stages.active())
        real(name)

    monkeypatch.setattr(stages, "stage", spy)
    out = tmp_path / "out" / "findings.json"
    out.parent.mkdir()
    assert _scan(out) == 1
    assert seen and not any(seen)  # the stage marks ran, and recorded nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["findings.json"]


def test_plan_writes_its_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timing = tmp_path / "stages.json"
    monkeypatch.setenv(stages.ENV, str(timing))
    result = CliRunner().invoke(main, ["plan", str(PLANS / "iam.json"), "-c",
                                       str(PLANS / "phiguard.yaml"), "--at", AT, "-f", "json",
                                       "--output", str(tmp_path / "out.json")],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1)
    doc = json.loads(timing.read_text())
    assert doc["command"] == "plan"
    _check_times(doc, PLAN_STAGES)
