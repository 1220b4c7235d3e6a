"""The history the auditor report shows: failures by area over the last runs, and what changed
since the last recorded run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from phiguard.findings import Finding, Outcome
from phiguard.report._common import rule_area
from phiguard.store.db import WARNING_FIELDS, Store, fingerprint
from phiguard.store.drift import absence_doubt, absent_note, judged_before

__all__ = ["trend_view"]

PALETTE = ("#b42318", "#175cd3", "#067647", "#b54708", "#6941c6", "#c11574", "#0e9384",
           "#4e5ba6", "#93370d", "#344054", "#026aa2", "#854a0e")


def _by_area(rule_ids: Iterable[str]) -> Counter[str]:
    return Counter(rule_area(r) for r in rule_ids)


def trend_view(store: Store, findings: list[Finding], *, limit: int = 14,
               width: int = 640, height: int = 180,
               rules: Collection[str] | None = None, run: Mapping[str, Any] | None = None,
               scope: str | None = None) -> dict[str, Any]:
    """Failures by area for the last `limit - 1` recorded runs plus this one (not yet
    recorded), laid out for an inline SVG chart, and the failures new or resolved since the
    last recorded run (a failure UNKNOWN in this run is not resolved: `unknown`; a result
    UNKNOWN in the last run and failing in this one is not new: `was_unknown`, with the time
    it has been UNKNOWN since). A column's failures leave out what the run could not judge:
    `unknown` (each column's UNKNOWN results) and each series' `unknown` (by area) say how
    many, so a fall of failures that is a rise of UNKNOWN is not read as remediation.
    `rules`: only the results of these rules count (a report's framework view: the store
    keeps every rule's); None counts every rule. `run` (this run's run block) and `scope`:
    a failure of the last run with no result in this one is resolved only if this run could
    have judged it (`drift.absence_doubt`: its input lacked nothing, its scope is the last
    run's); otherwise it is `unknown`, with a `note`. Three queries, whatever the history."""
    every = store.runs()
    runs = every[-(limit - 1):] if limit > 1 else []

    def counted(rule: str) -> bool:
        return rules is None or rule in rules

    by_run = store.rule_counts([r.id for r in runs])
    columns: list[tuple[str, Counter[str], Counter[str]]] = []
    for past in runs:
        fails: Counter[str] = Counter()
        unknowns: Counter[str] = Counter()
        for (rule, outcome), n in by_run[past.id].items():
            if counted(rule) and outcome in ("FAIL", "UNKNOWN"):
                (fails if outcome == "FAIL" else unknowns)[rule_area(rule)] += n
        label = (past.snapshot_time or past.recorded_at)[:10]
        columns.append((f"#{past.id} {label}", fails, unknowns))
    current = {fingerprint(f.rule_id, f.asset): f for f in findings
               if f.outcome is Outcome.FAIL and counted(f.rule_id)}
    unknown = {fingerprint(f.rule_id, f.asset) for f in findings
               if f.outcome is Outcome.UNKNOWN}
    columns.append(("this run", _by_area(f.rule_id for f in current.values()),
                    _by_area(f.rule_id for f in findings
                             if f.outcome is Outcome.UNKNOWN and counted(f.rule_id))))
    areas = sorted({a for _, counts, _ in columns for a in counts})
    top = max([1, *(n for _, counts, _ in columns for n in counts.values())])
    step = width / max(1, len(columns) - 1)
    series = []
    for i, area in enumerate(areas):
        points = [(round(j * step, 1), round(height - height * counts.get(area, 0) / top, 1),
                   counts.get(area, 0)) for j, (_, counts, _) in enumerate(columns)]
        series.append({"area": area, "color": PALETTE[i % len(PALETTE)], "points": points,
                       "polyline": " ".join(f"{x},{y}" for x, y, _ in points),
                       "unknown": [unknowns.get(area, 0) for _, _, unknowns in columns]})
    changes: dict[str, Any] | None = None
    if runs:
        last = runs[-1]
        [(_, results)] = store.results_by_run([last], ("FAIL",))
        before = {fp: (r[1], r[2], r[3]) for fp, r in results.items()
                  if r[0] == "FAIL" and counted(r[1])}
        fresh = {k: f.rule_id for k, f in current.items() if k not in before}
        # failing when last judged (the run before could not judge it): not new; UNKNOWN in
        # the run before and not failing when judged before that: now failing, was UNKNOWN
        carried, since = judged_before(store, every, len(every) - 1, fresh)
        new = [current[k] for k in sorted(current)
               if k not in before and k not in carried and k not in since]
        gone = [k for k in sorted(before) if k not in current]
        # failing before and UNKNOWN now, or without a result in a run that could not have
        # judged it: not resolved
        lacks = {k: v for k, v in (run or {}).items()
                 if k in (*WARNING_FIELDS, "coverage_gaps")}
        doubt = absence_doubt(lacks, scope, last.scope)
        present = {fingerprint(f.rule_id, f.asset) for f in findings}
        notes = {k: absent_note("this run", doubt, before[k][0]) for k in gone
                 if k not in present}
        notes = {k: v for k, v in notes.items() if v is not None}
        resolved = [before[k] for k in gone if k not in unknown and k not in notes]
        changes = {
            "against": f"#{last.id}",
            "new": [{"rule_id": f.rule_id, "asset": f.asset, "severity": f.severity}
                    for f in new],
            "resolved": [{"rule_id": r, "asset": a, "severity": s} for r, a, s in resolved],
            "unknown": [{"rule_id": before[k][0], "asset": before[k][1],
                         "severity": before[k][2], "note": notes.get(k)}
                        for k in gone if k in unknown or k in notes],
            "was_unknown": [{"rule_id": current[k].rule_id, "asset": current[k].asset,
                             "severity": current[k].severity,
                             "unknown_since": since[k].snapshot_time or since[k].recorded_at}
                            for k in sorted(since)],
        }
    return {"columns": [label for label, _, _ in columns], "series": series, "top": top,
            "unknown": [sum(unknowns.values()) for _, _, unknowns in columns],
            "width": width, "height": height, "step": step, "changes": changes}
