"""Drift between two runs: new, resolved and persisting failures, first-seen dates and age."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from phiguard._util.times import parse_time
from phiguard.store.db import Result, Run, Store

__all__ = ["Change", "Drift", "absence_doubt", "absent_note", "drift",
           "failures_not_judged", "judged_before",
           "mean_time_to_remediate", "run_lacks", "warnings_change"]


@dataclass(frozen=True)
class Change:
    rule_id: str
    asset: str
    severity: str
    first_seen: str  # snapshot (or recorded) time of the first run of the failing streak
    age_days: float
    # was_unknown only: the time of the first run of the unbroken UNKNOWN streak before it
    unknown_since: str | None = None
    # unknown only, when the run has no result for it at all: why that is not a resolution
    note: str | None = None


@dataclass
class Drift:
    before: Run | None
    after: Run
    new: list[Change] = field(default_factory=list)
    resolved: list[Change] = field(default_factory=list)
    persisting: list[Change] = field(default_factory=list)
    # failing before, UNKNOWN after, or without a result in a run that could not have judged
    # it (its input lacked data, or it covered another scope: `Change.note`): not known to be
    # resolved
    unknown: list[Change] = field(default_factory=list)
    # UNKNOWN before (and not failing when last judged), failing after: it was there,
    # unjudged, so not known to be new ("now failing, was UNKNOWN")
    was_unknown: list[Change] = field(default_factory=list)


def _when(run: Run) -> datetime:
    parsed = parse_time(run.snapshot_time or run.recorded_at) or parse_time(run.recorded_at)
    assert parsed is not None
    return parsed


def _time(run: Run) -> str:
    return run.snapshot_time or run.recorded_at


@dataclass
class _Streak:
    """A walk back over the runs from runs[start] for these fingerprints (-> rule id): `found`
    keeps, for each, the earliest run marked (its outcome is `mark`) before the streak ends, a
    streak going on through runs where the outcome is one of `keep` (any other outcome, or no
    result, ends it). No result in a run that could not have judged it (`absence_doubt`) is
    read as UNKNOWN."""

    start: int
    open: dict[str, str]
    mark: str
    keep: frozenset[str]
    found: dict[str, Run] = field(default_factory=dict)

    def step(self, index: int, run: Run, results: dict[str, Result],
             doubt: tuple[str | None, frozenset[str]]) -> None:
        if index > self.start or not self.open:
            return
        still: dict[str, str] = {}
        for fp, rule in self.open.items():
            got = results.get(fp)
            outcome = got[0] if got is not None else (
                "UNKNOWN" if absent_note("", doubt, rule) is not None else None)
            if outcome == self.mark:
                self.found[fp] = run
            if outcome in self.keep:
                still[fp] = rule
        self.open = still


def _doubt(runs: list[Run], index: int) -> tuple[str | None, frozenset[str]]:
    """absence_doubt of runs[index] against the run before it."""
    run = runs[index]
    return absence_doubt(run_lacks(run), run.scope, runs[index - 1].scope if index else None)


def _doubted(runs: list[Run], doubts: list[tuple[str | None, frozenset[str]]]) -> set[int]:
    """Ids of the runs where no result may not mean resolved: there a failure's PASS must be
    told from its absence (elsewhere both end a failure)."""
    return {runs[i].id for i, (why, rules) in enumerate(doubts) if why is not None or rules}


def _walk_back(store: Store, runs: list[Run], streaks: list[_Streak]) -> None:
    """Run every streak walk with one query over the runs, newest first, stopping when no
    walk has anything left to look for."""
    live = [s for s in streaks if s.open]
    if not live:
        return
    top = max(s.start for s in live)
    doubts = [_doubt(runs, i) for i in range(top + 1)]
    walk = store.results_by_run(runs[: top + 1], newest_first=True, failed_in=runs[: top + 1],
                                passes_in=_doubted(runs, doubts))
    try:
        for back, (run, results) in enumerate(walk):
            index = top - back
            doubt = doubts[index]
            for streak in live:
                streak.step(index, run, results, doubt)
            if all(not s.open for s in live):
                break
    finally:
        walk.close()


def _failing_streak(start: int, fingerprints: Mapping[str, str]) -> _Streak:
    """First run of each failure's unbroken streak of failing up to runs[start]; a run where
    the result is UNKNOWN (it could not judge it) does not break the streak."""
    return _Streak(start, dict(fingerprints), "FAIL", frozenset(("FAIL", "UNKNOWN")))


def _last_judged(start: int, fingerprints: Mapping[str, str]) -> _Streak:
    """Of these results, those (`found`) whose last judged outcome (UNKNOWN runs skipped) at
    or before runs[start] is FAIL."""
    return _Streak(start, dict(fingerprints), "FAIL", frozenset(("UNKNOWN",)))


def _unknown_streak(start: int, fingerprints: Mapping[str, str]) -> _Streak:
    """Of these results, those (`found`) UNKNOWN in runs[start], with the first run of that
    unbroken UNKNOWN streak."""
    return _Streak(start, dict(fingerprints), "UNKNOWN", frozenset(("UNKNOWN",)))


def judged_before(store: Store, runs: list[Run], upto: int,
                  fresh: Mapping[str, str]) -> tuple[set[str], dict[str, Run]]:
    """For failures (fingerprint -> rule id) not failing in runs[upto]: those failing when
    last judged at or before it (not new), and, of the rest UNKNOWN in runs[upto], the first
    run of that UNKNOWN streak ("now failing, was UNKNOWN"); one query."""
    carried = _last_judged(upto, fresh)
    since = _unknown_streak(upto, fresh)
    _walk_back(store, runs, [carried, since])
    return set(carried.found), {k: v for k, v in since.found.items() if k not in carried.found}


def absence_doubt(lacks: Mapping[str, Any], scope: str | None,
                  before_scope: str | None) -> tuple[str | None, frozenset[str]]:
    """Why a failure with no result at all in a run (`lacks`: its run block's reasons for
    UNKNOWN, `run_lacks`) is not known to be resolved: a sentence when that holds for every
    rule (its input lacked content, had a coverage gap or a PHI scope entry matching nothing,
    or it covered another scope than the run compared with), and the rules it lacked asset
    types for.
    Absent otherwise, a failure is resolved (its asset is gone or no longer in the rule's
    reach)."""
    why = None
    kinds = [k for k in ("content_missing", "coverage_gaps", "scope_warnings",
                         "pre_v1_asset_types") if lacks.get(k)]
    if kinds:
        why = f"its input lacked data ({', '.join(kinds)}; see why results are UNKNOWN)"
    elif (before_scope is not None and scope is not None
          and sorted(scope.split(",")) != sorted(before_scope.split(","))):
        why = f"it covered {scope}, not {before_scope}"
    rules = frozenset(str(r) for key in ("asset_types_missing", "subject_types_missing")
                      for item in lacks.get(key) or () if isinstance(item, Mapping)
                      for r in item.get("rules") or ())
    return why, rules


def absent_note(run: str, doubt: tuple[str | None, frozenset[str]], rule: str) -> str | None:
    why, rules = doubt
    if why is not None:
        return f"no result in {run}: {why}"
    if rule in rules:
        return (f"no result in {run}: it lacked asset types {rule} reads "
                "(asset_types_missing, subject_types_missing)")
    return None


def _pair(store: Store, runs: list[Run], indexes: list[int]) -> dict[int, dict[str, Result]]:
    """The FAIL and UNKNOWN results of these runs, and any result of the failures of the
    last of them (one query)."""
    by_id = {run.id: results for run, results in
             store.results_by_run([runs[i] for i in sorted(set(indexes))],
                                  failed_in=[runs[indexes[-1]]])}
    return {i: by_id[runs[i].id] for i in indexes}


def _of(results: dict[str, Result], outcome: str) -> dict[str, tuple[str, str, str]]:
    return {fp: (r[1], r[2], r[3]) for fp, r in results.items() if r[0] == outcome}


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
    got = _pair(store, runs, [b_index] if a_index is None else [b_index, a_index])
    after_fail = _of(got[b_index], "FAIL")
    after_unknown = _of(got[b_index], "UNKNOWN")
    before_fail = _of(got[a_index], "FAIL") if a_index is not None else {}
    fresh = {fp: v[0] for fp, v in after_fail.items() if fp not in before_fail}
    first = _failing_streak(b_index, {fp: v[0] for fp, v in after_fail.items()})
    walks = [first]
    if a_index is not None:
        # failing after, not before, but failing when last judged before it: persisting
        carried = _last_judged(a_index, fresh)
        earlier = _failing_streak(a_index, {fp: v[0] for fp, v in before_fail.items()
                                            if fp not in after_fail})
        since = _unknown_streak(a_index, fresh)
        walks += [carried, earlier, since]
    _walk_back(store, runs, walks)

    def change(item: tuple[str, str, str], seen: Run, unknown: Run | None = None) -> Change:
        rule, asset, sev = item
        return Change(rule, asset, sev, _time(seen),
                      round((now - _when(seen)).total_seconds() / 86400, 1),
                      _time(unknown) if unknown is not None else None)

    for fp, item in sorted(after_fail.items(), key=lambda kv: kv[1]):
        if fp in before_fail or (a_index is not None and fp in carried.found):
            out.persisting.append(change(item, first.found[fp]))
        elif a_index is not None and fp in since.found:
            out.was_unknown.append(change(item, first.found[fp], since.found[fp]))
        else:
            out.new.append(change(item, first.found[fp]))
    if a_index is not None:
        doubt = absence_doubt(run_lacks(runs[b_index]), runs[b_index].scope,
                              runs[a_index].scope)
        for fp, item in sorted(before_fail.items(), key=lambda kv: kv[1]):
            if fp in after_fail:
                continue
            note = (absent_note(f"run {runs[b_index].id}", doubt, item[0])
                    if fp not in got[b_index] else None)
            if fp in after_unknown or note is not None:
                out.unknown.append(replace(change(item, earlier.found[fp]), note=note))
            else:
                out.resolved.append(change(item, earlier.found[fp]))
    return out


def mean_time_to_remediate(store: Store,
                           rules: Collection[str] | None = None) -> dict[str, float]:
    """Mean days from first failing to the first run without the failure, per rule area
    (the rule id's prefix: TLS, MFA, ...), over every failure resolved in the history. A run
    where the result is UNKNOWN (its input lacked the data) does not resolve it: the failure
    is resolved by the first later run that judges it and does not fail it; nor does it start
    one (UNKNOWN -> FAIL counts from the run that judged it failing); nor does a run without
    a result for it that could not have judged it (`absence_doubt`). `rules`: only the
    failures of these rules (a framework's view); None: every rule's. One query, read run by
    run (memory: one run's failing and UNKNOWN results and the open failures)."""
    spans: dict[str, list[float]] = {}
    streak: dict[str, tuple[str, Run]] = {}
    runs = store.runs()
    doubts = [_doubt(runs, i) for i in range(len(runs))]
    walk = store.results_by_run(runs, failed_in=runs, passes_in=_doubted(runs, doubts))
    try:
        for index, (run, results) in enumerate(walk):
            failing = {fp for fp, r in results.items()
                       if r[0] == "FAIL" and (rules is None or r[1] in rules)}
            for fp in failing:
                streak.setdefault(fp, (results[fp][1], run))
            doubt = doubts[index]
            for fp in list(streak):
                got = results.get(fp)
                if got is not None and got[0] in ("FAIL", "UNKNOWN"):
                    continue
                if got is None and absent_note("", doubt, streak[fp][0]) is not None:
                    continue  # no result in a run that could not have judged it
                rule, since = streak.pop(fp)
                area = rule.split("-")[0]
                spans.setdefault(area, []).append((_when(run) - _when(since)).total_seconds()
                                                  / 86400)
    finally:
        walk.close()
    return {area: round(sum(v) / len(v), 1) for area, v in sorted(spans.items())}


def failures_not_judged(store: Store, shown: list[Run],
                        rules: Collection[str] | None = None) -> dict[int, int]:
    """For each of these runs (a stretch of the history, oldest first), how many failures of
    the run before it (in the store) it did not judge: UNKNOWN, or no result where it could
    not have judged them (`absence_doubt`). Those leave its FAIL count without being fixed.
    `rules`: of these rules only. One query."""
    if not shown:
        return {}
    every = store.runs()
    ids = [r.id for r in every]
    start = max(ids.index(shown[0].id) - 1, 0)
    stretch = every[start: ids.index(shown[-1].id) + 1]
    doubts = [_doubt(every, start + i) for i in range(len(stretch))]
    out = {r.id: 0 for r in shown}
    previous: dict[str, str] = {}
    walk = store.results_by_run(stretch, failed_in=stretch, passes_in=_doubted(stretch, doubts))
    try:
        for i, (run, results) in enumerate(walk):
            if run.id in out:
                for fp, rule in previous.items():
                    got = results.get(fp)
                    if (got[0] == "UNKNOWN" if got is not None
                            else absent_note("", doubts[i], rule) is not None):
                        out[run.id] += 1
            previous = {fp: r[1] for fp, r in results.items()
                        if r[0] == "FAIL" and (rules is None or r[1] in rules)}
    finally:
        walk.close()
    return out


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
