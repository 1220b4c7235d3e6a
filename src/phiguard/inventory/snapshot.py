"""Load a snapshot in two passes so memory stays bounded by what rules join to.

Pass 1 (`load_context`) reads every record: validates it, detects conflicting duplicates, learns
project ids and numbers, keeps every IAM / org / access policy and the full records of the
asset types rules join to. Pass 2 (`iter_items` + `materialize`) streams the records again and
hands out each judged asset with its policies merged in.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import multiprocessing
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from phiguard._util.times import parse_time
from phiguard.errors import SnapshotError
from phiguard.inventory.asset import Asset
from phiguard.inventory.coverage import coverage_from_manifest
from phiguard.inventory.inventory import Inventory, learn_project
from phiguard.inventory.readers import (
    RawItem,
    SnapshotFiles,
    decode_line,
    is_plain_ndjson,
    iter_ndjson_range,
    iter_raw,
    read_users,
)
from phiguard.inventory.records import (
    ACCESS_POLICY,
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    Record,
    merge_records,
    parse_record,
)
from phiguard.inventory.refs import project_of_name
from phiguard.inventory.scope import PhiConfig, ProjectIndex
from phiguard.inventory.types import HIERARCHY_TYPES, SOURCE_DEPENDENT_TYPES

__all__ = ["LoadedContext", "iter_items", "load_context", "materialize", "snapshot_assets"]


@dataclass
class LoadedContext:
    """What pass 1 learned: the Inventory of join targets plus what pass 2 needs."""

    inventory: Inventory
    policies: dict[str, Record]
    skip: frozenset[tuple[str, int]]  # (file, record index) of duplicates not to judge again
    policy_only: list[str]
    users: list[Asset]
    read_time: datetime | None
    counts: Counter[str] = field(default_factory=Counter)
    records: int = 0
    # uncompressed NDJSON file -> (byte offset, lines before, records before) every SEGMENT
    # records: pass 2 workers read those files themselves from there
    segments: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)


def iter_items(files: SnapshotFiles) -> Iterator[RawItem]:
    """Every record of every data file, in a stable order."""
    for path in files.asset_files:
        yield from iter_raw(path)


def _value(item: RawItem) -> Any:
    return decode_line(item.raw, item.file, item.line) if item.raw is not None else item.value


def decode(item: RawItem) -> Record:
    return parse_record(_value(item), item.file, item.line)


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


def _content_digest(record: Record, kind: str, item: RawItem) -> bytes:
    """A digest of one content type of a record as normalized, so the same content written in
    another flavour, key order or spacing counts as the same (update_time does not count)."""
    if kind == RESOURCE:
        return _digest([record.asset_type, record.data or {}, record.location, record.parent,
                        list(record.ancestors)], item)
    content = {IAM_POLICY: record.iam_policy, ORG_POLICY: list(record.org_policy or ()),
               ACCESS_POLICY: record.access_policy}[kind]
    return _digest([record.asset_type, content], item)


def _policy_part(record: Record, kinds: frozenset[str]) -> Record:
    """The record's policy content of the given kinds only."""
    return replace(
        record,
        kinds=kinds,
        data=None,
        iam_policy=record.iam_policy if IAM_POLICY in kinds else None,
        org_policy=record.org_policy if ORG_POLICY in kinds else None,
        access_policy=record.access_policy if ACCESS_POLICY in kinds else None,
    )


def _resource_part(record: Record) -> Record:
    return replace(record, kinds=frozenset({RESOURCE}), iam_policy=None, org_policy=None,
                   access_policy=None)


def _find_first(files: SnapshotFiles, key: int, before: RawItem) -> str:
    for item in iter_items(files):
        if (item.file, item.index) == (before.file, before.index):
            break
        record = decode(item)
        if any(hash((record.name, k)) == key for k in record.kinds):
            return f"{item.file}:{item.line}"
    return "an earlier record"


_RESOURCE_ONLY = frozenset({RESOURCE})
_POLICY_KEYS = ("iam_policy", "iamPolicy", "org_policy", "orgPolicy", "access_policy",
                "accessPolicy", "access_level", "accessLevel", "service_perimeter",
                "servicePerimeter")


@dataclass(frozen=True, slots=True)
class _Envelope:
    name: str
    asset_type: str
    update_time: str | None
    ancestors: list[str]
    resource: dict[str, Any]


