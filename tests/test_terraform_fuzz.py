"""`phiguard plan PLAN.json` under random damage to valid plans: truncation, injected bytes,
type changes and deletions. Whatever the damage, no traceback, no hang; an input that is not
JSON, or not a plan in Terraform's format, is exit 2 naming the file, never 0 or 1."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _paths import PLANS
from phiguard.cli import main

CONFIG = PLANS / "phiguard.yaml"
SOURCES = {name: (PLANS / name).read_bytes() for name in ("iam.json", "deletions.json",
                                                             "unknowns.json", "lb-tls.json")}
BOUND_SECONDS = 20.0
pytestmark = pytest.mark.usefixtures("pack_loaded_once")  # the plan is the subject
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def _run(tmp_path: Path, raw: bytes) -> tuple[int, str]:
    """Run `phiguard plan` on the bytes; fail on a traceback or on running past the bound."""
    path = tmp_path / "plan.json"
    path.write_bytes(raw)
    started = time.monotonic()
    result = CliRunner().invoke(main, ["plan", str(path), "-c", str(CONFIG),
                                       "--at", "2026-11-25T00:00:00Z", "-f", "json"])
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_SECONDS, elapsed
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback: {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.exit_code
    if result.exit_code == 2:
        assert str(path) in result.output, result.output[-300:]
    return result.exit_code, result.output


def _is_json(raw: bytes) -> bool:
    """Strict JSON text phiguard accepts: UTF-8, no NaN, no key twice in one object."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(name)
    try:
        json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
        orjson.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


@SETTINGS
@given(source=st.sampled_from(sorted(SOURCES)), cut=st.floats(0.0, 0.999))
def test_a_truncated_plan_is_exit_2(tmp_path: Path, source: str, cut: float) -> None:
    raw = SOURCES[source].rstrip()
    code, _ = _run(tmp_path, raw[:int(len(raw) * cut)])
    assert code == 2


@SETTINGS
@given(source=st.sampled_from(sorted(SOURCES)), at=st.floats(0.0, 1.0),
       junk=st.binary(min_size=1, max_size=8))
def test_injected_bytes_never_crash_and_broken_json_is_exit_2(
        tmp_path: Path, source: str, at: float, junk: bytes) -> None:
    raw = SOURCES[source]
    i = int(len(raw) * at)
    damaged = raw[:i] + junk + raw[i:]
    code, _ = _run(tmp_path, damaged)
    if not _is_json(damaged):
        assert code == 2


# the plan format's own keys, and the JSON types each may have ---------------------------------
VALID_TYPES: dict[str, tuple[type, ...]] = {
    "format_version": (str,), "resource_changes": (list, type(None)), "address": (str,),
    "type": (str,), "name": (str,), "change": (dict,), "actions": (list,),
    "before": (dict, type(None)), "after": (dict, type(None)),
    "after_unknown": (dict, bool, type(None)),
}
REQUIRED = {"format_version", "address", "type", "name", "change", "actions"}
REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                         st.just([]), st.just([1, "x"]), st.just({}), st.just({"k": None}))


def _places(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every (container path, key) in the document."""
    out = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*path, key))
            out.extend(_places(value, (*path, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.append((*path, i))
            out.extend(_places(value, (*path, i)))
    return out


def _structural(place: tuple[Any, ...]) -> str | None:
    """The plan-format key a place is, when phiguard validates it (None: an attribute value
    or a key phiguard reads leniently)."""
    key = place[-1]
    if place == ("format_version",) or place == ("resource_changes",):
        return str(key)
    if len(place) == 3 and place[0] == "resource_changes" and key in ("address", "type", "name",
                                                                      "change"):
        return str(key)
    if len(place) == 4 and place[0] == "resource_changes" and place[2] == "change" and \
            key in ("actions", "before", "after", "after_unknown"):
        return str(key)
    return None


def _managed(doc: dict[str, Any], place: tuple[Any, ...]) -> bool:
    if place[0] != "resource_changes" or len(place) < 3:
        return True
    item = doc["resource_changes"][place[1]]
    return isinstance(item, dict) and item.get("mode", "managed") == "managed"


def _choose(doc: dict[str, Any], pick: int, plan_key: bool,
            keys_only: bool = False) -> tuple[Any, ...]:
    """A place in the document; half the time one of the plan format's own keys."""
    places = [p for p in _places(doc) if not keys_only or isinstance(p[-1], str)]
    structural = [p for p in places if _structural(p) is not None]
    pool = structural if plan_key and structural else places
    return pool[pick % len(pool)]


@SETTINGS
@given(source=st.sampled_from(sorted(SOURCES)), pick=st.integers(0, 10**6),
       plan_key=st.booleans(), value=REPLACEMENTS)
def test_a_type_change_never_crashes_and_a_mistyped_plan_key_is_exit_2(
        tmp_path: Path, source: str, pick: int, plan_key: bool, value: Any) -> None:
    doc = orjson.loads(SOURCES[source])
    place = _choose(doc, pick, plan_key)
    damaged = copy.deepcopy(doc)
    node = damaged
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = value
    code, _ = _run(tmp_path, orjson.dumps(damaged))
    key = _structural(place)
    if key is not None and _managed(doc, place) and not isinstance(value, VALID_TYPES[key]):
        assert code == 2, (place, value)


@SETTINGS
@given(source=st.sampled_from(sorted(SOURCES)), pick=st.integers(0, 10**6),
       plan_key=st.booleans())
def test_a_deletion_never_crashes_and_a_missing_plan_key_is_exit_2(
        tmp_path: Path, source: str, pick: int, plan_key: bool) -> None:
    doc = orjson.loads(SOURCES[source])
    place = _choose(doc, pick, plan_key, keys_only=True)
    damaged = copy.deepcopy(doc)
    node = damaged
    for key in place[:-1]:
        node = node[key]
    del node[place[-1]]
    code, _ = _run(tmp_path, orjson.dumps(damaged))
    key = _structural(place)
    if key in REQUIRED and _managed(doc, place):
        assert code == 2, place
