"""The first pass over a snapshot, one byte range (or one whole file) at a time: every record's
envelope and content digests (for duplicate detection), the project ids and numbers it shows,
its latest update time, and the records worth keeping whole (policies and the types rules join
to, projected to the `data` keys rules read). Ranges are surveyed in worker processes when
`jobs > 1` (`ordered_map`); the results come back in file order either way.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from phiguard._util.parallel import ordered_map
from phiguard._util.times import parse_time
from phiguard.errors import SnapshotError
from phiguard.inventory import readers
from phiguard.inventory._duplicates import (
    KIND_CODES,
    Entries,
    content_entries,
    entry_keys,
    light_digest,
    raw_digest,
)
from phiguard.inventory._envelopes import _LINE, Held, envelope, held_line, light_envelope
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import TENANT_PATHS, learn_project, network_key, note_tenancy
from phiguard.inventory.readers import (
    BLANK_RUN,
    BOM,
    RawItem,
    SnapshotFiles,
    decode_line,
    is_plain_ndjson,
    iter_raw,
    too_long,
)
from phiguard.inventory.records import (
    RESOURCE,
    Record,
    parse_record,
    project_data,
    resource_record,
)
from phiguard.inventory.refs import project_of_name
from phiguard.inventory.scope import ProjectIndex, ProjectInfo, Tenancy
from phiguard.inventory.types import PROJECT_TYPE

__all__ = ["Fields", "Survey", "projected", "surveys"]

Fields = Mapping[str, frozenset[str] | None]
_RESOURCE_ONLY = frozenset({RESOURCE})
# The keys of policy content, any of which makes a line not plain (as `envelope` reads it).
_POLICY_KEYS = frozenset({"iam_policy", "iamPolicy", "org_policy", "orgPolicy", "v2_org_policies",
                          "v2OrgPolicies", "access_policy", "accessPolicy", "access_level",
                          "accessLevel", "service_perimeter", "servicePerimeter"})


@dataclass(frozen=True)
class _Plan:
    """What every range's survey needs to know, inherited by the workers."""

    wanted: frozenset[str]  # types kept whole (join targets, hierarchy)
    fields: Fields  # the data keys rules read, by type
    # of `wanted`, those read by envelope only in byte ranges (see `Survey.deferred`)
    deferred: frozenset[str] = frozenset()


# A range: (file, start byte, end byte or -1); a whole file (gzip, JSON documents): its path.
Task = tuple[str, int, int] | Path


@dataclass
class Survey:
    """What one byte range (or one whole file) of pass 1 found, in positions relative to it."""

    file: str
    start: int  # byte offset; -1 for files read whole (gzip, JSON documents)
    end: int
    lines: int = 0
    records: int = 0
    entries: Entries = field(default_factory=Entries)
    parsed: dict[int, Record] = field(default_factory=dict)  # records kept whole, by number
    latest: datetime | None = None
    projects: list[tuple[str | None, str | None, dict[str, str], tuple[str, ...]]] = field(
        default_factory=list)
    error: SnapshotError | None = None
    # Where each record is, for pass 2 (byte ranges of plain NDJSON only, else None): byte
    # offset from `start` and line number in the range, by record number - 1 ...
    offsets: array[int] | None = None
    line_numbers: array[int] | None = None
    # ... and the records pass 2 need not read when their type is not judged: plain RESOURCE
    # records, their envelope valid as `light_envelope` reads it (or the whole record valid)
    # and no policy key at all (by record number, with their entry's row in `entries`) ...
    plain: array[int] | None = None
    plain_rows: array[int] | None = None
    # ... and those it never needs to read: records read whole and valid here that carry no
    # RESOURCE content (`materialize` gives None for them, after checking what was checked)
    spent: array[int] | None = None
    # The records of a deferred type (`surveys`) read by envelope only, which `load_context`
    # reads whole afterwards if it turns out to need them, five numbers each: record number,
    # row in `entries`, key (hash((name, RESOURCE))), byte offset from `start`, line number.
    deferred: array[int] | None = None
    # The networks each project's resources sit on (`note_tenancy`, of every record of a
    # TENANT_PATHS type: a scan holds only those with an IAM policy)
    tenancy: Tenancy = field(default_factory=Tenancy)


