"""The parent works too (issue 14): `ordered_map(parent_works=True)` runs tasks in this process
between handing tasks to `jobs - 1` workers, with the serial results, in order, whatever fails;
and a scan whose pass 2 must stay in one process (memory) runs pass 1 in two when the CPUs are
free (`auto_survey_jobs`), with the findings of one process."""

from __future__ import annotations

import os
import signal
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

import phiguard.scan as scan_module
from _paths import DEMO, RULES
from _procs import children as _children
from phiguard._util.parallel import ordered_map, parent_working
from phiguard._util.times import parse_time
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import Scan, auto_survey_jobs

MIB = 2**20




def _square(state: dict[str, int], task: int) -> tuple[int, int, int, bytes]:
    if os.getpid() == state.get("parent"):
        time.sleep(0.01)  # the parent is slow: workers, even forked anew, are not too slow
    # a result larger than a pipe holds: the worker sends it while working on the next
    return task, task * task + state["offset"], os.getpid(), b"x" * (task % 7 * 40_000)


@pytest.mark.parametrize("per_worker", [None, 1, 3])
def test_the_parent_and_one_worker_share_the_tasks(per_worker: int | None) -> None:
    got = list(ordered_map(_square, {"offset": 1, "parent": os.getpid()}, range(60), jobs=2,
                           tasks_per_worker=per_worker, parent_works=True))
    assert [(t, v, len(b)) for t, v, _, b in got] == \
        [(t, t * t + 1, t % 7 * 40_000) for t in range(60)]
    pids = [p for _, _, p, _ in got]
    assert os.getpid() in pids  # the parent judged some
    others = {p for p in pids if p != os.getpid()}
    assert others  # ... and a worker the rest
    if per_worker is not None:
        assert all(pids.count(p) <= per_worker for p in others)
    assert not _children()


def test_parent_working_is_the_default_inside_the_block_only() -> None:
    with parent_working():
        inside = {p for _, _, p, _ in ordered_map(_square, {"offset": 0}, range(40), jobs=2)}
    outside = {p for _, _, p, _ in ordered_map(_square, {"offset": 0}, range(40), jobs=2)}
    assert os.getpid() in inside
    assert os.getpid() not in outside


def test_parent_working_in_one_thread_leaves_the_others_alone() -> None:
    """A thread inside the block (one scan of a server judging several at once) does not make
    another thread's map run tasks in this process."""
    import threading

    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with parent_working():
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        pids = {p for _, _, p, _ in ordered_map(_square, {"offset": 0}, range(20), jobs=2)}
    finally:
        release.set()
        holder.join()
    assert os.getpid() not in pids


def _bad_here(state: dict[str, int], task: int) -> int:
    if task == state["bad"]:
        raise ValueError(f"bad task {task}")
    return task


@pytest.mark.parametrize("bad", [0, 1, 5, 19])
def test_an_error_is_raised_in_task_order_wherever_it_ran(bad: int) -> None:
    out: list[int] = []
    with pytest.raises(ValueError, match=f"bad task {bad}"):
        for value in ordered_map(_bad_here, {"bad": bad}, range(20), jobs=2,
                                 parent_works=True):
            out.append(value)
    assert out == list(range(bad))
    assert not _children()


