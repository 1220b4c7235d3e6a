"""The floor a scan is measured against: read and JSON-decode every line of the snapshot once,
nothing else, in JOBS processes (each a share of the bytes), as `run.py` runs the scan.

    python benchmarks/_floor.py --jobs 2 PATH [PATH ...]

Prints the number of records decoded. Any scanner has to do at least this much work, so the
scan's wall time and memory as a multiple of this, measured in the same run on the same
machine, moves much less with the machine's load than the seconds themselves do.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import sys
from pathlib import Path

import orjson


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for given in paths:
        path = Path(given)
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        out += [f for f in found if f.is_file() and f.name.endswith((".ndjson", ".ndjson.gz"))]
    return out


def _shares(files: list[Path], jobs: int) -> list[list[tuple[Path, int, int]]]:
    """Each process's (file, start, end) pieces: plain files cut at line starts, gzip whole."""
    pieces: list[tuple[Path, int, int]] = []
    for f in files:
        if f.suffix == ".gz":
            pieces.append((f, 0, -1))
            continue
        size = f.stat().st_size
        bounds = [0]
        with f.open("rb") as fh:
            for k in range(1, jobs):
                fh.seek(max(bounds[-1], size * k // jobs))
                fh.readline()
                bounds.append(min(fh.tell(), size))
        bounds.append(size)
        pieces += [(f, lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]
    return [pieces[i::jobs] for i in range(jobs)]


def _decode(pieces: list[tuple[Path, int, int]]) -> int:
    count = 0
    for f, start, end in pieces:
        if end < 0:
            with gzip.open(f, "rb") as fh:
                for line in fh:
                    if line.strip():
                        orjson.loads(line)
                        count += 1
            continue
        with f.open("rb") as fh:
            fh.seek(start)
            while fh.tell() < end:
                line = fh.readline()
                if not line:
                    break
                if line.strip():
                    orjson.loads(line)
                    count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args(argv)
    shares = _shares(_files(args.paths), max(1, args.jobs))
    children = []
    for share in shares[1:]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(read_fd)
                os.write(write_fd, str(_decode(share)).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd))
    total = _decode(shares[0])
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as fh:
            total += int(fh.read() or b"0")
        _, status = os.waitpid(pid, 0)
        if status:
            sys.exit("floor: a worker failed")
    print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