def projected(record: Record, fields: Fields) -> Record:
    """The record with only the `data` keys rules read of its type (see policy.projection)."""
    keep = fields.get(record.asset_type)
    return record if keep is None else project_data(record, keep)


def _learn_from_name(projects: ProjectIndex, name: str, ancestors: list[str]) -> None:
    first = ancestors[0] if ancestors else ""
    if first.startswith("projects/"):
        in_name = project_of_name(name)
        number = first[9:]
        if projects.get(number) is None or (in_name and projects.get(in_name) is None):
            project_id = in_name if in_name and not in_name.isdigit() else None
            projects.learn(number=number, project_id=project_id, ancestors=ancestors)


class _Learner:
    """`_learn_from_name`, skipping the assets of a project it has learned all it can from:
    once a project's number has an id, a name can only add a longer ancestry (see
    `ProjectIndex.learn`), so only an asset with more ancestors than known is looked at."""

    __slots__ = ("known", "learned", "projects", "settled")

    def __init__(self, projects: ProjectIndex) -> None:
        self.projects = projects
        self.settled: dict[str, ProjectInfo] = {}  # first ancestor -> its project, with an id
        # the same for `asset`, with the count of `learned` when it was last checked
        self.known: dict[str, tuple[ProjectInfo, int]] = {}
        self.learned = 0  # calls that may have changed `projects`

    def asset(self, name: str, asset_type: str, ancestors: Sequence[str],
              record: Record | None = None) -> None:
        """`learn_project` of the asset (`record`'s, or one of that name, type and ancestry),
        without making the Asset where that cannot change the index: an asset of a type other
        than Project whose first ancestor is not a project teaches nothing, nor one of a
        project whose number and id are known, both indexed to it, and its ancestry as long
        (`ProjectIndex.learn` would set only what is already set)."""
        first = ancestors[0] if ancestors else ""
        if asset_type != PROJECT_TYPE:
            if not first.startswith("projects/"):
                return
            known = self.known.get(first)
            if known is not None and len(ancestors) <= len(known[0].ancestors):
                info, checked = known
                if checked == self.learned:
                    return  # nothing learned since it was checked below
                get = self.projects.get
                if get(first) is info and get(info.number) is info and get(info.id) is info:
                    self.known[first] = info, self.learned
                    return
        self.learned += 1
        learn_project(self.projects, record.to_asset() if record is not None else
                      Asset(name, asset_type, ancestors=tuple(ancestors)))
        if first.startswith("projects/"):
            get = self.projects.get
            learned = get(first)
            if (learned is not None and learned.id and get(learned.number) is learned
                    and get(learned.id) is learned):
                self.known[first] = learned, self.learned

    def __call__(self, name: str, ancestors: list[str]) -> None:
        first = ancestors[0] if ancestors else ""
        info = self.settled.get(first)
        if info is not None and len(ancestors) <= len(info.ancestors):
            return
        self.learned += 1
        _learn_from_name(self.projects, name, ancestors)
        if first.startswith("projects/"):
            info = self.projects.get(first)
            if info is not None and info.id:
                self.settled[first] = info


def survey(items: Iterable[RawItem], wanted: set[str], result: Survey,
           fields: Fields | None = None) -> Survey:
    """Pass 1 over some records: envelopes, digests, and the records worth keeping whole."""
    rows = ((item.line, item.raw, item.index, item.value) for item in items)
    return _survey_rows(rows, wanted, result, fields)


# A record as pass 1 reads it: (line, raw NDJSON line or None, record index, the decoded value
# when there is no raw line; anything else when there is, e.g. `range_lines`' byte offset)
Row = tuple[int, bytes | None, int, Any]


