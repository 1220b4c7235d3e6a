"""`phiguard scan --jobs`: 0 (the default) chooses from the snapshot and the machine
(phiguard.scan.auto_jobs); N >= 1 is used as given."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import phiguard.scan as scan_module
from _paths import DEMO, RULES
from phiguard._util.parallel import available_memory, busy_cpus, usable_cpus
from phiguard._util.times import parse_time
from phiguard.cli import main
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.policy.rule import load_pack
from phiguard.scan import Scan, auto_jobs

MIB = 2**20
RECORD = (b'{"name": "//storage.googleapis.com/b%d", "asset_type": '
          b'"storage.googleapis.com/Bucket", "resource": {"data": {}}}\n')


def _snapshot(tmp_path: Path, mib: int, *, gz: bool = False) -> Path:
    """A plain (or gzipped) NDJSON export of about `mib` MiB."""
    lines = b"".join(RECORD % i for i in range(max(1, mib * MIB // len(RECORD))))
    path = tmp_path / ("assets.ndjson.gz" if gz else "assets.ndjson")
    path.write_bytes(gzip.compress(lines, compresslevel=1) if gz else lines)
    return path


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """A 2-CPU idle machine with plenty of memory, and 1 MiB per job of work: the tests
    change what they are about."""
    state = {"cpus": 2.0, "busy": 0.0, "memory": 64.0 * 2**30}
    monkeypatch.setattr(scan_module, "AUTO_BYTES_PER_JOB", MIB)
    monkeypatch.setattr(scan_module, "usable_cpus", lambda: state["cpus"])
    monkeypatch.setattr(scan_module, "busy_cpus", lambda sample=0.1: state["busy"])
    monkeypatch.setattr(scan_module, "available_memory", lambda: int(state["memory"]))
    monkeypatch.setattr(scan_module, "can_fork", lambda: True)
    return state


def test_an_idle_machine_and_a_large_snapshot_get_two(machine: dict[str, float],
                                                      tmp_path: Path) -> None:
    jobs, why = auto_jobs(discover([_snapshot(tmp_path, 3)]))
    assert jobs == 2
    assert "3 MiB of plain NDJSON, 2 CPUs" in why
    assert "0.0 busy with other work" in why


def test_a_snapshot_past_the_measured_crossover_gets_two_at_most(
        machine: dict[str, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past AUTO_MAX_BYTES every worker copies more of the shared heap (1M assets: two
    workers 1,389 MiB PSS against 874 for one process): an idle machine gets the parent and
    one worker (833-841 MiB at 1M, forked after the parent's first task), never more."""
    path = _snapshot(tmp_path, 5)
    machine["cpus"] = 16
    monkeypatch.setattr(scan_module, "AUTO_MAX_BYTES", 4 * MIB)
    jobs, why = auto_jobs(discover([path]))
    assert jobs == 2 and "more than 4 MiB: at most 2" in why
    machine["busy"] = 15.0  # ... and one when the CPUs are busy, as at any size
    assert auto_jobs(discover([path]))[0] == 1
    machine["busy"] = 0.0
    monkeypatch.setattr(scan_module, "AUTO_MAX_BYTES", 6 * MIB)
    assert auto_jobs(discover([path]))[0] == scan_module.AUTO_MAX_JOBS


@pytest.mark.parametrize("busy", [0.6, 1.0, 3.5])
def test_a_busy_machine_gets_one(machine: dict[str, float], tmp_path: Path,
                                 busy: float) -> None:
    """One CPU of two kept busy by other work: a second process would share it."""
    machine["busy"] = busy
    jobs, why = auto_jobs(discover([_snapshot(tmp_path, 9)]))
    assert jobs == 1
    assert f"{busy:.1f} of 2 CPUs busy with other work" in why


def test_a_little_other_work_still_gets_two(machine: dict[str, float], tmp_path: Path) -> None:
    machine["busy"] = 0.4
    assert auto_jobs(discover([_snapshot(tmp_path, 3)]))[0] == 2


def test_more_cpus_give_more_jobs_up_to_the_work_the_idle_cpus_and_the_cap(
        machine: dict[str, float], tmp_path: Path) -> None:
    files = discover([_snapshot(tmp_path, 9)])
    machine["cpus"] = 16
    assert auto_jobs(files)[0] == scan_module.AUTO_MAX_JOBS  # idle: up to the cap
    machine["busy"] = 13.0  # three CPUs idle
    assert auto_jobs(files)[0] == 3
    machine["busy"] = 14.6
    assert auto_jobs(files)[0] == 1
    machine["busy"] = 0.0
    assert auto_jobs(discover([_snapshot(tmp_path, 3)]))[0] == 3  # 3 MiB: 3 jobs' worth