_POLICY_BYTES = re.compile(
    rb'"(?:iam_policy|iamPolicy|org_policy|orgPolicy|access_policy|accessPolicy|access_level|'
    rb'accessLevel|service_perimeter|servicePerimeter|v2_org_policies|v2OrgPolicies)"')
_NAME_BYTES = re.compile(rb'"name"\s*:\s*"([^"\\]+)"')
_TYPE_BYTES = re.compile(rb'"(?:asset_type|assetType)"\s*:\s*"([^"\\]+)"')
_ANCESTOR_BYTES = re.compile(rb'"ancestors"\s*:\s*\[\s*"([^"\\]+)"')
_TIME_BYTES = re.compile(rb'"(?:update_time|updateTime)"\s*:\s*"([^"\\]+)"')


def _raw_envelope(raw: bytes, wanted: set[str]) -> tuple[str, str, str | None, list[str]] | None:
    """Name, type, update time and first ancestor of a plain RESOURCE line, without decoding.

    Pass 1 only needs these for the records nothing joins to (most of a large org); pass 2
    decodes and validates every line anyway. Lines with policy content, of joined types, or
    that do not look like an export record's envelope take the full decode.
    """
    if _POLICY_BYTES.search(raw):
        return None
    type_match = _TYPE_BYTES.search(raw)
    name_match = _NAME_BYTES.search(raw)
    if type_match is None or name_match is None:
        return None
    # The envelope's `name` precedes `resource` in every producer's key order; a `name` found
    # after the type's position but inside `resource` would be the body's, so require order.
    resource_at = raw.find(b'"resource"')
    if resource_at != -1 and name_match.start() > resource_at:
        return None
    asset_type = type_match.group(1).decode()
    if asset_type in wanted:
        return None
    update_time = None
    for key in (b'"update_time"', b'"updateTime"'):
        at = raw.rfind(key)
        if at != -1:
            time_match = _TIME_BYTES.match(raw, at)
            if time_match is None:
                return None
            update_time = time_match.group(1).decode()
            break
    ancestor = _ANCESTOR_BYTES.search(raw)
    ancestors = [ancestor.group(1).decode()] if ancestor else []
    return name_match.group(1).decode(), asset_type, update_time, ancestors


def _light_envelope(value: Any, wanted: set[str]) -> _Envelope | None:
    """The envelope of a plain RESOURCE record of a type nothing joins to, or None.

    Such records (most of a large org) are judged, and fully validated, in pass 2; pass 1 only
    needs their name, type, time, ancestry and a digest. Anything unusual takes the full parse.
    """
    if type(value) is not dict:
        return None
    name = value.get("name")
    asset_type = value.get("asset_type") or value.get("assetType")
    if type(name) is not str or not name or type(asset_type) is not str or not asset_type:
        return None
    resource = value.get("resource")
    if asset_type in wanted or type(resource) is not dict:
        return None
    for key in _POLICY_KEYS:
        if key in value:
            return None
    update_time = value.get("update_time") or value.get("updateTime")
    if update_time is not None and type(update_time) is not str:
        return None
    ancestors = value.get("ancestors")
    if ancestors is None:
        ancestors = []
    if type(ancestors) is not list or not all(type(a) is str for a in ancestors):
        return None
    data = resource.get("data")
    if data is not None and type(data) is not dict:
        return None
    return _Envelope(name, asset_type, update_time, ancestors, resource)


def _light_digest(env: _Envelope, item: RawItem) -> bytes:
    """The same digest `_content_digest` gives the RESOURCE content of the full parse."""
    res = env.resource
    return _digest([env.asset_type, res.get("data") or {}, res.get("location"),
                    res.get("parent"), env.ancestors], item)


def _learn_from_name(projects: ProjectIndex, name: str, ancestors: list[str]) -> None:
    first = ancestors[0] if ancestors else ""
    if first.startswith("projects/"):
        in_name = project_of_name(name)
        number = first[9:]
        if projects.get(number) is None or (in_name and projects.get(in_name) is None):
            project_id = in_name if in_name and not in_name.isdigit() else None
            projects.learn(number=number, project_id=project_id, ancestors=ancestors)


def _canonical_digest(value: Any, item: RawItem, kind: str) -> bytes:
    record = parse_record(value, item.file, item.line)
    return _content_digest(record, kind, item)


