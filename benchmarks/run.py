"""Benchmark `phiguard scan` on a synthetic organization: wall time, throughput, peak memory.

Generates the snapshot once per (assets, seed, shards, gzip) under benchmarks/out/ (git-ignored)
and reuses it, then runs `phiguard scan SNAPSHOT --config CFG --format F --output /dev/null
--jobs J --at AT` as a child process for every combination asked for, and times `phiguard --help`.

Memory is measured three ways, because `--jobs` runs worker processes:
  - tree RSS: the peak, over 50 ms polls of /proc, of the summed RSS of the child and all its
    descendants (counts pages shared between forked workers once per process: an upper bound);
  - tree PSS: the same with proportional set size (shared pages split between sharers), the
    fairest single figure for "how much memory did the scan use";
  - max process RSS: the kernel's high-water mark of the largest single process in the tree
    (`wait4` rusage of the child, which folds in its reaped descendants). This one never misses a
    short spike; the polled sums can.

Usage:
    python benchmarks/run.py --assets 100000 --jobs 1 2
    python benchmarks/run.py --assets 1000000 --jobs 2 --formats json --json > result.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (a sibling script, not a package)
import plan_run  # noqa: E402

TARGET_X_FLOOR = 5.0  # 1,000,000 assets, default settings: wall <= 5x the floor of the same run
TARGET_RSS_MIB = 1024.0
TARGET_HELP_S = 0.3
AT = "2026-11-25T00:00:00Z"
STAGE_TIMES_ENV = "PHIGUARD_STAGE_TIMES"  # phiguard._util.stages.ENV
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------------
# Process-tree memory sampling.
# --------------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids, from /proc/*/stat (this kernel has no /proc/PID/task/TID/children)."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def _rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes of one process; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            rss = int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0, 0
    pss = rss
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    """Polls the memory of a process tree until stopped; keeps the peaks and the process count."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.max_procs = 0
        self.loads: list[float] = []  # 1-minute load average at each poll: how busy the machine was
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = _tree(self.pid)
            rss = pss = 0
            for pid in pids:
                r, p = _rss_pss(pid)
                rss += r
                pss += p
                self.each(pid)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.max_procs = max(self.max_procs, len(pids))
            self.loads.append(os.getloadavg()[0])
            self._done.wait(self.interval)

    def each(self, pid: int) -> None:
        """What a subclass records of each process of the tree at each poll (nothing here)."""

    def stop(self) -> None:
        self._done.set()
        self.join()


# --------------------------------------------------------------------------------------------
# Running and measuring.
# --------------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    assets: int
    lines: int
    format: str
    jobs: int
    run: int
    exit_code: int
    wall_s: float
    assets_per_s: float
    cpu_s: float  # user + system of the child and its reaped descendants
    tree_rss_mib: float
    tree_pss_mib: float
    max_proc_rss_mib: float
    max_procs: int
    crashed: bool  # exit other than 0/1, or a traceback (an uncaught exception also exits 1)
    stderr_tail: str
    load_min: float = 0.0  # 1-minute load average during the scan (2 = both CPUs busy)
    load_max: float = 0.0
    floor_wall_s: float = 0.0  # the floor (_floor.py: decode every line, same --jobs)
    floor_pss_mib: float = 0.0
    floor_cpu_s: float = 0.0
    wall_x_floor: float = 0.0  # wall_s / floor_wall_s
    pss_x_floor: float = 0.0
    cpu_x_floor: float = 0.0  # CPU time is the steadier figure on a busy machine
    stages: dict[str, Any] | None = None  # the scan's PHIGUARD_STAGE_TIMES document


