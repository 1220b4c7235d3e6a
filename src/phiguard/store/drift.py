"""Drift between two runs: new, resolved and persisting failures, first-seen dates and age."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phiguard._util.times import parse_time
from phiguard.store.db import Run, Store

__all__ = ["Change", "Drift", "drift", "failing_when_last_judged", "mean_time_to_remediate",
           "run_lacks", "warnings_change"]


@dataclass(frozen=True)
class Change:
    rule_id: str
    asset: str
    severity: str
    first_seen: str  # recorded_at of the first run of the unbroken failing streak
    age_days: float


@dataclass
class Drift:
    before: Run | None
    after: Run
    new: list[Change] = field(default_factory=list)
    resolved: list[Change] = field(default_factory=list)
    persisting: list[Change] = field(default_factory=list)
    # failing before, UNKNOWN after: the run could not judge it (its input lacked the data),
    # so it is not known to be resolved
    unknown: list[Change] = field(default_factory=list)


def _when(run: Run) -> datetime:
    parsed = parse_time(run.snapshot_time or run.recorded_at) or parse_time(run.recorded_at)
    assert parsed is not None
    return parsed


def _first_seen(store: Store, runs: list[Run], upto: int) -> dict[str, Run]:
    """For each failure of runs[upto], the first run of its unbroken streak of failing; a run
    where the result is UNKNOWN (it could not judge it) does not break the streak."""
    open_ = set(store.failing(runs[upto].id))
    first = {fp: runs[upto] for fp in open_}
    for i in range(upto - 1, -1, -1):
        if not open_:
            break
        failing = store.failing(runs[i].id)
        for fp in open_ & failing.keys():
            first[fp] = runs[i]
        unknown = store.with_outcome(runs[i].id, "UNKNOWN")
        open_ = {fp for fp in open_ if fp in failing or fp in unknown}
    return first


def failing_when_last_judged(store: Store, runs: list[Run], upto: int,
                             fingerprints: Iterable[str]) -> set[str]:
    """Of these results, those whose last judged outcome (UNKNOWN runs skipped) at or before
    runs[upto] is FAIL: failing again after runs that could not judge them is not new."""
    out: set[str] = set()
    open_ = set(fingerprints)
    for i in range(upto, -1, -1):
        if not open_:
            break
        out |= open_ & store.failing(runs[i].id).keys()
        unknown = store.with_outcome(runs[i].id, "UNKNOWN")
        open_ = {fp for fp in open_ if fp in unknown}
    return out


def drift(store: Store, before: int | None = None, after: int | None = None) -> Drift:
    """Drift from run `before` to run `after` (default: the last two runs)."""
    runs = store.runs()
    if not runs:
        from phiguard.errors import StoreError

        raise StoreError(f"{store.path}: no runs recorded yet")
    ids = [r.id for r in runs]
    b_index = ids.index(store.run(after).id) if after is not None else len(runs) - 1
    if before is not None:
        a_index: int | None = ids.index(store.run(before).id)
    else:
        a_index = b_index - 1 if b_index > 0 else None
    out = Drift(runs[a_index] if a_index is not None else None, runs[b_index])
    now = _when(runs[b_index])
    after_fail = store.failing(runs[b_index].id)
    before_fail = store.failing(runs[a_index].id) if a_index is not None else {}
    first = _first_seen(store, runs, b_index)
    # failing after, not before, but failing when last judged before it: persisting
    carried = (failing_when_last_judged(store, runs, a_index, after_fail.keys() - before_fail)
               if a_index is not None else set())
    for fp, (rule, asset, sev) in sorted(after_fail.items(), key=lambda kv: kv[1]):
        seen = first[fp]
        change = Change(rule, asset, sev, seen.snapshot_time or seen.recorded_at,
                        round((now - _when(seen)).total_seconds() / 86400, 1))
        (out.persisting if fp in before_fail or fp in carried else out.new).append(change)
    if a_index is not None:
        earlier = _first_seen(store, runs, a_index)
        after_unknown = store.with_outcome(runs[b_index].id, "UNKNOWN")
        for fp, (rule, asset, sev) in sorted(before_fail.items(), key=lambda kv: kv[1]):
            if fp not in after_fail:
                seen = earlier[fp]
                into = out.unknown if fp in after_unknown else out.resolved
                into.append(Change(rule, asset, sev, seen.snapshot_time or seen.recorded_at,
                                   round((now - _when(seen)).total_seconds() / 86400, 1)))
    return out


def mean_time_to_remediate(store: Store,
                           rules: Collection[str] | None = None) -> dict[str, float]:
    """Mean days from first failing to the first run without the failure, per rule area
    (the rule id's prefix: TLS, MFA, ...), over every failure resolved in the history. A run
    where the result is UNKNOWN (its input lacked the data) does not resolve it: the failure
    is resolved by the first later run that judges it and does not fail it. `rules`: only
    the failures of these rules (a framework's view); None: every rule's."""
    runs = store.runs()
    spans: dict[str, list[float]] = {}
    streak: dict[str, tuple[str, Run]] = {}
    for run in runs:
        failing = store.failing(run.id)
        if rules is not None:
            failing = {k: v for k, v in failing.items() if v[0] in rules}
        unknown = store.with_outcome(run.id, "UNKNOWN") if streak else {}
        for fp, (rule, _asset, _sev) in failing.items():
            streak.setdefault(fp, (rule, run))
        for fp in [fp for fp in streak if fp not in failing and fp not in unknown]:
            rule, since = streak.pop(fp)
            area = rule.split("-")[0]
            spans.setdefault(area, []).append((_when(run) - _when(since)).total_seconds()
                                              / 86400)
    return {area: round(sum(v) / len(v), 1) for area, v in sorted(spans.items())}


def run_lacks(run: Run) -> dict[str, list[Any]]:
    """What a recorded run's input lacked, by findings JSON run block field: its reasons for
    UNKNOWN results (scope warnings, content and asset types missing) and coverage gaps."""
    out = {k: list(v) for k, v in run.warnings.items() if v}
    if run.coverage_gaps:
        out["coverage_gaps"] = list(run.coverage_gaps)
    return out


def warnings_change(before: Run | None, after: Run) -> tuple[dict[str, list[Any]],
                                                             dict[str, list[Any]]]:
    """(new, gone): the reasons for UNKNOWN results `after` has that `before` had not, and
    those `before` had that `after` has not, by field. Results UNKNOWN for a new reason are
    what the run's input lost, not a change of the organization."""
    old = run_lacks(before) if before is not None else {}
    now = run_lacks(after)

    def minus(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, list[Any]]:
        out = {}
        for key, items in a.items():
            left = [i for i in items if i not in b.get(key, [])]
            if left:
                out[key] = left
        return out

    return minus(now, old), minus(old, now)
