"""Generated rule code kept between runs, so each run does not `compile()` it again.

The rule conditions and per-type evaluators of `phiguard.policy.codegen` are Python source
generated from the pack and compiled once per process (`codegen._CODE`, code objects by their
source text). For a 10,000-resource plan that compiling is about 0.11 of 1.7 CPU s, paid again
by every run of the same pack. `kept(codes)` fills that table from the cache before the run
and writes it back after the run when the run compiled something new.

The cache maps the exact source text to the code object `compile()` gave for it (`marshal`),
so a hit is the code the run would have compiled; a source that differs by one character is a
miss and compiles as before. The file's name is keyed by the Python that compiled it (its
version and bytecode magic number) and by the bytes of the code generator (a generator of
another version never meets this one's entries). As the rule-pack cache
(`phiguard.policy.pack_cache`, whose directory and switches it shares): a convenience, never a
requirement. Only an entry this user wrote that nobody else could have changed is read; an
unreadable, foreign-owned, group-writable or damaged entry is a miss, and nowhere to write is
no error. `PHIGUARD_NO_CACHE=1` turns it off, `PHIGUARD_CACHE_DIR` moves it.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType

from phiguard.policy.pack_cache import cache_dir, write_entry

__all__ = ["KEEP", "MAX_BYTES", "entry_path", "kept", "read", "write"]

KEEP = 4  # code files kept (one per Python and generator); the oldest go
# Above this many bytes a write keeps only what its run compiled (reading a large file costs
# more than compiling what a run uses of it: a whole pack's code is about 3 MB).
MAX_BYTES = 16 << 20
_FORMAT = b"phiguard-code-cache/1\0"
_SUFFIX = ".code"


def entry_path(folder: Path) -> Path:
    """The cache file for this Python and this code generator, in `folder`."""
    from phiguard.policy import codegen

    digest = hashlib.sha256(_FORMAT)
    digest.update(f"{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    digest.update(MAGIC_NUMBER)
    digest.update(Path(codegen.__file__).read_bytes())
    return folder / f"{digest.hexdigest()[:32]}{_SUFFIX}"


def read(entry: Path) -> dict[str, CodeType]:
    """The code objects by source text in `entry`; empty when it is missing, not this user's
    own (or writable by others), or damaged."""
    try:
        fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        # Only an entry this user wrote, that nobody else could have changed, is unmarshalled.
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return {}
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            if fh.read(len(_FORMAT)) != _FORMAT:
                return {}
            codes = marshal.loads(fh.read())
    except Exception:  # a damaged or stale entry is only a miss
        return {}
    finally:
        if fd >= 0:
            os.close(fd)
    if not isinstance(codes, dict) or not all(
            type(source) is str and type(code) is CodeType for source, code in codes.items()):
        return {}
    return codes


def write(folder: Path, entry: Path, codes: dict[str, CodeType],
          fallback: dict[str, CodeType] | None = None) -> None:
    """Write `codes` to `entry` atomically, or `fallback` instead when `codes` takes more than
    MAX_BYTES (never an error: the next run compiles again)."""
    try:
        data = marshal.dumps(codes)
        if len(data) > MAX_BYTES and fallback is not None:
            data = marshal.dumps(fallback)
    except Exception:  # nothing to cache: the next run compiles again
        return
    write_entry(folder, entry, _FORMAT + data, _SUFFIX, KEEP)


@contextmanager
def kept(codes: dict[str, CodeType]) -> Iterator[None]:
    """Inside the block, `codes` (the generator's table, `codegen._CODE`) holds what the cache
    kept; after it, what the block compiled that the cache lacked is written back. Not written
    when the block raised."""
    folder = cache_dir()
    if folder is None:
        yield
        return
    try:
        entry = entry_path(folder)
    except OSError:
        yield
        return
    cached = read(entry)
    before = set(codes)
    for source, code in cached.items():
        codes.setdefault(source, code)
    yield
    new = {source: code for source, code in codes.items()
           if source not in before and source not in cached}
    if not new:
        return
    write(folder, entry, {**cached, **new}, new)
