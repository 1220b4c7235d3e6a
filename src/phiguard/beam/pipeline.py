"""The Beam pipeline of a scan. Imports apache_beam: loaded only when a Beam scan runs.

    files ─ReadFile─┬─ meta (per file: sha256, record count, latest time, projects, error)
                    ├─ errors (the first bad record of each file)
                    └─ units (one per record, keyed by asset name)
    units ─GroupByKey(name)─ResolveName─┬─ context pieces (broadcast join targets, policy owners)
                                        ├─ keyed join targets; bindings by member
                                        ├─ counts, errors (conflicting duplicates)
                                        └─ judge units (the record, its merged policies)
    context pieces ─ToList─BuildContext─ context (side input: one per run)
    judge units ─Judge(context, errors)─┬─ (shard key, (sort key, finding line)) + waiver counts
                                        └─ an asset reading keyed targets: its asks (join keys)
    keyed targets ─Offer─ offers; offers + asks + bindings ─CoGroupByKey(join key)─Pair─ pairs
    asking assets + their pairs ─CoGroupByKey(order)─JudgeKeyed─ findings + waiver counts
    findings ─GroupByKey(shard)─WriteShard─ <work>/findings/<shard>

The keyed join (phiguard.beam.joins) brings each asset exactly the join targets its rules may
read instead of broadcasting them all.

Validation comes first: Judge and BuildContext take the run's first error as a side input and
do nothing when there is one, and the driver raises it as the local engine would. See
docs/scale.md for what is broadcast and what is grouped.

Complete or absent: every element that crosses a stage boundary is counted where it is sent
(a Beam metrics counter) and where it arrives (a counter, or the count carried with the data:
Meta.received, the first error's count, the waiver sums); `check_run` compares them all before
the driver raises any error or writes anything, and fails naming the channel.
"""

from __future__ import annotations

import pickle
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from phiguard.beam.files import local_copy, read_items, sha256_of
from phiguard.beam.joins import Join, KeyPlan, asks, offers
from phiguard.config import Waiver
from phiguard.errors import InputError, PhiguardError, SnapshotError
from phiguard.findings import Finding
from phiguard.inventory._documents import RawItem
from phiguard.inventory._duplicates import content_entries, light_digest
from phiguard.inventory._envelopes import light_envelope, value_of
from phiguard.inventory._survey import Survey, survey
from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.records import (
    ACCESS_POLICY,
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    Record,
    access_objects,
    merge_records,
    parse_record,
)
from phiguard.inventory.refs import ref_key
from phiguard.inventory.scope import PhiConfig, ProjectIndex, Tenancy
from phiguard.inventory.snapshot import materialize
from phiguard.inventory.types import HIERARCHY_TYPES, NETWORK_PATHS, principals_of
from phiguard.policy.compiler import CompiledRule
from phiguard.policy.engine import Engine
from phiguard.policy.waivers import WaiverBook
from phiguard.report.json_report import finding_line

__all__ = ["ERRORS", "FINDINGS", "META", "WAIVERS", "Spec", "build", "check_run",
           "check_shards"]

SHARD_RECORDS = 20000  # records of one file per findings shard
FINDINGS, ERRORS, META, WAIVERS = "findings", "errors.pkl", "meta.pkl", "waivers.pkl"
# Counters of what each stage emits and receives; the driver compares them, and what the
# final consumers write (Meta.received, the errors and waivers pickles), in check_run.
METRICS = "phiguard"
JUDGED_LINES, WRITTEN_LINES, WRITTEN_SHARDS = "findings_judged", "findings_written", "shards"
JUDGED_UNITS, JUDGE_DELIVERED = "units_judged", "units_delivered"
UNITS_READ, UNITS_GROUPED, UNITS_TO_JUDGE = "units_read", "units_grouped", "units_to_judge"
FILES_READ, ERRORS_EMITTED, TAIL_DELIVERED = "files_read", "errors_emitted", "tail_delivered"
NO_CONTEXT = "context_missing"  # judging steps that ran without the broadcast context
HELD_EMITTED, OWNERS_EMITTED = "context_held", "context_owners"
BINDINGS_EMITTED, BINDINGS_GROUPED = "bindings_emitted", "bindings_grouped"
MEMBERS_EMITTED, PRINCIPALS_GROUPED = "members_emitted", "principals_grouped"
GRANTS_JOINED = "grants_joined"
TYPES_COUNTED, KINDS_EMITTED, MATCHES_EMITTED = "assets_counted", "kinds_emitted", "matches"
# The keyed join (see phiguard.beam.joins): join targets sent by ResolveName / taken by Offer;
# their (key, target) offers and the judged assets' (key, asset) asks, sent / grouped by key;
# the (asset, target) pairs sent / delivered; the assets with asks sent / delivered to
# JudgeKeyed; the bytes of the targets offered and of the pairs (the grouped data's size).
TARGETS_EMITTED, TARGETS_OFFERED = "targets_emitted", "targets_offered"
OFFERS_EMITTED, OFFERS_GROUPED = "offers_emitted", "offers_grouped"
ASKS_EMITTED, ASKS_GROUPED = "asks_emitted", "asks_grouped"
PAIRS_EMITTED, PAIRS_DELIVERED = "pairs_emitted", "pairs_delivered"
ASKERS_EMITTED, ASKERS_DELIVERED = "askers_emitted", "askers_delivered"
BINDINGS_KEYED = "bindings_keyed"  # bindings grouped by ("g", member) in the join by key
TARGET_BYTES, PAIR_BYTES = "target_bytes", "pair_bytes"
# Error classes, in the order the local engine meets them: pass 1 (a file's first bad
# record), conflicting duplicates, held policies that cannot merge, pass 2 (a judged record).
SURVEY, CONFLICT, MERGE, JUDGED = 0, 1, 2, 4


@dataclass
class Spec:
    """Everything the transforms need, pickled into every worker."""

    files: list[str]
    wanted: frozenset[str]  # types held whole: join targets and the hierarchy
    fields: dict[str, frozenset[str] | None]  # their `data` keys rules read (the projection)
    # Of `wanted`, the types held only to judge the grants on them (Engine.reach_only_types):
    # one is held only when its name carries an IAM policy, as the local engine's load_context.
    reach_only: frozenset[str]
    # The joins delivered by key (phiguard.beam.joins): of `wanted`, `keys.keyed` types are
    # grouped to the assets that ask for them, never broadcast.
    keys: KeyPlan
    types: frozenset[str]  # types rules name
    needs: frozenset[str] | None  # what makes any other asset a subject (Engine.any_type_needs)
    engine: Engine
    users: list[Asset]
    phi: PhiConfig
    missing: list[str]
    content: frozenset[str] | None
    gaps: tuple[tuple[str, str], ...]
    # the asset types the manifest says were collected (coverage.types_from_manifest)
    asset_types: frozenset[str]
    waivers: tuple[Waiver, ...]
    at: datetime | None
    manifest_time: datetime | None
    fallback_now: datetime
    organization: str | None
    work: str


