"""A scan: snapshot files + rule pack + config in, a stream of findings out.

Pass 1 builds the Inventory of join targets (serially, reading most records by envelope only);
pass 2 streams every record through the engine, in worker processes when `jobs > 1`. Workers
read uncompressed NDJSON shards themselves from byte offsets found in pass 1, apply waivers,
tally, and (for JSON output) serialize their findings, so the parent only stitches results
together in order. Order is stable either way: files sorted, records in file order, rules by
id; the same inputs give byte-identical output whatever `jobs` is.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, cast

from phiguard import __version__
from phiguard._util import stages
from phiguard._util.parallel import (
    available_memory,
    busy_cpus,
    can_fork,
    long_lived_heap,
    ordered_map,
    parent_working,
    release_free_memory,
    usable_cpus,
)
from phiguard._util.times import format_time
from phiguard.config import Config, Waiver
from phiguard.errors import UsageError
from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import Asset
from phiguard.inventory.coverage import asset_types_missing, run_coverage, types_sought
from phiguard.inventory.readers import (
    RawItem,
    SnapshotFiles,
    discover,
    is_plain_ndjson,
    iter_ndjson_range,
    iter_picked,
    iter_raw,
)
from phiguard.inventory.snapshot import (
    LoadedContext,
    Picks,
    load_context,
    materialize,
    picked_assets,
)
from phiguard.policy.engine import Engine
from phiguard.policy.rule import RulePack
from phiguard.policy.waivers import WaiverBook
from phiguard.report.json_report import finding_bytes, write_footer, write_header, write_utf8
from phiguard.report.summary import Tally

__all__ = ["Scan", "auto_jobs", "auto_survey_jobs", "default_jobs", "long_lived_heap"]

_T = TypeVar("_T")

CHUNK = 2000  # records per task when the parent reads them (gzip, JSON documents)
NOTABLE_PER_TASK = 500
# Workers are replaced after this many tasks: their heaps, and the pages they copied from the
# parent, go back to the system instead of growing through a long scan. Only past
# RECYCLE_ABOVE_BYTES of plain NDJSON: each new worker copies again the pages it touches
# (at 200k assets, 262 MiB, a worker kept to the end: 15.1-16.1 CPU s and 558-573 MiB tree
# PSS; replaced every 4 tasks: 17.3-17.4 CPU s, 512-521 MiB; load 6-7.5). Since a worker is
# forked after the parent's first task (FIRST_HERE) it copies far less (1M: 60 MiB after one
# task, 82 after 4, 111 after 12), and every 8 tasks halves the time the parent's worker
# spends being replaced (1M, the parent and one worker: 3.9 s of a 22 s judging pass every 4
# tasks, 1.4 s every 8).
MAX_TASKS_PER_WORKER = 8
# Results handed out ahead of the oldest one not yet written (ordered_map's window): with the
# parent working, a worker holding the oldest task otherwise waits for its next while the
# parent's later results fill the window (1M: the judging pass 25.3 s with 4, 20.3 with 8, one
# process 31-32 s; each result a task's findings, about 5 MiB of JSON).
WINDOW = 8
RECYCLE_ABOVE_BYTES = 384 * 2**20
# Tasks of the judging pass this process runs before it forks a worker: what the rules build
# on first use (a `find`'s candidates and its index by key, lets computed once per scan) is
# then built here once and shared, instead of built again in every worker, each copying the
# pages of every candidate it walks (at 100k assets a fresh worker's first task copied 58.7
# MiB, 18.2 of them other projects' held assets; after one task here, 32.0 and 1.2).
FIRST_HERE = 1
# Past this much plain NDJSON, the memory pass 1 freed is given back before pass 2.
TRIM_ABOVE_BYTES = 64 * 2**20

# `jobs=0` (the CLI's default): how many processes the machine and the work allow (auto_jobs).
AUTO_MAX_JOBS = 4  # measured on 2 CPUs only: no more without evidence that it helps
# Plain NDJSON per process (8 MiB byte ranges): 13 MiB (10k assets) ran no faster with two,
# 50 MiB (40k) sometimes faster, 128 MiB (100k, idle machine) 1.5x faster when each asset
# cost more; after the per-asset work got cheaper, 125 MiB (100k, idle) ran slower with two
# (5.42 s against 5.11 s) and 250 MiB (200k) faster (8.7 against 15.9 s, earlier code).
AUTO_BYTES_PER_JOB = 96 * 2**20
AUTO_FREE_CPU = 0.5  # a process for each CPU at least this idle
# Past this, no more than AUTO_MAX_JOBS_LARGE: each worker copies the pages of the shared heap
# it touches, which grow with the organization. Measured on 2 idle CPUs, one process against
# two workers (the parent idle, every worker walking every candidate of the rules' finds):
# 262 MiB (200k assets) 15.9 -> 8.7 s; 622 MiB (500k) 27.9 -> 22.0 s; 1,247 MiB (1M) 58.8 ->
# 61.2 s, 57.7 -> 85.4 CPU s and 874 -> 1,389 MiB tree PSS. The parent working beside one
# worker forked after the parent's first task (FIRST_HERE): at 1M a fresh worker copies 60 MiB
# in its first task, 82 after 4, 111 after 12 (cow_probe.py; 262 / ~300 before), for the CPU
# of a worker kept to the end (3.51 against 3.33 CPU s for 12 tasks), and the whole scan
# peaked at 833-841 MiB tree PSS (one process: 723) with findings byte-identical.
AUTO_MAX_BYTES = 768 * 2**20
AUTO_MAX_JOBS_LARGE = 2
# Memory, as multiples of the snapshot's plain NDJSON bytes (peak PSS of the 200k / 1M
# benchmark orgs: 1.0 / 0.67 for one process, 0.44 / 0.21 more for each worker).
AUTO_MEMORY_FIRST = 1.0
AUTO_MEMORY_PER_WORKER = 0.5
SURVEY_MEMORY = 0.1  # ... and pass 1's worker (a range's survey at a time)
# Pass 1 in two processes costs 35-45 % more CPU (each range the worker surveys is pickled
# there and unpickled here): only on CPUs this idle. At 1M with 1.4-2.4 CPUs of other work
# (forced) its wall was 19.2 s against 14.3 s for one process.
SURVEY_MAX_BUSY = 0.2

# A task: (file, byte offset, lines before, records before, end offset, the records to read
# in it or None for all) of an uncompressed NDJSON shard, which the worker reads itself; or
# records the parent read.
Task = tuple[str, int, int, int, int, Picks | None] | list[RawItem]


@dataclass
class _State:
    engine: Engine
    loaded: LoadedContext
    types: frozenset[str]
    needs: frozenset[str] | None
    now: datetime
    waivers: tuple[Waiver, ...]
    mode: str  # "objects" | "json" | "tally"
    timed: bool = False  # PHIGUARD_STAGE_TIMES: split each task's time by stage (_run_timed)
    pid: int = field(default_factory=os.getpid)  # the scan's own process


@dataclass
class _Result:
    tally: Tally
    matched: list[int]
    findings: list[Finding] = field(default_factory=list)
    # the findings JSON lines, UTF-8, joined by ",\n"
    text: bytearray = field(default_factory=bytearray)
    stages: dict[str, tuple[float, float]] | None = None  # (wall, CPU) by stage, when timed
    by_worker: bool = False  # judged in a worker process, not the scan's own


def _items(task: Task) -> Iterator[RawItem]:
    if isinstance(task, list):
        return iter(task)
    file, offset, lines, records, end, picks = task
    if picks is not None:
        return iter_picked(Path(file), offset, lines, records, end, *picks)
    return iter_ndjson_range(Path(file), offset, lines, records, end)


def _collect(state: _State, findings: Iterable[Finding]) -> _Result:
    """Waivers applied, tallied, and kept as objects or serialized, as the mode asks."""
    book = WaiverBook(state.waivers, state.now)
    result = _Result(Tally(keep=NOTABLE_PER_TASK), book.matched)
    add = result.tally.add
    waive = book.apply if state.waivers else None
    if state.mode == "json":
        # Each line is copied into one buffer at once: orjson's own bytes, kept until the
        # task ends, fragment the heap (+40 MiB peak at 200k assets against this).
        text = result.text
        sep = b""
        for finding in findings:
            if waive is not None and finding.outcome is _FAIL:
                finding = waive(finding)
            add(finding)
            text += sep
            text += finding_bytes(finding)
            sep = b",\n"
    elif state.mode == "objects":
        keep = result.findings.append
        for finding in findings:
            if waive is not None and finding.outcome is _FAIL:
                finding = waive(finding)
            add(finding)
            keep(finding)
    else:
        for finding in findings:
            if waive is not None and finding.outcome is _FAIL:
                finding = waive(finding)
            add(finding)
    return result


_FAIL = Outcome.FAIL


def _run(state: _State, task: Task | Iterable[RawItem]) -> _Result:
    """Judge the records of one task."""
    if state.timed:
        return _run_timed(state, task)
    return _collect(state, _judged(state, task))


READ, EVALUATE, SERIALIZE = "read/parse", "rule evaluation", "serialization"


def _run_timed(state: _State, task: Task | Iterable[RawItem]) -> _Result:
    """`_run`, with the wall time of each step summed by stage (see phiguard._util.stages):
    reading and decoding records, judging them, and waivers, tally and serialization. Each
    asset's findings are collected as soon as they are made, as `_run` does, so objects live
    as long as they do there (holding a task's findings would change what the garbage
    collector sees, and so the time measured)."""
    clock = time.perf_counter
    cpu = time.process_time()
    inv = state.loaded.inventory
    evaluate, now = state.engine.evaluate_asset, state.now
    book = WaiverBook(state.waivers, state.now)
    result = _Result(Tally(keep=NOTABLE_PER_TASK), book.matched)
    text, sep = result.text, b""
    read = judge = write = 0.0
    start = clock()
    for asset in _assets(state, task):
        parsed = clock()
        read += parsed - start
        if asset is not None:
            found = evaluate(asset, inv, now)
            judged = clock()
            judge += judged - parsed
            for finding in found:
                finding = book.apply(finding)
                result.tally.add(finding)
                if state.mode == "json":
                    text += sep
                    text += finding_bytes(finding)
                    sep = b",\n"
                elif state.mode == "objects":
                    result.findings.append(finding)
            write += clock() - judged
        start = clock()
    read += clock() - start
    result.stages = stages.split({READ: read, EVALUATE: judge, SERIALIZE: write},
                                 time.process_time() - cpu)
    result.by_worker = os.getpid() != state.pid
    return result


def _assets(state: _State, task: Task | Iterable[RawItem]) -> Iterator[Asset | None]:
    """The judged asset of each record of a task (None for a record not judged)."""
    policies, skip = state.loaded.policies, state.loaded.skip
    types, needs = state.types, state.needs
    if isinstance(task, tuple) and task[5] is not None:
        file, offset, lines, records, end, picks = task
        return picked_assets(file, offset, lines, records, end, picks, policies, skip, types,
                             needs)
    items = task if not isinstance(task, list | tuple) else _items(task)
    return (materialize(item, policies, skip, types, needs) for item in items)


def _judged(state: _State, task: Task | Iterable[RawItem]) -> Iterator[Finding]:
    inv = state.loaded.inventory
    evaluate, now = state.engine.evaluate_asset, state.now
    for asset in _assets(state, task):
        if asset is not None:
            yield from evaluate(asset, inv, now)


class Scan:
    """One evaluation of a snapshot. Consume it once: `findings()`, `write_json()` or
    `tally()`; then read `waivers`."""

    def __init__(self, paths: list[Path], pack: RulePack, config: Config, *,
                 at: datetime | None = None, jobs: int = 1,
                 clock: Callable[[], datetime] | None = None) -> None:
        config.check_against(pack)
        self.pack = pack
        self.config = config
        self.engine = Engine(pack.rules, params=config.params, enable=config.enable,
                             disable=config.disable)
        stages.stage("envelope pass")
        self.files: SnapshotFiles = discover(paths)
        # jobs 0: chosen here, from the snapshot and the machine (auto_jobs); N >= 1: as asked
        self.jobs, self.jobs_reason = (max(1, jobs), "asked") if jobs > 0 else \
            auto_jobs(self.files)
        # pass 1's processes: as many, or two where only pass 2's memory kept it to one
        self.survey_jobs = self.jobs if jobs > 0 else auto_survey_jobs(self.files, self.jobs)
        stages.note(jobs=self.jobs, jobs_reason=self.jobs_reason, survey_jobs=self.survey_jobs)
        # The inputs' sha256 (the run record's `inputs`): hashed beside pass 1 in a thread,
        # which hashlib and file reads let run on another CPU (1.3 GB at 1M assets, about a
        # second). Not beside workers: a process forked while the thread runs would not need
        # it, but a lock it holds would be copied held.
        # With pass 1 in two processes and pass 2 in one, it is hashed once pass 1's worker is
        # gone (the findings JSON's header, written before pass 2, waits for it).
        self._inputs = _Deferred(self.files.inputs, now=self.jobs == 1 and self.survey_jobs == 1)
        plain = sum(path.stat().st_size for path in self.files.asset_files
                    if is_plain_ndjson(path))
        self._plain = plain
        self._tasks_per_worker = MAX_TASKS_PER_WORKER if plain > RECYCLE_ABOVE_BYTES else None
        with long_lived_heap(), parent_working():
            self.loaded = load_context(self.files, self.engine.context_types(), config.phi,
                                       jobs=self.survey_jobs,
                                       fields=self.engine.context_fields(),
                                       judged=(self.engine.subject_types(),
                                               self.engine.any_type_needs()),
                                       reach_only=self.engine.reach_only_types())
        if self.jobs == 1:
            self._inputs.start()  # (no process is forked from here on)
        users = len(self.loaded.users)
        stages.note(records=self.loaded.records, users=users,
                    assets=sum(self.loaded.counts.values()) - users,
                    rules=len(self.engine.rules), rule_pack_digest=pack.digest)
        if self.loaded.records == 0 and not self.loaded.users:
            names = ", ".join(str(p) for p in paths)
            raise UsageError(f"{names}: the snapshot holds no records (an empty export judges "
                             "nothing; check the export or collection)")
        # Said to the user (on stderr) before the results: what was not read, and why.
        self.notes = [f"skipped {path}: {why}" for path, why in self.files.skipped]
        self.scope_warnings = self.loaded.inventory.scope.warnings()
        self.notes += [f"warning: {w}" for w in self.scope_warnings]
        self.content_missing = self.loaded.inventory.coverage.missing()
        self.notes += [f"warning: {w}" for w in self.content_missing]
        # The asset types rules look for that the snapshot does not know to be collected (the
        # run says so when it is over, with the assets they left UNKNOWN: runs.scan).
        self.asset_types_missing = asset_types_missing(
            self.loaded.inventory.coverage, types_sought(cr.rule for cr in self.engine.rules))
        # The types rules judge that the snapshot does not know to be collected, and pre-v1
        # type names no rule judges (runs.scan says them on stderr, reports as reasons).
        self.run_coverage = run_coverage((cr.rule for cr in self.engine.rules),
                                         self.files.manifest, self.loaded.counts)
        now = at or self.loaded.read_time
        if now is None:
            # Google's Terraform converter output and older export dumps carry no time at all:
            # judge them as of the run (what "scan this now" means), and say so; the run
            # record keeps snapshot_time null so nobody mistakes it for the snapshot's.
            now = (clock or _utc_now)()
            self.notes.append(
                "the snapshot carries no read time (no manifest read_time, no update_time on "
                f"any record): judged as of now, {format_time(now)}; time-dependent rules (key "
                "age, waiver expiry) count from then. Pass --at TIME to judge it as of another "
                "time")
        self.now = now
        self.book = WaiverBook(config.waivers, now)

    def run_info(self) -> dict[str, Any]:
        """The `run` block of findings JSON: everything needed to reproduce the evaluation."""
        rules = [cr.rule.id for cr in self.engine.rules]
        return {
            "tool": "phiguard",
            "tool_version": __version__,
            "rule_pack_digest": f"sha256:{self.pack.digest}",
            "rules_evaluated": rules,
            "snapshot_time": format_time(self.loaded.read_time) if self.loaded.read_time else None,
            "evaluated_at": format_time(self.now),
            "inputs": self._inputs(),
            "asset_counts": dict(sorted(self.loaded.counts.items())),
            "records": self.loaded.records,
            "config": self.config.to_json(),
            **({"scope_warnings": self.scope_warnings} if self.scope_warnings else {}),
            **({"content_missing": self.content_missing} if self.content_missing else {}),
            **({"asset_types_missing": self.asset_types_missing}
               if self.asset_types_missing else {}),
            **self.run_coverage,
            # A collected snapshot's failed sources (see phiguard.collect), shown as gaps.
            **({"coverage_gaps": gaps} if (gaps := (self.files.manifest or {})
                                           .get("coverage_gaps")) else {}),
        }

    # pass 2 ----------------------------------------------------------------------------------

    def _tasks(self) -> Iterator[Task]:
        segments = self.loaded.segments
        for path in self.files.asset_files:
            starts = segments.get(str(path))
            if starts:
                picks = self.loaded.picks.get(str(path))
                for i, (offset, lines, records) in enumerate(starts):
                    end = starts[i + 1][0] if i + 1 < len(starts) else -1
                    yield (str(path), offset, lines, records, end,
                           picks[i] if picks is not None else None)
                continue
            items = iter_raw(path)
            while True:
                chunk = list(islice(items, CHUNK))
                if not chunk:
                    break
                yield chunk

    def _results(self, mode: str) -> Iterator[_Result]:
        timed = stages.active()
        state = _State(self.engine, self.loaded, self.engine.subject_types(),
                       self.engine.any_type_needs(), self.now, self.config.waivers, mode,
                       timed)
        parallel = self.jobs > 1 and can_fork()
        if self._plain > TRIM_ABOVE_BYTES:
            release_free_memory()  # what pass 1 freed (at 200k assets 27 of 211 MiB)
        with long_lived_heap():
            if parallel or timed:
                # Workers share the Inventory's lazy indexes: build them once, before
                # forking, and collect garbage so none of it is frozen into the shared heap
                # (a cheap collection: pass 1's heap is frozen already). A timed serial run
                # builds them here too, so their cost shows as a stage of its own.
                stages.stage("join index build")
                self.engine.warm(self.loaded.inventory)
                # ... and the generated evaluator of every type, which each worker would
                # otherwise generate again (0.3 CPU s for 42 types)
                self.engine.prepare(self.loaded.counts)
                if parallel:
                    gc.collect()
            stages.stage("judging pass")
            # this process judges too: `jobs` processes in all, one of them forked
            for result in ordered_map(_run, state, self._tasks(), jobs=self.jobs,
                                      tasks_per_worker=self._tasks_per_worker,
                                      parent_works=True, first_here=FIRST_HERE,
                                      window=WINDOW):
                if result.stages is not None:
                    stages.add(result.stages, workers=result.by_worker)
                yield result
            # Assets that only exist as policies, and directory users, are judged here.
            tail = [self.loaded.policies[n].to_asset() for n in self.loaded.policy_only]
            tail += self.loaded.users
            yield self._judge_tail(state, tail)

    def _judge_tail(self, state: _State, assets: list[Any]) -> _Result:
        inv = self.loaded.inventory
        findings: list[Finding] = []
        start, cpu = time.perf_counter(), time.process_time()
        for asset in assets:
            if asset.asset_type not in state.types and state.needs is None:
                continue
            findings.extend(self.engine.evaluate_asset(asset, inv, self.now))
        findings.extend(self.engine.missing_source_findings(inv, self.config.organization))
        if state.timed:
            stages.add({EVALUATE: (time.perf_counter() - start, time.process_time() - cpu)},
                       workers=False)
            start, cpu = time.perf_counter(), time.process_time()
            result = _collect(state, findings)
            stages.add({SERIALIZE: (time.perf_counter() - start, time.process_time() - cpu)},
                       workers=False)
            return result
        return _collect(state, findings)

    def _absorb(self, result: _Result, tally: Tally | None) -> None:
        for i, count in enumerate(result.matched):
            self.book.matched[i] += count
        if tally is not None:
            tally.merge(result.tally)

    def findings(self) -> Iterator[Finding]:
        """Every finding, waivers applied, in a stable order."""
        for result in self._results("objects"):
            self._absorb(result, None)
            yield from result.findings

    def write_json(self, out: IO[str], tally: Tally) -> None:
        """The findings document (JSON v1), serialized by the workers; `tally` is filled."""
        write_header(out, self.run_info())
        first = True
        for result in self._results("json"):
            self._absorb(result, tally)
            if result.text:
                write_utf8(out, b"\n" if first else b",\n")
                write_utf8(out, result.text)  # not joined: a task's text is megabytes
                first = False
        write_footer(out, tally, self.waivers)

    def tally(self, tally: Tally) -> None:
        """Only the counts and the notable (non-passing) findings: what the text view needs."""
        for result in self._results("tally"):
            self._absorb(result, tally)

    @property
    def waivers(self) -> list[dict[str, Any]]:
        return self.book.report()


class _Deferred(Generic[_T]):
    """`work()`, run once: in a thread started now when `now` (or by `start()`), else when
    first asked for; calling the object gives its result (or raises its error), waiting for
    it if need be."""

    def __init__(self, work: Callable[[], _T], *, now: bool) -> None:
        self._work = work
        self._done: list[tuple[bool, Any]] = []
        self._thread: threading.Thread | None = None
        if now:
            self.start()

    def _run(self) -> None:
        try:
            self._done.append((True, self._work()))
        except BaseException as exc:  # raised to the caller of the result, as a serial call would
            self._done.append((False, exc))

    def start(self) -> None:
        if self._thread is None and not self._done:
            self._thread = threading.Thread(target=self._run, name="phiguard-inputs",
                                            daemon=True)
            self._thread.start()

    def __call__(self) -> _T:
        if self._thread is not None:
            self._thread.join()
        elif not self._done:
            self._run()
        ok, value = self._done[0]
        if not ok:
            raise value
        return cast(_T, value)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def auto_jobs(files: SnapshotFiles, *, sample: float = 0.2) -> tuple[int, str]:
    """How many processes judge this snapshot when the user did not say (`jobs=0`), and why.

    More than one only where that is expected to be faster than one, never slower: `fork`,
    two CPUs or more to run on (affinity, cgroup quota) that no other work keeps busy now,
    memory for the workers' own pages, and enough uncompressed NDJSON for each process to
    have several byte ranges of its own (other files are read by one process). On a busy
    machine a second process shares a CPU with other work instead of getting one of its
    own, while the parallel run still costs more CPU (its survey results pickled to the
    parent, every worker copying the pages it touches): at 200k assets on 2 CPUs already
    busy (load 6-10) it ran 1.4x and 2.7x faster than one process in two runs and 1.3x
    slower in two others. Busy is measured, not guessed: see `busy_cpus`.
    """
    if not can_fork():
        return 1, "no fork() here"
    cpus = usable_cpus()
    if cpus < 2:
        return 1, f"{cpus:g} usable CPU"
    size = sum(path.stat().st_size for path in files.asset_files if is_plain_ndjson(path))
    by_work = size // AUTO_BYTES_PER_JOB
    if by_work < 2:
        return 1, f"{size / 2**20:.0f} MiB of plain NDJSON: too little to share out"
    why = f"{size / 2**20:.0f} MiB of plain NDJSON, {cpus:g} CPUs"
    jobs = min(by_work, AUTO_MAX_JOBS, int(cpus))
    if size > AUTO_MAX_BYTES:
        jobs = min(jobs, AUTO_MAX_JOBS_LARGE)
        why += f" (more than {AUTO_MAX_BYTES // 2**20} MiB: at most {AUTO_MAX_JOBS_LARGE})"
    free = available_memory()
    if free is not None:
        # the parent's heap, then each worker's own pages
        by_memory = int((free - AUTO_MEMORY_FIRST * size) // (AUTO_MEMORY_PER_WORKER * size))
        if by_memory < 2:
            return 1, f"{free / 2**20:.0f} MiB of memory available: too little for workers"
        jobs = min(jobs, by_memory)
        why += f", {free / 2**20:.0f} MiB of memory available"
    busy = busy_cpus(sample)
    by_cpu = int(cpus - busy + AUTO_FREE_CPU)
    if by_cpu < 2:
        return 1, f"{busy:.1f} of {cpus:g} CPUs busy with other work"
    return min(jobs, by_cpu), why + f", {busy:.1f} busy with other work"


def auto_survey_jobs(files: SnapshotFiles, jobs: int, *, sample: float = 0.2) -> int:
    """How many processes run pass 1 (the survey of byte ranges) when the user did not say,
    given `jobs`, what `auto_jobs` chose for pass 2: as many, except past AUTO_MAX_BYTES,
    where pass 2 may run in one process for want of memory: pass 1 then runs in two (this
    one and one forked worker) when the CPUs are idle (SURVEY_MAX_BUSY). Its worker is forked
    before the heap grows and keeps little (each range's survey goes to this process, which
    keeps it), so the second process costs little memory, unlike a pass 2 worker, which
    copies the pages of the shared heap it reads."""
    if jobs > 1 or not can_fork() or usable_cpus() < 2:
        return jobs
    size = sum(path.stat().st_size for path in files.asset_files if is_plain_ndjson(path))
    if size <= AUTO_MAX_BYTES:
        return jobs  # one process for both passes, for the reason auto_jobs gave
    free = available_memory()
    if free is not None and free < (AUTO_MEMORY_FIRST + SURVEY_MEMORY) * size:
        return 1
    return 2 if busy_cpus(sample) <= SURVEY_MAX_BUSY else 1
