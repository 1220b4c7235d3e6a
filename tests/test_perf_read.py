"""The read path's speed work, held to what it replaced. Pass 1 (`load_context`) runs with the
cyclic garbage collector paused: it makes no reference cycles, and every collection during it
only walked the records held so far; the collector is resumed as the caller had it, and what
pass 1 holds is the same either way. Times are read (`records._instant`) as `parse_time` reads
them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _paths import DEMO, RULES
from phiguard._util.times import parse_time
from phiguard.config import load_config
from phiguard.inventory.readers import discover
from phiguard.inventory.records import _instant, _latest, valid_time
from phiguard.inventory.snapshot import LoadedContext, load_context
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack


def _loader() -> Callable[[], LoadedContext]:
    """`load_context` of the demo org as `Scan` calls it (all else made beforehand)."""
    config = load_config(DEMO / "phiguard.yaml")
    engine = Engine(load_pack([RULES]).rules, params=config.params)
    files, types, fields = discover([DEMO]), engine.context_types(), engine.context_fields()
    judged = engine.subject_types(), engine.any_type_needs()
    reach_only = engine.reach_only_types()
    return lambda: load_context(files, types, config.phi, fields=fields, judged=judged,
                                reach_only=reach_only)


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection the collector starts while the test runs."""
    started: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(note)
    try:
        yield started
    finally:
        gc.callbacks.remove(note)


def test_pass_one_runs_without_collections(collections: list[int]) -> None:
    load = _loader()
    thresholds = gc.get_threshold()
    gc.set_threshold(100, 10, 10)  # the demo org allocates far more than 100 objects
    try:
        assert gc.isenabled()
        collections.clear()
        loaded = load()
        # none during it (without the pause: 38 here); one may follow when it resumes
        assert collections in ([], [0])
        assert gc.isenabled()  # resumed
    finally:
        gc.set_threshold(*thresholds)
    assert loaded.records > 100 and loaded.inventory.of_types(["compute.googleapis.com/Firewall"])


def test_a_disabled_collector_stays_disabled_and_the_context_is_the_same() -> None:
    load = _loader()
    enabled = load()
    gc.disable()
    try:
        disabled = load()
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert disabled.counts == enabled.counts and disabled.records == enabled.records
    assert disabled.policies == enabled.policies and disabled.skip == enabled.skip
    types = sorted(enabled.counts)
    assert disabled.inventory.of_types(types) == enabled.inventory.of_types(types)



# Pieces of texts that are RFC 3339 times, or nearly: `_instant` reads every one as
# `parse_time` does (the same instant, or None for both).
_TIME_PIECES = ["2026", "-", "01", "02", "12", "13", "30", "31", "T", "t", " ", "00", "23",
                "24", "59", "60", ":", ".", "5", "123456", "1234567", "123456789", "Z", "z",
                "+00:00", "-05:30", "+01", "W01", "20260101", "000000", "\u0663"]


@settings(max_examples=4000)
@given(st.lists(st.sampled_from(_TIME_PIECES), max_size=12).map("".join))
def test_instant_is_parse_time(text: str) -> None:
    assert _instant(text) == parse_time(text)
    assert valid_time(text) == (parse_time(text) is not None)


@pytest.mark.parametrize("text", [
    "2026-08-31T06:12:19.316942Z", "2026-08-31T06:12:19Z", "2026-08-31T06:12:19.5Z",
    "2026-08-31T06:12:19.316942123Z", "2026-08-31t06:12:19z", " 2026-08-31T06:12:19Z",
    "2026-02-30T00:00:00Z", "2026-08-31T06:12:19+02:00", "2026-08-31", "20260831T061219Z",
    "2026-08-31T24:00:00Z", "Z", "",
])
def test_instant_of_every_spelling(text: str) -> None:
    assert _instant(text) == parse_time(text)


def test_the_later_time_of_two() -> None:
    # the later one, compared as times: precision, zones and nanoseconds cut as Python cuts them
    assert _latest("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z") == "2026-01-01T00:00:00.5Z"
    assert _latest("2026-01-01T01:00:00+02:00", "2026-01-01T00:00:00Z") == \
        "2026-01-01T00:00:00Z"
    assert _latest("2026-01-01T00:00:00.1234567Z", "2026-01-01T00:00:00.1234568Z") == \
        "2026-01-01T00:00:00.1234567Z"  # the same microsecond: the first
    assert _latest("not a time", "2026-01-01T00:00:00Z") == "not a time"
    assert _latest(None, "2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"


def test_inside_a_long_lived_heap_what_pass_one_kept_is_frozen_at_its_end() -> None:
    """Inside `long_lived_heap` (a scan), what pass 1 keeps lives to the end: it is moved to
    the permanent generation when the pass ends, not walked by the collections that follow
    until a full one freezes it. Outside it nothing is frozen (nothing would unfreeze it)."""
    from phiguard._util.parallel import long_lived_heap

    load = _loader()
    with long_lived_heap():
        before = gc.get_freeze_count()
        loaded = load()
        kept = gc.get_freeze_count() - before
        assert gc.isenabled()
    assert kept > loaded.records  # every held record, its asset and their data
    assert gc.get_freeze_count() == 0  # unfrozen on leaving
    load()
    assert gc.get_freeze_count() == 0
