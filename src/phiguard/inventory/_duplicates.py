"""Duplicate detection: every (name, content type) a snapshot holds, with a digest of its
content, in compact arrays; a repeat with the same content is a duplicate (judged once), one
with other content a conflict, reported at the earliest place it occurs.

Digests of lines read by envelope only are of their raw bytes (`r`), the others of their
normalized content (`c`); a raw digest that differs is confirmed by decoding both records, so
the same content written in another flavour, key order or spacing is not a conflict.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import struct
from array import array
from collections.abc import Iterator
from itertools import compress, pairwise
from pathlib import Path
from typing import Any

import orjson

from phiguard.errors import SnapshotError
from phiguard.inventory._envelopes import Envelope, decode, iter_items
from phiguard.inventory.readers import RawItem, SnapshotFiles, iter_raw
from phiguard.inventory.records import (
    ACCESS_POLICY,
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    Record,
    access_objects,
)

__all__ = ["DIGEST_BYTES", "KINDS", "KIND_CODES", "Entries", "absorb", "contains_sorted",
           "content_digest", "content_entries", "entry_keys", "find_duplicates", "light_digest",
           "raw_digest"]

def _canonical(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson stops at 64-bit integers and 255 levels; json does not
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _digest(part: list[Any], item: RawItem) -> bytes:
    try:
        blob = _canonical(part)
    except RecursionError:
        raise SnapshotError("record nested too deeply to be a CAI record", file=item.file,
                            line=item.line) from None
    return hashlib.blake2b(blob, digest_size=16).digest()


def content_digest(record: Record, kind: str, item: RawItem) -> bytes:
    """A digest of one content type of a record as normalized, so the same content written in
    another flavour, key order or spacing counts as the same (update_time does not count)."""
    if kind == RESOURCE:
        return _digest([record.asset_type, record.data or {}, record.location, record.parent,
                        list(record.ancestors)], item)
    content = {IAM_POLICY: record.iam_policy, ORG_POLICY: list(record.org_policy or ()),
               ACCESS_POLICY: record.access_policy}[kind]
    return _digest([record.asset_type, content], item)


def _keyed(record: Record) -> list[tuple[int, str, str, Any]]:
    """(key, content type, what, content) of each entry a record makes: one per content type,
    but one per access-context object, keyed by its own name (an asset carries several)."""
    out: list[tuple[int, str, str, Any]] = []
    for kind in sorted(record.kinds):
        if kind == ACCESS_POLICY:
            out.extend((hash((record.name, kind, group, own)), kind, f"{kind} {group} {own!r}",
                        [group, own, content])
                       for group, own, content in access_objects(record.access_policy))
        else:
            out.append((hash((record.name, kind)), kind, kind, None))
    return out


def entry_keys(record: Record) -> list[tuple[int, str]]:
    """(key, content type) of each entry a record makes (see `_keyed`), in the same order."""
    if len(record.kinds) == 1 and ACCESS_POLICY not in record.kinds:  # most: one entry
        for kind in record.kinds:
            return [(hash((record.name, kind)), kind)]
    return [(key, kind) for key, kind, _, _ in _keyed(record)]


def content_entries(record: Record, item: RawItem) -> list[tuple[int, str, bytes]]:
    """(key, content type, digest) of each entry a record makes (see `_keyed`)."""
    if len(record.kinds) == 1 and ACCESS_POLICY not in record.kinds:  # most: one entry
        for kind in record.kinds:
            return [(hash((record.name, kind)), kind, content_digest(record, kind, item))]
    return [(key, kind, content_digest(record, kind, item) if part is None
             else _digest([record.asset_type, *part], item))
            for key, kind, _, part in _keyed(record)]


def light_digest(env: Envelope, item: RawItem) -> bytes:
    """The same digest `content_digest` gives the RESOURCE content of the full parse."""
    res = env.resource
    return _digest([env.asset_type, res.get("data") or {}, res.get("location"),
                    res.get("parent"), env.ancestors], item)


def raw_digest(raw: bytes) -> bytes:
    """A digest of a raw NDJSON line (`r`): the same for the same bytes, whatever the line's
    ending or surrounding blanks. Python's own hash of the bytes (keyed per process tree, as
    the entries' keys are): 64 bits, against which an accidental match of two different
    records of one name is out of reach; a digest that differs only costs a decode of both
    (`_not_the_same`), so a digest made in another process can cost time, never a verdict."""
    if raw[-2:] != b"}\n" or raw[:1] != b"{":  # else it is already its stripped form + LF
        raw = raw.strip() + b"\n"
    return _RAW_DIGEST(b"r", hash(raw) & _MASK64)


_MASK64 = (1 << 64) - 1
# b"r", the 8 bytes little-endian, zeros to DIGEST_BYTES (as b"r" + to_bytes(8) + padding)
_RAW_DIGEST = struct.Struct("<cQ8x").pack


def _find_first(files: SnapshotFiles, key: int, before: RawItem) -> str:
    for item in iter_items(files):
        if (item.file, item.index) == (before.file, before.index):
            break
        record = decode(item)
        if any(k == key for k, _, _, _ in _keyed(record)):
            return f"{item.file}:{item.line}"
    return "an earlier record"


def _not_the_same(entries: Entries, file_names: list[str], later: array[int],
                  first: array[int]) -> list[int]:
    """Of the pairs (later[n], first[n]) of entries of one key whose digests differ, one of
    raw bytes: the later entries whose content, once both records are decoded and normalized,
    is not the first's (raw-byte digests differ across flavours, key orders, update times).

    One read of the files, up to the last record asked, decoding each record asked once;
    held meanwhile: a byte per entry, then 8 + 17 bytes per record asked. (Re-reading the
    snapshot from its start for each pair made two concatenated exports quadratic.)
    """
    asked = bytearray(len(entries))
    for i in later:
        asked[i] = 1
    for i in first:
        asked[i] = 1
    needed = array("q", compress(range(len(asked)), asked))  # input order: file, record
    del asked
    size = DIGEST_BYTES
    digests = bytearray(size * len(needed))  # b"c" + content digest; zeros: no such entry
    reader: Iterator[RawItem] = iter(())
    at_file = -1
    item: RawItem | None = None
    contents: dict[int, bytes] = {}
    for pos, i in enumerate(needed):
        file_id, number = entries.files[i], entries.numbers[i]
        if file_id != at_file or item is None or item.index > number:
            file = file_names[file_id]
            reader, at_file, item = iter_raw(Path(file)), file_id, None
        while item is None or item.index < number:
            item = next(reader, None)
            if item is None:
                raise SnapshotError(f"record {number} vanished while reading", file=file)
            contents = {}
        if item.index != number:
            raise SnapshotError(f"record {number} vanished while reading", file=file)
        if not contents:
            for key, _, digest in content_entries(decode(item), item):
                contents.setdefault(key, digest)  # a key's first entry, as ever
        found = contents.get(entries.keys[i])
        if found is not None:
            digests[pos * size:(pos + 1) * size] = b"c" + found
    del reader

    def content(i: int) -> bytes:
        pos = bisect.bisect_left(needed, i)
        return bytes(digests[pos * size:(pos + 1) * size])

    out = []
    for l_entry, f_entry in zip(later, first, strict=True):
        theirs = content(f_entry)
        if theirs[:1] != b"c" or theirs != content(l_entry):
            out.append(l_entry)
    return out


KIND_CODES = {RESOURCE: 0, IAM_POLICY: 1, ORG_POLICY: 2, ACCESS_POLICY: 3}
KINDS = (RESOURCE, IAM_POLICY, ORG_POLICY, ACCESS_POLICY)
DIGEST_BYTES = 17  # a flag byte (r: of the raw line, c: of the normalized content) + 16
_PAD = bytes(DIGEST_BYTES - 9)  # raw digests are 8 bytes


class Entries:
    """(name, content type) occurrences in compact arrays: one per record and content type.

    A million of them cost about 40 MiB here, against several times that as Python objects
    (and those would fragment the heap the workers later share).
    """

    __slots__ = ("digests", "files", "keys", "kinds", "numbers", "type_ids", "type_names")

    def __init__(self) -> None:
        self.keys = array("q")        # hash((name, content type))
        self.digests = bytearray()    # DIGEST_BYTES each
        self.numbers = array("q")     # record number (in the range; absolute once merged)
        self.kinds = bytearray()      # KIND_CODES
        self.type_ids = array("l")    # into type_names
        self.files = array("l")       # file ordinal (merged entries only)
        self.type_names: dict[str, int] = {}

    def add(self, key: int, digest: bytes, number: int, asset_type: str, kind: str) -> None:
        self.keys.append(key)
        self.digests += digest
        self.numbers.append(number)
        self.kinds.append(KIND_CODES[kind])
        type_id = self.type_names.get(asset_type)
        if type_id is None:
            type_id = self.type_names[asset_type] = len(self.type_names)
        self.type_ids.append(type_id)

    def digest(self, i: int) -> bytes:
        return bytes(self.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES])

    def __len__(self) -> int:
        return len(self.keys)


def _item_at(files: SnapshotFiles, file: str, index: int) -> RawItem:
    for item in iter_raw(Path(file)):
        if item.index == index:
            return item
    raise SnapshotError(f"record {index} vanished while reading", file=file)


def absorb(into: Entries, part: Entries, file_id: int, records_before: int) -> None:
    """Append a range's entries with absolute record numbers and global type ids."""
    into.keys.extend(part.keys)
    into.digests += part.digests
    into.kinds += part.kinds
    into.numbers.extend(n + records_before for n in part.numbers)
    into.files.extend([file_id] * len(part.keys))
    remap = {}
    for name, local in part.type_names.items():
        global_id = into.type_names.get(name)
        if global_id is None:
            global_id = into.type_names[name] = len(into.type_names)
        remap[local] = global_id
    into.type_ids.extend(remap[t] for t in part.type_ids)


