"""How many of the parent's pages a `--jobs` worker copies, and why: loads a snapshot as
`phiguard scan --jobs 2` does (pass 1, join indexes warmed, heap frozen), then forks workers
that judge tasks of the judging pass and report their private dirty memory and CPU time
(after the parent judged the first `--first-here` tasks, as the scan does: scan.FIRST_HERE).

    .venv/bin/python benchmarks/cow_probe.py SNAPSHOT_DIR [--tasks-per-worker 1 4 12]
    .venv/bin/python benchmarks/cow_probe.py SNAPSHOT_DIR --per-rule   # one rule at a time

SNAPSHOT_DIR holds assets.ndjson, users.json and phiguard.yaml (benchmarks/generate.py's
layout). A worker's pages are the parent's until it writes them; reading an object writes
its reference count, so judging copies every page holding an object a rule touches.
`--per-rule` judges one task with each rule alone, which names the rules whose joins touch
the most of the shared heap.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _private_mib() -> int:
    with open("/proc/self/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) // 1024
    return 0


def _in_child(job: Any) -> tuple[int, float]:
    """Run `job()` in a forked child: (its private dirty MiB at the end, its CPU seconds)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read)
        job()
        os.write(write, str(_private_mib()).encode())
        os._exit(0)
    os.close(write)
    got = os.read(read, 64)
    os.close(read)
    _, _, usage = os.wait4(pid, 0)
    return int(got or b"0"), round(usage.ru_utime + usage.ru_stime, 2)


def loaded_scan(snap: Path) -> tuple[Any, Any, Any]:
    """A generated org's scan (`benchmarks/generate.py` layout) as `--jobs 2` holds it before
    forking: pass 1 and the join index done, the engine warmed; (scan, engine, task state)."""
    import phiguard.scan as scan
    from phiguard.config import load_config
    from phiguard.runs.common import load_pack

    job = scan.Scan([snap / "assets.ndjson", snap / "users.json"], load_pack([]),
                    load_config(snap / "phiguard.yaml"), jobs=2,
                    at=datetime(2026, 11, 25, tzinfo=UTC))
    engine = job.engine
    state = scan._State(engine, job.loaded, engine.subject_types(), engine.any_type_needs(),
                        job.now, job.config.waivers, "json", False)
    engine.warm(job.loaded.inventory)
    return job, engine, state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot", type=Path)
    ap.add_argument("--tasks", type=int, default=12, help="tasks judged (from the middle)")
    ap.add_argument("--tasks-per-worker", type=int, nargs="+", default=[1, 4, 12])
    ap.add_argument("--per-rule", action="store_true")
    ap.add_argument("--lazy-evaluators", action="store_true",
                    help="let each worker generate the evaluators it needs (as before 22:50)")
    ap.add_argument("--first-here", type=int, default=None,
                    help="tasks judged in the parent before forking (default: as the scan, "
                         "phiguard.scan.FIRST_HERE)")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)

    import phiguard.scan as scan

    if args.first_here is None:
        args.first_here = getattr(scan, "FIRST_HERE", 0)
    job, engine, state = loaded_scan(args.snapshot)
    if not args.lazy_evaluators:  # as the scan does before forking (scan._prepare)
        for asset_type in job.loaded.counts:
            engine._evaluator(asset_type)
    every = list(job._tasks())
    for task in every[:args.first_here]:  # as the scan does before forking (scan.FIRST_HERE)
        scan._run(state, task)
    gc.collect()
    gc.freeze()  # as phiguard._util.parallel does before forking
    middle = max(0, len(every) // 2 - args.tasks // 2)
    tasks = every[middle:middle + args.tasks]
    out: dict[str, Any] = {"parent_private_mib": _private_mib(), "tasks": len(every)}

    def judge(chosen: list[Any]) -> Any:
        return lambda: [scan._run(state, t) for t in chosen]

    if args.per_rule:
        # The generated evaluator of a type judges the rules `rules_for` gives: in each child
        # the engine is left with one rule (or none) and generates its evaluators again.
        rules_for = engine.rules_for
        rows = {}
        ids: list[str | None] = [None, *(cr.rule.id for cr in engine.rules)]
        for rule_id in ids:
            def only(asset_type: str, rule_id: str | None = rule_id) -> Any:
                return [cr for cr in rules_for(asset_type) if cr.rule.id == rule_id]

            def one_rule(only: Any = only) -> None:
                engine.rules_for = only  # type: ignore[method-assign]
                engine._evaluators = {}
                scan._run(state, tasks[0])

            rows[rule_id or "(no rule)"] = _in_child(one_rule)
        ranked = sorted(rows.items(), key=lambda kv: -kv[1][0])
        out["one_task_one_rule_mib_cpu"] = dict(ranked[:args.top])
        out["no_rule"] = rows["(no rule)"]
    else:
        for per in args.tasks_per_worker:
            peaks, cpu = [], 0.0
            for start in range(0, len(tasks), per):
                mib, seconds = _in_child(judge(tasks[start:start + per]))
                peaks.append(mib)
                cpu += seconds
            out[f"{per} tasks per worker"] = {"workers": len(peaks),
                                              "max_private_mib": max(peaks),
                                              "cpu_s": round(cpu, 2)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
