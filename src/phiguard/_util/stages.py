"""Where a run's time goes, stage by stage: off unless `PHIGUARD_STAGE_TIMES` names a file.

With the variable set, `phiguard scan` and `phiguard plan` write to that file, when they end, a
small JSON document of their stages' wall and CPU seconds (benchmarks/run.py and plan_run.py
read it). Unset, nothing is timed or written: `begin` reads the environment once per run and
every later `stage` call is a check of a module global; the per-record split of the judging
pass is a separate code path (`phiguard.scan`) chosen once per run.

The document (`version` 1):

    {"version": 1, "command": "scan", "jobs": 1,
     "total": {"wall_s": ..., "cpu_s": ...},            # process start to the end of the run
     "stages": [{"name": "startup", "wall_s": ..., "cpu_s": ...}, ...],
     "workers": {"stages": [...], "note": "..."}}       # only when the judging ran in workers

`stages` are consecutive intervals of this process's run, so their wall times add up to no more
than the total. A stage's CPU time is this process's plus that of the worker processes reaped
during it (`RUSAGE_CHILDREN`), so work a worker did is counted in the stage it was reaped in.
Stages that interleave record by record (decoding, rule evaluation, serialization of one
record's findings) are timed by wall clock around each step; their CPU is the CPU of the task
they ran in, shared out in proportion to their wall times.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

__all__ = ["ENV", "active", "add", "begin", "finish", "note", "split", "stage"]

ENV = "PHIGUARD_STAGE_TIMES"


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _since_start() -> float | None:
    """Wall seconds since this process started (Linux /proc), or None where unknown."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        ticks = int(stat[stat.rfind(b")") + 2:].split()[19])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class _Recorder:
    def __init__(self, path: str, command: str) -> None:
        self.path = path
        self.command = command
        self.info: dict[str, Any] = {}
        self.stages: dict[str, list[float]] = {}
        self.workers: dict[str, list[float]] = {}
        self.offset_wall = 0.0
        self.offset_cpu = 0.0
        started = _since_start()
        if started is not None:
            # interpreter start and the imports before the run: process_time counts from exec
            self.offset_wall, self.offset_cpu = started, time.process_time()
            self.stages["startup"] = [started, self.offset_cpu]
        self.t0 = time.perf_counter()
        self.current: tuple[str, float, float] | None = None

    def start(self, name: str | None) -> None:
        now, cpu = time.perf_counter(), _cpu()
        if self.current is not None:
            was, wall, used = self.current
            got = self.stages.setdefault(was, [0.0, 0.0])
            got[0] += now - wall
            got[1] += cpu - used
        self.current = None
        if name is not None:
            self.stages.setdefault(name, [0.0, 0.0])  # listed in the order entered
            self.current = (name, now, cpu)

    def document(self) -> dict[str, Any]:
        self.start(None)
        doc: dict[str, Any] = {
            "version": 1, "command": self.command, **self.info,
            "total": {"wall_s": round(self.offset_wall + time.perf_counter() - self.t0, 4),
                      "cpu_s": round(_cpu(), 4)},
            "stages": [{"name": n, "wall_s": round(w, 4), "cpu_s": round(c, 4)}
                       for n, (w, c) in self.stages.items()],
        }
        if self.workers:
            doc["workers"] = {
                "stages": [{"name": n, "wall_s": round(w, 4), "cpu_s": round(c, 4)}
                           for n, (w, c) in self.workers.items()],
                "note": "summed over the worker processes (process-seconds); they ran "
                        "concurrently inside the parent's stage of the same pass",
            }
        return doc


_current: _Recorder | None = None


def begin(command: str, **info: Any) -> None:
    """Start timing this run when `PHIGUARD_STAGE_TIMES` is set (a no-op otherwise)."""
    global _current
    path = os.environ.get(ENV)
    _current = _Recorder(path, command) if path else None
    if _current is not None:
        _current.info.update(info)


def active() -> bool:
    return _current is not None


def stage(name: str) -> None:
    """The run enters stage `name` (the previous one ends here)."""
    if _current is not None:
        _current.start(name)


def note(**info: Any) -> None:
    if _current is not None:
        _current.info.update(info)


def add(times: dict[str, tuple[float, float]], *, workers: bool) -> None:
    """Add (wall, CPU) seconds measured elsewhere: by this process (`workers=False`, split out
    of the current stage, whose own times shrink by as much) or by worker processes."""
    if _current is None:
        return
    target = _current.workers if workers else _current.stages
    for name, (wall, cpu) in times.items():
        got = target.setdefault(name, [0.0, 0.0])
        got[0] += wall
        got[1] += cpu
        if not workers and _current.current is not None:
            was, started, used = _current.current
            _current.current = (was, started + wall, used + cpu)


def split(walls: dict[str, float], cpu: float) -> dict[str, tuple[float, float]]:
    """Stage walls with the task's CPU shared out in proportion to them."""
    total = sum(walls.values())
    return {n: (w, cpu * w / total if total else 0.0) for n, w in walls.items()}


def finish() -> None:
    """Write the stage document (when timing) and stop timing."""
    global _current
    recorder, _current = _current, None
    if recorder is None:
        return
    with open(recorder.path, "w", encoding="utf-8") as fh:
        json.dump(recorder.document(), fh, indent=1)
        fh.write("\n")
