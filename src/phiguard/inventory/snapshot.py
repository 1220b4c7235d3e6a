"""Load a snapshot in two passes so memory stays bounded by what rules join to.

Pass 1 (`load_context`) reads every record: validates it, detects conflicting duplicates, learns
project ids and numbers, keeps every IAM / org / access policy and the full records of the
asset types rules join to. Pass 2 (`iter_items` + `materialize`) streams the records again and
hands out each judged asset with its policies merged in.

The stages live beside this module, which assembles them: `_envelopes` (what a record's
envelope says, read without a full parse), `_survey` (pass 1 over byte ranges, in worker
processes), `_duplicates` (repeated and conflicting records).
"""

from __future__ import annotations

import gc
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from heapq import merge
from itertools import compress
from operator import not_
from pathlib import Path
from typing import Any

import orjson

from phiguard._util import stages
from phiguard._util.times import parse_time
from phiguard.errors import SnapshotError
from phiguard.inventory._duplicates import KINDS, Entries, absorb, contains_sorted, find_duplicates
from phiguard.inventory._envelopes import iter_items, light_envelope, value_of
from phiguard.inventory._survey import Fields, projected, surveys
from phiguard.inventory.asset import Asset, new_source
from phiguard.inventory.coverage import coverage_from_manifest, types_from_manifest
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.readers import (
    BOM,
    MAX_LINE_BYTES,
    RawItem,
    SnapshotFiles,
    decode_line,
    picked_lines,
    read_users,
)
from phiguard.inventory.records import (
    ACCESS_POLICY,
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    Record,
    merge_records,
    new_record,
    parse_record,
    resource_asset,
)
from phiguard.inventory.scope import PhiConfig, ProjectIndex, Tenancy
from phiguard.inventory.types import HIERARCHY_TYPES, SOURCE_DEPENDENT_TYPES

__all__ = ["LoadedContext", "Picks", "check_unique_users", "iter_items", "load_context",
           "materialize", "picked_assets", "snapshot_assets"]

RANGE_BYTES = 8 * 1024 * 1024  # uncompressed NDJSON is read in byte ranges of about this


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
    # ... and, when `load_context` was told what is judged, for each of those segments the
    # records pass 2 reads (the others are duplicates, or plain records of types no rule
    # judges): their byte offsets from the segment's start, line numbers and record numbers
    # in it (see `readers.iter_picked`)
    picks: dict[str, list[Picks]] = field(default_factory=dict)


Picks = tuple["array[int]", "array[int]", "array[int]"]


def _policy_part(record: Record, kinds: frozenset[str]) -> Record:
    """The record's policy content of the given kinds only."""
    r = record
    return new_record(r.name, r.asset_type, kinds, None,
                      r.iam_policy if IAM_POLICY in kinds else None,
                      r.org_policy if ORG_POLICY in kinds else None,
                      r.access_policy if ACCESS_POLICY in kinds else None,
                      r.ancestors, r.location, r.parent, r.update_time, r.source)


_RESOURCE_ONLY = frozenset({RESOURCE})


def _resource_part(record: Record) -> Record:
    if record.kinds == _RESOURCE_ONLY:  # (its policy fields are None)
        return record
    r = record
    return new_record(r.name, r.asset_type, _RESOURCE_ONLY, r.data, None, None, None,
                      r.ancestors, r.location, r.parent, r.update_time, r.source)


