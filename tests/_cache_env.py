"""The rule-pack and generated-code caches of a test: a private cache folder and an emptied
table of generated code, shared by the cache tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from phiguard.policy import codegen, pack_cache


def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the caches at a folder of this test's own, caching on."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(pack_cache.CACHE_DIR_ENV, str(folder))
    monkeypatch.delenv(pack_cache.NO_CACHE_ENV, raising=False)
    return folder


@contextmanager
def empty_code_table() -> Iterator[None]:
    """The generator's table of this process emptied for the test and given back after."""
    saved = dict(codegen._CODE)
    codegen._CODE.clear()
    try:
        yield
    finally:
        codegen._CODE.clear()
        codegen._CODE.update(saved)
