"""A large plan judged in two processes (terraform.gate `_judge_split`): the world is built
once and shared with the forked worker, this process judges parts of the subjects too, and
with no --jobs the second process is used only when other processes leave the CPUs idle."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from _paths import PLANS
from phiguard._util import parallel
from phiguard.runs.plan import run_plan_gate
from phiguard.terraform import gate
from phiguard.terraform.world import build_world

CONFIG = PLANS / "phiguard.yaml"
AT = datetime(2026, 11, 25, tzinfo=UTC)


def _judge(name: str, jobs: int) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    result = run_plan_gate(PLANS / name, config_path=CONFIG, at=AT, jobs=jobs)
    return [f.to_json() for f in result.findings], result.run, result.gate.jobs


@pytest.fixture()
def splits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Small plans split as a large one would; each split's `jobs` recorded."""
    monkeypatch.setattr(gate, "PARALLEL_FROM", 2)
    seen: list[int] = []
    real = parallel.ordered_map

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["jobs"])
        return real(*args, **kwargs)
    monkeypatch.setattr(parallel, "ordered_map", counting)
    return seen


def _busy(monkeypatch: pytest.MonkeyPatch, cpus: float | None) -> None:
    """Other processes keep `cpus` CPUs busy (None: not known)."""
    monkeypatch.setattr(gate, "_cpu_mark", lambda: (None, 2, (0, 0), 0.0))
    monkeypatch.setattr(gate, "_others_busy", lambda mark: cpus)


@pytest.mark.parametrize("name", ["data-stores.json", "iam.json", "lb-tls.json"])
def test_idle_cpus_split_a_large_plan_with_the_serial_findings(
        name: str, splits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _judge(name, 1)
    assert not splits
    _busy(monkeypatch, 0.0)
    found, run, jobs = _judge(name, 0)
    assert splits == [2] and jobs == 2
    assert (found, run) == serial[:2]


@pytest.mark.parametrize("busy", [gate.PLAN_MAX_BUSY + 0.05, 1.5, None])
def test_busy_or_unknown_cpus_judge_in_one_process(
        busy: float | None, splits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    _busy(monkeypatch, busy)
    found, run, jobs = _judge("iam.json", 0)
    assert not splits and jobs == 1
    assert (found, run) == _judge("iam.json", 1)[:2]


def test_jobs_given_are_kept_whatever_the_load(
        splits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    _busy(monkeypatch, 2.0)
    assert _judge("iam.json", 2)[2] == 2
    assert splits == [2]
    _busy(monkeypatch, 0.0)
    assert _judge("iam.json", 1)[2] == 1
    assert splits == [2]


def test_a_split_builds_the_world_once(splits: list[int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes share the one world built before the fork (each half used to convert
    its own share plus every join target and IAM holder again)."""
    built: list[tuple[str, bool]] = []  # (side, every resource)
    real = build_world

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append((args[1], kwargs.get("only") is None))
        return real(*args, **kwargs)
    monkeypatch.setattr(gate, "build_world", counting)
    serial = _judge("data-stores.json", 1)
    assert built == [("after", True)]
    built.clear()
    result = run_plan_gate(PLANS / "data-stores.json", config_path=CONFIG, at=AT, jobs=2)
    assert [f.to_json() for f in result.findings] == serial[0]
    assert splits == [2]
    assert built == [("after", True)]
    assert {a.name for a in result.gate._subjects()}, "the world this process judged from"


def test_this_process_judges_parts_too(splits: list[int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The first subject of each type is judged here before the fork, and this process takes
    parts of the rest as the worker does (which parts depends on their speeds); none is
    judged twice here, and the findings are the serial ones."""
    here: list[str] = []
    real = gate.PlanGate._judge

    def judging(self: gate.PlanGate, subjects: list[Any]) -> Any:
        if not self._pid or os.getpid() == self._pid:
            here.extend(a.name for a in subjects)
        return real(self, subjects)
    monkeypatch.setattr(gate.PlanGate, "_judge", judging)
    monkeypatch.setattr(gate, "SPLIT_PARTS", 4)
    serial = _judge("data-stores.json", 1)[0]
    here.clear()
    result = run_plan_gate(PLANS / "data-stores.json", config_path=CONFIG, at=AT, jobs=2)
    assert [f.to_json() for f in result.findings] == serial
    subjects = result.gate._subjects()
    types = {a.asset_type for a in subjects}
    assert len(here) == len(set(here))
    assert len(types) < len(here) <= len(subjects)


def test_others_busy_leaves_out_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Busy jiffies of this process's CPUs less its own CPU time, per CPU of the time passed."""
    tick = os.sysconf("SC_CLK_TCK")
    monkeypatch.setattr(parallel, "_cpu_ticks", lambda cpus: (1000 + 3 * tick // 2,
                                                              10_000 + 2 * tick))
    monkeypatch.setattr(gate, "time", SimpleNamespace(process_time=lambda: 5.0 + 1.0))
    # 1 s passed on 2 CPUs: 1.5 CPU s busy, of which this process used 1.0
    assert gate._others_busy((None, 2, (1000, 10_000), 5.0)) == pytest.approx(0.5)
    monkeypatch.setattr(gate, "time", SimpleNamespace(process_time=lambda: 5.0 + 1.5))
    assert gate._others_busy((None, 2, (1000, 10_000), 5.0)) == pytest.approx(0.0)
    monkeypatch.setattr(parallel, "_cpu_ticks", lambda cpus: None)
    assert gate._others_busy((None, 2, (1000, 10_000), 5.0)) is None