def load_context(files: SnapshotFiles, context_types: Iterable[str], phi: PhiConfig,
                 at_most_time: datetime | None = None, jobs: int = 1,
                 fields: Fields | None = None, *,
                 judged: tuple[frozenset[str] | None, frozenset[str] | None] | None = None,
                 reach_only: frozenset[str] = frozenset()) -> LoadedContext:
    """Pass 1: validate envelopes, find duplicates, keep policies and the join-target types.

    `fields` limits the held copies of joined types to the `data` keys rules read of them.
    `reach_only`: of `context_types`, those held only to judge the grants on them (see
    `Engine.reach_only_types`): one is held only when its name carries an IAM policy.
    `judged`: what pass 2 judges, as `materialize` is told it (`types`, `any_needs`); with it,
    `LoadedContext.picks` says which records of plain NDJSON pass 2 needs to read at all.

    The cyclic garbage collector is paused meanwhile (`_collector_paused`).
    """
    with _collector_paused():
        return _load_context(files, context_types, phi, jobs, fields, judged=judged,
                             reach_only=reach_only)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pass 1 makes no reference cycles (what it drops, reference counting frees) and keeps
    much of what it makes to the end: every collection during it walks the records held so
    far only to find them alive (at 200,000 assets, 37 collections, 0.27 CPU s of the 2.6 s
    of the envelope pass, freeing nothing). Paused here, resumed as it was after (a collector
    the caller disabled stays so); inside a scan's `long_lived_heap` what is held is then
    frozen (`settle_heap`), elsewhere the next collections walk it as ever."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        from phiguard._util.parallel import settle_heap  # (multiprocessing: not for a plan)

        settle_heap()  # in a scan, what pass 1 kept is not walked again
        gc.enable()


