"""Benchmark `phiguard plan` end to end (interpreter start included): wall time, CPU time and
peak RSS for generated plans of N google_* resources (about half non-compliant).

Targets on a 2-core machine: 1,000 resources <= 0.5 s; 10,000 resources <= 1.5 s and
<= 300 MiB peak RSS. Plans are generated once under benchmarks/out/plans/ (git-ignored).

    .venv/bin/python benchmarks/plan_run.py                      # 1,000 and 10,000, text
    .venv/bin/python benchmarks/plan_run.py --resources 10000 --format json --repeat 5 --check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import plan_generate  # noqa: E402  (a sibling script, not a package)

TARGETS = {1000: (0.5, None), 10000: (1.5, 300.0)}  # resources -> (wall s, RSS MiB)
AT = "2026-11-25T00:00:00Z"


def _plan(resources: int, seed: int) -> tuple[Path, Path]:
    out = HERE / "out" / "plans" / f"plan-{resources}-seed{seed}.json"
    config = out.with_name("phiguard.yaml")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(plan_generate.generate(resources, seed))
    config.write_text(plan_generate.CONFIG)
    return out, config


def _phiguard() -> str:
    exe = Path(sys.executable).with_name("phiguard")
    return str(exe) if exe.exists() else "phiguard"


def run_once(plan: Path, config: Path, fmt: str) -> dict[str, Any]:
    """One `phiguard plan` child: wall, CPU (user+sys) and max RSS from wait4."""
    cmd = [_phiguard(), "plan", str(plan), "--config", str(config), "--format", fmt,
           "--output", os.devnull, "--at", AT]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "exit": code, "stderr": stderr[-500:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--format", default="text", choices=["text", "json", "sarif"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    rows = []
    missed = False
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    for n in args.resources:
        plan, config = _plan(n, args.seed)
        runs = [run_once(plan, config, args.format) for _ in range(args.repeat)]
        bad = [r for r in runs if r["exit"] not in (0, 1)]
        if bad:
            print(f"phiguard plan failed on {n} resources:\n{bad[0]['stderr']}", file=sys.stderr)
            return 2
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        rss = max(r["rss_mib"] for r in runs)
        target_wall, target_rss = TARGETS.get(n, (None, None))
        ok = (target_wall is None or wall <= target_wall) and (target_rss is None
                                                                 or rss <= target_rss)
        missed |= not ok
        rows.append({"resources": n, "plan_mib": round(plan.stat().st_size / 2**20, 1),
                     "format": args.format, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                     "min_wall_s": round(min(r["wall_s"] for r in runs), 3),
                     "rss_mib": round(rss, 1), "target_wall_s": target_wall,
                     "target_rss_mib": target_rss, "ok": ok})
    if args.json:
        print(json.dumps({"load_average_1m": float(load), "runs": rows}, indent=2))
    else:
        print(f"load average (1 min) at start: {load}")
        print(f"{'resources':>9} {'plan MiB':>8} {'wall s':>7} {'min s':>6} {'cpu s':>6} "
              f"{'RSS MiB':>8}  target")
        for r in rows:
            target = (f"<= {r['target_wall_s']} s" if r["target_wall_s"] else "-") + (
                f", <= {r['target_rss_mib']:.0f} MiB" if r["target_rss_mib"] else "")
            print(f"{r['resources']:>9} {r['plan_mib']:>8} {r['wall_s']:>7} {r['min_wall_s']:>6}"
                  f" {r['cpu_s']:>6} {r['rss_mib']:>8}  {target} {'ok' if r['ok'] else 'MISSED'}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
