"""Output targets, checked before a command reads anything: an output never replaces an input.

Every command that writes a file (`scan`, `plan`, `report`, `audit`, `fix plan`, `--bundle`)
calls `refuse_inputs` first with what it will write and what it will read. An output is
refused when it is an input (the same path once links are resolved, or the same inode: a hard
link), or lies inside an input directory (a snapshot directory is read whole, so a report
written into it would become part of the next scan's input). `writable_target` turns what would
otherwise fail midway (a directory, a parent that does not exist) into one clear error first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from phiguard.errors import OutputError, UsageError

__all__ = ["refuse_inputs", "refuse_inside", "writable_target"]

Target = tuple[str, "str | Path | None"]


def _is_stdout(path: str | Path | None) -> bool:
    return path is None or str(path) == "-"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the path as given
        return Path(os.path.abspath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def writable_target(label: str, path: str | Path, *, directory: bool = False) -> None:
    """Refuse an output that cannot be written as asked: a directory where a file is meant, a
    parent directory that does not exist."""
    target = Path(path)
    if not directory and target.is_dir():
        raise OutputError(f"{label} {path}: is a directory; give a file name (e.g. "
                          f"{target / 'report.html'})")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{label} {path}: directory {parent} does not exist")


def refuse_inputs(outputs: Iterable[Target], inputs: Iterable[str | Path | None]) -> None:
    """Raise UsageError when an output is an input, or lies inside an input directory.

    `outputs` are (option, path) pairs; None and '-' (standard output) are skipped, and so are
    inputs that do not exist (the command reports those itself).
    """
    given = [Path(p) for p in inputs if p is not None and not _is_stdout(p)]
    for label, raw in outputs:
        if _is_stdout(raw):
            continue
        out = Path(str(raw))
        where = _resolved(out)
        same = _identity(out)
        for source in given:
            if not source.exists():
                continue
            resolved = _resolved(source)
            if source.is_dir():
                if _inside(where, resolved):
                    raise UsageError(f"{label} {raw}: is inside the input directory {source}; "
                                     "an output there would change or become part of that "
                                     "input: write it elsewhere")
                continue
            if where == resolved or (same is not None and same == _identity(source)):
                raise UsageError(f"{label} {raw}: is an input of this command ({source}); "
                                 "refusing to overwrite it: write the output elsewhere")


def refuse_inside(outputs: Iterable[Target], directory: Path, label: str) -> None:
    """Raise UsageError when an output lies inside `directory`, another output of the run."""
    root = _resolved(directory)
    for name, raw in outputs:
        if not _is_stdout(raw) and _inside(_resolved(Path(str(raw))), root):
            raise UsageError(f"{name} {raw}: is inside {label} {directory}, which holds only "
                             "what its manifest lists: write it elsewhere")