def _load_context(files: SnapshotFiles, context_types: Iterable[str], phi: PhiConfig,
                  jobs: int, fields: Fields | None, *,
                  judged: tuple[frozenset[str] | None, frozenset[str] | None] | None,
                  reach_only: frozenset[str]) -> LoadedContext:
    wanted = frozenset(context_types) | HIERARCHY_TYPES
    # Reach-only types pass 2 judges (and so validates) are read by envelope in pass 1, and
    # only the records whose name carries an IAM policy are read whole, at its end (`_later`).
    deferred = frozenset() if judged is None else frozenset(
        t for t in reach_only - HIERARCHY_TYPES if judged[0] is None or t in judged[0])
    skip: set[tuple[str, int]] = set()
    policies: dict[str, Record] = {}
    context: dict[str, Record] = {}
    projects = ProjectIndex()
    tenancy = Tenancy()
    counts: Counter[str] = Counter()
    latest: datetime | None = None
    records = 0
    segments: dict[str, list[tuple[int, int, int]]] = {}
    before: dict[str, tuple[int, int]] = {}  # file -> (lines, records) of its earlier ranges
    entries = Entries()
    file_names: list[str] = []
    file_ids: dict[str, int] = {}
    parsed: list[tuple[int, int, Record]] = []  # (file id, record index, record), input order
    tracked: list[_Tracked] = []
    later: list[_Later] = []
    for part in surveys(files, wanted, fields or {}, jobs=jobs, range_bytes=RANGE_BYTES,
                        deferred=deferred):
        lines_before, records_before = before.get(part.file, (0, 0))
        if part.error is not None:
            raise _in_file(part.error, part.start, lines_before)
        if part.start >= 0:
            segments.setdefault(part.file, []).append((part.start, lines_before, records_before))
        file_id = file_ids.get(part.file)
        if file_id is None:
            file_id = file_ids[part.file] = len(file_names)
            file_names.append(part.file)
        if judged is not None and part.offsets is not None:
            assert part.line_numbers is not None
            assert part.plain is not None and part.plain_rows is not None
            assert part.spent is not None
            tracked.append(_Tracked(part.file, part.records, records_before, len(entries),
                                    part.offsets, part.line_numbers, part.plain,
                                    part.plain_rows, part.spent))
        if part.deferred:
            later.append(_Later(part.file, file_id, part.start, lines_before, records_before,
                                len(entries), part.deferred))
        absorb(entries, part.entries, file_id, records_before)
        for number, record in part.parsed.items():
            if lines_before:  # its line in the range, made its line in the file
                record = _at_line(record, lines_before)
            parsed.append((file_id, records_before + number, record))
        for number_, id_, labels, ancestors in part.projects:
            projects.learn(number=number_, project_id=id_, labels=labels or None,
                           ancestors=ancestors)
        tenancy.update(part.tenancy)
        if part.latest is not None and (latest is None or part.latest > latest):
            latest = part.latest
        records += part.records
        before[part.file] = (lines_before + part.lines, records_before + part.records)
    duplicates, sorted_keys = find_duplicates(entries, file_names, files, wanted)
    names = {v: k for k, v in entries.type_names.items()}
    # RESOURCE entries (kind 0) by type, in order of each type's first one (never a duplicate:
    # a duplicate repeats an earlier entry of its name and type), less the duplicates
    by_type = Counter(compress(entries.type_ids, map(not_, entries.kinds)))
    for i in duplicates:
        if entries.kinds[i] == 0:
            by_type[entries.type_ids[i]] -= 1
    counts.update({names[t]: n for t, n in by_type.items() if n})
    repeated = {(entries.files[i], entries.numbers[i], KINDS[entries.kinds[i]])
                for i in duplicates}
    for file_id, index in {(entries.files[i], entries.numbers[i]) for i in duplicates
                           if entries.kinds[i] == 0}:
        skip.add((file_names[file_id], index))  # judged once, where it first appeared
    kept: list[tuple[int, int, Record]] = []  # the held resources, input order
    for file_id, index, record in parsed:
        # a repeated access-context object merges into the one held (merge_records)
        new = record.kinds if not repeated else {
            k for k in record.kinds if k == ACCESS_POLICY or (file_id, index, k) not in repeated}
        policy_kinds = frozenset(new - {RESOURCE})
        if policy_kinds:
            piece = _policy_part(record, policy_kinds)
            prior_part = policies.get(record.name)
            policies[record.name] = merge_records(prior_part, piece) if prior_part else piece
        if RESOURCE in new and record.asset_type in wanted:
            kept.append((file_id, index, record))
    if later:
        granted = {hash((name, RESOURCE)): name for name, policy in policies.items()
                   if policy.iam_policy is not None}
        read = _read_later(later, granted, duplicates, fields or {})
        held_in_order: Iterable[tuple[int, int, Record]] = merge(kept, read, key=_place)
    else:
        held_in_order = kept
    for _, _, record in held_in_order:
        context[record.name] = _resource_part(record)
    del kept
    for name in [n for n, r in context.items() if r.asset_type in reach_only]:
        policy = policies.get(name)
        if policy is None or policy.iam_policy is None:
            del context[name]  # no grant on it: never asked whether one reaches PHI
    picks: dict[str, list[Picks]] = {}
    if judged is not None:
        _pick(picks, tracked, entries, skip, judged, policies)
    del parsed, entries, tracked
    users: list[Asset] = []
    for path in files.user_files:
        users.extend(read_users(path))
    check_unique_users(users)
    policy_only = [name for name in policies
                   if not contains_sorted(sorted_keys, hash((name, RESOURCE)))]
    stages.stage("join index build")  # the held join targets and the Inventory's indexes
    held = []
    for name, record in context.items():
        policy = policies.get(name)
        held.append((merge_records(record, policy) if policy else record).to_asset())
    owners = [p.to_asset() for p in policies.values()]
    missing = [t for t in SOURCE_DEPENDENT_TYPES if not users]
    content, gaps = coverage_from_manifest(files.manifest)
    inventory = Inventory([*held, *users], phi=phi, policies=owners, projects=projects,
                          missing_sources=missing, content=content, content_gaps=gaps,
                          asset_types=types_from_manifest(files.manifest), tenancy=tenancy)
    read_time = None
    if files.manifest:
        raw_time = files.manifest.get("read_time", files.manifest.get("readTime"))
        read_time = parse_time(raw_time) if raw_time else None
        if raw_time and read_time is None:
            raise SnapshotError(f"read_time {raw_time!r} is not an RFC 3339 time",
                                file=str(files.manifest_file))
    counts.update(u.asset_type for u in users)
    return LoadedContext(inventory, policies, frozenset(skip), policy_only, users,
                         read_time or latest, counts, records, segments, picks)