def _survey_rows(rows: Iterable[Row], wanted: set[str], result: Survey,
                 fields: Fields | None = None, *, track: bool = False,
                 deferred: frozenset[str] = frozenset()) -> Survey:
    """`survey` over rows of `result.file` (a RawItem is made only for the records decoded).

    `track`: the rows are `range_lines`' of the range at `result.start`; note where each
    record is and which are plain (`Survey.offsets` ...), for pass 2. `deferred` (with
    `track` only): types of `wanted` whose records are read by envelope where they can be,
    and noted in `Survey.deferred`, for `load_context` to read whole if it needs them.
    (`_survey_range` does the same over a range's bytes, quicker.)
    """
    state = _Pass(wanted, result, fields or {}, track, deferred)
    row, time_ = state.row, state.time
    line = index = 0
    best = ""
    try:
        for line, raw, index, value in rows:
            update_time = row(line, raw, index, value)
            if update_time and (update_time[-1:] not in "Zz" or update_time[:19] >= best):
                best = time_(update_time, line)
    except SnapshotError as exc:
        result.error = exc
    # the last record read (on an error, the one that failed)
    result.records, result.lines = index, line
    return state.finish()


class _Pass:
    """What one survey learns as it goes, and the handling of one record (`row`)."""

    __slots__ = ("best", "deferred", "fields", "file", "latest", "learn", "light", "projects",
                 "result", "start", "track", "wanted")

    def __init__(self, wanted: set[str], result: Survey, fields: Fields, track: bool,
                 deferred: frozenset[str]) -> None:
        self.wanted, self.result, self.fields, self.track = wanted, result, fields, track
        self.projects = ProjectIndex()
        self.learn = _Learner(self.projects)
        self.latest: datetime | None = None
        self.best = ""  # the latest UTC (Z) update_time text seen; only later-looking ones
        self.file, self.start = result.file, result.start  # are parsed (`time`)
        if track:
            result.offsets, result.line_numbers = array("i"), array("i")
            result.plain, result.plain_rows = array("i"), array("i")
            result.deferred, result.spent = array("q"), array("i")
        else:
            deferred = frozenset()
        self.deferred = deferred
        self.light = wanted - deferred if deferred else wanted

    def row(self, line: int, raw: bytes | None, index: int, value: Any,
            whole: bool = False) -> str | None:
        """Pass 1 over one record; its update time. A raw NDJSON line, or the decoded `value`
        when there is none (with `track`, `value` is the line's byte offset in the file).
        `whole`: the line is known not to be read by envelope (its type is kept whole)."""
        result, deferred, file = self.result, self.deferred, self.file
        track = self.track
        if track:
            assert result.offsets is not None and result.line_numbers is not None
            result.offsets.append(value - self.start)
            result.line_numbers.append(line)
        raw_env = envelope(raw, self.light) if raw is not None and not whole else None
        if (raw_env is not None and raw_env[1] in deferred
                and not _shallow(raw or b"")):
            raw_env = None  # read whole, as when it was not deferred (see `_shallow`)
        if raw_env is None:
            held = held_line(raw) if raw is not None else None
            if held is not None and held[1] in self.wanted and _shallow(raw or b""):
                return _held_row(file, line, raw or b"", index, held, result, self.fields,
                                 self.learn, result.entries.add)
            return _full_row(file, line, raw, index, value, self.wanted, result, self.fields,
                             self.learn, result.entries.add)
        # Only its envelope decoded here: pass 2 decodes and validates it before judging it
        # (or, if it is plain and of a type no rule judges, skips it).
        name, asset_type, update_time, ancestors, is_plain = raw_env
        if asset_type in TENANT_PATHS:
            _note_raw(result.tenancy, raw or b"", asset_type, name, ancestors)
        key = hash((name, RESOURCE))
        entries = result.entries
        if track:
            assert result.plain is not None and result.plain_rows is not None
            if is_plain:
                result.plain.append(index)
                result.plain_rows.append(len(entries.keys))
            if asset_type in deferred:
                assert result.deferred is not None
                result.deferred.extend((index, len(entries.keys), key, value - self.start,
                                        line))
                self.learn.asset(name, asset_type, ancestors)
            else:
                self.learn(name, ancestors)
        else:
            self.learn(name, ancestors)
        entries.add(key, raw_digest(raw or b""), index, asset_type, RESOURCE)
        return update_time

    def time(self, update_time: str, line: int) -> str:
        """Take a record's update time into the latest one (refused if it is not RFC 3339);
        the first 19 characters of the latest UTC text, which a later-looking one passes."""
        utc = update_time[-1:] in "Zz"
        if not utc or update_time[:19] >= self.best[:19]:
            when = parse_time(update_time)
            if when is None:
                raise SnapshotError(f"update_time {update_time!r} is not an RFC 3339 time",
                                    file=self.file, line=line)
            if self.latest is None or when > self.latest:
                self.latest = when
                if utc:
                    self.best = update_time
        return self.best[:19]

    def finish(self) -> Survey:
        result = self.result
        result.latest = self.latest
        result.projects = [(i.number, i.id, dict(i.labels), tuple(i.ancestors))
                           for i in self.projects.all()]
        return result


