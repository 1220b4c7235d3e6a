"""Is the default `--jobs` (0: phiguard picks) ever slower than one job? Scan one snapshot with
`--jobs 1` and with each other value asked, alternating, while 0, 1, ... extra processes burn a
CPU each (`while True: pass`), and print wall and CPU seconds, the process tree's peak PSS and
the 1-minute load average for each run, plus the jobs the default chose (stage times).

    .venv/bin/python benchmarks/jobs_load.py --snapshot /tmp/bench/org200k/assets.ndjson \\
        /tmp/bench/org200k/users.json --config /tmp/bench/org200k/phiguard.yaml \\
        --jobs 1 0 2 --burners 0 1 --repeat 2

Findings of every run are compared byte for byte with the first one's (exit 1 if they differ).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import AT, STAGE_TIMES_ENV, find_phiguard, measure  # noqa: E402  (sibling script)


def _burners(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", nargs="+", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 0])
    ap.add_argument("--burners", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--phiguard")
    args = ap.parse_args(argv)
    phiguard = find_phiguard(args.phiguard)
    rows = []
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        first: Path | None = None
        for burners in args.burners:
            procs = _burners(burners)
            try:
                time.sleep(2 if burners else 0)  # the load average starts to show them
                for run in range(1, args.repeat + 1):
                    for jobs in args.jobs:
                        out = Path(tmp) / f"b{burners}-j{jobs}-r{run}.json"
                        stages = Path(tmp) / "stages.json"
                        cmd = [phiguard, "scan", *args.snapshot, "--config", args.config,
                               "--format", "json", "--output", str(out), "--jobs", str(jobs),
                               "--at", AT]
                        load = os.getloadavg()[0]
                        code, wall, usage, sampler, tail = measure(
                            cmd, env={**os.environ, STAGE_TIMES_ENV: str(stages)})
                        doc = json.loads(stages.read_text()) if stages.exists() else {}
                        if first is None:
                            first = out
                        elif not filecmp.cmp(first, out, shallow=False):
                            same = False
                        row = {"burners": burners, "jobs": jobs, "chose": doc.get("jobs"),
                               "why": doc.get("jobs_reason"), "run": run, "exit": code,
                               "wall_s": round(wall, 2),
                               "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                               "tree_pss_mib": round(sampler.peak_pss / 2**20),
                               "load_start": round(load, 2),
                               "load_max": round(max(sampler.loads, default=0.0), 2)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                        if code not in (0, 1):
                            print(tail, file=sys.stderr)
                            return 2
                        if out != first:
                            out.unlink()
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
    print("findings byte-identical across runs:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