def _at_line(record: Record, lines_before: int) -> Record:
    """A record read in a range after `lines_before` lines of its file, at its line in the
    file (pass 1 reads ranges apart, each counting lines from its start). The record is one
    a survey just made (or unpickled) and nothing else holds yet: its source is replaced in
    place, a quarter of the cost of a new record (0.7 against 3.8 us; one per policy and
    held record of every range but the first)."""
    source = record.source
    _set(record, "source", new_source(source.file, source.line + lines_before))
    return record


_set = object.__setattr__  # (Record is frozen: see `_at_line`)


def _in_file(error: SnapshotError, start: int, lines_before: int) -> SnapshotError:
    """An error at a line of the range at byte `start`, at its line in the file."""
    if error.line is not None and start > 0:
        error.line += lines_before
        error.args = (str(error),)
    return error


@dataclass
class _Later:
    """One range's records of deferred types (see `Survey.deferred`), for `_read_later`."""

    file: str
    file_id: int
    start: int
    lines_before: int
    records_before: int
    first_entry: int  # the range's first row in the merged entries
    found: array[int]  # Survey.deferred


def _place(held: tuple[int, int, Record]) -> tuple[int, int]:
    return held[0], held[1]


def _read_later(later: list[_Later], granted: dict[int, str], duplicates: set[int],
                fields: Fields) -> list[tuple[int, int, Record]]:
    """(file id, record index, record) of each record of a deferred type whose name carries
    an IAM policy (`granted`: name by key) and that repeats no earlier one, read whole from its
    line (projected as pass 1 projects the records it reads whole), in input order."""
    out: list[tuple[int, int, Record]] = []
    for part in later:
        found = part.found
        wanted = [(number, offset, line, name)
                  for number, row, key, offset, line in zip(*(found[i::5] for i in range(5)),
                                                           strict=True)
                  if (name := granted.get(key)) is not None
                  and part.first_entry + row not in duplicates]
        if not wanted:
            continue
        with open(part.file, "rb") as fh:
            for number, offset, line, name in wanted:
                at = part.start + offset
                fh.seek(at)
                raw = fh.readline(MAX_LINE_BYTES + 1)
                if not at and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                line += part.lines_before  # its line in the file
                record = parse_record(decode_line(raw, part.file, line), part.file, line)
                if record.name == name:  # (else another name of the same hash)
                    out.append((part.file_id, part.records_before + number,
                                projected(record, fields)))
    return out


@dataclass
class _Tracked:
    """What `_pick` needs of one range's survey (see `Survey.offsets`)."""

    file: str
    records: int
    records_before: int
    first_entry: int  # the range's first row in the merged entries
    offsets: array[int]
    line_numbers: array[int]
    plain: array[int]
    plain_rows: array[int]
    spent: array[int]


def _pick(picks: dict[str, list[Picks]], tracked: list[_Tracked], entries: Entries,
          skip: set[tuple[str, int]], judged: tuple[frozenset[str] | None, frozenset[str] | None],
          policies: dict[str, Record]) -> None:
    """The records pass 2 reads, by range: not the duplicates `materialize` skips, nor plain
    records (see `Survey.plain`) of a type it does not judge (`types`) that no rule on every
    type judges either (`any_needs`, by the content held for their name: `_judged_anyway`),
    nor those read whole in pass 1 that carry no RESOURCE content (`Survey.spent`)."""
    types, needs = judged
    unjudged: set[int] = set()  # ids of the types no rule judges
    held: set[int] = set()  # keys of the names whose held policies a rule on `*` judges
    if types is not None and (needs is None or needs):
        unjudged = {i for name, i in entries.type_names.items() if name not in types}
        if needs:
            held = {hash((name, RESOURCE)) for name, record in policies.items()
                    if not needs.isdisjoint(record.kinds)}
    skipped: dict[str, list[int]] = {}
    for file, index in skip:
        skipped.setdefault(file, []).append(index)
    for numbers in skipped.values():
        numbers.sort()
    type_ids, keys = entries.type_ids, entries.keys
    for part in tracked:
        keep = bytearray(b"\x01") * part.records
        for number in part.spent:
            keep[number - 1] = 0
        if unjudged:
            first = part.first_entry
            for number, row in zip(part.plain, part.plain_rows, strict=True):
                if type_ids[first + row] in unjudged and keys[first + row] not in held:
                    keep[number - 1] = 0
        before = part.records_before
        repeats = skipped.get(part.file, [])
        for index in repeats[bisect_right(repeats, before):
                             bisect_right(repeats, before + part.records)]:
            keep[index - before - 1] = 0
        picks.setdefault(part.file, []).append(
            (array("i", compress(part.offsets, keep)),
             array("i", compress(part.line_numbers, keep)),
             array("i", compress(range(1, part.records + 1), keep))))