def test_a_small_snapshot_gets_one(machine: dict[str, float], tmp_path: Path) -> None:
    jobs, why = auto_jobs(discover([_snapshot(tmp_path, 1)]))
    assert jobs == 1
    assert "too little to share out" in why


def test_a_compressed_snapshot_gets_one(machine: dict[str, float], tmp_path: Path) -> None:
    """A gzipped file is read by one process (no byte ranges): workers would wait on it."""
    assert auto_jobs(discover([_snapshot(tmp_path, 3, gz=True)]))[0] == 1


def test_one_cpu_or_no_fork_gets_one(machine: dict[str, float], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    files = discover([_snapshot(tmp_path, 3)])
    machine["cpus"] = 1.5  # a cgroup quota of one and a half CPUs
    assert auto_jobs(files) == (1, "1.5 usable CPU")
    machine["cpus"] = 2
    monkeypatch.setattr(scan_module, "can_fork", lambda: False)
    assert auto_jobs(files)[0] == 1


def test_too_little_memory_gets_one(machine: dict[str, float], tmp_path: Path) -> None:
    path = _snapshot(tmp_path, 3)
    size = path.stat().st_size
    # the parent's heap and two workers' own pages do not fit
    machine["memory"] = size * (scan_module.AUTO_MEMORY_FIRST
                                + 1.9 * scan_module.AUTO_MEMORY_PER_WORKER)
    jobs, why = auto_jobs(discover([path]))
    assert jobs == 1
    assert "MiB of memory available" in why
    machine["memory"] = size * (scan_module.AUTO_MEMORY_FIRST
                                + 2.1 * scan_module.AUTO_MEMORY_PER_WORKER)
    assert auto_jobs(discover([path]))[0] == 2


def _at() -> datetime:
    at = parse_time("2026-11-25T00:00:00Z")
    assert at is not None
    return at


def test_scan_jobs_as_given_and_chosen(machine: dict[str, float]) -> None:
    pack, config = load_pack([RULES]), load_config(DEMO / "phiguard.yaml")
    for asked in (1, 2, 3):
        job = Scan([DEMO], pack, config, jobs=asked, at=_at())
        assert (job.jobs, job.jobs_reason) == (asked, "asked")
    job = Scan([DEMO], pack, config, jobs=0, at=_at())
    assert job.jobs == 1  # the demo org is a few hundred KiB
    assert "too little to share out" in job.jobs_reason


def test_the_cli_default_is_chosen_and_an_explicit_value_is_kept(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = Scan.__init__
    asked: list[object] = []
    monkeypatch.setattr(scan_module, "auto_jobs", lambda files, sample=0.1: (1, "test"))
    monkeypatch.setattr(Scan, "__init__", lambda self, *a, **k: (asked.append(k["jobs"]),
                                                                 real(self, *a, **k))[1])
    runner = CliRunner()
    common = ["scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"), "--format", "json",
              "--output", str(tmp_path / "out.json"), "--at", "2026-11-25T00:00:00Z"]
    for extra, want in (([], 0), (["--jobs", "0"], 0), (["--jobs", "2"], 2), (["-j", "1"], 1)):
        result = runner.invoke(main, [*common, *extra])
        assert result.exit_code in (0, 1), result.output
        assert asked[-1] == want
    result = runner.invoke(main, [*common, "--jobs", "-1"])
    assert result.exit_code == 2


def test_the_load_average_counts_less_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1-minute average lags: up to one CPU of it may be a process that just ended."""
    import phiguard._util.parallel as parallel

    monkeypatch.setattr(parallel, "_cpu_ticks", lambda cpus: None)  # no /proc/stat sample
    monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 0.0, 0.0))
    assert busy_cpus(0.0) == 0.0
    monkeypatch.setattr(os, "getloadavg", lambda: (3.5, 0.0, 0.0))
    assert busy_cpus(0.0) == 2.5


def test_the_machine_readings_are_sane() -> None:
    assert usable_cpus() >= 1
    memory = available_memory()
    assert memory is None or memory > 0
    assert busy_cpus(0.05) >= 0


def test_a_process_burning_a_cpu_shows_as_busy() -> None:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # it is running
        assert busy_cpus(0.3) >= 0.5
    finally:
        burner.kill()
        burner.wait()