def _same_content(files: SnapshotFiles, key: int, item: RawItem, kind: str,
                  wanted: set[str]) -> bool:
    """Whether an earlier record under `key` has the same content as `item` once both are
    decoded and normalized (raw-byte digests differ across flavours and key orders)."""
    mine = _canonical_digest(_value(item), item, kind)
    for earlier in iter_items(files):
        if (earlier.file, earlier.index) == (item.file, item.index):
            break
        record = decode(earlier)
        if hash((record.name, kind)) == key and kind in record.kinds:
            return _content_digest(record, kind, earlier) == mine
    return False


RANGE_BYTES = 8 * 1024 * 1024  # uncompressed NDJSON is read in byte ranges of about this


_KIND_CODES = {RESOURCE: 0, IAM_POLICY: 1, ORG_POLICY: 2, ACCESS_POLICY: 3}
_KINDS = (RESOURCE, IAM_POLICY, ORG_POLICY, ACCESS_POLICY)
DIGEST_BYTES = 17  # a flag byte (r: of the raw line, c: of the normalized content) + 16


class _Entries:
    """(name, content type) occurrences in compact arrays: one per record and content type.

    A million of them cost about 40 MiB here, against several times that as Python objects
    (and those would fragment the heap the workers later share).
    """

    __slots__ = ("digests", "files", "keys", "kinds", "numbers", "type_ids", "type_names")

    def __init__(self) -> None:
        self.keys = array("q")        # hash((name, content type))
        self.digests = bytearray()    # DIGEST_BYTES each
        self.numbers = array("q")     # record number (in the range; absolute once merged)
        self.kinds = bytearray()      # _KIND_CODES
        self.type_ids = array("l")    # into type_names
        self.files = array("l")       # file ordinal (merged entries only)
        self.type_names: dict[str, int] = {}

    def add(self, key: int, digest: bytes, number: int, asset_type: str, kind: str) -> None:
        self.keys.append(key)
        self.digests += digest
        self.numbers.append(number)
        self.kinds.append(_KIND_CODES[kind])
        type_id = self.type_names.get(asset_type)
        if type_id is None:
            type_id = self.type_names[asset_type] = len(self.type_names)
        self.type_ids.append(type_id)

    def digest(self, i: int) -> bytes:
        return bytes(self.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES])

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class _Range:
    """What one byte range (or one whole file) of pass 1 found, in positions relative to it."""

    file: str
    start: int  # byte offset; -1 for files read whole (gzip, JSON documents)
    end: int
    lines: int = 0
    records: int = 0
    entries: _Entries = field(default_factory=_Entries)
    parsed: dict[int, Record] = field(default_factory=dict)  # records kept whole, by number
    latest: datetime | None = None
    projects: list[tuple[str | None, str | None, dict[str, str], tuple[str, ...]]] = field(
        default_factory=list)
    error: SnapshotError | None = None


Fields = Mapping[str, frozenset[str] | None]


def _project(record: Record, fields: Fields) -> Record:
    """The record with only the `data` keys rules read of its type (see policy.projection)."""
    keep = fields.get(record.asset_type)
    if keep is None or not record.data:
        return record
    return replace(record, data={k: v for k, v in record.data.items() if k in keep})