def _survey_range(file: str, start: int, end: int, wanted: set[str], fields: Fields,
                  deferred: frozenset[str]) -> Survey:
    """`_survey_rows(range_lines(...), track=True)` of one byte range of plain NDJSON, the
    range read in one go and cut at its line feeds here, and the common line (a plain
    RESOURCE line of a type not kept whole, its envelope as `envelope` reads it) surveyed
    in the loop itself; every other line, and every line `range_lines` treats apart (the
    first, blank or overlong ones), as `_survey_rows` surveys it (`_Pass.row`).

    The loop runs a block of about _BLOCK bytes of lines per call (`_survey_lines`):
    CPython 3.11 specializes a function's bytecode when it is entered (after a few calls),
    never inside a loop already running, so a loop entered once per range would run the
    first ranges of every scan unspecialized (at 100,000 assets, half of them)."""
    result = Survey(file, start, end)
    state = _Pass(wanted, result, fields, True, deferred)
    at = (0, 0, 0, "")  # byte offset, line number, record number, `_Pass.time`'s answer
    try:
        try:
            with open(file, "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start) if end >= 0 else fh.read()
        except OSError as exc:
            raise SnapshotError(f"cannot read: {exc}", file=file) from None
        size = len(data)
        while at[0] < size:
            at = _survey_lines(state, data, min(at[0] + _BLOCK, size), *at)
    except SnapshotError as exc:
        result.error = exc
        # the last record read, the one that failed (as `_survey_rows` says it)
        numbers = result.line_numbers
        assert numbers is not None
        result.records, result.lines = len(numbers), numbers[-1] if numbers else 0
        return state.finish()
    # every line of the range, blank ones after its last record too (the next range starts
    # after them)
    result.records, result.lines = at[2], at[1]
    return state.finish()


_BLOCK = 1 << 16


def _survey_lines(state: _Pass, data: bytes, limit: int, pos: int, line: int, index: int,
                  best: str) -> tuple[int, int, int, str]:
    """`_survey_range`'s loop over the lines of `data` that start before byte `limit`, from
    byte `pos`, after line `line` and record `index`; where it stopped, as it was given."""
    result = state.result
    row, time_, learn, settled = state.row, state.time, state.learn, state.learn.settled
    light, tenancy, deferred, file = state.light, result.tenancy, state.deferred, state.file
    start = state.start
    entries = result.entries
    keys, digests, type_names = entries.keys, entries.digests, entries.type_names
    add_key, add_number = keys.append, entries.numbers.append
    add_kind, add_type = entries.kinds.append, entries.type_ids.append
    resource_kind = KIND_CODES[RESOURCE]
    assert result.offsets is not None and result.line_numbers is not None
    assert result.plain is not None and result.plain_rows is not None
    assert result.deferred is not None
    add_offset, add_line = result.offsets.append, result.line_numbers.append
    add_plain, add_plain_row = result.plain.append, result.plain_rows.append
    later = result.deferred
    decode, decode_errors = _LINE_DECODE, _DECODE_ERRORS
    longest = readers.MAX_LINE_BYTES
    find, blanks, size = data.find, BLANK_RUN.match, len(data)
    while pos < limit:
        stop = find(b"\n", pos) + 1 or size
        line += 1
        raw = data[pos:stop]
        if line == 1 or stop - pos > longest or raw.isspace():
            if stop - pos > longest and len(raw.rstrip(b"\r\n")) > longest:
                raise too_long(file, line)  # (before the line counts as read: below)
            if line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if raw.isspace():
                run = blanks(data, stop)
                if run is not None:
                    line += data.count(b"\n", stop, run.end())
                    stop = run.end()
                pos = stop
                continue
            index += 1
            update_time = row(line, raw, index, start + pos)
        else:
            index += 1
            try:
                head = decode(raw)
            except decode_errors:
                head = None
            whole = False
            if head is not None:
                name = head.name
                asset_type = head.asset_type
                if asset_type is None:
                    asset_type = head.assetType
                if asset_type in light:
                    head, whole = None, True  # (`envelope` would decline it)
                elif (not name or not asset_type or head.resource is None
                        or head.iam_policy or head.iamPolicy or head.org_policy
                        or head.orgPolicy or head.v2_org_policies
                        or head.v2OrgPolicies or head.access_policy or head.accessPolicy
                        or head.access_level or head.accessLevel
                        or head.service_perimeter or head.servicePerimeter
                        or (asset_type in deferred and not _shallow(raw))):
                    head = None
            if head is None:  # not the common line: as `_survey_rows` reads it
                update_time = row(line, raw, index, start + pos, whole)
            else:
                # `_Pass.row` of a plain line read by envelope, inlined
                assert asset_type is not None
                ancestors = head.ancestors or []
                update_time = head.update_time
                if update_time is None:
                    update_time = head.updateTime
                add_offset(pos)
                add_line(line)
                if asset_type in TENANT_PATHS:
                    _note_raw(tenancy, raw, asset_type, name, ancestors)
                key = hash((name, RESOURCE))
                add_plain(index)
                add_plain_row(len(keys))
                if asset_type in deferred:
                    later.extend((index, len(keys), key, pos, line))
                    learn.asset(name, asset_type, ancestors)
                else:
                    # `learn`, not called for a project it has settled (most)
                    info = settled.get(ancestors[0] if ancestors else "")
                    if info is None or len(ancestors) > len(info.ancestors):
                        learn(name, ancestors)
                add_key(key)
                digests += raw_digest(raw)
                add_number(index)
                add_kind(resource_kind)
                type_id = type_names.get(asset_type)
                if type_id is None:
                    type_id = type_names[asset_type] = len(type_names)
                add_type(type_id)
        if update_time and (update_time[-1:] not in "Zz" or update_time[:19] >= best):
            best = time_(update_time, line)
        pos = stop
    return pos, line, index, best


_LINE_DECODE = _LINE.decode
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError, ValueError)