_SPECS: dict[str, Spec] = {}  # per worker process: token -> the Spec, unpickled once


class SpecRef:
    """A Spec as the transforms carry it: pickled once, unpickled (and its rules compiled)
    once per worker process however many bundles and transforms use it."""

    def __init__(self, spec: Spec) -> None:
        self.token = uuid.uuid4().hex
        self.blob = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
        _SPECS[self.token] = spec

    def __getstate__(self) -> dict[str, Any]:
        return {"token": self.token}  # the blob travels once, as the "Spec" side input

    def get(self, blob: bytes) -> Spec:
        spec = _SPECS.get(self.token)
        if spec is None:
            _SPECS.clear()
            spec = _SPECS[self.token] = pickle.loads(blob)
        return spec


@dataclass
class ErrorAt:
    """A bad input, with where the local engine would meet it (its sort key)."""

    key: tuple[int, ...]
    message: str
    file: str | None
    line: int | None
    column: int | None

    @classmethod
    def of(cls, key: tuple[int, ...], exc: InputError) -> ErrorAt:
        return cls(key, exc.message, exc.file, exc.line, exc.column)

    def error(self) -> SnapshotError:
        return SnapshotError(self.message, file=self.file, line=self.line, column=self.column)


@dataclass
class FileMeta:
    number: int
    sha256: str
    records: int
    latest: datetime | None
    projects: list[tuple[str | None, str | None, dict[str, str], tuple[str, ...]]]
    tenancy: Tenancy = field(default_factory=Tenancy)  # the networks of each project's resources


@dataclass
class _Unit:
    """One record, as its asset name's group needs it."""

    file: int
    index: int
    line: int
    path: str
    asset_type: str
    entries: list[tuple[tuple[str, ...], bytes, str]]  # (content key, digest, what)
    piece: Record | None = None  # kept whole (policies, joined types), projected
    item: RawItem | None = None  # shipped when a rule may judge it
    value_kinds: frozenset[str] = frozenset()  # policy content the line itself carries
    deferred: ErrorAt | None = None  # a parse error that matters only if it is judged


@dataclass
class _Judge:
    order: tuple[int, ...]
    name: str
    item: RawItem | None = None
    policy: Record | None = None
    asset: Asset | None = None


@dataclass
class Context:
    """The broadcast side input: what every judged asset may join to."""

    token: str
    held: list[Asset]
    owners: list[Asset]  # hierarchy nodes' policies only
    projects: ProjectIndex
    now: datetime
    grants: dict[str, list[Grant]] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset()  # policy content some asset carries
    ranks: dict[str, tuple[int, ...]] = field(default_factory=dict)  # held: name -> order
    # the asset types of which the run counted a resource, keyed join targets included (the
    # local engine holds every resource of a type rules look for: each counts it collected)
    types: frozenset[str] = frozenset()
    tenancy: Tenancy = field(default_factory=Tenancy)  # every file's, as pass 1 gathers them


# One binding naming a member: (order of its policy, binding, member; the binding; the
# policy's owner without its body; the member as written).
GrantEntry = tuple[tuple[int, ...], dict[str, Any], Asset, str]
Grant = tuple[dict[str, Any], Asset, str]


@dataclass
class Meta:
    """What the driver needs for the run record, written by BuildContext."""

    files: list[FileMeta] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    latest: datetime | None = None
    now: datetime | None = None
    scope_warnings: list[str] = field(default_factory=list)
    content_missing: list[str] = field(default_factory=list)
    # What BuildContext received of each gathered channel (check_run compares it with what
    # the producers counted): "held", "owners", "grants", "kinds", "counted".
    received: dict[str, int] = field(default_factory=dict)
    broadcast_bytes: int = 0  # the pickled context every worker process unpickles


def _write(path: str, data: bytes) -> None:
    with FileSystems.create(path) as out:
        out.write(data)


def _count(name: str, n: int = 1) -> None:
    if n:
        Metrics.counter(METRICS, name).inc(n)


def _error_out(error: ErrorAt) -> Any:
    """A bad input on the errors channel, counted (check_run: emitted vs combined)."""
    _count(ERRORS_EMITTED)
    return beam.pvalue.TaggedOutput("errors", error)


# reading ------------------------------------------------------------------------------------


def _keyed(record: Record) -> list[tuple[tuple[str, ...], str]]:
    """(content key, what) of each duplicate-detection entry a record makes, in the order
    `content_entries` gives their digests: one per content type, one per access object."""
    out: list[tuple[tuple[str, ...], str]] = []
    for kind in sorted(record.kinds):
        if kind == ACCESS_POLICY:
            out.extend(((kind, group, own), f"{kind} {group} {own!r}")
                       for group, own, _ in access_objects(record.access_policy))
        else:
            out.append(((kind,), kind))
    return out


def _project(record: Record, fields: dict[str, frozenset[str] | None]) -> Record:
    keep = fields.get(record.asset_type)
    if keep is None or not record.data:
        return record
    return replace(record, data={k: v for k, v in record.data.items() if k in keep})


_IAM_KEYS, _ORG_KEYS = ("iam_policy", "iamPolicy"), ("org_policy", "orgPolicy")


