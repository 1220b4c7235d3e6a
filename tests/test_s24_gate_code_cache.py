"""The rules' generated code kept between plan runs (phiguard.policy.code_cache): a second run
of the same pack compiles nothing and reports the same bytes; a damaged, foreign or
group-writable entry, or caching turned off, only means compiling again."""

from __future__ import annotations

import marshal
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _cache_env import empty_code_table, private_cache
from _paths import PLANS
from phiguard.policy import code_cache, codegen, pack_cache
from phiguard.runs.outputs import Output
from phiguard.runs.plan import run_plan_gate

PLAN = PLANS / "data-stores.json"
CONFIG = PLANS / "phiguard.yaml"
_AT = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_cache(tmp_path, monkeypatch)


@pytest.fixture()
def fresh_table() -> Iterator[None]:
    """The generator's table of this process emptied for the test and given back after."""
    with empty_code_table():
        yield


@pytest.fixture()
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each source the generator compiles (its `compile` counted, not replaced)."""
    seen: list[str] = []

    def counting(source: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return compile(source, *args, **kwargs)
    monkeypatch.setattr(codegen, "compile", counting, raising=False)
    return seen


def _run(out: Path) -> bytes:
    run_plan_gate(PLAN, config_path=CONFIG, outputs=[Output("json", str(out), "--output")],
                  at=_AT)
    return out.read_bytes()


def _forget() -> None:
    """As a new process: nothing compiled yet."""
    codegen._CODE.clear()


def test_second_run_compiles_nothing_and_reports_the_same(
        cache: Path, fresh_table: None, compiles: list[str], tmp_path: Path) -> None:
    first = _run(tmp_path / "a.json")
    assert compiles, "the first run compiles the generated code"
    entries = list(cache.glob("*.code"))
    assert len(entries) == 1
    assert entries[0].stat().st_mode & 0o077 == 0
    kept = code_cache.read(entries[0])
    assert set(compiles) <= set(kept)
    _forget()
    compiles.clear()
    assert _run(tmp_path / "b.json") == first
    assert compiles == []


def test_off_writes_nothing(cache: Path, fresh_table: None, compiles: list[str],
                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pack_cache.NO_CACHE_ENV, "1")
    _run(tmp_path / "a.json")
    assert compiles
    assert not cache.exists()


@pytest.mark.parametrize("damage", ["truncated", "not-a-table", "foreign-code", "group-writable",
                                    "wrong-header"])
def test_a_bad_entry_is_a_miss(cache: Path, fresh_table: None, compiles: list[str],
                               tmp_path: Path, damage: str) -> None:
    reference = _run(tmp_path / "ref.json")
    entry = code_cache.entry_path(cache)
    data = entry.read_bytes()
    header = data[:data.index(b"\0") + 1]
    if damage == "truncated":
        entry.write_bytes(data[:len(data) // 2])
    elif damage == "not-a-table":
        entry.write_bytes(header + marshal.dumps(["def condition(env): pass"]))
    elif damage == "foreign-code":
        # a table whose value is not a code object
        entry.write_bytes(header + marshal.dumps({"x = 1": b"not code"}))
    elif damage == "group-writable":
        os.chmod(entry, 0o664)
    else:
        entry.write_bytes(b"something else\0" + data[len(header):])
    _forget()
    compiles.clear()
    assert _run(tmp_path / "again.json") == reference
    assert compiles, "a bad entry is never used: the code compiles again"


def test_read_refuses_a_symlink(cache: Path, fresh_table: None, tmp_path: Path) -> None:
    _run(tmp_path / "a.json")
    entry = code_cache.entry_path(cache)
    real = tmp_path / "elsewhere.code"
    entry.rename(real)
    entry.symlink_to(real)
    assert code_cache.read(entry) == {}
    assert code_cache.read(real)


def test_unwritable_folder_is_no_error(fresh_table: None, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(pack_cache.CACHE_DIR_ENV, str(blocker / "cache"))
    monkeypatch.delenv(pack_cache.NO_CACHE_ENV, raising=False)
    assert _run(tmp_path / "a.json")


def test_a_large_table_keeps_only_the_run(cache: Path, fresh_table: None, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _run(tmp_path / "a.json")
    entry = code_cache.entry_path(cache)
    old = code_cache.read(entry)
    stale = {f"x = {i}\n": compile(f"x = {i}\n", "<stale>", "exec") for i in range(5)}
    # one rule's code missing from the cache, and stale entries: the run compiles the missing
    # code; the table with it is too large, so only what this run compiled is written
    dropped = next(iter(old))
    kept = {s: c for s, c in {**old, **stale}.items() if s != dropped}
    code_cache.write(cache, entry, kept)
    monkeypatch.setattr(code_cache, "MAX_BYTES", entry.stat().st_size)
    _forget()
    _run(tmp_path / "b.json")
    after = code_cache.read(entry)
    assert set(after) == {dropped}


def test_a_table_within_the_limit_keeps_everything(cache: Path, fresh_table: None,
                                                   tmp_path: Path) -> None:
    _run(tmp_path / "a.json")
    entry = code_cache.entry_path(cache)
    old = code_cache.read(entry)
    stale = {f"x = {i}\n": compile(f"x = {i}\n", "<stale>", "exec") for i in range(5)}
    dropped = next(iter(old))
    code_cache.write(cache, entry, {s: c for s, c in {**old, **stale}.items() if s != dropped})
    _forget()
    _run(tmp_path / "b.json")
    assert set(code_cache.read(entry)) == set(old) | set(stale)