def _full_row(file: str, line: int, raw: bytes | None, index: int, value: Any,
              wanted: set[str], result: Survey, fields: Fields, learn_from_name: _Learner,
              add: Callable[[int, bytes, int, str, str], None]) -> str | None:
    """Pass 1 over a record its envelope alone does not serve: decoded (the raw line, or
    `value` when there is none) and read whole; its update time."""
    if raw is not None:
        value = decode_line(raw, file, line)
    if type(value) is dict:
        asset_type = value.get("asset_type", value.get("assetType"))
        if asset_type in TENANT_PATHS:
            _note(result.tenancy, value, asset_type, value.get("name"), value.get("ancestors"))
    light = light_envelope(value, wanted)
    if light is not None:
        item = RawItem(file, line, raw, None if raw is not None else value, index=index)
        add(hash((light.name, RESOURCE)), b"c" + light_digest(light, item), index,
            light.asset_type, RESOURCE)
        learn_from_name(light.name, light.ancestors)
        return light.update_time
    if raw is not None and _shallow(raw):
        # Digested from the line as it is: the same line is a duplicate; another line of the
        # name is compared by its content in `find_duplicates` (see `raw_digest`). Projected
        # as it is parsed, but for a Project, which `learn_project` reads whole.
        keep = _data_keys(value, fields)
        record = parse_record(value, file, line, keep)
        if result.spent is not None:  # (a range: tell pass 2 what it need not read)
            if RESOURCE not in record.kinds:
                result.spent.append(index)
            elif record.kinds == _RESOURCE_ONLY and value.keys().isdisjoint(_POLICY_KEYS):
                assert result.plain is not None and result.plain_rows is not None
                result.plain.append(index)
                result.plain_rows.append(len(result.entries))
        digest = raw_digest(raw)
        asset_type = record.asset_type
        for key, kind in entry_keys(record):
            add(key, digest, index, asset_type, kind)
        learn_from_name.asset(record.name, asset_type, record.ancestors, record)
        if asset_type == PROJECT_TYPE:
            record = projected(record, fields)
    else:
        record = parse_record(value, file, line)
        for key, kind, content in content_entries(record, RawItem(file, line, None, value,
                                                                  index=index)):
            add(key, b"c" + content, index, record.asset_type, kind)
        learn_from_name.asset(record.name, record.asset_type, record.ancestors, record)
        record = projected(record, fields)
    if record.kinds != _RESOURCE_ONLY or record.asset_type in wanted:
        result.parsed[index] = record
    return record.update_time


