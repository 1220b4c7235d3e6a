"""Which of the shared structures' pages a `--jobs` worker copies: loads a snapshot as
`phiguard scan --jobs 2` does (pass 1, join indexes and evaluators built, heap frozen), forks a
worker that judges one task of the judging pass, and reports, for each attribute of the
Inventory and of the loaded context and for the engine, how many MiB of pages holding its
objects the worker made private (copied) and how many there are in all. The total printed
first counts the worker's new pages too.

    .venv/bin/python benchmarks/cow_owners.py SNAPSHOT_DIR [--task 0.5]

SNAPSHOT_DIR holds assets.ndjson, users.json and phiguard.yaml (benchmarks/generate.py's
layout). Linux only: a page is private when /proc/self/pagemap says it is mapped by this
process alone (bit 56), read before and after the task. Objects are attributed to the first
owner (in the order listed) that reaches them; a page holding objects of several owners counts
for each. `cow_probe.py` measures how much is copied; this says whose pages they are.
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import types
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
_STOP = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.CodeType)


def _private_pages() -> set[int]:
    """Present pages of writable anonymous mappings mapped by this process alone."""
    ranges = []
    with open("/proc/self/maps") as fh:
        for line in fh:
            fields = line.split()
            if "w" in fields[1] and (len(fields) < 6 or fields[5] == "[heap]"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((lo, hi))
    out: set[int] = set()
    with open("/proc/self/pagemap", "rb") as pm:
        for lo, hi in ranges:
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i, (v,) in enumerate(struct.iter_unpack("Q", data)):
                if v >> 63 & 1 and v >> 56 & 1:
                    out.add(lo // PAGE + i)
    return out


def _owners(roots: dict[str, Any], copied: set[int]) -> list[tuple[int, int, int, str]]:
    seen: set[int] = set()
    rows = []
    for name, root in roots.items():
        pages: set[int] = set()
        stack, count = [root], 0
        while stack:
            obj = stack.pop()
            key = id(obj)
            if key in seen or (isinstance(obj, _STOP) and obj is not root):
                continue
            seen.add(key)
            count += 1
            pages.add(key // PAGE)
            stack.extend(gc.get_referents(obj))
        rows.append((len(pages & copied), len(pages), count, name))
    return sorted(rows, reverse=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot", type=Path)
    ap.add_argument("--task", type=float, default=0.5,
                    help="which task of the judging pass (a fraction of the way through)")
    ap.add_argument("--first-here", type=int, default=None,
                    help="tasks judged in the parent before forking (default: as the scan, "
                         "phiguard.scan.FIRST_HERE)")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args(argv)

    import phiguard.scan as scan
    from cow_probe import loaded_scan

    if args.first_here is None:
        args.first_here = getattr(scan, "FIRST_HERE", 0)
    job, engine, state = loaded_scan(args.snapshot)  # as the scan holds it before forking
    engine.prepare(job.loaded.counts)
    every = list(job._tasks())
    for first in every[:args.first_here]:  # as the scan does before forking (FIRST_HERE)
        scan._run(state, first)
    gc.collect()
    gc.freeze()
    task = every[min(len(every) - 1, int(len(every) * args.task))]
    inv = job.loaded.inventory
    roots: dict[str, Any] = {}
    names = list(getattr(inv, "__dict__", {})) + list(getattr(type(inv), "__slots__", ()))
    for name in names:
        if hasattr(inv, name):
            roots[f"Inventory.{name}"] = getattr(inv, name)
    for name in vars(job.loaded):
        if name != "inventory":
            roots[f"LoadedContext.{name}"] = getattr(job.loaded, name)
    roots["engine"] = engine
    pid = os.fork()
    if pid == 0:  # the worker: reads the page map before touching anything else
        code = 1
        try:
            before = _private_pages()
            scan._run(state, task)
            copied = _private_pages() - before
            print(f"task {every.index(task)} of {len(every)}: "
                  f"{len(copied) * PAGE / 2**20:.1f} MiB copied")
            for got, total, count, name in _owners(roots, copied)[:args.top]:
                print(f"{name:36s} {got * PAGE / 2**20:7.1f} MiB copied of "
                      f"{total * PAGE / 2**20:7.1f} ({count:,} objects)")
            sys.stdout.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
