"""Read snapshot files of every flavour: NDJSON or JSON, plain or gzip, one file or a directory.

A snapshot is a file or a directory of shards. Inside a directory, `manifest.json` gives the read
time, a file holding an Admin SDK `users.list` response gives the directory users, and every
other `*.json`, `*.ndjson`, `*.jsonl` (optionally `.gz`) file holds CAI records.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from phiguard.errors import SnapshotError
from phiguard.inventory.asset import USER_TYPE, Asset, Source

__all__ = [
    "MAX_LINE_BYTES",
    "RawItem",
    "SnapshotFiles",
    "decode_line",
    "discover",
    "iter_raw",
    "user_asset",
]

MAX_LINE_BYTES = 32 * 1024 * 1024  # one CAI record; the largest real ones are a few MB
_SUFFIXES = (".json", ".ndjson", ".jsonl")
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One record as read: its position and either the raw NDJSON line or the decoded value."""

    file: str
    line: int
    raw: bytes | None
    value: Any = None


@dataclass
class SnapshotFiles:
    """The files a snapshot path holds, sorted so every run reads them in the same order."""

    roots: list[Path]
    asset_files: list[Path] = field(default_factory=list)
    user_files: list[Path] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    manifest_file: Path | None = None

    def inputs(self) -> list[dict[str, str]]:
        """Every input file with its sha256, for the run record."""
        files = sorted({*self.asset_files, *self.user_files,
                        *([self.manifest_file] if self.manifest_file else [])})
        return [{"path": str(p), "sha256": _sha256(p)} for p in files]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_data_file(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(_SUFFIXES)


def discover(paths: list[Path]) -> SnapshotFiles:
    """Find the data files, the directory-user files and the manifest under `paths`."""
    found = SnapshotFiles(roots=list(paths))
    candidates: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates.extend(sorted(p for p in path.rglob("*") if p.is_file() and _is_data_file(p)))
        elif path.is_file():
            candidates.append(path)
        else:
            raise SnapshotError("no such file or directory", file=str(path))
    for path in candidates:
        if path.name == MANIFEST:
            found.manifest = _load_manifest(path)
            found.manifest_file = path
        elif _is_user_file(path):
            found.user_files.append(path)
        else:
            found.asset_files.append(path)
    if not found.asset_files and not found.user_files:
        raise SnapshotError(
            "no snapshot data found (expected *.json, *.ndjson or *.jsonl files, optionally gzip)",
            file=", ".join(str(p) for p in paths),
        )
    return found


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(_read_all(path))
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"invalid JSON: {exc.msg}", file=str(path), line=exc.lineno,
                            column=exc.colno) from None
    if not isinstance(value, dict):
        raise SnapshotError("a snapshot manifest must be a JSON object", file=str(path))
    read_time = value.get("read_time", value.get("readTime"))
    if read_time is not None and not isinstance(read_time, str):
        raise SnapshotError("manifest read_time must be an RFC 3339 string", file=str(path))
    return value


def _open(path: Path) -> BinaryIO:
    try:
        fh = path.open("rb")
        magic = fh.read(2)
        fh.seek(0)
    except OSError as exc:
        raise SnapshotError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if magic == b"\x1f\x8b":
        fh.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return fh


def _read_all(path: Path) -> str:
    with _open(path) as fh:
        try:
            data = fh.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data: {exc}", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SnapshotError(f"not valid UTF-8 (byte {exc.start})", file=str(path), line=line) from None


def _first_char(path: Path) -> bytes:
    with _open(path) as fh:
        try:
            head = fh.read(4096)
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data: {exc}", file=str(path)) from None
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return stripped[:1]


def _is_user_file(path: Path) -> bool:
    """A directory export: a `users.list` response (`{"kind": "admin#directory#users", ...}`)."""
    if _first_char(path) != b"{":
        return False
    with _open(path) as fh:
        try:
            head = fh.read(65536)
        except (OSError, EOFError, zlib.error):
            return False
    return b'"admin#directory#users"' in head or (b'"users"' in head and b'"primaryEmail"' in head)