def _held_row(file: str, line: int, raw: bytes, index: int, held: Held, result: Survey,
              fields: Fields, learn_from_name: _Learner,
              add: Callable[[int, bytes, int, str, str], None]) -> str | None:
    """`_full_row` of a shallow plain RESOURCE line of a type kept whole (`held_line`), what
    it does for one, from the fields decoded there: the same tenancy, record, entry, digest
    and projects."""
    name, asset_type, data, ancestors, location, parent, update_time = held
    if asset_type in TENANT_PATHS:
        note_tenancy(result.tenancy, asset_type, name, ancestors, data)
    keep = None if asset_type == PROJECT_TYPE else fields.get(asset_type)
    record = resource_record(name, asset_type, data, ancestors, location, parent, update_time,
                             file, line, keep)
    if result.plain is not None and result.plain_rows is not None:  # (a range)
        result.plain.append(index)
        result.plain_rows.append(len(result.entries))
    add(hash((name, RESOURCE)), raw_digest(raw), index, asset_type, RESOURCE)
    learn_from_name.asset(name, asset_type, record.ancestors, record)
    if asset_type == PROJECT_TYPE:
        record = projected(record, fields)
    result.parsed[index] = record
    return update_time


def _note(tenancy: Tenancy, value: Any, asset_type: str, name: Any, ancestors: Any) -> None:
    """`note_tenancy` of a decoded record that carries its resource (any record of the name
    may: policies ride apart)."""
    resource = value.get("resource") if type(value) is dict else None
    if type(resource) is dict:
        note_tenancy(tenancy, asset_type, name, ancestors, resource.get("data"))


def _note_raw(tenancy: Tenancy, raw: bytes, asset_type: str, name: str,
              ancestors: list[str]) -> None:
    """`_note` of a line read by envelope only. A line that does not decode is refused where
    it is judged; one never judged leaves its project undecided."""
    reader = _TENANT_READERS.get(asset_type)
    if reader is not None:
        try:
            line = reader[0].decode(raw)
        except (msgspec.DecodeError, RecursionError, ValueError):
            pass  # (a value of another type on the path, say: read as ever, below)
        else:
            if line.resource is not None:
                _note_path(tenancy, line.resource.data, reader[1], TENANT_PATHS[asset_type][1],
                           name, ancestors)
            return
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = {"resource": {}}
    _note(tenancy, value, asset_type, name, ancestors)


# A TENANT_PATHS type's network path, as msgspec types: `resource.data` down that path only,
# every other key skipped unread; an object on the path where another type stands (an array
# that is not one, a network that is not a string) fails the decode.
_Path = tuple[tuple[str, bool], ...]  # (key, whether `[*]` fans out its array)


