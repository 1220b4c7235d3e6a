"""Read snapshot files of every flavour: NDJSON or JSON, plain or gzip, one file or a directory.

A snapshot is a file or a directory of shards. Inside a directory, `manifest.json` gives the read
time, a file holding an Admin SDK `users.list` response gives the directory users, and every
other `*.json`, `*.ndjson`, `*.jsonl` (optionally `.gz`) file holds CAI records, as does every
extensionless file whose content is JSON (the objects `gcloud asset export
--output-path-prefix` writes, `<prefix>/<asset type>/<shard number>`). See `_files` for what
the walk refuses or skips, and the decompression bounds, and `_documents` for JSON documents.
A UTF-8 byte order mark is accepted at the start of every file.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from phiguard._util.hashing import sha256_file
from phiguard._util.times import parse_time
from phiguard.errors import SnapshotError
from phiguard.inventory._documents import RawItem, iter_document
from phiguard.inventory._documents import json_error as _json_error
from phiguard.inventory._documents import reject_constant as _reject_constant
from phiguard.inventory._files import is_compressed, is_data_name, open_binary, walk
from phiguard.inventory.asset import USER_TYPE, Asset, Source

__all__ = [
    "BLANK_RUN",
    "BOM",
    "MAX_LINE_BYTES",
    "RawItem",
    "SnapshotFiles",
    "decode_line",
    "discover",
    "is_plain_ndjson",
    "iter_ndjson_range",
    "iter_picked",
    "iter_raw",
    "ndjson_lines",
    "picked_lines",
    "range_lines",
    "too_long",
    "user_asset",
]

MAX_LINE_BYTES = 32 * 1024 * 1024  # one CAI record; the largest real ones are a few MB
MANIFEST = "manifest.json"


@dataclass
class SnapshotFiles:
    """The files a snapshot path holds, sorted so every run reads them in the same order."""

    roots: list[Path]
    asset_files: list[Path] = field(default_factory=list)
    user_files: list[Path] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    manifest_file: Path | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why), said to users

    def inputs(self) -> list[dict[str, str]]:
        """Every input file with its sha256, for the run record."""
        files = sorted({*self.asset_files, *self.user_files,
                        *([self.manifest_file] if self.manifest_file else [])})
        return [{"path": str(p), "sha256": sha256_file(p)} for p in files]


def discover(paths: list[Path]) -> SnapshotFiles:
    """Find the data files, the directory-user files and the manifest under `paths`."""
    found = SnapshotFiles(roots=list(paths))
    candidates: list[Path] = []
    for path in paths:
        for file in walk(path, found.skipped):
            if file == path or is_data_name(file.name):
                candidates.append(file)
                continue
            # An extensionless export shard: JSON inside (maybe gzip), or not ours at all.
            if _first_char(file) in (b"{", b"[", b""):  # an empty shard holds no records
                candidates.append(file)
            else:
                found.skipped.append((file, "not a snapshot file (an extensionless file whose "
                                            "content is not JSON)"))
    for path in candidates:
        if path.name == MANIFEST:
            found.manifest = _load_manifest(path)
            found.manifest_file = path
        elif _is_user_file(path):
            found.user_files.append(path)
        else:
            found.asset_files.append(path)
    if not found.asset_files and not found.user_files:
        skipped = "".join(f"; skipped {p}: {why}" for p, why in found.skipped[:5])
        raise SnapshotError(
            "no snapshot data found (expected *.json, *.ndjson or *.jsonl files, optionally gzip, "
            f"or extensionless export shards){skipped}",
            file=", ".join(str(p) for p in paths),
        )
    return found


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(_read_all(path), parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, str(path)) from None
    except (ValueError, RecursionError):
        raise SnapshotError("a snapshot manifest must be a JSON object", file=str(path)) from None
    if not isinstance(value, dict):
        raise SnapshotError("a snapshot manifest must be a JSON object", file=str(path))
    read_time = value.get("read_time", value.get("readTime"))
    if read_time is not None and not (isinstance(read_time, str) and parse_time(read_time)):
        raise SnapshotError(f"manifest read_time {read_time!r} is not an RFC 3339 time "
                            "(2026-11-25T06:00:00Z)", file=str(path))
    # What reports and the coverage check read from it: arrays of the right things, or absent.
    for key, kind, what in (("coverage_gaps", dict, "objects"), ("sources", dict, "objects"),
                            ("content_types", str, "strings")):
        items = value.get(key)
        if items is not None and not (isinstance(items, list)
                                      and all(isinstance(i, kind) for i in items)):
            raise SnapshotError(f"manifest {key} must be an array of {what}", file=str(path))
    return value


def _open(path: Path) -> BinaryIO:
    return open_binary(path)


def _read_all(path: Path) -> str:
    with _open(path) as fh:
        try:
            data = fh.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data (truncated or corrupt gzip?): {exc}",
                                file=str(path)) from None
    if data.startswith(_UTF16_BOMS):
        raise _utf16_error(path)
    try:
        return data.decode("utf-8-sig")  # a leading byte order mark is dropped
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SnapshotError(f"not valid UTF-8 (byte {exc.start})", file=str(path),
                            line=line) from None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _utf16_error(path: Path) -> SnapshotError:
    return SnapshotError("UTF-16 text, not UTF-8 (what a Windows PowerShell `>` redirect "
                         "writes): save it as UTF-8, e.g. `Out-File -Encoding utf8`",
                         file=str(path))


def _first_char(path: Path) -> bytes:
    """The first byte after a byte order mark and any whitespace (b"" for a blank file)."""
    with _open(path) as fh:
        try:
            chunk = fh.read(4096).removeprefix(_BOM)
            if chunk.startswith(_UTF16_BOMS):
                raise _utf16_error(path)
            while chunk:
                stripped = chunk.lstrip(b" \t\r\n")
                if stripped:
                    return stripped[:1]
                chunk = fh.read(1 << 16)
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data: {exc}", file=str(path)) from None
    return b""


def _is_user_file(path: Path) -> bool:
    """A directory export: a `users.list` response, or an array of such pages.

    Detected by the `admin#directory#users` kind, or by a `users` key in a file that carries
    no CAI envelope key, so a users file with a broken user still reads as one (and fails with
    a message about users, not about CAI records).
    """
    if _first_char(path) not in (b"{", b"["):
        return False
    with _open(path) as fh:
        try:
            head = fh.read(65536)
        except (OSError, EOFError, zlib.error):
            return False
    if b'"admin#directory#users"' in head:
        return True
    if b'"users"' not in head:
        return False
    return not any(key in head for key in (b'"asset_type"', b'"assetType"', b'"assets"'))


def decode_line(raw: bytes, file: str, line: int) -> Any:
    """Decode one NDJSON line, naming the file and line on failure."""
    try:
        return orjson.loads(raw)  # a line's ending is JSON whitespace: no copy without it
    except orjson.JSONDecodeError:
        pass
    try:  # the error's position, as in the line without its ending
        return orjson.loads(raw.rstrip(b"\r\n"))
    except orjson.JSONDecodeError as exc:
        raise _json_error(exc, file, line) from None


def _iter_ndjson(path: Path) -> Iterator[RawItem]:
    yield from iter_ndjson_range(path)


def iter_ndjson_range(path: Path, offset: int = 0, line_no: int = 0, index: int = 0,
                      end: int = -1, lines_read: list[int] | None = None) -> Iterator[RawItem]:
    """NDJSON records from byte `offset` (which is line `line_no + 1`) up to byte `end`.

    When the range is read to its end, `lines_read[0]` is set to the last line number in it,
    blank lines included (the next range's line numbers start from there).
    """
    return _ndjson(path, offset, line_no, index, end, lines_read, True)


def ndjson_lines(path: Path, offset: int = 0, line_no: int = 0, index: int = 0, end: int = -1,
                 lines_read: list[int] | None = None) -> Iterator[tuple[int, bytes, int, int]]:
    """`iter_ndjson_range` as (line number, raw line, record index, byte offset or -1)."""
    return _ndjson(path, offset, line_no, index, end, lines_read, False)


BLANK_RUN = re.compile(rb"[ \t\r\n]*\n")  # whole lines of blanks (as _skip_blank_lines)


def range_lines(path: Path, start: int, end: int,
                lines_read: list[int]) -> Iterator[tuple[int, bytes, int, int]]:
    """`ndjson_lines(path, start, 0, 0, end, lines_read)` of plain (uncompressed) NDJSON: the
    same rows and errors, the range read in one go and cut at its line feeds."""
    file = str(path)
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(end - start) if end >= 0 else fh.read()
    except OSError as exc:
        raise SnapshotError(f"cannot read: {exc}", file=file) from None
    find, blanks, size = data.find, BLANK_RUN.match, len(data)
    pos = line_no = index = 0
    while pos < size:
        stop = find(b"\n", pos) + 1 or size
        line_no += 1
        raw = data[pos:stop]
        if stop - pos > MAX_LINE_BYTES and len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
            raise too_long(file, line_no)
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if not raw.isspace():
            index += 1
            yield line_no, raw, index, start + pos
        else:
            run = blanks(data, stop)
            if run is not None:
                line_no += data.count(b"\n", stop, run.end())
                stop = run.end()
        pos = stop
    lines_read[0] = line_no


def too_long(file: str, line: int) -> SnapshotError:
    """The error of a line over MAX_LINE_BYTES (both NDJSON readers refuse it alike)."""
    return SnapshotError(f"line longer than {MAX_LINE_BYTES} bytes: not a CAI record "
                         "(a binary file, or JSON that is not one record per line?)",
                         file=file, line=line)


def _ndjson(path: Path, offset: int, line_no: int, index: int, end: int,
            lines_read: list[int] | None, items: bool) -> Iterator[Any]:
    """Both of the above: RawItems when `items`, else tuples (one reader, no wrapper)."""
    file = str(path)
    with _open(path) as fh:
        plain = not is_compressed(fh)
        if offset:
            fh.seek(offset)
        pos = offset
        while end < 0 or pos < end:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise SnapshotError(f"unreadable compressed data after line {line_no} "
                                    f"(truncated or corrupt gzip?): {exc}",
                                    file=file, line=line_no + 1) from None
            if not raw:
                break
            start = pos
            pos += len(raw)
            line_no += 1
            if len(raw) > MAX_LINE_BYTES and len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise too_long(file, line_no)
            if line_no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if not raw.isspace():  # (no copy, unlike strip(): the same ASCII blanks)
                index += 1
                if items:
                    yield RawItem(file, line_no, raw, index=index, offset=start if plain else -1)
                else:
                    yield line_no, raw, index, start if plain else -1
            else:
                skipped, lines = _skip_blank_lines(fh, end - pos if end >= 0 else -1)
                pos += skipped
                line_no += lines
    if lines_read is not None:
        lines_read[0] = line_no


def iter_picked(path: Path, offset: int, line_no: int, index: int, end: int,
                offsets: Iterable[int], line_numbers: Iterable[int],
                numbers: Iterable[int]) -> Iterator[RawItem]:
    """Some records of the plain NDJSON between byte `offset` (line `line_no + 1`, after
    `index` records) and `end` (-1: the end of the file), as `iter_ndjson_range` gives them:
    those at the given byte offsets from `offset`, line numbers and record numbers in the
    range (from pass 1, which read every line of it). The range is read in one go."""
    file = str(path)
    for raw, at, line, number in picked_lines(path, offset, end, offsets, line_numbers,
                                              numbers):
        yield RawItem(file, line_no + line, raw, index=index + number, offset=offset + at)


def picked_lines(path: Path, offset: int, end: int, offsets: Iterable[int],
                 line_numbers: Iterable[int], numbers: Iterable[int],
                 ) -> Iterator[tuple[bytes, int, int, int]]:
    """`iter_picked` as (raw line, offset, line number, record number), all in the range."""
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read(end - offset) if end >= 0 else fh.read()
    find = data.find
    for at, line, number in zip(offsets, line_numbers, numbers, strict=True):
        stop = find(b"\n", at) + 1
        raw = data[at:stop] if stop else data[at:]
        if not at and not offset and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        yield raw, at, line, number


def _skip_blank_lines(fh: BinaryIO, limit: int) -> tuple[int, int]:
    """Skip whole blank lines in bulk (bytes, lines), at most `limit` bytes (-1: no limit).

    A flood of blank lines would otherwise cost one `readline` each.
    """
    peek = getattr(fh, "peek", None)
    if peek is None:
        return 0, 0
    skipped = lines = 0
    while limit < 0 or skipped < limit:
        buf = peek(1 << 16)
        if limit >= 0:
            buf = buf[:limit - skipped]
        blank = len(buf) - len(buf.lstrip(b" \t\r\n"))
        cut = buf.rfind(b"\n", 0, blank) + 1  # only whole lines
        if cut == 0:
            break
        fh.read(cut)
        skipped += cut
        lines += buf.count(b"\n", 0, cut)
        if cut < len(buf):
            break
    return skipped, lines


BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, accepted at the start of every file
_BOM = BOM


def _looks_like_ndjson(path: Path) -> bool:
    with _open(path) as fh:
        try:
            first = fh.readline(MAX_LINE_BYTES + 1).removeprefix(_BOM)
            while first and not first.strip():  # the first line with something on it
                _skip_blank_lines(fh, -1)
                first = fh.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data (truncated or corrupt gzip?): {exc}",
                                file=str(path)) from None
    first = first.strip()
    if not first.startswith(b"{"):
        return False
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        # A pretty-printed document's first line is incomplete (`{`, `{"assets": [`); an NDJSON
        # file with a bad first line reports that line.
        return not first.endswith((b"{", b"[", b",", b":"))
    return isinstance(value, dict) and "assets" not in value


def is_plain_ndjson(path: Path) -> bool:
    """An uncompressed NDJSON file: one that can be read from any line's byte offset."""
    with _open(path) as fh:
        if is_compressed(fh):
            return False
    return _first_char(path) == b"{" and _looks_like_ndjson(path)


def iter_raw(path: Path) -> Iterator[RawItem]:
    """Every record in one file, as raw NDJSON lines or decoded JSON-document elements."""
    lead = _first_char(path)
    if lead == b"":
        return
    if lead == b"{" and _looks_like_ndjson(path):
        yield from _iter_ndjson(path)
    else:
        yield from iter_document(_read_all(path), str(path))


def user_asset(user: Any, file: str, line: int) -> Asset:
    """A directory user as an asset of phiguard's `admin.googleapis.com/User` type."""
    if not isinstance(user, dict):
        raise SnapshotError("a directory user must be a JSON object", file=file, line=line)
    email = user.get("primaryEmail")
    if not isinstance(email, str) or "@" not in email:
        raise SnapshotError("directory user has no `primaryEmail`", file=file, line=line)
    for key in ("isEnrolledIn2Sv", "isEnforcedIn2Sv", "isAdmin", "isDelegatedAdmin",
                "suspended", "archived"):
        if key in user and not isinstance(user[key], bool):
            raise SnapshotError(f"directory user {email}: `{key}` must be true or false",
                                file=file, line=line)
    for key in ("aliases", "nonEditableAliases"):
        aliases = user.get(key, [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise SnapshotError(f"directory user {email}: `{key}` must be an array of strings",
                                file=file, line=line)
    return Asset(name=f"//admin.googleapis.com/users/{email.lower()}", asset_type=USER_TYPE,
                 data=dict(user), source=Source(file, line))


def read_users(path: Path) -> list[Asset]:
    """The users of an Admin SDK `users.list` response (one page, or an array of pages)."""
    file = str(path)
    text = _read_all(path)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, file) from None
    except ValueError as exc:
        raise SnapshotError(f"invalid JSON: {exc}", file=file) from None
    except RecursionError:
        raise SnapshotError("JSON nested too deeply", file=file) from None
    pages = doc if isinstance(doc, list) else [doc]
    users: list[Asset] = []
    cursor = 0
    line = 1
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("users", []), list):
            raise SnapshotError("expected an Admin SDK users.list response with a `users` array",
                                file=file, line=1)
        for user in page.get("users", []):
            email = user.get("primaryEmail") if isinstance(user, dict) else None
            if isinstance(email, str):
                # Users appear in file order: search forward from the previous one.
                index = text.find(f'"{email}"', cursor)
                if index >= 0:
                    line += text.count("\n", cursor, index)
                    cursor = index
            users.append(user_asset(user, file, line))
    return users
