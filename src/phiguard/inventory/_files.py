"""The files of a snapshot path, found safely, and opened with bounded decompression.

A snapshot folder may be a plain download of `gcloud asset export --output-path-prefix`, whose
objects are named `<prefix>/<asset type>/<shard number>` with no file extension. So the walk
takes files by name (`*.json`, `*.ndjson`, `*.jsonl`, optionally `.gz`) and also any file whose
name has no extension at all (`0`, `1.gz`), which the reader then sniffs. Everything the walk
declines is reported, never dropped without a word:

- refused (SnapshotError, exit 2): a link loop or a second path to a folder already walked, a
  broken link, a folder that cannot be listed, and a pipe, socket or device where a data file
  would be (it is never opened, so a FIFO cannot hang the run);
- skipped with a note: an extensionless file that is not JSON.

Gzip input is decompressed under two bounds, so a small file cannot expand without limit: an
absolute size per file (`PHIGUARD_MAX_UNCOMPRESSED`, default 32 GiB) and, once 64 MiB have been
expanded, a ratio of uncompressed to compressed bytes (`PHIGUARD_MAX_GZIP_RATIO`, default 200;
real Cloud Asset exports compress about 10 to 1).
"""

from __future__ import annotations

import io
import os
import re
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from phiguard.errors import SnapshotError, UsageError

__all__ = ["GzipStream", "Limits", "is_compressed", "is_data_name", "is_shard_name", "limits",
           "open_binary", "walk"]

DATA_SUFFIXES = (".json", ".ndjson", ".jsonl")
DEFAULT_MAX_UNCOMPRESSED = 32 << 30
DEFAULT_MAX_RATIO = 200
RATIO_CHECK_FROM = 64 << 20  # small files may compress better than any real export; allow it
_CHECK_EVERY = 1 << 20
_SIZE = re.compile(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


class Limits:
    """Decompression bounds: bytes per file, and uncompressed/compressed ratio (0: none)."""

    __slots__ = ("max_bytes", "max_ratio", "ratio_from")

    def __init__(self, max_bytes: int, max_ratio: int, ratio_from: int) -> None:
        self.max_bytes, self.max_ratio, self.ratio_from = max_bytes, max_ratio, ratio_from


def _env_number(name: str, default: int, sizes: bool) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    m = _SIZE.fullmatch(raw) if sizes else re.fullmatch(r"\s*(\d+)\s*()", raw)
    if m is None:
        what = "a size such as 64G, 500M or a number of bytes" if sizes else "a whole number"
        raise UsageError(f"{name}={raw!r}: expected {what} (0: no limit)")
    return int(m.group(1)) << (10 * " KMGT".index(m.group(2).upper() or " "))


def limits() -> Limits:
    """The decompression bounds in force, from the environment or the defaults."""
    return Limits(_env_number("PHIGUARD_MAX_UNCOMPRESSED", DEFAULT_MAX_UNCOMPRESSED, True),
                  _env_number("PHIGUARD_MAX_GZIP_RATIO", DEFAULT_MAX_RATIO, False),
                  RATIO_CHECK_FROM)


def _human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g} {unit}"
    return f"{n} bytes"


class GzipStream(io.RawIOBase):
    """Gzip decompression (any number of members, each CRC-checked by zlib) that stops with a
    SnapshotError past the size or ratio bound. Wrapped in a BufferedReader, lines and peeks
    are the C reader's, so the bound costs nothing per line."""

    def __init__(self, path: Path, bounds: Limits) -> None:
        super().__init__()
        self._fh = path.open("rb")
        self._path = str(path)
        self._bounds = bounds
        self._z = zlib.decompressobj(31)
        self._tail = b""  # compressed bytes read but not yet decompressed
        self._fresh = True  # between members: the end of the file here is a clean end
        self._out = 0
        self._check_at = min(_CHECK_EVERY, bounds.max_bytes or _CHECK_EVERY)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        while True:
            if not self._tail:
                self._tail = self._fh.read(1 << 16)
                if not self._tail:
                    if self._fresh:
                        return 0
                    raise EOFError("compressed file ended before the end-of-stream marker "
                                   "was reached")
            if self._fresh:
                if not self._tail.strip(b"\x00"):  # zero padding after the last member
                    self._tail = b""
                    continue
                self._fresh = False
            data = self._z.decompress(self._tail, size)
            if self._z.eof:
                self._tail = self._z.unused_data
                self._z = zlib.decompressobj(31)
                self._fresh = True
            else:
                self._tail = self._z.unconsumed_tail
            if data:
                buffer[:len(data)] = data
                self._out += len(data)
                if self._out >= self._check_at:
                    self._check()
                return len(data)

    def _check(self) -> None:
        bounds, out = self._bounds, self._out
        if bounds.max_bytes and out > bounds.max_bytes:
            raise SnapshotError(
                f"gzip data expands past {_human(bounds.max_bytes)}, the limit for one file "
                "(set PHIGUARD_MAX_UNCOMPRESSED, e.g. 64G, to allow more)", file=self._path)
        raw = self._fh.tell() - len(self._tail)  # compressed bytes consumed so far
        if bounds.max_ratio and out >= bounds.ratio_from and out > bounds.max_ratio * max(raw, 1):
            raise SnapshotError(
                f"gzip data expands more than {bounds.max_ratio} times ({_human(raw)} to "
                f"over {_human(out)}): a decompression bomb, not a Cloud Asset export "
                "(set PHIGUARD_MAX_GZIP_RATIO to allow more)", file=self._path)
        self._check_at = out + _CHECK_EVERY
        if bounds.max_bytes:
            self._check_at = min(self._check_at, bounds.max_bytes + 1)


