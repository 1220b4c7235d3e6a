"""The history the auditor report shows: failures by area over the last runs, and what changed
since the last recorded run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from typing import Any

from phiguard.findings import Finding, Outcome
from phiguard.report._common import rule_area
from phiguard.store.db import Store, fingerprint
from phiguard.store.drift import failing_when_last_judged

__all__ = ["trend_view"]

PALETTE = ("#b42318", "#175cd3", "#067647", "#b54708", "#6941c6", "#c11574", "#0e9384",
           "#4e5ba6", "#93370d", "#344054", "#026aa2", "#854a0e")


def _by_area(rule_ids: Iterable[str]) -> Counter[str]:
    return Counter(rule_area(r) for r in rule_ids)


def trend_view(store: Store, findings: list[Finding], *, limit: int = 14,
               width: int = 640, height: int = 180,
               rules: Collection[str] | None = None) -> dict[str, Any]:
    """Failures by area for the last `limit - 1` recorded runs plus this one (not yet
    recorded), laid out for an inline SVG chart, and the failures new or resolved since the
    last recorded run (a failure UNKNOWN in this run is not resolved: `unknown`). `rules`:
    only the failures of these rules count (a report's framework view: the store keeps every
    rule's); None counts every rule."""
    runs = store.runs()[-(limit - 1):] if limit > 1 else []

    def failing_of(run_id: int) -> dict[str, tuple[str, str, str]]:
        found = store.failing(run_id)
        if rules is None:
            return found
        return {k: v for k, v in found.items() if v[0] in rules}

    columns: list[tuple[str, Counter[str]]] = []
    for run in runs:
        failing = failing_of(run.id)
        label = (run.snapshot_time or run.recorded_at)[:10]
        columns.append((f"#{run.id} {label}", _by_area(r for r, _, _ in failing.values())))
    current = {fingerprint(f.rule_id, f.asset): f for f in findings
               if f.outcome is Outcome.FAIL and (rules is None or f.rule_id in rules)}
    unknown = {fingerprint(f.rule_id, f.asset) for f in findings
               if f.outcome is Outcome.UNKNOWN}
    columns.append(("this run", _by_area(f.rule_id for f in current.values())))
    areas = sorted({a for _, counts in columns for a in counts})
    top = max([1, *(n for _, counts in columns for n in counts.values())])
    step = width / max(1, len(columns) - 1)
    series = []
    for i, area in enumerate(areas):
        points = [(round(j * step, 1), round(height - height * counts.get(area, 0) / top, 1),
                   counts.get(area, 0)) for j, (_, counts) in enumerate(columns)]
        series.append({"area": area, "color": PALETTE[i % len(PALETTE)], "points": points,
                       "polyline": " ".join(f"{x},{y}" for x, y, _ in points)})
    changes: dict[str, Any] | None = None
    if runs:
        before = failing_of(runs[-1].id)
        # failing when last judged (the run before could not judge it): not new
        every = store.runs()
        carried = failing_when_last_judged(store, every, len(every) - 1,
                                           current.keys() - before.keys())
        new = [current[k] for k in sorted(current) if k not in before and k not in carried]
        gone = [k for k in sorted(before) if k not in current]
        # failing before and UNKNOWN now: this run could not judge it, so not resolved
        resolved = [before[k] for k in gone if k not in unknown]
        changes = {
            "against": f"#{runs[-1].id}",
            "new": [{"rule_id": f.rule_id, "asset": f.asset, "severity": f.severity}
                    for f in new],
            "resolved": [{"rule_id": r, "asset": a, "severity": s} for r, a, s in resolved],
            "unknown": [{"rule_id": r, "asset": a, "severity": s}
                        for r, a, s in (before[k] for k in gone if k in unknown)],
        }
    return {"columns": [label for label, _ in columns], "series": series, "top": top,
            "width": width, "height": height, "step": step, "changes": changes}
