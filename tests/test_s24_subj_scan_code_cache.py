"""A scan keeps the rules' generated code between runs as the plan gate does
(phiguard.policy.code_cache, gate's request): a second scan of the same pack in a new process's
state compiles nothing and writes the same findings bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _cache_env import empty_code_table, private_cache
from _paths import DEMO
from phiguard.policy import codegen
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

_AT = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_cache(tmp_path, monkeypatch)


@pytest.fixture()
def fresh_table() -> Iterator[None]:
    with empty_code_table():
        yield


def test_second_scan_compiles_nothing_and_writes_the_same(
        cache: Path, fresh_table: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def counting(source: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(source)
        return compile(source, *args, **kwargs)
    monkeypatch.setattr(codegen, "compile", counting, raising=False)

    def scan(out: Path) -> bytes:
        run_scan([DEMO], config_path=DEMO / "phiguard.yaml", at=_AT,
                 outputs=[Output("json", str(out), "--output")])
        return out.read_bytes()

    first = scan(tmp_path / "a.json")
    assert seen
    assert any(cache.glob("*.code"))
    codegen._CODE.clear()  # as a new process
    seen.clear()
    assert scan(tmp_path / "b.json") == first
    assert seen == []
