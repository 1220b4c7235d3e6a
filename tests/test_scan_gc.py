"""The scan's garbage-collector policy (phiguard._util.parallel.long_lived_heap): what pass 1
builds is frozen, survivors of a full collection are frozen as they go, young cycles are
still freed, and the collector is left as it was found."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime
from io import StringIO
from typing import Any

import pytest

from _paths import DEMO, RULES
from phiguard._util.parallel import YOUNG_THRESHOLD, long_lived_heap
from phiguard._util.times import parse_time
from phiguard.config import load_config
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import Scan


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector() -> Iterator[None]:
    """Each test starts from an unfrozen, enabled collector with the default thresholds and
    leaves it so, whatever it asserts."""
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.enable()
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks


def test_the_heap_is_frozen_inside_and_given_back_after(collector: None) -> None:
    before = gc.get_threshold()
    with long_lived_heap():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    assert all(getattr(cb, "__name__", "") != "_freeze_survivors" for cb in gc.callbacks)


def test_a_full_collection_inside_freezes_what_survived(collector: None) -> None:
    with long_lived_heap():
        held = [[i] for i in range(1000)]  # survives
        frozen = gc.get_freeze_count()
        gc.collect()
        assert gc.get_freeze_count() >= frozen + len(held)
        # the young generations are empty: later collections walk only newer objects
        assert gc.get_count()[1:] == (0, 0)
    assert gc.get_freeze_count() == 0


def test_young_cycles_are_still_collected_inside(collector: None) -> None:
    import weakref

    with long_lived_heap():
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        gc.collect(0)
        assert gone() is None


def test_a_heap_the_caller_froze_and_a_disabled_collector_are_left_alone(
        collector: None) -> None:
    gc.freeze()
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    with long_lived_heap():
        assert gc.get_threshold() == thresholds
        gc.collect()
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == frozen
    gc.unfreeze()
    gc.disable()
    with long_lived_heap():
        assert gc.get_freeze_count() == 0 and not gc.isenabled()
    assert not gc.isenabled()


def test_an_error_inside_gives_the_collector_back(collector: None) -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), long_lived_heap():
        raise RuntimeError("stop")
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def _at() -> datetime:
    at = parse_time("2026-11-25T00:00:00Z")
    assert at is not None
    return at


def _scan(jobs: int) -> Scan:
    return Scan([DEMO], load_pack([RULES]), load_config(DEMO / "phiguard.yaml"), jobs=jobs,
                at=_at())


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_scan_leaves_the_collector_as_it_found_it(collector: None, jobs: int) -> None:
    before = gc.get_threshold()
    job = _scan(jobs)
    assert gc.get_freeze_count() == 0  # between the passes too
    results = job.findings()
    seen: list[Any] = [next(results)]
    assert gc.get_freeze_count() > 0  # the judging pass runs on a frozen heap
    seen.extend(results)
    assert len(seen) > 100
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_scan_stopped_early_leaves_the_collector_as_it_found_it(collector: None) -> None:
    results = _scan(1).findings()
    next(results)
    assert gc.get_freeze_count() > 0
    results.close()
    assert gc.get_freeze_count() == 0


def test_the_findings_are_the_same_with_the_collector_policy_off(
        collector: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    import phiguard.scan as scan_module

    def text() -> str:
        out = StringIO()
        _scan(1).write_json(out, Tally())
        return out.getvalue()

    with_policy = text()
    monkeypatch.setattr(scan_module, "long_lived_heap", contextlib.nullcontext)
    assert text() == with_policy