def check_unique_users(users: Iterable[Asset]) -> None:
    """Raise SnapshotError, at the second one, when a directory user appears twice."""
    seen: set[str] = set()
    for user in users:
        if user.name in seen:
            raise SnapshotError(f"directory user {user.name.rsplit('/', 1)[-1]} appears twice",
                                file=user.source.file if user.source else None,
                                line=user.source.line if user.source else None)
        seen.add(user.name)


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
    raw = item.raw
    if raw is not None:
        try:
            value = orjson.loads(raw)  # (a line's ending is JSON whitespace)
        except orjson.JSONDecodeError:
            value = value_of(item)  # says where the line breaks
    else:
        value = item.value
    if types is not None and type(value) is dict:
        asset_type = value.get("asset_type") or value.get("assetType")
        if asset_type not in types and not _judged_anyway(value, policies, any_needs):
            if light_envelope(value, _NO_TYPES) is None:
                parse_record(value, item.file, item.line)  # raises on a malformed record
            return None
    name = value.get("name") if type(value) is dict else None
    if type(name) is str and name not in policies:
        asset = resource_asset(value, item.file, item.line)  # the common case, quicker
        if asset is not None:
            return asset
    record = parse_record(value, item.file, item.line)
    if RESOURCE not in record.kinds:
        return None
    resource = _resource_part(record) if len(record.kinds) > 1 else record
    policy = policies.get(record.name)
    return (merge_records(resource, policy) if policy else resource).to_asset()


def picked_assets(file: str, offset: int, line_no: int, index: int, end: int, picks: Picks,
                  policies: dict[str, Record], skip: frozenset[tuple[str, int]],
                  types: frozenset[str] | None,
                  any_needs: frozenset[str] | None = None) -> Iterator[Asset | None]:
    """`materialize` over the records `picks` names in one range of plain NDJSON (see
    `readers.iter_picked`; the duplicates in `skip` are not among them), each line decoded
    once, and a plain RESOURCE record of a judged type with no policy held for its name
    made an asset directly (as `materialize` does), without a RawItem."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for raw, at, line, number in picked_lines(Path(file), offset, end, *picks):
        where = line_no + line
        try:
            value = loads(raw)  # (a line's ending is JSON whitespace)
        except decode_error:  # materialize says where the line breaks
            yield materialize(RawItem(file, where, raw, index=index + number,
                                      offset=offset + at), policies, skip, types, any_needs)
            continue
        if types is not None and type(value) is dict:
            name = value.get("name")
            if (type(name) is str and name not in policies
                    and (value.get("asset_type") or value.get("assetType")) in types):
                asset = resource_asset(value, file, where)
                if asset is not None:
                    yield asset
                    continue
        yield materialize(RawItem(file, where, None, value, index=index + number,
                                  offset=offset + at), policies, skip, types, any_needs)


_POLICY_CONTENT_KEYS = frozenset({"iam_policy", "iamPolicy", "org_policy", "orgPolicy"})


def _judged_anyway(value: dict[str, Any], policies: dict[str, Record],
                   needs: frozenset[str] | None) -> bool:
    """Whether a rule on every type (`*`) judges this record, given the content it needs."""
    if needs is None:
        return False
    if not needs:
        return True
    name = value.get("name")
    held = policies.get(name) if isinstance(name, str) else None
    if held is None and value.keys().isdisjoint(_POLICY_CONTENT_KEYS):
        return False
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