def decode_line(raw: bytes, file: str, line: int) -> Any:
    """Decode one NDJSON line, naming the file and line on failure."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        if "UTF-8" in msg or "utf-8" in msg:
            raise SnapshotError("not valid UTF-8", file=file, line=line) from None
        column = getattr(exc, "colno", None)
        what = getattr(exc, "msg", msg)
        truncated = " (truncated record?)" if "EOF" in msg or "unexpected end" in msg.lower() else ""
        raise SnapshotError(f"invalid JSON: {what}{truncated}", file=file, line=line,
                            column=column) from None


def _iter_ndjson(path: Path) -> Iterator[RawItem]:
    file = str(path)
    with _open(path) as fh:
        line_no = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise SnapshotError(f"unreadable compressed data after line {line_no}: {exc}",
                                    file=file) from None
            if not raw:
                return
            line_no += 1
            if len(raw) > MAX_LINE_BYTES:
                raise SnapshotError(
                    f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB: not a CAI record",
                    file=file, line=line_no)
            if raw.strip():
                yield RawItem(file, line_no, raw)


def _iter_json_document(path: Path) -> Iterator[RawItem]:
    """A JSON array of records, or one object holding `assets` (a ListAssets page)."""
    file = str(path)
    text = _read_all(path)
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    try:
        if text.startswith("{", pos):
            doc, _ = decoder.raw_decode(text, pos)
            items = doc.get("assets")
            if not isinstance(items, list):
                raise SnapshotError(
                    "expected a JSON array of assets, NDJSON, or an object with an `assets` array",
                    file=file, line=1)
            for item in items:
                name = item.get("name") if isinstance(item, dict) else None
                line = _line_of(text, f'"{name}"') if isinstance(name, str) else 1
                yield RawItem(file, line, None, item)
            return
        if not text.startswith("[", pos):
            raise SnapshotError("expected a JSON array or NDJSON of CAI asset records",
                                file=file, line=text.count("\n", 0, pos) + 1)
        pos += 1
        line = 1 + text.count("\n", 0, pos)
        last = pos
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text):
                raise SnapshotError("unterminated JSON array (truncated file?)", file=file,
                                    line=text.count("\n") + 1)
            if text[pos] == "]":
                return
            line += text.count("\n", last, pos)
            last = pos
            value, pos = decoder.raw_decode(text, pos)
            yield RawItem(file, line, None, value)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno,
                            column=exc.colno) from None


def _looks_like_ndjson(path: Path) -> bool:
    with _open(path) as fh:
        try:
            first = fh.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"unreadable compressed data: {exc}", file=str(path)) from None
    first = first.strip()
    if not first.startswith(b"{"):
        return False
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        # A pretty-printed object has an incomplete first line; NDJSON with a bad first line
        # still reports that line, because a document parse fails at line 1 as well.
        return not first.endswith(b"{")
    return isinstance(value, dict) and "assets" not in value


def iter_raw(path: Path) -> Iterator[RawItem]:
    """Every record in one file, as raw NDJSON lines or decoded JSON-document elements."""
    lead = _first_char(path)
    if lead == b"":
        return
    if lead == b"{" and _looks_like_ndjson(path):
        yield from _iter_ndjson(path)
    else:
        yield from _iter_json_document(path)


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
    aliases = user.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise SnapshotError(f"directory user {email}: `aliases` must be an array of strings",
                            file=file, line=line)
    return Asset(name=f"//admin.googleapis.com/users/{email.lower()}", asset_type=USER_TYPE,
                 data=dict(user), source=Source(file, line))


def read_users(path: Path) -> list[Asset]:
    """The users of an Admin SDK `users.list` response (one page, or an array of pages)."""
    file = str(path)
    text = _read_all(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno,
                            column=exc.colno) from None
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


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


