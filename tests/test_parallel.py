"""The one parallel map (`phiguard._util.parallel`) and every place that uses it: a worker that
raises, exits or is killed never changes the results, which are exactly the serial ones."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from _paths import DEMO, PLANS, RULES
from _procs import children as _children
from phiguard._util.parallel import ordered_map
from phiguard._util.times import parse_time
from phiguard.config import load_config
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import Scan

AT = "2026-11-25T00:00:00Z"

FAILURES = ["raise", "exit", "kill"]


def _fail(how: str) -> None:
    if how == "raise":
        raise RuntimeError("worker failed")
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


def _in_workers(how: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, failing `how` whenever it runs in a process other than this one."""
    parent = os.getpid()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() != parent:
            _fail(how)
        return real(*args, **kwargs)

    return wrapper


# --- the map itself ---------------------------------------------------------------------------


def _square(state: dict[str, int], task: int) -> tuple[int, int, int]:
    return task, task * task + state["offset"], os.getpid()


def _square_failing(state: dict[str, Any], task: int) -> tuple[int, int, int]:
    if task == state["bad"] and os.getpid() != state["parent"]:
        _fail(state["how"])
    return _square(state, task)


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_in_task_order_with_state_inherited(jobs: int) -> None:
    state = {"offset": 7}
    got = list(ordered_map(_square, state, iter(range(50)), jobs=jobs, tasks_per_worker=4))
    assert [(t, v) for t, v, _ in got] == [(t, t * t + 7) for t in range(50)]
    pids = {p for _, _, p in got}
    if jobs == 1:
        assert pids == {os.getpid()}
    else:
        assert os.getpid() not in pids
        # replaced every 4 tasks: at least 50 / 4 workers did the work
        assert len(pids) >= 13
    assert not _children()


@pytest.mark.parametrize("how", FAILURES)
@pytest.mark.parametrize("bad", [0, 17, 49])
def test_a_failed_worker_gives_the_serial_results(how: str, bad: int) -> None:
    state = {"offset": 1, "bad": bad, "parent": os.getpid(), "how": how}
    got = list(ordered_map(_square_failing, state, range(50), jobs=2, tasks_per_worker=3))
    assert [(t, v) for t, v, _ in got] == [(t, t * t + 1) for t in range(50)]
    # the failed task ran again here (results other workers had sent stand)
    assert got[bad][2] == os.getpid()
    assert not _children()


def _raises_everywhere(state: None, task: int) -> int:
    if task == 5:
        raise ValueError(f"bad task {task}")
    return task


def test_an_error_a_task_raises_is_raised_here() -> None:
    """An input error is not hidden by the fallback: the task runs here and raises here."""
    out: list[int] = []
    with pytest.raises(ValueError, match="bad task 5"):
        for value in ordered_map(_raises_everywhere, None, range(20), jobs=2):
            out.append(value)
    assert out == [0, 1, 2, 3, 4]
    assert not _children()


def test_stopping_early_leaves_no_worker_behind() -> None:
    results = ordered_map(_square, {"offset": 0}, range(1000), jobs=2)
    assert next(results)[0] == 0
    results.close()
    assert not _children()


def test_no_fork_runs_serially(monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard._util import parallel

    monkeypatch.setattr(parallel, "can_fork", lambda: False)
    got = list(ordered_map(_square, {"offset": 0}, range(5), jobs=4))
    assert {p for _, _, p in got} == {os.getpid()}


def test_a_failed_fork_runs_serially(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    got = list(ordered_map(_square, {"offset": 0}, range(5), jobs=2))
    assert [(t, v) for t, v, _ in got] == [(t, t * t) for t in range(5)]


# --- the PR gate ------------------------------------------------------------------------------


def _plan(jobs: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from phiguard.runs.plan import run_plan_gate

    result = run_plan_gate(PLANS / "data-stores.json", config_path=PLANS / "phiguard.yaml",
                           at=_at(), jobs=jobs)
    return [f.to_json() for f in result.findings], result.run


def _at() -> datetime:
    at = parse_time(AT)
    assert at is not None
    return at


@pytest.fixture()
def split_small_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.terraform import gate

    monkeypatch.setattr(gate, "PARALLEL_FROM", 2)


@pytest.mark.parametrize("how", FAILURES)
def test_plan_gate_with_a_failed_worker_gives_the_serial_findings(
        how: str, split_small_plans: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the process judging half the plan fails, the plan is judged once, not one half
    twice (the old fallback re-judged the first half: duplicated findings)."""
    serial, serial_run = _plan(1)
    assert serial
    monkeypatch.setattr(Engine, "evaluate_asset", _in_workers(how, Engine.evaluate_asset))
    failed, failed_run = _plan(2)
    assert len(failed) == len(serial)
    assert failed == serial
    assert failed_run == serial_run
    assert not _children()


def test_plan_gate_split_gives_the_serial_findings(split_small_plans: None) -> None:
    serial = _plan(1)
    assert _plan(2) == serial


# --- the scan: pass 1 (the survey of byte ranges) and pass 2 (judging) -------------------------


def _scan(jobs: int) -> str:
    pack = load_pack([RULES])
    job = Scan([DEMO], pack, load_config(DEMO / "phiguard.yaml"), jobs=jobs, at=_at())
    from io import StringIO

    out = StringIO()
    job.write_json(out, Tally())
    return out.getvalue()


@pytest.fixture(scope="module")
def serial_scan() -> str:
    return _scan(1)


def test_scan_jobs_give_the_serial_findings(serial_scan: str) -> None:
    assert _scan(2) == serial_scan
    assert json.loads(serial_scan)["results"]


@pytest.mark.parametrize("how", FAILURES)
def test_scan_with_a_failed_judging_worker_gives_the_serial_findings(
        how: str, serial_scan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Engine, "evaluate_asset", _in_workers(how, Engine.evaluate_asset))
    assert _scan(2) == serial_scan
    assert not _children()


@pytest.mark.parametrize("how", FAILURES)
def test_scan_with_a_failed_survey_worker_gives_the_serial_findings(
        how: str, serial_scan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.inventory import _survey

    monkeypatch.setattr(_survey, "survey", _in_workers(how, _survey.survey))
    assert _scan(2) == serial_scan
    assert not _children()



def _freeze_count(state: None, task: int) -> int:
    import gc

    return gc.get_freeze_count()


def test_the_shared_heap_is_frozen_while_workers_run_and_thawed_after() -> None:
    """Workers start from a frozen heap (their collector leaves shared pages alone); the
    parent's heap is frozen while the map runs and as it was once the map ends."""
    import gc

    assert gc.get_freeze_count() == 0
    counts, parent = [], []
    for count in ordered_map(_freeze_count, None, range(6), jobs=2, tasks_per_worker=2):
        counts.append(count)
        parent.append(gc.get_freeze_count())
    assert all(c > 0 for c in counts)
    assert all(c > 0 for c in parent)
    assert gc.get_freeze_count() == 0
