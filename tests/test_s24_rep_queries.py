"""`diff`, `history` (mean time to remediate, --framework counts) and the audit report's trend
read the results of many runs with a fixed number of queries, not one or two per run (N+1), on a
real SQLite file; and what they compute is what the per-run reading computed."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store
from phiguard.store.drift import drift, mean_time_to_remediate
from phiguard.store.trend import trend_view

RULES = ("NET-001", "NET-002", "IAM-001", "TLS-002")


def _run(day: int) -> dict[str, object]:
    stamp = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00Z"
    return {"config": {}, "tool_version": "0.1.0", "rule_pack_digest": "sha256:x",
            "snapshot_time": stamp, "evaluated_at": stamp}


def _findings(rng: random.Random, assets: int) -> list[Finding]:
    out = []
    for i in range(assets):
        outcome = rng.choices(("PASS", "FAIL", "UNKNOWN"), (6, 3, 1))[0]
        out.append(Finding(RULES[i % len(RULES)], f"//compute.googleapis.com/x/{i}", "t",
                           Outcome(outcome), "high", ("hipaa/164.312(a)(1)",), "m"))
    return out


def make_store(path: Path, runs: int, assets: int = 40, seed: int = 7) -> None:
    rng = random.Random(seed)
    with Store(path) as db:
        for day in range(runs):
            db.record(_run(day), _findings(rng, assets), scope="organizations/1")


def _counted(db: Store, call: Callable[[], Any]) -> tuple[Any, int]:
    """The call's result and how many statements it ran that read the results table."""
    seen: list[str] = []
    db.db.set_trace_callback(seen.append)
    try:
        value = call()
    finally:
        db.db.set_trace_callback(None)
    return value, sum(1 for s in seen if "FROM results" in s)


def test_reads_do_not_grow_with_the_runs(tmp_path: Path) -> None:
    counts = {}
    for runs in (6, 40):
        path = tmp_path / f"h{runs}.db"
        make_store(path, runs)
        with Store(path) as db:
            now = _findings(random.Random(1), 40)
            calls: list[Callable[[], Any]] = [
                lambda: drift(db), lambda: drift(db, 1, runs),  # noqa: B023 - called here
                lambda: mean_time_to_remediate(db),
                lambda: mean_time_to_remediate(db, {"NET-001"}),
                lambda: trend_view(db, now),  # noqa: B023
                lambda: trend_view(db, now, rules={"NET-001"})]  # noqa: B023
            counts[runs] = tuple(_counted(db, call)[1] for call in calls)
    assert counts[6] == counts[40], counts
    assert max(counts[40]) <= 3, counts