def _killed_in_worker(state: dict[str, int], task: int) -> tuple[int, int]:
    if task == state["bad"] and os.getpid() != state["parent"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return task, os.getpid()


def _slow_in_worker(state: dict[str, int], task: int) -> tuple[int, int]:
    if os.getpid() != state["parent"]:
        time.sleep(0.5)
    return task, os.getpid()


def test_a_starved_worker_has_its_tasks_run_here() -> None:
    """A worker far slower than this process (its CPU busy with other work) has the task
    whose result is due next taken from it: the run is not held to the worker's pace."""
    state = {"parent": os.getpid()}
    started = time.perf_counter()
    got = list(ordered_map(_slow_in_worker, state, range(20), jobs=2, parent_works=True))
    assert [t for t, _ in got] == list(range(20))
    assert [p for _, p in got].count(os.getpid()) >= 18
    assert time.perf_counter() - started < 5  # 20 tasks waited for: 10 s
    assert not _children()


def test_a_killed_worker_leaves_the_serial_results() -> None:
    state = {"bad": 4, "parent": os.getpid()}
    got = list(ordered_map(_killed_in_worker, state, range(30), jobs=2, parent_works=True))
    assert [t for t, _ in got] == list(range(30))
    assert not _children()


# --- the scan --------------------------------------------------------------------------------


def _scan(jobs: int, survey_jobs: int | None = None) -> str:
    at = parse_time("2026-11-25T00:00:00Z")
    job = Scan([DEMO], load_pack([RULES]), load_config(DEMO / "phiguard.yaml"), jobs=jobs,
               at=at)
    assert job.survey_jobs == (survey_jobs or jobs)
    out = StringIO()
    job.write_json(out, Tally())
    return out.getvalue()


def test_pass_one_in_two_processes_and_pass_two_in_one_give_the_serial_findings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _scan(1)
    # the default, where pass 2 is held to one process and pass 1 may have two
    monkeypatch.setattr(scan_module, "auto_jobs", lambda files: (1, "over the memory budget"))
    monkeypatch.setattr(scan_module, "auto_survey_jobs", lambda files, jobs: 2)
    from phiguard.inventory import _survey

    real, ran = _survey._survey_task, []

    def counted(*args: Any) -> Any:
        ran.append(os.getpid())
        return real(*args)

    monkeypatch.setattr(_survey, "_survey_task", counted)
    monkeypatch.setattr("phiguard.inventory.snapshot.RANGE_BYTES", 4096)  # several ranges
    assert _scan(0, survey_jobs=2) == serial
    assert len(ran) > 2
    assert os.getpid() in ran  # this process surveyed ranges itself
    assert _scan(2) == serial
    assert not _children()


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    state = {"cpus": 2.0, "busy": 0.0, "memory": 64.0 * 2**30}
    monkeypatch.setattr(scan_module, "AUTO_MAX_BYTES", 2 * MIB)
    monkeypatch.setattr(scan_module, "usable_cpus", lambda: state["cpus"])
    monkeypatch.setattr(scan_module, "busy_cpus", lambda sample=0.1: state["busy"])
    monkeypatch.setattr(scan_module, "available_memory", lambda: int(state["memory"]))
    monkeypatch.setattr(scan_module, "can_fork", lambda: True)
    return state


def _snapshot(tmp_path: Path, mib: int) -> Path:
    record = (b'{"name": "//storage.googleapis.com/b%d", "asset_type": '
              b'"storage.googleapis.com/Bucket", "resource": {"data": {}}}\n')
    path = tmp_path / "assets.ndjson"
    path.write_bytes(b"".join(record % i for i in range(mib * MIB // len(record))))
    return path


def test_pass_one_gets_two_processes_only_past_the_memory_bound_on_free_cpus(
        machine: dict[str, float], tmp_path: Path) -> None:
    big = discover([_snapshot(tmp_path, 3)])
    assert auto_survey_jobs(big, 1) == 2
    assert auto_survey_jobs(big, 2) == 2  # pass 2 in two: pass 1 too, as before
    machine["busy"] = 0.6  # one CPU busy with other work: one process, never slower
    assert auto_survey_jobs(big, 1) == 1
    machine["busy"] = 0.3  # ... nor when a third of one is: the split costs CPU
    assert auto_survey_jobs(big, 1) == 1
    assert auto_survey_jobs(big, 2) == 2
    machine["busy"] = 0.0
    machine["memory"] = 3.0 * MIB  # the heap alone needs about the snapshot's size
    assert auto_survey_jobs(big, 1) == 1
    machine["memory"] = 64.0 * 2**30
    machine["cpus"] = 1.0
    assert auto_survey_jobs(big, 1) == 1
    small = tmp_path / "small"
    small.mkdir()
    # under the bound pass 2's choice stands for both (one process: too little work)
    machine["cpus"] = 2.0
    assert auto_survey_jobs(discover([_snapshot(small, 1)]), 1) == 1
