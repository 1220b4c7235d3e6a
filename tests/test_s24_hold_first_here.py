"""The judging pass's first task runs in the scan's own process before any worker is forked
(issue 14): what the rules build on first use and keep (a `find`'s candidates, its index by
key, lets computed once per scan) is built once there and inherited by every worker, so no
worker walks (and copies the pages of) every candidate again. `ordered_map(first_here=N)`
gives the serial results in order, whatever fails; a scan's findings stay byte-identical."""

from __future__ import annotations

import os
import time
from io import StringIO
from typing import Any

import pytest

from _paths import DEMO, RULES
from _procs import children as _children
from phiguard._util.parallel import ordered_map
from phiguard._util.times import parse_time
from phiguard.config import load_config
from phiguard.inventory import snapshot
from phiguard.inventory.readers import discover
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import FIRST_HERE, Scan


def _cached(state: dict[str, Any], task: int) -> tuple[int, int, bool]:
    """(task, pid, whether the cache was there when the task began); builds the cache."""
    had = "cache" in state
    if os.getpid() == state.get("parent"):
        time.sleep(0.01)  # the parent is slow: a worker is not too slow to keep its tasks
    state.setdefault("cache", os.getpid())
    return task, os.getpid(), had


@pytest.mark.parametrize("per_worker", [None, 2])
def test_the_first_tasks_run_here_before_any_worker_is_forked(per_worker: int | None) -> None:
    state: dict[str, Any] = {"parent": os.getpid()}
    got = list(ordered_map(_cached, state, range(40), jobs=2, parent_works=True,
                           tasks_per_worker=per_worker, first_here=2))
    assert [t for t, _, _ in got] == list(range(40))
    me = os.getpid()
    assert [(p, had) for _, p, had in got[:2]] == [(me, False), (me, True)]
    # every worker was forked after them: it found the cache the parent built
    workers = [(p, had) for _, p, had in got if p != me]
    assert workers and all(had for _, had in workers)
    assert state["cache"] == me  # (the parent's own, not a worker's)
    assert not _children()


def test_without_first_here_a_worker_builds_its_own() -> None:
    state: dict[str, Any] = {"parent": os.getpid()}
    got = list(ordered_map(_cached, state, range(40), jobs=2, parent_works=True))
    assert any(not had for _, p, had in got if p != os.getpid())


def _fails_at_first(state: dict[str, Any], task: int) -> int:
    if task == 0 and os.getpid() == state["parent"]:
        raise ValueError("task 0")
    return task


def test_a_failing_first_task_raises_as_the_serial_run() -> None:
    it = ordered_map(_fails_at_first, {"parent": os.getpid()}, range(10), jobs=2,
                     parent_works=True, first_here=1)
    with pytest.raises(ValueError, match="task 0"):
        next(it)
    assert not _children()


def test_fewer_tasks_than_first_here_fork_nothing() -> None:
    got = list(ordered_map(_cached, {}, range(3), jobs=2, parent_works=True, first_here=5))
    assert [(t, p) for t, p, _ in got] == [(t, os.getpid()) for t in range(3)]


def _json(jobs: int, first_here: int, monkeypatch: pytest.MonkeyPatch) -> str:
    import phiguard.scan as scan_module

    monkeypatch.setattr(scan_module, "FIRST_HERE", first_here)
    monkeypatch.setattr(snapshot, "RANGE_BYTES", 4096)  # several tasks
    files = discover([DEMO])
    scan = Scan(files.asset_files + files.user_files, load_pack([RULES]),
                load_config(DEMO / "phiguard.yaml"), jobs=jobs,
                at=parse_time("2026-11-25T00:00:00Z"))
    out = StringIO()
    scan.write_json(out, Tally())
    return out.getvalue()


def test_the_scan_runs_one_task_here_first_with_the_findings_of_one_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert FIRST_HERE >= 1
    one = _json(1, FIRST_HERE, monkeypatch)
    assert _json(2, FIRST_HERE, monkeypatch) == one
    assert _json(2, 0, monkeypatch) == one
    assert _json(2, 3, monkeypatch) == one