def measure(cmd: list[str], timeout: float | None = None, stdout: Any = subprocess.DEVNULL,
            env: dict[str, str] | None = None) -> tuple[int, float, Any, TreeSampler, str]:
    """Run `cmd`; return (exit code, wall seconds, wait4 rusage, sampler, stderr tail).

    After `timeout` seconds the child's whole process group is killed (exit code -9).
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=err, start_new_session=True, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timer = None
        if timeout:
            timer = threading.Timer(timeout, _kill_group, (proc.pid,))
            timer.start()
        # wait4, not Popen.wait: its rusage is this child's alone (ru_maxrss: the largest
        # process in its tree), where RUSAGE_CHILDREN accumulates over every run so far.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
        err.seek(0)
        tail = err.read()[-3000:].decode(errors="replace")
    return proc.returncode, wall, usage, sampler, tail


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def scan(phiguard: str, paths: list[str], config: str, fmt: str, jobs: int, assets: int,
         lines: int, run: int, at: str, timeout: float | None,
         stage_times: bool = True) -> ScanResult:
    """One scan. `assets` 0 (a given snapshot): counted by the scan itself (the distinct
    resources it read, from its stage-times document), else the floor's record count."""
    cmd = [phiguard, "scan", *paths, "--config", config, "--format", fmt,
           "--output", os.devnull, "--jobs", str(jobs), "--at", at]
    with tempfile.TemporaryDirectory() as tmp:
        env = None
        timing = Path(tmp) / "stages.json"
        if stage_times:
            env = {**os.environ, STAGE_TIMES_ENV: str(timing)}
        code, wall, usage, sampler, tail = measure(cmd, timeout, env=env)
        doc = json.loads(timing.read_text()) if timing.exists() else None
    if code == -signal.SIGKILL and timeout and wall >= timeout:
        tail = f"killed after the {timeout:.0f} s timeout\n" + tail
    if doc is not None:
        assets = assets or int(doc.get("assets") or 0)
        lines = lines or int(doc.get("records") or 0)
    return ScanResult(
        assets=assets, lines=lines, format=fmt, jobs=jobs, run=run, exit_code=code,
        wall_s=round(wall, 3), assets_per_s=round(assets / wall) if wall else 0,
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        tree_rss_mib=round(sampler.peak_rss / 2**20, 1),
        tree_pss_mib=round(sampler.peak_pss / 2**20, 1),
        max_proc_rss_mib=round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        max_procs=sampler.max_procs,
        crashed=code not in (0, 1) or "Traceback (most recent call last)" in tail,
        stderr_tail=tail,
        load_min=round(min(sampler.loads, default=0.0), 2),
        load_max=round(max(sampler.loads, default=0.0), 2),
        stages=doc,
    )


@dataclass
class Floor:
    wall_s: float
    pss_mib: float
    cpu_s: float
    records: int
    load_max: float


def floor(paths: list[str], jobs: int) -> Floor:
    """Decode every line of the snapshot once in `jobs` processes (see _floor.py): the better
    of two runs, so the first one's reading from disk into the page cache does not count."""
    first, second = _floor_once(paths, jobs), _floor_once(paths, jobs)
    return first if first.cpu_s < second.cpu_s else second


def _floor_once(paths: list[str], jobs: int) -> Floor:
    with tempfile.NamedTemporaryFile("w+") as out:
        cmd = [sys.executable, str(HERE / "_floor.py"), "--jobs", str(jobs), *paths]
        code, wall, usage, sampler, tail = measure(cmd, stdout=out)
        out.seek(0)
        if code != 0:
            sys.exit(f"run.py: the floor run failed (exit {code}):\n{tail}")
        return Floor(round(wall, 3), round(sampler.peak_pss / 2**20, 1),
                     round(usage.ru_utime + usage.ru_stime, 2), int(out.read()),
                     round(max(sampler.loads, default=0.0), 2))


def with_floor(r: ScanResult, f: Floor) -> ScanResult:
    r.floor_wall_s, r.floor_pss_mib, r.floor_cpu_s = f.wall_s, f.pss_mib, f.cpu_s
    r.cpu_x_floor = round(r.cpu_s / f.cpu_s, 2) if f.cpu_s else 0.0
    r.wall_x_floor = round(r.wall_s / f.wall_s, 2) if f.wall_s else 0.0
    r.pss_x_floor = round(r.tree_pss_mib / f.pss_mib, 2) if f.pss_mib else 0.0
    return r


