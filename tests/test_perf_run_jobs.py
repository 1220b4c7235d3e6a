"""`--jobs 0` at the sizes measured (issue 14): one process below 192 MiB of plain NDJSON
(100k assets, 125 MiB, ran slower with two on an idle machine), two from there on an idle
machine, and no more than two past AUTO_MAX_BYTES (1M assets: parent and one worker, forked
after the parent's first task, 833-841 MiB PSS); and workers are replaced every few tasks only
past RECYCLE_ABOVE_BYTES."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import phiguard.scan as scan_module
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.runs.common import load_pack
from phiguard.scan import Scan, auto_jobs

MIB = 2**20
LINE = (b'{"name": "//storage.googleapis.com/b", "asset_type": "storage.googleapis.com/Bucket", '
        b'"resource": {"data": {}}}\n')


def _sized(tmp_path: Path, mib: int) -> Path:
    """A plain NDJSON file of `mib` MiB on disk (sparse past its first lines: only its size
    and first line are read here)."""
    path = tmp_path / f"assets-{mib}.ndjson"
    with path.open("wb") as fh:
        fh.write(LINE * 100)
        fh.truncate(mib * MIB)
    return path


@pytest.fixture
def idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_module, "usable_cpus", lambda: 2.0)
    monkeypatch.setattr(scan_module, "busy_cpus", lambda sample=0.1: 0.0)
    monkeypatch.setattr(scan_module, "available_memory", lambda: 64 * 2**30)
    monkeypatch.setattr(scan_module, "can_fork", lambda: True)


@pytest.mark.parametrize(("mib", "jobs"), [(125, 1), (191, 1), (250, 2), (622, 2), (1247, 2)])
def test_the_default_at_the_measured_sizes(idle: None, tmp_path: Path, mib: int,
                                           jobs: int) -> None:
    assert auto_jobs(discover([_sized(tmp_path, mib)]))[0] == jobs


def test_a_busy_machine_gets_one_process_at_any_size(monkeypatch: pytest.MonkeyPatch,
                                                     idle: None, tmp_path: Path) -> None:
    monkeypatch.setattr(scan_module, "busy_cpus", lambda sample=0.1: 1.5)
    jobs, why = auto_jobs(discover([_sized(tmp_path, 250)]))
    assert jobs == 1
    assert "1.5 of 2 CPUs busy" in why


def test_workers_are_replaced_only_past_the_recycling_size(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    from _paths import DEMO

    config = load_config(DEMO / "phiguard.yaml")
    at = datetime(2026, 11, 25, tzinfo=UTC)
    job = Scan([DEMO], load_pack([]), config, jobs=2, at=at)
    assert job._tasks_per_worker is None
    monkeypatch.setattr(scan_module, "RECYCLE_ABOVE_BYTES", 0)
    job = Scan([DEMO], load_pack([]), config, jobs=2, at=at)
    assert job._tasks_per_worker == scan_module.MAX_TASKS_PER_WORKER


def test_the_memory_pass_1_freed_is_given_back_before_pass_2_of_a_large_snapshot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from _paths import DEMO

    calls: list[int] = []
    monkeypatch.setattr(scan_module, "release_free_memory", lambda: calls.append(1))
    config = load_config(DEMO / "phiguard.yaml")
    at = datetime(2026, 11, 25, tzinfo=UTC)
    for threshold, expected in ((2**40, []), (0, [1])):
        calls.clear()
        monkeypatch.setattr(scan_module, "TRIM_ABOVE_BYTES", threshold)
        job = Scan([DEMO], load_pack([]), config, jobs=1, at=at)
        job.tally(scan_module.Tally())
        assert calls == expected


def test_releasing_free_memory_is_harmless() -> None:
    from phiguard._util.parallel import release_free_memory

    kept = [bytes(1000) for _ in range(10_000)]
    del kept[::2]
    release_free_memory()
    assert all(b == bytes(1000) for b in kept)