class ReadFile(beam.DoFn):  # type: ignore[misc]
    """One input file: pass 1 exactly as the local engine surveys it (meta, first error),
    then every record as a unit keyed by its asset name."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, element: tuple[int, str], spec_blob: bytes) -> Iterator[Any]:
        number, path = element
        _count(FILES_READ)
        spec = self.ref.get(spec_blob)
        with local_copy(path) as (copy, digest):
            found = survey(read_items(copy, path), set(spec.wanted), Survey(path, -1, -1),
                           spec.fields)
            yield beam.pvalue.TaggedOutput("meta", FileMeta(
                number, digest or sha256_of(copy), found.records, found.latest,
                found.projects, found.tenancy))
            if found.error is not None:
                yield _error_out(ErrorAt.of((SURVEY, number, found.error.line or 0),
                                            found.error))
                return
            units = 0
            try:
                for item in read_items(copy, path):
                    keyed = self._unit(spec, number, item)
                    if isinstance(keyed, ErrorAt):
                        # Read on: a conflict further down is met first by the local
                        # engine (before pass 2), so it must be found here too.
                        yield _error_out(keyed)
                        continue
                    units += 1
                    yield keyed
            except InputError as exc:
                yield _error_out(ErrorAt.of((JUDGED, number, exc.line or 0), exc))
            _count(UNITS_READ, units)

    def _unit(self, spec: Spec, number: int, item: RawItem) -> tuple[str, _Unit] | ErrorAt:
        try:
            value = value_of(item)
        except SnapshotError as exc:
            return ErrorAt.of((JUDGED, number, item.line), exc)
        light = light_envelope(value, set(spec.wanted))
        record: Record | None = None
        deferred: ErrorAt | None = None
        try:
            record = parse_record(value, item.file, item.line)
        except SnapshotError as exc:
            if light is None:
                return ErrorAt.of((JUDGED, number, item.line), exc)
            deferred = ErrorAt.of((JUDGED, number, item.line), exc)
        if light is not None:
            name = light.name
            unit = _Unit(number, item.index, item.line, item.file, light.asset_type,
                         [((RESOURCE,), light_digest(light, item), RESOURCE)],
                         deferred=deferred)
        else:
            assert record is not None
            name = record.name
            digests = content_entries(record, item)
            keys = _keyed(record)
            unit = _Unit(number, item.index, item.line, item.file, record.asset_type,
                         [(key, digest, what) for (key, what), (_, _, digest)
                          in zip(keys, digests, strict=True)])
            if record.kinds != frozenset({RESOURCE}) or record.asset_type in spec.wanted:
                unit.piece = _project(record, spec.fields)
        if type(value) is dict:
            kinds = set()
            if any(k in value for k in _IAM_KEYS):
                kinds.add(IAM_POLICY)
            if any(k in value for k in _ORG_KEYS):
                kinds.add(ORG_POLICY)
            unit.value_kinds = frozenset(kinds)
        has_resource = record is None or RESOURCE in record.kinds
        if has_resource and (unit.asset_type in spec.types or spec.needs is not None):
            unit.item = item
        return name, unit


# grouping by asset name ---------------------------------------------------------------------


def _policy_part(record: Record, kinds: frozenset[str]) -> Record:
    return replace(record, kinds=kinds, data=None,
                   iam_policy=record.iam_policy if IAM_POLICY in kinds else None,
                   org_policy=record.org_policy if ORG_POLICY in kinds else None,
                   access_policy=record.access_policy if ACCESS_POLICY in kinds else None)


def _resource_part(record: Record) -> Record:
    return replace(record, kinds=frozenset({RESOURCE}), iam_policy=None, org_policy=None,
                   access_policy=None)


def _judged_anyway(unit: _Unit, policy: Record | None, needs: frozenset[str] | None) -> bool:
    if needs is None:
        return False
    if not needs:
        return True
    kinds = set(policy.kinds) if policy is not None else set()
    return bool((kinds | unit.value_kinds) & needs)


class ResolveName(beam.DoFn):  # type: ignore[misc]
    """Every record of one asset name: duplicates and conflicts, the policies merged in file
    order, the held join target, and what to judge."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, element: tuple[str, Iterable[_Unit]],
                spec_blob: bytes) -> Iterator[Any]:
        name, group = element
        spec = self.ref.get(spec_blob)
        units = sorted(group, key=lambda u: (u.file, u.index))
        Metrics.counter(METRICS, UNITS_GROUPED).inc(len(units))
        first: dict[tuple[str, ...], tuple[bytes, _Unit]] = {}
        repeated: set[tuple[int, int, str]] = set()
        skip: set[tuple[int, int]] = set()
        counts: Counter[str] = Counter()
        has_resource = False
        for unit in units:
            for position, (key, digest, what) in enumerate(unit.entries):
                kind = key[0]
                has_resource = has_resource or kind == RESOURCE
                prior = first.get(key)
                if prior is None:
                    first[key] = (digest, unit)
                    if kind == RESOURCE:
                        counts[unit.asset_type] += 1
                    continue
                repeated.add((unit.file, unit.index, kind))
                if kind == RESOURCE:
                    skip.add((unit.file, unit.index))
                if digest != prior[0]:
                    there = prior[1]
                    yield _error_out(ErrorAt(
                        (CONFLICT, unit.file, unit.index, position),
                        f"conflicting duplicate: {name} ({what}) differs from the record at "
                        f"{there.path}:{there.line}", unit.path, unit.line, None))
        _count(TYPES_COUNTED, sum(counts.values()))
        for asset_type, count in counts.items():
            yield beam.pvalue.TaggedOutput("counts", (asset_type, count))
        policy: Record | None = None
        policy_order: tuple[int, int] | None = None
        held: tuple[tuple[int, int], Record] | None = None
        for unit in units:
            record = unit.piece
            if record is None:
                continue
            new = {k for k in record.kinds
                   if k == ACCESS_POLICY or (unit.file, unit.index, k) not in repeated}
            kinds = frozenset(new - {RESOURCE})
            if kinds:
                part = _policy_part(record, kinds)
                try:
                    policy = merge_records(policy, part) if policy else part
                except SnapshotError as exc:
                    yield _error_out(ErrorAt.of((MERGE, unit.file, unit.index), exc))
                    return
                policy_order = policy_order or (unit.file, unit.index)
            if RESOURCE in new and record.asset_type in spec.wanted and held is None:
                held = ((unit.file, unit.index), _resource_part(record))
        if held is not None and held[1].asset_type in spec.reach_only and (
                policy is None or policy.iam_policy is None):
            held = None  # no grant on it: never asked whether one reaches PHI
        if held is not None:
            order, resource = held
            asset = (merge_records(resource, policy) if policy else resource).to_asset()
            if asset.asset_type in spec.keys.keyed:  # grouped to the assets that ask for it
                _count(TARGETS_EMITTED)
                yield beam.pvalue.TaggedOutput("targets", (order, asset))
            if asset.asset_type not in spec.keys.keyed or (
                    asset.iam_policy is not None and asset.asset_type in NETWORK_PATHS):
                # Broadcast; a keyed one too when a grant on it may reach PHI through its
                # network (`grants within: phi` reads its data, as the local engine's).
                _count(HELD_EMITTED)
                yield beam.pvalue.TaggedOutput("context", ("held", order, asset))
            # With the grants keyed, a held principal's grants reach the assets that ask for
            # them (JudgeKeyed); only the directory users' are gathered into the broadcast.
            members = [] if spec.keys.grants else principals_of(asset.asset_type, asset.data)
            _count(MEMBERS_EMITTED, len(members))
            for member in members:
                yield beam.pvalue.TaggedOutput("members", (member, True))
        if policy is not None and policy_order is not None:
            yield from _policy_outputs(policy.to_asset(), policy_order)
        for unit in units:
            if unit.item is None or (unit.file, unit.index) in skip:
                continue
            judged = (unit.asset_type in spec.types
                      or _judged_anyway(unit, policy, spec.needs))
            if not judged:
                continue
            if unit.deferred is not None:
                yield _error_out(unit.deferred)
                continue
            if policy is not None and policy.asset_type != unit.asset_type:
                try:  # raises what pass 2 of the local engine raises
                    materialize(unit.item, {name: policy}, frozenset(), spec.types, spec.needs)
                except SnapshotError as exc:
                    yield _error_out(ErrorAt.of((JUDGED, unit.file, unit.line), exc))
                    continue
            Metrics.counter(METRICS, UNITS_TO_JUDGE).inc()
            yield _Judge((0, unit.file, unit.index), name, item=unit.item, policy=policy)
        if not has_resource and policy is not None and policy_order is not None and (
                policy.asset_type in spec.types or spec.needs is not None):
            Metrics.counter(METRICS, UNITS_TO_JUDGE).inc()
            yield _Judge((1, *policy_order), name, asset=policy.to_asset())