def find_duplicates(entries: Entries, file_names: list[str], files: SnapshotFiles,
                wanted: frozenset[str]) -> tuple[set[int], array[int]]:
    """Entries that repeat an earlier (name, content type): identical content is a duplicate;
    different content is a conflict, reported at the earliest place it occurs. Also gives the
    sorted keys, for membership tests."""
    keys = entries.keys
    sorted_keys = array("q", sorted(keys))
    # the keys that occur more than once, and the entries of each, in input order
    repeated = {a for a, b in pairwise(sorted_keys) if a == b}
    groups: dict[int, list[int]] = {}
    if repeated:
        for i in compress(range(len(keys)), map(repeated.__contains__, keys)):
            groups.setdefault(keys[i], []).append(i)
    duplicates: set[int] = set()
    conflicts: list[int] = []
    # (later, first) pairs whose digests differ, one of raw bytes: decoded below, in one read
    later_ones, first_ones = array("q"), array("q")
    for first, *others in groups.values():
        first_digest = entries.digest(first)
        for later in others:
            digest = entries.digest(later)
            if digest != first_digest:
                if digest[:1] == b"r" or first_digest[:1] == b"r":
                    later_ones.append(later)
                    first_ones.append(first)
                else:
                    conflicts.append(later)
            duplicates.add(later)
    if later_ones:
        conflicts.extend(_not_the_same(entries, file_names, later_ones, first_ones))
    if conflicts:
        worst = min(conflicts)  # entries are in input order: the earliest conflict
        item = _item_at(files, file_names[entries.files[worst]], entries.numbers[worst])
        record = decode(item)
        what = next((w for k, _, w, _ in _keyed(record) if k == keys[worst]),
                    KINDS[entries.kinds[worst]])
        first_place = _find_first(files, keys[worst], item)
        raise SnapshotError(
            f"conflicting duplicate: {record.name} ({what}) differs from the record at "
            f"{first_place}", file=item.file, line=item.line)
    return duplicates, sorted_keys


def contains_sorted(values: array[int], key: int) -> bool:
    at = bisect.bisect_left(values, key)
    return at < len(values) and values[at] == key


