"""A scan: snapshot files + rule pack + config in, a stream of findings out.

Pass 1 builds the Inventory of join targets (serially); pass 2 streams the judged assets
through the engine, in worker processes when `jobs > 1`. Order is stable either way: files in
sorted order, records in file order, rules by id; so the same inputs give the same output.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from phiguard import __version__
from phiguard._util.times import format_time
from phiguard.config import Config
from phiguard.errors import UsageError
from phiguard.findings import Finding
from phiguard.inventory.readers import RawItem, SnapshotFiles, discover
from phiguard.inventory.records import Record
from phiguard.inventory.snapshot import LoadedContext, iter_items, load_context, materialize
from phiguard.policy.engine import Engine
from phiguard.policy.rule import RulePack
from phiguard.policy.waivers import WaiverBook

__all__ = ["Scan", "default_jobs"]

CHUNK = 500


@dataclass
class _WorkerState:
    engine: Engine
    loaded: LoadedContext
    types: frozenset[str] | None
    now: datetime


_STATE: _WorkerState | None = None  # set in the parent just before forking the pool


def _judge(chunk: list[RawItem]) -> list[Finding]:
    state = _STATE
    assert state is not None, "worker started without scan state"
    return _judge_items(state, chunk)


def _judge_items(state: _WorkerState, items: list[RawItem] | Iterator[RawItem]) -> list[Finding]:
    out: list[Finding] = []
    policies: dict[str, Record] = state.loaded.policies
    inv = state.loaded.inventory
    for item in items:
        asset = materialize(item, policies, state.loaded.skip, state.types)
        if asset is not None:
            out.extend(state.engine.evaluate_asset(asset, inv, state.now))
    return out


def _chunks(items: Iterator[RawItem], size: int) -> Iterator[list[RawItem]]:
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk


class Scan:
    """One evaluation of a snapshot; iterate `findings()` once, then read `waivers`."""

    def __init__(self, paths: list[Path], pack: RulePack, config: Config, *,
                 at: datetime | None = None, jobs: int = 1) -> None:
        config.check_against(pack)
        self.pack = pack
        self.config = config
        self.jobs = max(1, jobs)
        self.engine = Engine(pack.rules, params=config.params, enable=config.enable,
                             disable=config.disable)
        self.files: SnapshotFiles = discover(paths)
        self.loaded = load_context(self.files, self.engine.context_types(), config.phi)
        now = at or self.loaded.read_time
        if now is None:
            raise UsageError("the snapshot has no read time (no manifest and no update_time): "
                             "pass --at TIMESTAMP")
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
            "inputs": self.files.inputs(),
            "asset_counts": dict(sorted(self.loaded.counts.items())),
            "records": self.loaded.records,
            "config": self.config.to_json(),
        }

    def findings(self) -> Iterator[Finding]:
        """Every finding, waivers applied, in a stable order."""
        global _STATE
        state = _WorkerState(self.engine, self.loaded, self.engine.subject_types(), self.now)
        items = iter_items(self.files)
        fork = "fork" in multiprocessing.get_all_start_methods()
        if self.jobs > 1 and fork:
            _STATE = state
            try:
                ctx = multiprocessing.get_context("fork")
                with ctx.Pool(self.jobs) as pool:
                    for batch in pool.imap(_judge, _chunks(items, CHUNK), chunksize=1):
                        for finding in batch:
                            yield self.book.apply(finding)
            finally:
                _STATE = None
        else:
            for chunk in _chunks(items, CHUNK):
                for finding in _judge_items(state, chunk):
                    yield self.book.apply(finding)
        inv = self.loaded.inventory
        tail = [self.loaded.policies[n].to_asset() for n in self.loaded.policy_only]
        tail += self.loaded.users
        types = state.types
        for asset in tail:
            if types is None or asset.asset_type in types:
                for finding in self.engine.evaluate_asset(asset, inv, self.now):
                    yield self.book.apply(finding)
        for finding in self.engine.missing_source_findings(inv, self.config.organization):
            yield self.book.apply(finding)

    @property
    def waivers(self) -> list[dict[str, Any]]:
        return self.book.report()


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