def _scan(items: Iterable[RawItem], wanted: set[str], result: _Range,
          fields: Fields | None = None) -> _Range:
    """Pass 1 over some records: envelopes, digests, and the records worth keeping whole."""
    projects = ProjectIndex()
    latest: datetime | None = None
    best = ""  # the latest UTC (Z) update_time text seen; only later-looking ones are parsed
    try:
        for item in items:
            result.records = item.index
            result.lines = item.line
            raw_env = _raw_envelope(item.raw, wanted) if item.raw is not None else None
            if raw_env is not None:
                # Not decoded here: pass 2 decodes and validates it before judging it.
                name, asset_type, update_time, ancestors = raw_env
                raw = item.raw or b""
                digest = b"r" + hashlib.blake2b(raw.strip(), digest_size=16).digest()
                result.entries.add(hash((name, RESOURCE)), digest, item.index, asset_type,
                                   RESOURCE)
                _learn_from_name(projects, name, ancestors)
            else:
                value = _value(item)
                light = _light_envelope(value, wanted)
                if light is not None:
                    name, asset_type = light.name, light.asset_type
                    update_time, ancestors = light.update_time, light.ancestors
                    result.entries.add(hash((name, RESOURCE)), b"c" + _light_digest(light, item),
                                       item.index, asset_type, RESOURCE)
                    _learn_from_name(projects, name, ancestors)
                else:
                    record = parse_record(value, item.file, item.line)
                    update_time = record.update_time
                    for kind in sorted(record.kinds):
                        result.entries.add(hash((record.name, kind)),
                                           b"c" + _content_digest(record, kind, item),
                                           item.index, record.asset_type, kind)
                    if record.kinds != _RESOURCE_ONLY or record.asset_type in wanted:
                        result.parsed[item.index] = _project(record, fields or {})
                    learn_project(projects, record.to_asset())
            if update_time:
                utc = update_time[-1:] in "Zz"
                if not utc or update_time[:19] >= best[:19]:
                    when = parse_time(update_time)
                    if when is None:
                        raise SnapshotError(f"update_time {update_time!r} is not an RFC 3339 "
                                            "time", file=item.file, line=item.line)
                    if latest is None or when > latest:
                        latest = when
                        if utc:
                            best = update_time
    except SnapshotError as exc:
        result.error = exc
    result.latest = latest
    result.projects = [(i.number, i.id, dict(i.labels), tuple(i.ancestors))
                       for i in projects.all()]
    return result


_FIELDS: Fields = {}  # set in the parent before forking pass-1 workers


def _scan_task(task: tuple[str, int, int, frozenset[str]]) -> _Range:
    file, start, end, wanted = task
    lines_read = [0]
    items = iter_ndjson_range(Path(file), start, 0, 0, end, lines_read)
    result = _scan(items, set(wanted), _Range(file, start, end), _FIELDS)
    # Blank lines after the range's last record count too: the next range starts after them.
    result.lines = max(result.lines, lines_read[0])
    return result


