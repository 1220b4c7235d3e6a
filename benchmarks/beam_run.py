"""Local engine against the Beam engine (DirectRunner) on the same synthetic organization.

For each size, the snapshot is generated once (generate.py, cached like run.py's), then

    phiguard scan PATHS --config CFG -f json -o OUT --at AT --jobs J                (local)
    phiguard scan PATHS --config CFG -f json -o OUT --at AT --engine beam -- \\
        --runner DirectRunner --direct_running_mode MODE --direct_num_workers N     (Beam)

run as child processes, and for each run this records: wall seconds, CPU seconds (the child and
its reaped descendants), the peak of the whole process tree's summed RSS and PSS (50 ms polls
of /proc), and the peak RSS of each process of the tree (VmHWM, the kernel's high-water mark,
read at every poll) with its role: the launcher (the `phiguard` process), and the workers
(every other process: Beam's multi-processing workers, or --jobs workers). A Beam run counts
only when its findings JSON is byte-identical to the local engine's (`identical` in the
output); the load average over the run says how busy the shared machine was.

    python benchmarks/beam_run.py --assets 10000 100000 --save beam.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (a sibling script: its snapshot cache and /proc helpers)

AT = run.AT


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, ValueError, IndexError):
        return 0.0


def _hwm_kib(pid: int) -> int:
    """VmHWM of a process (KiB), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Sampler(run.TreeSampler):
    """run.py's tree sampler (peaks of the tree's summed RSS/PSS, process count, load), plus
    each process's own high-water mark and CPU seconds."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        super().__init__(root, interval)
        self.hwm: dict[int, int] = {}  # pid -> KiB
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds at the last poll

    def each(self, pid: int) -> None:
        self.hwm[pid] = max(self.hwm.get(pid, 0), _hwm_kib(pid))
        self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))


@dataclass
class Result:
    assets: int
    engine: str  # "local --jobs J" or "beam MODE xN"
    exit_code: int
    wall_s: float
    cpu_s: float
    tree_rss_mib: float
    tree_pss_mib: float
    launcher_peak_mib: float
    worker_peak_mib: float  # the largest worker process's own peak (0: no workers)
    workers: int
    identical: bool | None  # findings JSON byte-identical to the local engine's
    load_min: float
    load_max: float
    stderr_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def measure(cmd: list[str], label: str, assets: int, out: Path,
            timeout: float | None) -> Result:
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, run._kill_group, (proc.pid,)) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        sampler.stop()
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    launcher = sampler.hwm.get(proc.pid, 0)
    others = [k for pid, k in sampler.hwm.items() if pid != proc.pid and k]
    return Result(assets=assets, engine=label, exit_code=code, wall_s=round(wall, 2),
                  cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
                  tree_rss_mib=round(sampler.peak_rss / 2**20, 1),
                  tree_pss_mib=round(sampler.peak_pss / 2**20, 1),
                  launcher_peak_mib=round(max(launcher, usage.ru_maxrss if not others else 0)
                                          / 1024, 1),
                  worker_peak_mib=round(max(others, default=0) / 1024, 1),
                  workers=len(others), identical=None,
                  load_min=round(min(sampler.loads, default=0.0), 2),
                  load_max=round(max(sampler.loads, default=0.0), 2),
                  stderr_tail=tail if code not in (0, 1) else "",
                  extra={"output": str(out),
                         # CPU seen at the last poll (up to 50 ms short of the end)
                         "launcher_cpu_s": round(sampler.cpu.get(proc.pid, 0.0), 2),
                         "workers_cpu_s": round(sum(c for pid, c in sampler.cpu.items()
                                                    if pid != proc.pid), 2)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--local-jobs", type=int, nargs="+", default=[1])
    ap.add_argument("--beam", nargs="*", default=["multi_processing:2"],
                    metavar="MODE:WORKERS",
                    help="DirectRunner running modes (in_memory, multi_threading, "
                         "multi_processing) and worker counts")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--phiguard", default=str(Path(sys.executable).parent / "phiguard"))
    ap.add_argument("--timeout", type=float, default=1200.0,
                    help="kill a run after this many seconds (default 20 minutes)")
    ap.add_argument("--save", type=Path)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="phiguard-beam-bench-") as tmp:
        for n in args.assets:
            snap = run.snapshot_for(n, 1, 1, False, args.out, log)
            paths, config = snap["scan_paths"], snap["config"]
            base = [args.phiguard, "scan", *paths, "--config", config, "-f", "json",
                    "--at", AT]
            reference: bytes | None = None
            for jobs in args.local_jobs:
                out = Path(tmp) / f"local-{n}-{jobs}.json"
                log(f"{n:,} assets: local --jobs {jobs} ...")
                r = measure([*base, "-o", str(out), "--jobs", str(jobs)],
                            f"local --jobs {jobs}", n, out, args.timeout)
                if reference is None and out.exists():
                    reference = out.read_bytes()
                r.identical = True if out.exists() and out.read_bytes() == reference else None
                results.append(r)
                log(f"  {asdict(r)}")
            for spec in args.beam:
                mode, _, workers = spec.partition(":")
                out = Path(tmp) / f"beam-{n}-{mode}-{workers}.json"
                options = ["--runner", "DirectRunner", "--direct_running_mode", mode]
                if workers:
                    options += ["--direct_num_workers", workers]
                log(f"{n:,} assets: beam {mode} x{workers or 1} ...")
                r = measure([*base, "-o", str(out), "--engine", "beam", "--", *options],
                            f"beam DirectRunner {mode} x{workers or 1}", n, out, args.timeout)
                r.identical = (out.exists() and reference is not None
                               and out.read_bytes() == reference)
                results.append(r)
                log(f"  {asdict(r)}")
    doc = {"machine": {"cpus": os.cpu_count(), "commit": run.checkout_commit(),
                       "maxrss_children_mib": round(resource.getrusage(
                           resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)},
           "runs": [asdict(r) for r in results]}
    if args.save:
        args.save.write_text(json.dumps(doc, indent=2) + "\n")
    print("| assets | engine | exit | identical | wall s | CPU s | tree PSS MiB | tree RSS MiB "
          "| launcher peak MiB | largest worker peak MiB | workers | load 1-min |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r.assets:,} | {r.engine} | {r.exit_code} | {r.identical} | {r.wall_s:.1f} "
              f"| {r.cpu_s:.1f} | {r.tree_pss_mib:,.0f} | {r.tree_rss_mib:,.0f} "
              f"| {r.launcher_peak_mib:,.0f} | {r.worker_peak_mib:,.0f} | {r.workers} "
              f"| {r.load_min:.1f}-{r.load_max:.1f} |")
    return 0 if all(r.exit_code in (0, 1) for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