def _history_reads(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    statements: list[str] = []
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        con = real(*args, **kwargs)
        con.set_trace_callback(statements.append)
        return con

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        for fmt in ("json", "text"):
            result = CliRunner().invoke(main, ["history", "--store", str(path),
                                               "--framework", "hipaa", "-f", fmt])
            assert result.exit_code == 0, result.output
    return sum(1 for s in statements if "FROM results" in s)


def test_history_with_a_framework_reads_a_fixed_number_of_times(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    for runs in (5, 25):
        make_store(tmp_path / f"h{runs}.db", runs)
        reads.append(_history_reads(tmp_path / f"h{runs}.db", monkeypatch))
    assert reads[0] == reads[1] <= 6, reads


# --------------------------------------------------------------------------------------------
# What the one-query reading computes is what the definitions say, on random histories (with
# results absent from some runs), against an oracle over the whole outcome matrix.
# --------------------------------------------------------------------------------------------

LACK = "the snapshot holds no IAM_POLICY content: rules that read IAM policies are UNKNOWN"


def _rule(asset: str) -> str:
    return RULES[int(asset.rsplit("/", 1)[1]) % len(RULES)]


def _order(assets: Iterable[str]) -> list[str]:
    return sorted(assets, key=lambda asset: (_rule(asset), asset))  # as drift lists them


class History:
    """The outcome matrix of a random store (None: no result), and which runs lacked data or
    covered another scope than the run before: there no result reads as UNKNOWN."""

    def __init__(self, path: Path, runs: int, assets: int, seed: int) -> None:
        rng = random.Random(seed)
        self.m: list[dict[str, str]] = []
        self.lossy: list[bool] = []
        self.scope: list[str] = []
        with Store(path) as db:
            for day in range(runs):
                row: dict[str, str] = {}
                found = []
                for i in range(assets):
                    outcome = rng.choices(("PASS", "FAIL", "UNKNOWN", None), (3, 4, 3, 1))[0]
                    if outcome is None:
                        continue
                    asset = f"//compute.googleapis.com/x/{i}"
                    row[asset] = outcome
                    found.append(Finding(_rule(asset), asset, "t", Outcome(outcome), "high",
                                         ("hipaa/164.312(a)(1)",), "m"))
                lossy = day % 4 == 2 or rng.random() < 0.15
                scope = "projects/p" if day == 7 or rng.random() < 0.1 else "organizations/1"
                extra = {"content_missing": [LACK]} if lossy else {}
                db.record({**_run(day), **extra}, found, scope=scope)
                self.m.append(row)
                self.lossy.append(lossy)
                self.scope.append(scope)

    def doubt(self, i: int, against: int | None = None) -> bool:
        other = i - 1 if against is None else against
        return self.lossy[i] or (other >= 0 and self.scope[i] != self.scope[other])

    def eff(self, i: int, asset: str) -> str | None:
        got = self.m[i].get(asset)
        return got if got is not None else ("UNKNOWN" if self.doubt(i) else None)


def _first_seen(h: History, i: int, asset: str) -> int:
    best = j = i
    while j > 0 and h.eff(j - 1, asset) in ("FAIL", "UNKNOWN"):
        j -= 1
        if h.eff(j, asset) == "FAIL":
            best = j
    return best


def _last_judged_failing(h: History, i: int, asset: str) -> bool:
    while i >= 0 and h.eff(i, asset) == "UNKNOWN":
        i -= 1
    return i >= 0 and h.eff(i, asset) == "FAIL"


def _unknown_since(h: History, i: int, asset: str) -> int:
    while i > 0 and h.eff(i - 1, asset) == "UNKNOWN":
        i -= 1
    return i


def _oracle(h: History, a: int, b: int) -> dict[str, list[tuple[str, int]]]:
    m = h.m
    out: dict[str, list[tuple[str, int]]] = {k: [] for k in (
        "new", "resolved", "persisting", "unknown", "was_unknown")}
    for asset in _order(k for k, v in m[b].items() if v == "FAIL"):
        if m[a].get(asset) == "FAIL" or _last_judged_failing(h, a, asset):
            out["persisting"].append((asset, _first_seen(h, b, asset)))
        elif h.eff(a, asset) == "UNKNOWN":
            out["was_unknown"].append((asset, _unknown_since(h, a, asset)))
        else:
            out["new"].append((asset, _first_seen(h, b, asset)))
    for asset in _order(k for k, v in m[a].items() if v == "FAIL"):
        now = m[b].get(asset)
        if now != "FAIL":
            doubted = now is None and h.doubt(b, a)
            into = "unknown" if now == "UNKNOWN" or doubted else "resolved"
            out[into].append((asset, _first_seen(h, a, asset)))
    return out


def _oracle_mttr(h: History) -> dict[str, float]:
    spans: dict[str, list[int]] = {}
    for asset in {k for row in h.m for k in row}:
        start = None
        for i in range(len(h.m)):
            outcome = h.eff(i, asset)
            if outcome == "FAIL" and start is None:
                start = i
            elif start is not None and outcome not in ("FAIL", "UNKNOWN"):
                spans.setdefault(_rule(asset).split("-")[0], []).append(i - start)
                start = None
    return {area: round(sum(v) / len(v), 1) for area, v in sorted(spans.items())}


def test_one_query_reading_matches_the_definitions(tmp_path: Path) -> None:
    for seed in range(6):
        path = tmp_path / f"m{seed}.db"
        h = History(path, 12, 30, seed)
        assert any(h.lossy) and len(set(h.scope)) == 2, seed  # every case is exercised
        with Store(path) as db:
            runs = db.runs()
            day = {r.snapshot_time: i for i, r in enumerate(runs)}
            for a, b in [(i, i + 1) for i in range(11)] + [(0, 11), (3, 9), (9, 3)]:
                got = drift(db, runs[a].id, runs[b].id)
                want = _oracle(h, a, b)
                for name in ("new", "resolved", "persisting", "unknown"):
                    assert [(c.asset, day[c.first_seen]) for c in getattr(got, name)] == (
                        want[name]), (seed, a, b, name)
                assert [(c.asset, day[c.unknown_since]) for c in got.was_unknown] == (
                    want["was_unknown"]), (seed, a, b)
            # one day between runs: mean days to remediate is the mean of run spans
            assert mean_time_to_remediate(db) == _oracle_mttr(h), seed
