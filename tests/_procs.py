"""This process's children, read from /proc (the parallel tests check none is left)."""

from __future__ import annotations

import os
from pathlib import Path


def children() -> set[int]:
    """Live (not reaped) children of this process."""
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == me:
                out.add(int(entry.name))
    return out