def time_help(phiguard: str, runs: int) -> dict[str, Any]:
    """Median wall time of `phiguard --help` over `runs` runs, after one untimed warm-up."""
    subprocess.run([phiguard, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    times, codes = [], set()
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([phiguard, "--help"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
        codes.add(done.returncode)
    out: dict[str, Any] = {
        "runs": runs, "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4), "max_s": round(max(times), 4),
        "exit_codes": sorted(codes),
    }
    if out["median_s"] > TARGET_HELP_S:
        out["slowest_imports"] = slowest_imports(phiguard)
    return out


def slowest_imports(phiguard: str, top: int = 8) -> list[dict[str, Any]]:
    """The imports with the largest cumulative time in `phiguard --help` (`-X importtime`)."""
    script = Path(phiguard)
    python = script.parent / "python"
    if not python.exists():
        return []
    done = subprocess.run([str(python), "-X", "importtime", str(script), "--help"],
                          capture_output=True, text=True, check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line[len("import time:"):].split("|", 2)
        indent = len(name) - len(name.lstrip())
        rows.append((indent, int(cum_us), name.strip()))
    if not rows:
        return []
    # Slowest first at any depth (a package and the module that makes it slow both show).
    outer = min(r[0] for r in rows)
    rows = sorted(rows, key=lambda r: -r[1])[:top]
    return [{"module": name, "depth": (indent - outer) // 2, "cumulative_ms": round(cum / 1000, 1)}
            for indent, cum, name in rows]


# --------------------------------------------------------------------------------------------
# Snapshots.
# --------------------------------------------------------------------------------------------


def snapshot_for(assets: int, seed: int, shards: int, gzip: bool, out_root: Path,
                 log: Any) -> dict[str, Any]:
    """Generate the snapshot for (assets, seed, shards, gzip), or reuse the cached one."""
    name = f"n{assets}-seed{seed}" + (f"-shards{shards}" if shards > 1 else "") + (
        "-gz" if gzip else "")
    out = out_root / name
    manifest = out / generate.MANIFEST
    if manifest.exists():
        m: dict[str, Any] = json.loads(manifest.read_text())
        key = (m.get("generator_version"), m.get("assets"), m.get("seed"), m.get("shards"),
               m.get("gzip"))
        if key == (generate.GENERATOR_VERSION, assets, seed, shards, gzip) and all(
            Path(f).exists() for f in m["files"]
        ):
            log(f"reusing {out} ({m['assets']:,} assets, generated in {m['seconds']} s)")
            m["reused"] = True
            return m
    log(f"generating {assets:,} assets into {out} ...")
    m = generate.generate(assets, out, seed=seed, shards=shards, compress=gzip)
    log(f"generated {m['assets']:,} assets + {m['iam_policy_records']:,} IAM policies + "
        f"{m['org_policy_records']:,} org policies "
        f"({m['bytes'] / 2**20:,.0f} MiB) in {m['seconds']} s")
    m["reused"] = False
    return m


# --------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------


def markdown(results: list[ScanResult], help_timing: dict[str, Any] | None,
             machine: dict[str, Any], floors: list[dict[str, Any]]) -> str:
    lines = [
        f"{machine['phiguard_version']} (checkout {machine['commit']}) on {machine['cpus']} CPUs, "
        f"Python {machine['python']}, {machine['platform']}",
        "",
        "| assets | format | jobs | run | exit | wall s | assets/s | s per 1M (linear) | CPU s "
        "| tree RSS MiB | tree PSS MiB | max proc RSS MiB | procs | wall x floor "
        "| CPU x floor | PSS x floor | load 1-min |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.assets:,} | {r.format} | {r.jobs} | {r.run} | {r.exit_code} | {r.wall_s:.2f} "
            f"| {r.assets_per_s:,} | {r.wall_s * 1_000_000 / r.assets:.0f} | {r.cpu_s:.1f} "
            f"| {r.tree_rss_mib:,.0f} | {r.tree_pss_mib:,.0f} | {r.max_proc_rss_mib:,.0f} "
            f"| {r.max_procs} | {r.wall_x_floor:.2f} | {r.cpu_x_floor:.2f} | {r.pss_x_floor:.1f} "
            f"| {r.load_min:.1f}-{r.load_max:.1f} |"
        )
    lines += ["", "floor: decoding every line of the same snapshot (benchmarks/_floor.py, same "
              "--jobs, measured just before the scans): "
              + "; ".join(f"{f['assets']:,} assets, --jobs {f['jobs']}: {f['wall_s']:.2f} s, "
                          f"{f['cpu_s']:.2f} CPU s, {f['pss_mib']:,.0f} MiB PSS (load up to "
                          f"{f['load_max']:.1f})"
                          for f in floors)]
    for r in results:
        lines += stage_table(r)
    lines += ["", f"Targets at 1,000,000 assets, default settings: wall <= {TARGET_X_FLOOR:.0f}x "
              "the floor measured in the same run, whole process tree <= "
              f"{TARGET_RSS_MIB:.0f} MiB PSS; `phiguard --help` <= {TARGET_HELP_S * 1000:.0f} ms."]
    for r in results:
        if r.assets >= 1_000_000 and not r.crashed:
            met = r.wall_x_floor <= TARGET_X_FLOOR and r.tree_pss_mib <= TARGET_RSS_MIB
            lines.append(f"- {r.assets:,} assets, {r.format}, --jobs {r.jobs}, run {r.run}: "
                         f"{r.wall_x_floor:.2f}x the floor, {r.tree_pss_mib:,.0f} MiB PSS: "
                         f"{'met' if met else 'MISSED'}")
    lines.append("")
    for r in results:
        if r.crashed:
            lines += [f"exit {r.exit_code} at {r.assets:,} assets, {r.format}, --jobs {r.jobs}:",
                      "```", r.stderr_tail.rstrip(), "```", ""]
    if help_timing:
        ok = "meets" if help_timing["median_s"] <= TARGET_HELP_S else "MISSES"
        lines += [f"`phiguard --help`: median {help_timing['median_s'] * 1000:.0f} ms over "
                  f"{help_timing['runs']} runs (min {help_timing['min_s'] * 1000:.0f}, max "
                  f"{help_timing['max_s'] * 1000:.0f}); {ok} the {TARGET_HELP_S * 1000:.0f} ms "
                  "target"]
        for row in help_timing.get("slowest_imports", []):
            lines.append(f"  - import {row['module']}: {row['cumulative_ms']} ms")
    return "\n".join(lines) + "\n"


def stage_table(r: ScanResult) -> list[str]:
    """The scan's own account of where its time went (PHIGUARD_STAGE_TIMES), each stage also
    as a multiple of the floor's wall time; what the stages miss is the process's exit and
    what ran before the timing started."""
    doc = r.stages
    if not doc:
        return []
    fw = r.floor_wall_s or 0.0
    chose = (f" (chose {doc.get('jobs', '?')}: {doc.get('jobs_reason', '?')})"
             if r.jobs == 0 else "")
    out = ["", f"Stages of the scan of {r.assets:,} assets, {r.format}, --jobs {r.jobs}{chose} "
           f"(run {r.run}; {doc.get('rules', '?')} rules, pack "
           f"{str(doc.get('rule_pack_digest', '?'))[:12]}; floor {fw:.2f} s wall, "
           f"{r.floor_cpu_s:.2f} s CPU):", "",
           "| stage | wall s | CPU s | share of wall | wall x floor |", "|---|---:|---:|---:|---:|"]

    def row(name: str, wall: float, cpu: float | None) -> str:
        return (f"| {name} | {wall:.2f} | {'' if cpu is None else f'{cpu:.2f}'} "
                f"| {100 * wall / r.wall_s if r.wall_s else 0:.0f} % "
                f"| {wall / fw if fw else 0:.2f} |")

    for s in doc["stages"]:
        out.append(row(s["name"], s["wall_s"], s["cpu_s"]))
    rest = r.wall_s - sum(s["wall_s"] for s in doc["stages"])
    out.append(row("(not in a stage: exit, output close)", max(rest, 0.0), None))
    out.append(row("**total** (measured here)", r.wall_s, r.cpu_s))
    if "workers" in doc:
        out += ["", "Worker processes, summed (process-seconds, concurrent within the judging "
                "pass): " + "; ".join(f"{s['name']} {s['wall_s']:.2f} s wall, {s['cpu_s']:.2f} "
                                      "s CPU" for s in doc["workers"]["stages"])]
    return out


def targets_met(results: list[ScanResult], help_timing: dict[str, Any] | None) -> bool:
    ok = not any(r.crashed for r in results)
    for r in results:
        if r.assets >= 1_000_000:
            ok &= r.wall_x_floor <= TARGET_X_FLOOR and r.tree_pss_mib <= TARGET_RSS_MIB
    if help_timing:
        ok &= help_timing["median_s"] <= TARGET_HELP_S
    return ok


def checkout_commit() -> str:
    """HEAD of the checkout this script is in, with `+dirty` when src/ or rules/ have changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True,
                              text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "?"
    return head + ("+dirty" if git("status", "--porcelain", "--", "src", "rules") else "")


def find_phiguard(given: str | None) -> str:
    if given:
        return given
    beside = Path(sys.executable).parent / "phiguard"
    if beside.exists():
        return str(beside)
    found = shutil.which("phiguard")
    if not found:
        sys.exit("run.py: no phiguard executable found; pass --phiguard PATH")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, nargs="+",
                    help="generated snapshot sizes (default 100000 unless --snapshot is given)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[0],
                    help="values of --jobs (default: 0, phiguard scan's default: it picks 1 or "
                         "more by the snapshot and how idle the CPUs are; its floor is one "
                         "process)")
    ap.add_argument("--formats", nargs="+", default=["json", "text"], choices=["json", "text"])
    ap.add_argument("--repeat", type=int, default=1, help="runs per combination")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=1, help="snapshot shards (1: one NDJSON file)")
    ap.add_argument("--gzip", action="store_true", help="gzip the snapshot")
    ap.add_argument("--no-users", action="store_true",
                    help="leave the directory users export out of the scan (MFA rules see none)")
    ap.add_argument("--at", default=AT, help="evaluation time passed to phiguard scan --at")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="snapshot cache directory")
    ap.add_argument("--snapshot", nargs="+",
                    help="scan these paths (files or directories) too (after the --assets ones)")
    ap.add_argument("--config", help="phiguard.yaml for --snapshot")
    ap.add_argument("--phiguard", help="phiguard executable (default: beside this Python)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="kill a scan after this many seconds (reported as exit -9)")
    ap.add_argument("--help-runs", type=int, default=10, help="runs of `phiguard --help` (0: skip)")
    ap.add_argument("--plan", type=int, nargs="+", default=[], metavar="RESOURCES",
                    help="also time `phiguard plan` (default --jobs) on generated plans of "
                         "this many resources against their json.load floor (plan_run.py)")
    ap.add_argument("--plan-repeat", type=int, default=3, help="runs per plan (the median)")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON instead")
    ap.add_argument("--save", type=Path, help="also write the machine-readable JSON here")
    ap.add_argument("--no-stages", action="store_true",
                    help="do not ask the scans for their stage times (PHIGUARD_STAGE_TIMES)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a target is missed (1M-asset wall/PSS, --help time)")
    args = ap.parse_args(argv)
    if args.snapshot and not args.config:
        ap.error("--snapshot needs --config")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    phiguard = find_phiguard(args.phiguard)
    version = subprocess.run([phiguard, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip() or "?"
    machine = {
        "commit": checkout_commit(),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(terse=True), "phiguard_version": version,
        "phiguard": phiguard,
    }
    snapshots = []
    for n in args.assets or ([] if args.snapshot else [100_000]):
        snap = snapshot_for(n, args.seed, args.shards, args.gzip, args.out, log)
        if args.no_users:
            if args.shards > 1:
                ap.error("--no-users needs --shards 1 (shards hold users.json)")
            snap["scan_paths"] = snap["scan_paths"][:1]
        snapshots.append(snap)
    if args.snapshot:
        snapshots.append({"snapshot": args.snapshot, "scan_paths": args.snapshot,
                          "config": args.config, "assets": 0, "lines": 0})
    load_start = os.getloadavg()[0]

    results: list[ScanResult] = []
    floors: list[dict[str, Any]] = []
    for snap in snapshots:
        floor_of = {}
        these: list[dict[str, Any]] = []
        for jobs in args.jobs:
            # --jobs 0 (phiguard's default: it picks) is held to one process reading every
            # line, the floor issue 14 names; an explicit --jobs N to N processes reading.
            log(f"floor: decode {snap['snapshot']} with {max(jobs, 1)} processes ...")
            floor_of[jobs] = f = floor(snap["scan_paths"], max(jobs, 1))
            these.append({"assets": snap["assets"], "jobs": jobs, **asdict(f)})
            floors.append(these[-1])
            log(f"  {f.records:,} records, {f.wall_s:.2f} s, {f.pss_mib:,.0f} MiB PSS")
        for fmt in args.formats:
            for jobs in args.jobs:
                for run in range(1, args.repeat + 1):
                    log(f"scan {snap['snapshot']} --format {fmt} --jobs {jobs} (run {run}) ...")
                    r = with_floor(scan(phiguard, snap["scan_paths"], snap["config"], fmt, jobs,
                                        snap["assets"], snap["lines"], run, args.at,
                                        args.timeout, not args.no_stages), floor_of[jobs])
                    if not r.assets:  # no stage times: the floor's records stand in
                        r.assets = r.lines = floor_of[jobs].records
                        r.assets_per_s = round(r.assets / r.wall_s) if r.wall_s else 0
                    if snap["assets"] == 0:
                        snap["assets"], snap["lines"] = r.assets, r.lines
                    log(f"  exit {r.exit_code}, {r.wall_s:.2f} s ({r.wall_x_floor:.2f} x floor, "
                        f"CPU {r.cpu_s:.1f} s = {r.cpu_x_floor:.2f} x floor), "
                        f"{r.assets_per_s:,} assets/s, tree PSS {r.tree_pss_mib:,.0f} MiB, max "
                        f"proc RSS {r.max_proc_rss_mib:,.0f} MiB, load {r.load_min:.1f}-"
                        f"{r.load_max:.1f}")
                    results.append(r)
        for row in these:
            row["assets"] = snap["assets"]  # counted by the first scan of a given snapshot
    plans = []
    for n in args.plan:
        log(f"plan: {n:,} resources, json.load floor then {args.plan_repeat} runs ...")
        plans.append(plan_run.measure_plan(n, args.seed, "json", args.plan_repeat,
                                           not args.no_stages, phiguard))
        log(f"  {plans[-1]['wall_s']:.2f} s median ({plans[-1]['wall_x_floor']:.2f} x floor)")
    help_timing = time_help(phiguard, args.help_runs) if args.help_runs > 0 else None
    machine["load_1m_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine["rusage_children_maxrss_mib"] = round(children.ru_maxrss / 1024, 1)

    document = {
        "machine": machine,
        "snapshots": [{k: v for k, v in s.items() if k != "asset_types"} for s in snapshots],
        "runs": [asdict(r) for r in results],
        "floors": floors,
        "plans": plans,
        "help": help_timing,
        "targets": {"wall_x_floor_1m": TARGET_X_FLOOR, "rss_mib": TARGET_RSS_MIB,
                    "help_s": TARGET_HELP_S, "met": targets_met(results, help_timing)},
    }
    if args.save:
        args.save.write_text(json.dumps(document, indent=2) + "\n")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(markdown(results, help_timing, machine, floors), end="")
        if plans:
            print("\n`phiguard plan` (default --jobs, JSON; medians; floor: `json.load` of the "
                  "plan in a fresh interpreter):\n\n```")
            print("\n".join(plan_run.table(plans)))
            print("```")
        print(f"\nload average (1 min) at the start and end of this run: "
              f"{machine['load_1m_start_end'][0]:.2f}, {machine['load_1m_start_end'][1]:.2f}")

    if any(r.crashed for r in results):
        return 2
    if args.check and not targets_met(results, help_timing):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