def _tenant_reader(asset_type: str) -> tuple[msgspec.json.Decoder[Any], _Path] | None:
    paths = TENANT_PATHS[asset_type][0]
    if len(paths) != 1:
        return None
    parts = tuple((part.removesuffix("[*]"), part.endswith("[*]"))
                  for part in paths[0].split("."))
    if not all(key.isidentifier() for key, _ in parts):
        return None
    inner: Any = str
    for depth, (key, fan) in reversed(list(enumerate(parts))):
        kind = list[inner] if fan else inner
        inner = msgspec.defstruct(f"_Step{depth}", [(key, kind | None, None)], gc=False)
    resource = msgspec.defstruct("_TenantResource", [("data", inner | None, None)], gc=False)
    line = msgspec.defstruct("_TenantLine", [("resource", resource | None, None)], gc=False)
    return msgspec.json.Decoder(line), parts


_TENANT_READERS = {t: r for t in TENANT_PATHS if (r := _tenant_reader(t)) is not None}


def _note_path(tenancy: Tenancy, data: Any, parts: _Path, required: bool, name: str,
               ancestors: list[str]) -> None:
    """`note_tenancy` of a record whose `resource.data` its type's reader decoded: the same
    networks and undecided project, read from the decoded path alone."""
    first = ancestors[0] if ancestors else None
    if first is not None and first.startswith("projects/"):
        project: str | None = first[9:]
    else:
        project = project_of_name(name)
    if not project:
        return
    keys: set[str] = set()
    open_ = required if data is None else _ends(data, parts, 0, required, keys)
    tenancy.note(project, keys, open_)


def _ends(value: Any, parts: _Path, depth: int, required: bool, keys: set[str]) -> bool:
    """Add the network keys at the end of the path to `keys`; whether a value is missing there
    (absent where `required`, or empty), as `inventory._path_ends` walks it."""
    if depth == len(parts):
        if value:
            keys.add(network_key(value))
            return False
        return True
    name, fan = parts[depth]
    child = getattr(value, name)
    if child is None:
        return required
    if fan:
        missing = False
        for item in child:
            missing = _ends(item, parts, depth + 1, required, keys) or missing
        return missing
    return _ends(child, parts, depth + 1, required, keys)


_SHALLOW = 254  # opening brackets: orjson serializes no deeper (see _duplicates._canonical)


def _shallow(raw: bytes) -> bool:
    """Whether a line is too shallow for its content digest to fail: a deeper record takes
    the content digest (`content_entries`), which says when it is nested too deeply to be a
    CAI record, as it did when every record read whole was digested by its content."""
    return raw.count(b"{") + raw.count(b"[") <= _SHALLOW


def _data_keys(value: Any, fields: Fields) -> frozenset[str] | None:
    """The `data` keys rules read of the record's type (None: all), as `projected` takes
    them, but None for a Project (see `_full_row`) and anything `parse_record` refuses."""
    if type(value) is not dict:
        return None
    asset_type = value.get("asset_type")
    if asset_type is None:
        asset_type = value.get("assetType")
    if type(asset_type) is not str or asset_type == PROJECT_TYPE:
        return None
    return fields.get(asset_type)


def _survey_task(plan: _Plan, task: Task) -> Survey:
    wanted = set(plan.wanted)
    if isinstance(task, Path):
        return survey(iter_raw(task), wanted, Survey(str(task), -1, -1), plan.fields)
    file, start, end = task
    return _survey_range(file, start, end, wanted, plan.fields, plan.deferred)


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


def surveys(files: SnapshotFiles, wanted: frozenset[str], fields: Fields, *, jobs: int,
            range_bytes: int, deferred: frozenset[str] = frozenset()) -> Iterator[Survey]:
    """Every range's survey, in file order: uncompressed NDJSON in ranges of about
    `range_bytes`, other files whole. `deferred`: types of `wanted` read by envelope only
    where they can be, in those ranges (see `Survey.deferred`)."""
    tasks: list[Task] = []
    for path in files.asset_files:
        if is_plain_ndjson(path):
            tasks.extend((str(path), lo, hi) for lo, hi in _ranges(path, range_bytes))
        else:
            tasks.append(path)
    yield from ordered_map(_survey_task, _Plan(wanted, dict(fields), deferred), tasks,
                           jobs=jobs if len(tasks) > 1 else 1)