def _ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of an uncompressed NDJSON file, each starting at a line start."""
    total = path.stat().st_size
    bounds = [0]
    with path.open("rb") as fh:
        while bounds[-1] + size < total:
            fh.seek(bounds[-1] + size)
            fh.readline()  # finish the line the cut fell in
            position = fh.tell()
            if position >= total:
                break
            bounds.append(position)
    return [(lo, bounds[i + 1] if i + 1 < len(bounds) else -1) for i, lo in enumerate(bounds)]


def _pass1_tasks(files: SnapshotFiles, wanted: frozenset[str],
                 jobs: int) -> Iterator[tuple[str, int, int, frozenset[str]] | Path]:
    for path in files.asset_files:
        if is_plain_ndjson(path):
            for lo, hi in _ranges(path, RANGE_BYTES):
                yield (str(path), lo, hi, wanted)
        else:
            yield path


def _pass1(files: SnapshotFiles, wanted: frozenset[str], jobs: int) -> Iterator[_Range]:
    """Pass 1 results in file order; byte ranges of big files in worker processes."""
    tasks = list(_pass1_tasks(files, wanted, jobs))
    ranged = [t for t in tasks if not isinstance(t, Path)]
    fork = "fork" in multiprocessing.get_all_start_methods()
    if jobs > 1 and fork and len(ranged) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs) as pool:
            done = pool.imap(_scan_task, ranged, chunksize=1)
            for task in tasks:
                if isinstance(task, Path):
                    yield _scan(iter_raw(task), set(wanted), _Range(str(task), -1, -1),
                                _FIELDS)
                else:
                    yield next(done)
        return
    for task in tasks:
        if isinstance(task, Path):
            yield _scan(iter_raw(task), set(wanted), _Range(str(task), -1, -1), _FIELDS)
        else:
            yield _scan_task(task)


def _item_at(files: SnapshotFiles, file: str, index: int) -> RawItem:
    for item in iter_raw(Path(file)):
        if item.index == index:
            return item
    raise SnapshotError(f"record {index} vanished while reading", file=file)


def _absorb(into: _Entries, part: _Entries, file_id: int, records_before: int) -> None:
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


def _duplicates(entries: _Entries, file_names: list[str], files: SnapshotFiles,
                wanted: frozenset[str]) -> tuple[set[int], array[int]]:
    """Entries that repeat an earlier (name, content type): identical content is a duplicate;
    different content is a conflict, reported at the earliest place it occurs. Also gives the
    sorted keys, for membership tests."""
    keys = entries.keys
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable: ties stay in input order
    duplicates: set[int] = set()
    conflicts: list[int] = []
    i = 0
    total = len(order)
    while i < total:
        first = order[i]
        j = i + 1
        while j < total and keys[order[j]] == keys[first]:
            j += 1
        if j - i > 1:
            first_digest = entries.digest(first)
            for later in order[i + 1:j]:
                digest = entries.digest(later)
                if digest != first_digest and not (
                        (digest[:1] == b"r" or first_digest[:1] == b"r")
                        and _same_content(files, keys[later],
                                          _item_at(files, file_names[entries.files[later]],
                                                   entries.numbers[later]),
                                          _KINDS[entries.kinds[later]], set(wanted))):
                    conflicts.append(later)
                duplicates.add(later)
        i = j
    if conflicts:
        worst = min(conflicts)  # entries are in input order: the earliest conflict
        item = _item_at(files, file_names[entries.files[worst]], entries.numbers[worst])
        kind = _KINDS[entries.kinds[worst]]
        first_place = _find_first(files, keys[worst], item)
        raise SnapshotError(
            f"conflicting duplicate: {decode(item).name} ({kind}) differs from the record at "
            f"{first_place}", file=item.file, line=item.line)
    return duplicates, array("q", (keys[k] for k in order))


def _contains_sorted(values: array[int], key: int) -> bool:
    at = bisect.bisect_left(values, key)
    return at < len(values) and values[at] == key


def load_context(files: SnapshotFiles, context_types: Iterable[str], phi: PhiConfig,
                 at_most_time: datetime | None = None, jobs: int = 1,
                 fields: Fields | None = None) -> LoadedContext:
    """Pass 1: validate envelopes, find duplicates, keep policies and the join-target types.

    `fields` limits the held copies of joined types to the `data` keys rules read of them.
    """
    global _FIELDS
    _FIELDS = dict(fields or {})
    wanted = frozenset(context_types) | HIERARCHY_TYPES
    skip: set[tuple[str, int]] = set()
    policies: dict[str, Record] = {}
    context: dict[str, Record] = {}
    projects = ProjectIndex()
    counts: Counter[str] = Counter()
    latest: datetime | None = None
    records = 0
    segments: dict[str, list[tuple[int, int, int]]] = {}
    before: dict[str, tuple[int, int]] = {}  # file -> (lines, records) of its earlier ranges
    entries = _Entries()
    file_names: list[str] = []
    file_ids: dict[str, int] = {}
    parsed: list[tuple[int, int, Record]] = []  # (file id, record index, record), input order
    for part in _pass1(files, wanted, jobs):
        lines_before, records_before = before.get(part.file, (0, 0))
        if part.error is not None:
            error = part.error
            if error.line is not None and part.start > 0:
                error.line += lines_before
                error.args = (str(error),)
            raise error
        if part.start >= 0:
            segments.setdefault(part.file, []).append((part.start, lines_before, records_before))
        file_id = file_ids.get(part.file)
        if file_id is None:
            file_id = file_ids[part.file] = len(file_names)
            file_names.append(part.file)
        _absorb(entries, part.entries, file_id, records_before)
        for number, record in part.parsed.items():
            parsed.append((file_id, records_before + number, record))
        for number_, id_, labels, ancestors in part.projects:
            projects.learn(number=number_, project_id=id_, labels=labels or None,
                           ancestors=ancestors)
        if part.latest is not None and (latest is None or part.latest > latest):
            latest = part.latest
        records += part.records
        before[part.file] = (lines_before + part.lines, records_before + part.records)
    duplicates, sorted_keys = _duplicates(entries, file_names, files, wanted)
    names = {v: k for k, v in entries.type_names.items()}
    for i, kind in enumerate(entries.kinds):
        if kind == 0 and i not in duplicates:
            counts[names[entries.type_ids[i]]] += 1
    repeated = {(entries.files[i], entries.numbers[i], _KINDS[entries.kinds[i]])
                for i in duplicates}
    for file_id, index in {(entries.files[i], entries.numbers[i]) for i in duplicates
                           if entries.kinds[i] == 0}:
        skip.add((file_names[file_id], index))  # judged once, where it first appeared
    for file_id, index, record in parsed:
        new = {k for k in record.kinds if (file_id, index, k) not in repeated}
        policy_kinds = frozenset(new - {RESOURCE})
        if policy_kinds:
            piece = _policy_part(record, policy_kinds)
            prior_part = policies.get(record.name)
            policies[record.name] = merge_records(prior_part, piece) if prior_part else piece
        if RESOURCE in new and record.asset_type in wanted:
            context[record.name] = _resource_part(record)
    del parsed, entries
    users: list[Asset] = []
    for path in files.user_files:
        users.extend(read_users(path))
    seen_users: set[str] = set()
    for user in users:
        if user.name in seen_users:
            raise SnapshotError(f"directory user {user.name.rsplit('/', 1)[-1]} appears twice",
                                file=user.source.file if user.source else None,
                                line=user.source.line if user.source else None)
        seen_users.add(user.name)
    policy_only = [name for name in policies
                   if not _contains_sorted(sorted_keys, hash((name, RESOURCE)))]
    held = []
    for name, record in context.items():
        policy = policies.get(name)
        held.append((merge_records(record, policy) if policy else record).to_asset())
    owners = [p.to_asset() for p in policies.values()]
    missing = [t for t in SOURCE_DEPENDENT_TYPES if not users]
    content, gaps = coverage_from_manifest(files.manifest)
    inventory = Inventory([*held, *users], phi=phi, policies=owners, projects=projects,
                          missing_sources=missing, content=content, content_gaps=gaps)
    read_time = None
    if files.manifest:
        raw_time = files.manifest.get("read_time", files.manifest.get("readTime"))
        read_time = parse_time(raw_time) if raw_time else None
        if raw_time and read_time is None:
            raise SnapshotError(f"read_time {raw_time!r} is not an RFC 3339 time",
                                file=str(files.manifest_file))
    counts.update(u.asset_type for u in users)
    return LoadedContext(inventory, policies, frozenset(skip), policy_only, users,
                         read_time or latest, counts, records, segments)


_NO_TYPES: set[str] = set()


def materialize(item: RawItem, policies: dict[str, Record], skip: frozenset[tuple[str, int]],
                types: frozenset[str] | None,
                any_needs: frozenset[str] | None = None) -> Asset | None:
    """Pass 2: the judged asset for one record, or None when the record is not one to judge.

    `types` are the types rules name (None: every type); `any_needs` says which other assets
    are judged too (see `Engine.any_type_needs`). Every record is decoded and validated here,
    judged or not, so a malformed line stops the run even where pass 1 only read its envelope.
    """
    if (item.file, item.index) in skip:
        return None
    value = _value(item)
    if types is not None and type(value) is dict:
        asset_type = value.get("asset_type") or value.get("assetType")
        if asset_type not in types and not _judged_anyway(value, policies, any_needs):
            if _light_envelope(value, _NO_TYPES) is None:
                parse_record(value, item.file, item.line)  # raises on a malformed record
            return None
    record = parse_record(value, item.file, item.line)
    if RESOURCE not in record.kinds:
        return None
    resource = _resource_part(record) if len(record.kinds) > 1 else record
    policy = policies.get(record.name)
    return (merge_records(resource, policy) if policy else resource).to_asset()


def _judged_anyway(value: dict[str, Any], policies: dict[str, Record],
                   needs: frozenset[str] | None) -> bool:
    """Whether a rule on every type (`*`) judges this record, given the content it needs."""
    if needs is None:
        return False
    if not needs:
        return True
    name = value.get("name")
    held = policies.get(name) if isinstance(name, str) else None
    kinds = set(held.kinds) if held is not None else set()
    if any(k in value for k in ("iam_policy", "iamPolicy")):
        kinds.add("IAM_POLICY")
    if any(k in value for k in ("org_policy", "orgPolicy")):
        kinds.add("ORG_POLICY")
    return bool(kinds & needs)


def snapshot_assets(loaded: LoadedContext, files: SnapshotFiles,
                    types: frozenset[str] | None) -> Iterator[Asset]:
    """Every judged asset, one pass, in file order; policy-only assets and users last."""
    for item in iter_items(files):
        asset = materialize(item, loaded.policies, loaded.skip, types)
        if asset is not None:
            yield asset
    for name in loaded.policy_only:
        record = loaded.policies[name]
        if types is None or record.asset_type in types:
            yield record.to_asset()
    for user in loaded.users:
        if types is None or user.asset_type in types:
            yield user