def _policy_outputs(owner: Asset, order: tuple[int, int]) -> Iterator[Any]:
    """A merged policy: held whole when it is a hierarchy node's (the ancestors' policies
    every asset sees), else only as the bindings that name each member (joined by member to
    the principals: `grants`) and as the content types it shows (the coverage check)."""
    if owner.asset_type in HIERARCHY_TYPES:
        _count(OWNERS_EMITTED)
        yield beam.pvalue.TaggedOutput("context", ("owner", order, owner))
    kinds = [kind for kind, shown in ((IAM_POLICY, owner.iam_policy is not None),
                                      (ORG_POLICY, bool(owner.org_policy)),
                                      (ACCESS_POLICY, owner.access_policy is not None))
             if shown]
    _count(KINDS_EMITTED, len(kinds))
    for kind in kinds:
        yield beam.pvalue.TaggedOutput("kinds", kind)
    bindings = (owner.iam_policy or {}).get("bindings", ())
    if not bindings:
        return
    envelope = replace(owner, iam_policy=None, org_policy=(), access_policy=None)
    sent = 0
    for b, binding in enumerate(bindings):
        members = binding["members"]
        for m, member in enumerate(members if isinstance(members, list) else ()):
            if isinstance(member, str):
                entry: GrantEntry = ((*order, b, m), binding, envelope, member)
                sent += 1
                yield beam.pvalue.TaggedOutput("bindings", (member.lower(), entry))
    _count(BINDINGS_EMITTED, sent)


def _named_grants(element: Any) -> Iterator[tuple[str, list[GrantEntry]]]:
    """The bindings naming one member, when a principal in the snapshot is that member."""
    member, joined = element
    principals, bindings = list(joined["principals"]), list(joined["bindings"])
    _count(PRINCIPALS_GROUPED, len(principals))
    _count(BINDINGS_GROUPED, len(bindings))
    if principals and bindings:
        _count(GRANTS_JOINED, len(bindings))
        yield member, sorted(bindings, key=lambda entry: entry[0])