def open_binary(path: Path) -> BinaryIO:
    """The file for reading, decompressed (under the bounds) when it is gzip."""
    try:
        fh = path.open("rb")
        magic = fh.read(2)
        fh.seek(0)
    except OSError as exc:
        raise SnapshotError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if magic == b"\x1f\x8b":
        fh.close()
        return io.BufferedReader(GzipStream(path, limits()), 1 << 16)
    return fh


def is_compressed(fh: BinaryIO) -> bool:
    """Whether a file from `open_binary` is decompressed (so not seekable by byte offset)."""
    return isinstance(getattr(fh, "raw", None), GzipStream)


def is_data_name(name: str) -> bool:
    """`*.json`, `*.ndjson`, `*.jsonl`, each optionally `.gz`."""
    lowered = name.lower().removesuffix(".gz")
    return lowered.endswith(DATA_SUFFIXES)


def is_shard_name(name: str) -> bool:
    """A name with no extension (`0`, `17`, `1.gz`): how ExportAssets names its objects."""
    return "." not in name.removesuffix(".gz") and not name.startswith(".")


def _stat(path: Path) -> os.stat_result:
    """stat (following links), with a link's failure said as such."""
    try:
        return path.stat()
    except OSError as exc:
        if path.is_symlink():
            if exc.errno == 40:  # ELOOP
                raise SnapshotError("a symbolic link that loops back on itself (not a file)",
                                    file=str(path)) from None
            raise SnapshotError(f"a broken symbolic link (to {os.readlink(path)}, which "
                                f"{exc.strerror.lower() if exc.strerror else 'is missing'})",
                                file=str(path)) from None
        if isinstance(exc, FileNotFoundError):
            raise SnapshotError("no such file or directory", file=str(path)) from None
        raise SnapshotError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


def _not_regular(path: Path, mode: int) -> SnapshotError:
    kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return SnapshotError(f"not a regular file ({kind}): a snapshot is read twice, so save it "
                         "to a file first", file=str(path))


def walk(path: Path, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """The candidate data files under one snapshot path (a file, or a folder walked in sorted
    order, following links to folders once each). Hidden folders (`.git`) are not entered;
    they are added to `skipped` with the reason."""
    info = _stat(path)
    if stat.S_ISREG(info.st_mode):
        yield path
        return
    if not stat.S_ISDIR(info.st_mode):
        raise _not_regular(path, info.st_mode)
    seen: dict[tuple[int, int], Path] = {(info.st_dev, info.st_ino): path}
    yield from _walk_dir(path, seen, skipped if skipped is not None else [])


def _walk_dir(folder: Path, seen: dict[tuple[int, int], Path],
              skipped: list[tuple[Path, str]]) -> Iterator[Path]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise SnapshotError(f"cannot list this folder: {exc.strerror or exc}",
                            file=str(folder)) from None
    for entry in entries:
        path = folder / entry.name
        wanted = is_data_name(entry.name) or is_shard_name(entry.name)
        if not entry.is_symlink() and entry.is_file(follow_symlinks=False):
            if wanted:
                yield path
            continue
        if not wanted and not entry.is_symlink() and not entry.is_dir(follow_symlinks=False):
            continue  # a pipe or socket with a name that is no snapshot file's: not ours
        info = _stat(path)
        if stat.S_ISDIR(info.st_mode):
            if entry.name.startswith("."):
                skipped.append((path, "a hidden folder, not read"))
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen:
                raise SnapshotError(f"leads to {seen[key]}, which is already part of the "
                                    "snapshot (a link loop, or a second path to the same "
                                    "shards)", file=str(path))
            seen[key] = path
            yield from _walk_dir(path, seen, skipped)
        elif stat.S_ISREG(info.st_mode):
            if wanted:
                yield path
        elif wanted:
            raise _not_regular(path, info.st_mode)