class _BeamInventory(Inventory):
    """The Inventory of a Beam worker: the policies of assets other than hierarchy nodes and
    join targets are not held; `grants` reads the bindings joined by member instead."""

    def __init__(self, *args: Any, grants: dict[str, list[Grant]],
                 ranks: dict[str, tuple[int, ...]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._joined_grants = grants
        self._ranks = ranks or {}

    def grants(self, asset: Asset, within: str = "all") -> list[Any] | UnknownValue:
        joined = self._joined_grants
        return self.grants_of((entry for member in principals_of(asset.asset_type, asset.data)
                               for entry in joined.get(member, ())), within)

    def rank(self, asset: Asset) -> tuple[int, ...]:
        """Where a held asset stands in the local engine's Inventory (its first-held order)."""
        return self._ranks.get(asset.name, (1 << 62,))


class _AssetInventory(_BeamInventory):
    """The broadcast Inventory plus one judged asset's keyed join targets: a type of
    `keyed` is read from the targets delivered to this asset, any other from the broadcast
    part (whose indexes are shared, built once per worker). Each keyed let finds among the
    delivered targets what it finds among all of the type's assets (phiguard.beam.joins)."""

    def __init__(self, base: _BeamInventory, targets: list[tuple[tuple[int, ...], Asset]],
                 keyed: frozenset[str], grants: dict[str, list[Grant]] | None = None) -> None:
        self.__dict__.update(base.__dict__)  # the broadcast part's state, shared
        self._base = base
        self._keyed = keyed
        self._asked_grants = grants or {}  # by member: the bindings naming it, in order
        self._by_key = {}
        self._by_type = defaultdict(list)
        self._by_name = {}
        self._ranks = {}
        for order, asset in targets:  # in the local engine's order: first held wins a key
            self._ranks[asset.name] = order
            self._add(asset)
        self._referrers = {}
        self._in_project = {}
        self._facts = {}
        self._owner_facts = {}

    def grants(self, asset: Asset, within: str = "all") -> list[Any] | UnknownValue:
        asked, joined = self._asked_grants, self._joined_grants
        return self.grants_of((entry for member in principals_of(asset.asset_type, asset.data)
                               for entry in (asked[member] if member in asked
                                             else joined.get(member, ()))), within)

    def _is_keyed(self, types: Iterable[str]) -> bool:
        return any(t in self._keyed for t in types)

    def get(self, name: str) -> Asset | None:
        return self._by_name.get(name) or self._base.get(name)

    def _first(self, key: str) -> Asset | None:
        mine, theirs = self._by_key.get(key), self._base._by_key.get(key)
        if mine is None or theirs is None:
            return mine or theirs
        return mine if self.rank(mine) < self._base.rank(theirs) else theirs

    def lookup(self, ref: str, types: Iterable[str] | None = None) -> Asset | None:
        key = ref_key(ref)
        asset = self._first(key)
        if asset is None:
            for alt in self._project_spellings(key):
                asset = self._first(alt)
                if asset is not None:
                    break
        if asset is not None and types is not None and asset.asset_type not in set(types):
            return None
        return asset

    def of_types(self, types: Iterable[str]) -> list[Asset]:
        out: list[Asset] = []
        for t in types:
            out.extend((self._by_type if t in self._keyed else self._base._by_type).get(t, ()))
        return out

    def _project_index(self, types: tuple[str, ...]) -> dict[str, list[Asset]]:
        if self._is_keyed(types):
            return super()._project_index(types)
        return self._base._project_index(types)

    def _referrer_index(self, types: tuple[str, ...], path: str) -> dict[str, list[Asset]]:
        if self._is_keyed(types):
            return super()._referrer_index(types, path)
        return self._base._referrer_index(types, path)


# the broadcast context ----------------------------------------------------------------------


class FirstError(beam.CombineFn):  # type: ignore[misc]
    """The run's first error (the local engine's order) and how many errors reached the
    combine: the count travels with the error, so the driver can compare it with what the
    producers emitted (a lost error must never let a bad snapshot be judged)."""

    def create_accumulator(self) -> tuple[ErrorAt | None, int]:
        return None, 0

    def add_input(self, acc: tuple[ErrorAt | None, int],
                  error: ErrorAt) -> tuple[ErrorAt | None, int]:
        first, count = acc
        return (error if first is None or error.key < first.key else first), count + 1

    def merge_accumulators(self, accs: Iterable[tuple[ErrorAt | None, int]]
                           ) -> tuple[ErrorAt | None, int]:
        found = list(accs)
        firsts = [first for first, _ in found if first is not None]
        return (min(firsts, key=lambda e: e.key) if firsts else None,
                sum(count for _, count in found))

    def extract_output(self, acc: tuple[ErrorAt | None, int]) -> tuple[ErrorAt | None, int]:
        return acc


def _first_of(gathered: tuple[ErrorAt | None, int]) -> ErrorAt | None:
    return gathered[0]


def _one(kind: str) -> tuple[str, int]:
    return kind, 1


class BuildContext(beam.DoFn):  # type: ignore[misc]
    """The one Context of the run (held join targets, policy owners, projects, the time of
    judgement) and the run's meta for the driver."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, pieces: list[tuple[str, tuple[int, ...], Asset]],
                metas: list[FileMeta], counts: list[tuple[str, int]],
                grants: list[tuple[str, list[GrantEntry]]], kinds: list[tuple[str, int]],
                error: ErrorAt | None, spec_blob: bytes) -> Iterator[tuple[str, bytes]]:
        spec = self.ref.get(spec_blob)
        metas = sorted(metas, key=lambda m: m.number)
        meta = Meta(files=metas)
        total: Counter[str] = Counter()
        for asset_type, count in counts:
            total[asset_type] += count
        meta.counts = dict(total)
        pieces_by = Counter(kind for kind, _, _ in pieces)
        meta.received = {"held": pieces_by["held"], "owners": pieces_by["owner"],
                         "grants": sum(len(entries) for _, entries in grants),
                         "kinds": sum(n for _, n in kinds), "counted": sum(total.values())}
        for m in metas:
            if m.latest is not None and (meta.latest is None or m.latest > meta.latest):
                meta.latest = m.latest
        if error is not None:
            _write(f"{spec.work}/{META}", pickle.dumps(meta))
            return
        projects = ProjectIndex()
        for m in metas:
            for number, id_, labels, ancestors in m.projects:
                projects.learn(number=number, project_id=id_, labels=labels or None,
                               ancestors=ancestors)
        tenancy = Tenancy()
        for m in metas:
            tenancy.update(m.tenancy)
        ranked = [(order, a) for kind, order, a in sorted(pieces, key=lambda p: p[1])
                  if kind == "held"]
        held = [a for _, a in ranked]
        owners = [a for kind, _, a in sorted(pieces, key=lambda p: p[1]) if kind == "owner"]
        now = spec.at or spec.manifest_time or meta.latest or spec.fallback_now
        table = {member: [(binding, owner, spelled) for _, binding, owner, spelled in entries]
                 for member, entries in grants}
        context = Context(uuid.uuid4().hex, held, owners, projects, now, table,
                          frozenset(kind for kind, _ in kinds),
                          {a.name: order for order, a in reversed(ranked)},
                          frozenset(t for t, n in total.items() if n), tenancy)
        blob = pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
        meta.broadcast_bytes = len(blob)
        inventory = _inventory(spec, pickle.loads(blob))
        meta.now = now
        meta.scope_warnings = inventory.scope.warnings()
        meta.content_missing = inventory.coverage.missing()
        _write(f"{spec.work}/{META}", pickle.dumps(meta))
        yield context.token, blob  # the token first: workers unpickle the blob once each


def _inventory(spec: Spec, context: Context) -> _BeamInventory:
    # The content types some policy shows count as collected, as every policy owner held in
    # the local engine's Inventory makes them count.
    content = frozenset(spec.content or ()) | context.kinds
    return _BeamInventory([*context.held, *spec.users], phi=spec.phi, policies=context.owners,
                          projects=context.projects, missing_sources=spec.missing,
                          content=content, content_gaps=spec.gaps, grants=context.grants,
                          ranks=context.ranks, asset_types=spec.asset_types | context.types,
                          tenancy=context.tenancy)


_CACHE: dict[str, tuple[_BeamInventory, datetime]] = {}  # per worker process: token -> built


def _context(spec: Spec, shared: tuple[str, bytes]) -> tuple[_BeamInventory, datetime]:
    """The Inventory of this run in this worker, built once from the broadcast blob."""
    token, blob = shared
    found = _CACHE.get(token)
    if found is None:
        context: Context = pickle.loads(blob)
        inventory = _inventory(spec, context)
        # Every lazy index built now, once, before the worker's threads share it.
        spec.engine.warm(inventory)
        _CACHE.clear()
        found = _CACHE[token] = (inventory, context.now)
    return found


# judging ------------------------------------------------------------------------------------


def _prepared(ref: SpecRef, blob: tuple[str, bytes] | None, error: ErrorAt | None,
              spec_blob: bytes) -> tuple[Spec, _BeamInventory, datetime] | None:
    """The run's spec and this worker's Inventory and time, or None when the step has nothing
    to do: the run already failed (its first error), or the broadcast context is absent.
    BuildContext writes one whenever there is no error, so an absent one was lost: counted
    (NO_CONTEXT), and the driver refuses the run (check_run); no worker retries."""
    if error is not None:
        return None
    if blob is None:
        _count(NO_CONTEXT)
        return None
    spec = ref.get(spec_blob)
    inventory, now = _context(spec, blob)
    return spec, inventory, now


def _shard(order: tuple[int, ...]) -> tuple[int, int, int]:
    if order[0] <= 1:
        return order[0], order[1], order[2] // SHARD_RECORDS
    return order[0], 0, 0


def _judged(spec: Spec, book: WaiverBook, order: tuple[int, ...],
            found: list[Finding]) -> Iterator[Any]:
    _count(JUDGED_LINES, len(found))
    for n, finding in enumerate(found):
        before = list(book.matched)
        finding = book.apply(finding)
        for i, (was, now) in enumerate(zip(before, book.matched, strict=True)):
            if now != was:
                _count(MATCHES_EMITTED, now - was)
                yield beam.pvalue.TaggedOutput("matched", (i, now - was))
        yield _shard(order), ((*order, n), finding_line(finding))


_SPLIT: dict[str, tuple[Engine, Engine, dict[str, CompiledRule], dict[str, list[Join]]]] = {}


def _split(token: str, spec: Spec) -> tuple[Engine, Engine, dict[str, CompiledRule],
                                             dict[str, list[Join]]]:
    """Per worker process, once: the rules with a keyed join (judged against the asset's own
    targets) and the others (against the broadcast part alone), as two Engines, with the
    keyed rules by id and the keyed joins by asset type judged."""
    found = _SPLIT.get(token)
    if found is None:
        state = spec.engine.__getstate__()
        keyed_rules = spec.keys.rules

        def engine(rules: Iterable[Any]) -> Engine:
            return Engine(rules, params=state["params"], enable=state["enable"],
                          disable=state["disable"])

        keyed = engine(r for r in state["rules"] if r.id in keyed_rules)
        plain = engine(r for r in state["rules"] if r.id not in keyed_rules)
        by_id = {cr.rule.id: cr for cr in keyed.rules}
        _SPLIT.clear()
        found = _SPLIT[token] = (keyed, plain, by_id, {})
    return found


def _joins_for(token: str, spec: Spec, asset_type: str) -> list[Join]:
    keyed, _, _, by_type = _split(token, spec)
    joins = by_type.get(asset_type)
    if joins is None:
        by_rule = spec.keys.by_rule()
        joins = by_type[asset_type] = [j for cr in keyed.rules_for(asset_type)
                                       for j in by_rule.get(cr.rule.id, ())]
    return joins


class Judge(beam.DoFn):  # type: ignore[misc]
    """Judge one asset with the same Engine, against the broadcast context; an asset whose
    rules read keyed join targets (phiguard.beam.joins) is sent on with the keys it asks for,
    to be judged where its targets meet it (JudgeKeyed)."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, unit: _Judge, blob: tuple[str, bytes] | None, error: ErrorAt | None,
                spec_blob: bytes) -> Iterator[Any]:
        _count(JUDGE_DELIVERED)  # first: a loss is "never delivered" or "delivered, dropped"
        ready = _prepared(self.ref, blob, error, spec_blob)
        if ready is None:
            return
        spec, inventory, now = ready
        if unit.asset is not None:
            asset: Asset | None = unit.asset
        else:
            assert unit.item is not None
            policies = {unit.name: unit.policy} if unit.policy is not None else {}
            asset = materialize(unit.item, policies, frozenset(), spec.types, spec.needs)
        if asset is None:
            _count(JUDGED_UNITS)
            return
        joins = _joins_for(self.ref.token, spec, asset.asset_type)
        keys = asks(inventory, joins, _split(self.ref.token, spec)[2], asset, now) if joins \
            else set()
        if keys:
            # Every keyed let of its rules finds nothing without these keys' targets, so an
            # asset that asks for none is judged here, against the broadcast part alone.
            _count(ASKERS_EMITTED)
            _count(ASKS_EMITTED, len(keys))
            yield beam.pvalue.TaggedOutput("askers", (unit.order, asset))
            for key in keys:
                yield beam.pvalue.TaggedOutput("asks", (key, unit.order))
            return
        _count(JUDGED_UNITS)
        book = WaiverBook(spec.waivers, now)
        yield from _judged(spec, book, unit.order,
                           spec.engine.evaluate_asset(asset, inventory, now))


class Offer(beam.DoFn):  # type: ignore[misc]
    """A keyed join target, under every key it answers to (phiguard.beam.joins.offers)."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, target: tuple[tuple[int, ...], Asset], blob: tuple[str, bytes] | None,
                error: ErrorAt | None, spec_blob: bytes) -> Iterator[Any]:
        _count(TARGETS_OFFERED)
        ready = _prepared(self.ref, blob, error, spec_blob)
        if ready is None:
            return
        spec, inventory, _ = ready
        order, asset = target
        joins = spec.keys.by_type().get(asset.asset_type, ())
        keys = offers(inventory, joins, asset)
        size = len(pickle.dumps(asset, protocol=pickle.HIGHEST_PROTOCOL))
        _count(TARGET_BYTES, size)
        _count(OFFERS_EMITTED, len(keys))
        for key in keys:
            yield key, (order, asset, size)


def _binding_key(element: tuple[str, GrantEntry]) -> tuple[tuple[str, str], GrantEntry]:
    member, entry = element
    return ("g", member), entry


def _paired(element: Any) -> Iterator[tuple[tuple[int, ...], Any]]:
    """The targets offered under one key, to every asset that asked for it: as (order,
    target), or for the key of a member ("g", member), each binding naming it as ("g",
    binding entry)."""
    _, joined = element
    askers, targets = list(joined["asks"]), list(joined["offers"])
    bindings = list(joined.get("bindings", ()))
    _count(ASKS_GROUPED, len(askers))
    _count(OFFERS_GROUPED, len(targets))
    _count(BINDINGS_KEYED, len(bindings))
    if not askers:
        return
    if targets:
        _count(PAIRS_EMITTED, len(askers) * len(targets))
        _count(PAIR_BYTES, len(askers) * sum(size for _, _, size in targets))
        for asker in askers:
            for order, asset, _ in targets:
                yield asker, (order, asset)
    if bindings:
        _count(PAIRS_EMITTED, len(askers) * len(bindings))
        _count(PAIR_BYTES, len(askers) * len(pickle.dumps(bindings,
                                                         protocol=pickle.HIGHEST_PROTOCOL)))
        for asker in askers:
            for entry in bindings:
                yield asker, ("g", entry)


class JudgeKeyed(beam.DoFn):  # type: ignore[misc]
    """Judge one asset that asked for keyed join targets, with the targets it was sent: the
    rules with a keyed join against the broadcast part plus those targets, the others against
    the broadcast part alone (each rule reads the same as in the local engine's Inventory)."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, element: tuple[tuple[int, ...], dict[str, Iterable[Any]]],
                blob: tuple[str, bytes] | None, error: ErrorAt | None,
                spec_blob: bytes) -> Iterator[Any]:
        order, joined = element
        askers = list(joined["asker"])
        sent = list(joined["targets"])
        _count(ASKERS_DELIVERED, len(askers))
        _count(PAIRS_DELIVERED, len(sent))
        # No asker: counted missing by check_run (askers sent / delivered).
        if not askers:
            return
        ready = _prepared(self.ref, blob, error, spec_blob)
        if ready is None:
            return
        spec, base, now = ready
        keyed, plain, _, _ = _split(self.ref.token, spec)
        targets: dict[tuple[int, ...], Asset] = {}
        entries: list[GrantEntry] = []
        for at, value in sent:
            if at == "g":  # a binding naming one of the asset's members
                entries.append(value)
            else:  # a target may match several of the asset's keys
                targets.setdefault(at, value)
        asked: dict[str, list[Grant]] = {}
        for _, binding, owner, spelled in sorted(entries, key=lambda entry: entry[0]):
            asked.setdefault(spelled.lower(), []).append((binding, owner, spelled))
        inventory = _AssetInventory(base, sorted(targets.items(), key=lambda t: t[0]),
                                    spec.keys.keyed, asked)
        book = WaiverBook(spec.waivers, now)
        for asset in askers:
            _count(JUDGED_UNITS)
            found = [*keyed.evaluate_asset(asset, inventory, now),
                     *plain.evaluate_asset(asset, base, now)]
            found.sort(key=lambda f: f.rule_id)  # evaluate_asset's order: by rule id
            yield from _judged(spec, book, order, found)


class JudgeTail(beam.DoFn):  # type: ignore[misc]
    """Directory users, then the rules no source in the snapshot can answer."""

    def __init__(self, spec: SpecRef) -> None:
        self.ref = spec

    def process(self, _: Any, blob: tuple[str, bytes] | None, error: ErrorAt | None,
                spec_blob: bytes) -> Iterator[Any]:
        _count(TAIL_DELIVERED)  # its one element: users and missing sources judged once
        ready = _prepared(self.ref, blob, error, spec_blob)
        if ready is None:
            return
        spec, inventory, now = ready
        book = WaiverBook(spec.waivers, now)
        for i, user in enumerate(spec.users):
            if user.asset_type not in spec.types and spec.needs is None:
                continue
            yield from _judged(spec, book, (2, i),
                               spec.engine.evaluate_asset(user, inventory, now))
        yield from _judged(spec, book, (3,),
                           spec.engine.missing_source_findings(inventory, spec.organization))


class WriteShard(beam.DoFn):  # type: ignore[misc]
    """One shard of findings lines, in the local engine's order."""

    def __init__(self, work: str) -> None:
        self.work = work

    def process(self, element: tuple[tuple[int, int, int], Iterable[Any]]) -> Iterator[str]:
        (major, file, chunk), lines = element
        ordered = sorted(lines, key=lambda pair: pair[0])
        name = f"{self.work}/{FINDINGS}/{major}-{file:07d}-{chunk:09d}.ndjson"
        _write(name, "".join(line + "\n" for _, line in ordered).encode())
        _count(WRITTEN_LINES, len(ordered))
        _count(WRITTEN_SHARDS)
        yield name


def _write_pickle(path: str) -> Any:
    def write(value: Any) -> None:
        _write(path, pickle.dumps(value))
    return write


def build(p: beam.Pipeline, spec: Spec) -> None:
    """The scan's transforms on pipeline `p`; results land under `spec.work`."""
    ref = SpecRef(spec)
    given = beam.pvalue.AsSingleton(p | "Spec" >> beam.Create([ref.blob]))
    read = (p
            | "Files" >> beam.Create(list(enumerate(spec.files)))
            | "Spread files" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(ReadFile(ref), spec_blob=given).with_outputs(
                "meta", "errors", main="units"))
    resolved = (read.units
                | "By asset name" >> beam.GroupByKey()
                | "Resolve" >> beam.ParDo(ResolveName(ref), spec_blob=given).with_outputs(
                    "context", "counts", "errors", "bindings", "members", "kinds", "targets",
                    main="judge"))
    user_members = _user_members(spec)
    principals = ((resolved.members, p | "User members" >> beam.Create(user_members))
                  | "All principals" >> beam.Flatten())
    grants = ({"bindings": resolved.bindings, "principals": principals}
              | "By member" >> beam.CoGroupByKey()
              | "Grants of principals" >> beam.FlatMap(_named_grants)
              | "Gather grants" >> beam.combiners.ToList())
    kinds = (resolved.kinds | "Each kind" >> beam.Map(_one)
             | "Content kinds" >> beam.CombinePerKey(sum)  # (kind, how many): counted
             | "Gather kinds" >> beam.combiners.ToList())
    gathered = ((read.errors, resolved.errors)
                | "All errors" >> beam.Flatten()
                | "First error" >> beam.CombineGlobally(FirstError()))
    gathered | "Write errors" >> beam.Map(_write_pickle(f"{spec.work}/{ERRORS}"))
    first = beam.pvalue.AsSingleton(gathered | "The error" >> beam.Map(_first_of))
    pieces = resolved.context | "Gather context" >> beam.combiners.ToList()
    metas = read.meta | "Gather meta" >> beam.combiners.ToList()
    counts = (resolved.counts | "Count types" >> beam.CombinePerKey(sum)
              | "Gather counts" >> beam.combiners.ToList())
    context = pieces | "Context" >> beam.ParDo(
        BuildContext(ref), beam.pvalue.AsSingleton(metas), beam.pvalue.AsSingleton(counts),
        beam.pvalue.AsSingleton(grants), beam.pvalue.AsSingleton(kinds), first,
        spec_blob=given)
    blob = beam.pvalue.AsSingleton(context, default_value=None)
    judged = (resolved.judge
              | "Judge" >> beam.ParDo(Judge(ref), blob, first, spec_blob=given).with_outputs(
                  "matched", "asks", "askers", main="findings"))
    # The keyed join: targets under the keys they answer to meet the assets' asks by key,
    # then each asking asset meets the targets sent to it (by its order) and is judged.
    offered = resolved.targets | "Offer" >> beam.ParDo(Offer(ref), blob, first,
                                                       spec_blob=given)
    keyed_bindings = resolved.bindings | "Bindings by key" >> beam.Map(_binding_key)
    pairs = ({"asks": judged.asks, "offers": offered, "bindings": keyed_bindings}
             | "By join key" >> beam.CoGroupByKey()
             | "Pair" >> beam.FlatMap(_paired))
    keyed = ({"asker": judged.askers, "targets": pairs}
             | "By asking asset" >> beam.CoGroupByKey()
             | "Judge keyed" >> beam.ParDo(JudgeKeyed(ref), blob, first,
                                           spec_blob=given).with_outputs("matched",
                                                                         main="findings"))
    tail = (p | "Tail" >> beam.Create([None])
            | "Judge tail" >> beam.ParDo(JudgeTail(ref), blob, first,
                                         spec_blob=given).with_outputs("matched",
                                                                       main="findings"))
    ((judged.findings, keyed.findings, tail.findings)
     | "All findings" >> beam.Flatten()
     | "By shard" >> beam.GroupByKey()
     | "Write shards" >> beam.ParDo(WriteShard(spec.work)))
    ((judged.matched, keyed.matched, tail.matched)
     | "All waiver matches" >> beam.Flatten()
     | "Sum matches" >> beam.CombinePerKey(sum)
     | "Gather matches" >> beam.combiners.ToList()
     | "Write matches" >> beam.Map(_write_pickle(f"{spec.work}/{WAIVERS}")))


def load(path: str) -> Any:
    """A pickle the pipeline wrote (None when it wrote none)."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as fh:
        return pickle.loads(fh.read())


def _shard_names(work: str) -> list[str]:
    pattern = f"{work}/{FINDINGS}/*.ndjson"
    names = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    return sorted(names, key=lambda n: Path(n).name)


def shard_lines(work: str) -> Iterator[str]:
    """Every findings line, shards in key order (the local engine's order)."""
    for name in _shard_names(work):
        with FileSystems.open(name) as fh:
            for raw in fh.read().decode().split("\n"):
                if raw:
                    yield raw


def _counter(result: Any, name: str) -> int | None:
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_namespace(METRICS).with_name(name))
    counters = found.get("counters", [])
    if not counters:
        return None
    total = 0
    for counter in counters:
        value = counter.committed if counter.committed is not None else counter.attempted
        total += int(value or 0)
    return total


_INCOMPLETE = ("no findings were written: the scan is incomplete, rerun it (or use "
               "--engine local)")


def _user_members(spec: Spec) -> list[tuple[str, bool]]:
    """The directory users as principals of the grants join (the driver counts them too)."""
    return [(m, True) for user in spec.users for m in principals_of(user.asset_type, user.data)]


def _lost_between(result: Any, spec: Spec, meta: Meta | None,
                  errors: tuple[ErrorAt | None, int] | None,
                  matches: list[tuple[int, int]] | None) -> list[str]:
    """Every channel between two stages whose receiving side got fewer (or more) elements than
    its sending side counted, as `channel: what was sent, what arrived (how many missing)`."""
    def count(name: str) -> int:
        return _counter(result, name) or 0  # absent: nothing counted

    lost: list[str] = []

    def hop(channel: str, sent: int, sent_as: str, got: int, got_as: str,
            why: str = "") -> None:
        if sent != got:
            gap = sent - got
            lost.append(f"{channel}: {sent:,} {sent_as}, {got:,} {got_as} ("
                        + (f"{gap:,} missing{why}" if gap > 0 else f"{-gap:,} extra") + ")")

    files = len(spec.files)
    hop("input files", files, "given", count(FILES_READ), "read")
    hop("records", count(UNITS_READ), "read", count(UNITS_GROUPED), "grouped by asset name")
    if errors is None:
        lost.append("errors: the first-error result was never written")
    else:
        hop("errors", count(ERRORS_EMITTED), "found", errors[1], "reached the first-error "
            "combine")
    hop("bindings", count(BINDINGS_EMITTED), "sent to the join by member",
        count(BINDINGS_GROUPED), "grouped by member")
    hop("principals", count(MEMBERS_EMITTED) + len(_user_members(spec)),
        "sent to the join by member", count(PRINCIPALS_GROUPED), "grouped by member")
    if meta is None:
        lost.append("context: the context was never built (no run metadata written)")
    else:
        got = meta.received
        numbers = [m.number for m in meta.files]
        hop("file metadata", files, "files given", len(numbers), "reached the context")
        if len(numbers) == files and numbers != list(range(files)):
            lost.append("file metadata: some files' metadata arrived twice, others never")
        hop("join targets", count(HELD_EMITTED), "sent to the context", got.get("held", 0),
            "arrived")
        hop("hierarchy policies", count(OWNERS_EMITTED), "sent to the context",
            got.get("owners", 0), "arrived")
        hop("grants", count(GRANTS_JOINED), "joined by member", got.get("grants", 0),
            "reached the context")
        hop("asset type counts", count(TYPES_COUNTED), "assets counted",
            got.get("counted", 0), "reached the run metadata")
        hop("content kinds", count(KINDS_EMITTED), "policy contents sent",
            got.get("kinds", 0), "reached the coverage check")
    if errors is not None and errors[0] is None and (missing := count(NO_CONTEXT)):
        lost.append(f"context: {missing:,} judging steps ran without the broadcast context "
                    "(it never reached them)")
    hop("assets to judge", count(UNITS_TO_JUDGE), "sent to judging",
        count(JUDGE_DELIVERED), "delivered to Judge", ": never delivered")
    hop("keyed join targets", count(TARGETS_EMITTED), "sent to the join by key",
        count(TARGETS_OFFERED), "offered")
    hop("join offers", count(OFFERS_EMITTED), "sent to the join by key",
        count(OFFERS_GROUPED), "grouped by key")
    hop("join asks", count(ASKS_EMITTED), "sent to the join by key",
        count(ASKS_GROUPED), "grouped by key")
    hop("bindings (join by key)", count(BINDINGS_EMITTED), "sent to the join by key",
        count(BINDINGS_KEYED), "grouped by key")
    hop("join pairs", count(PAIRS_EMITTED), "targets sent to asking assets",
        count(PAIRS_DELIVERED), "delivered")
    hop("asking assets", count(ASKERS_EMITTED), "sent to be judged with their targets",
        count(ASKERS_DELIVERED), "delivered", ": never delivered")
    hop("judging of users and missing sources", 1, "started", count(TAIL_DELIVERED),
        "delivered")
    if matches is None:
        lost.append("waiver matches: the matches were never written")
    else:
        hop("waiver matches", count(MATCHES_EMITTED), "matched",
            sum(n for _, n in matches), "reached the waiver report")
    return lost


def sizes(result: Any, meta: Meta) -> dict[str, int]:
    """What the run broadcast and grouped for the keyed join (bytes, counts)."""
    names = {"broadcast_bytes": None, "keyed_targets": TARGETS_EMITTED,
             "keyed_target_bytes": TARGET_BYTES, "offers": OFFERS_EMITTED,
             "asks": ASKS_EMITTED, "asking_assets": ASKERS_EMITTED, "pairs": PAIRS_EMITTED,
             "pair_bytes": PAIR_BYTES, "broadcast_targets": HELD_EMITTED,
             "grants": GRANTS_JOINED}
    return {name: meta.broadcast_bytes if counter is None else _counter(result, counter) or 0
            for name, counter in names.items()}


def check_run(result: Any, spec: Spec, meta: Meta | None,
              errors: tuple[ErrorAt | None, int] | None,
              matches: list[tuple[int, int]] | None) -> int:
    """Raise unless every element that crossed a stage boundary of the run arrived: input
    files, records, errors, bindings and principals, the context's pieces, type counts,
    content kinds, file metadata, assets to judge, waiver matches; then, when the run judged
    (no bad input), the findings (check_shards). Called before the run's first error is
    raised: a lost error may hide the bad input, or name another one. Returns the number of
    findings lines in the shards (0 for a run with bad input)."""
    lost = _lost_between(result, spec, meta, errors, matches)
    if lost:
        raise PhiguardError("the Beam pipeline lost elements between stages: "
                            + "; ".join(lost) + "; " + _INCOMPLETE)
    if errors is not None and errors[0] is None:
        return check_shards(result, spec.work)
    return 0


def check_shards(result: Any, work: str) -> int:
    """Raise unless every asset delivered to Judge was judged and the findings shards under
    `work` hold every line the run judged: a runner that loses elements or overwrites part of
    a shard must never pass for a complete scan. Only for a run without bad input (Judge
    judges nothing when there is one). Returns the number of lines the shards hold."""
    delivered, judged_units = _counter(result, JUDGE_DELIVERED) or 0, (
        _counter(result, JUDGED_UNITS) or 0)
    if delivered != judged_units:
        raise PhiguardError(
            f"the Beam pipeline lost records: {delivered:,} assets were delivered to judging, "
            f"{judged_units:,} judged ({delivered - judged_units:,} missing: delivered and "
            f"dropped); {_INCOMPLETE}")
    judged = _counter(result, JUDGED_LINES) or 0
    written = _counter(result, WRITTEN_LINES) or 0
    calls = _counter(result, WRITTEN_SHARDS) or 0
    names = _shard_names(work)
    read = sum(1 for _ in shard_lines(work))
    if judged == written == read and calls == len(names):
        return read
    missing = judged - read
    raise PhiguardError(
        f"the Beam pipeline lost findings: {judged:,} findings lines were judged, "
        f"{written:,} written in {calls:,} shard writes, but the {len(names):,} shard files "
        f"under {work}/{FINDINGS} hold {read:,} ("
        + (f"{missing:,} missing" if missing > 0 else f"{-missing:,} extra")
        + f"); {_INCOMPLETE}")
