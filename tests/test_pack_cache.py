"""The rule-pack cache: a hit is the very pack the files give, any change to an input is a
miss, and a bad cache entry or directory never changes a result or stops a run."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from _cache_env import private_cache
from _paths import RULES
from phiguard.errors import RuleError
from phiguard.policy import pack_cache
from phiguard.policy.rule import _load_pack, load_pack


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return private_cache(tmp_path, monkeypatch)


@pytest.fixture()
def pack_copy(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root, ignore=shutil.ignore_patterns("*.json", "_examples"))
    return root


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pack"))


def _same(a: object, b: object) -> bool:
    return pickle.dumps(a) == pickle.dumps(b)


def test_a_hit_is_the_pack_the_files_give(cache: Path, pack_copy: Path) -> None:
    fresh = _load_pack([pack_copy])
    first = load_pack([pack_copy])
    assert len(_entries(cache)) == 1
    second = load_pack([pack_copy])
    assert second is not first  # read back from the entry
    assert second.digest == fresh.digest
    assert [r.id for r in second.rules] == [r.id for r in fresh.rules]
    assert second.rules == fresh.rules and second.controls == fresh.controls


@pytest.mark.parametrize("change", ["rule", "definitions", "catalog", "new rule", "removed"])
def test_any_changed_input_is_a_miss(cache: Path, pack_copy: Path, change: str) -> None:
    before = load_pack([pack_copy])
    rule = pack_copy / "hipaa" / "ENC-001" / "rule.yaml"
    if change == "rule":
        rule.write_text(rule.read_text().replace("title:", "title: Changed -", 1))
    elif change == "definitions":
        defs = pack_copy / "hipaa" / "_definitions.yaml"
        defs.write_text(defs.read_text() + "\n# a comment changes the bytes\n")
    elif change == "catalog":
        catalog = next((pack_copy / "controls").glob("*.yaml"))
        catalog.write_text(catalog.read_text() + "\n# changed\n")
    elif change == "new rule":
        (pack_copy / "hipaa" / "ZZZ-001").mkdir()
        (pack_copy / "hipaa" / "ZZZ-001" / "rule.yaml").write_text(
            rule.read_text().replace("id: ENC-001", "id: ZZZ-001"))
    else:
        shutil.rmtree(pack_copy / "hipaa" / "ENC-001")
    after = load_pack([pack_copy])
    assert len(_entries(cache)) == 2
    assert after.digest != before.digest
    assert after.digest == _load_pack([pack_copy]).digest
    ids = {r.id for r in after.rules}
    assert ("ZZZ-001" in ids) == (change == "new rule")
    assert ("ENC-001" in ids) == (change != "removed")


def test_a_pack_that_fails_is_never_cached(cache: Path, pack_copy: Path) -> None:
    rule = pack_copy / "hipaa" / "ENC-001" / "rule.yaml"
    rule.write_text(rule.read_text().replace("severity:", "severity: bogus\nxseverity:", 1))
    for _ in range(2):  # the loader's error each time, from the file
        with pytest.raises(RuleError) as err:
            load_pack([pack_copy])
        assert err.value.file == str(rule)
    assert _entries(cache) == []


def test_a_corrupt_or_foreign_entry_is_only_a_miss(cache: Path, pack_copy: Path) -> None:
    expected = load_pack([pack_copy])
    (entry,) = _entries(cache)
    entry.write_bytes(b"phiguard-pack-cache/1\0not a pickle")
    assert _same(load_pack([pack_copy]).rules, expected.rules)
    # a pickle that is not a pack, or an entry others could have written, is not used
    entry.write_bytes(b"phiguard-pack-cache/1\0" + pickle.dumps({"rules": []}))
    assert _same(load_pack([pack_copy]).rules, expected.rules)
    entry.write_bytes(b"phiguard-pack-cache/1\0" + pickle.dumps(expected.__class__(
        (), {}, "forged", ())))
    os.chmod(entry, 0o666)
    assert load_pack([pack_copy]).digest == expected.digest


def test_no_cache_when_turned_off_or_unwritable(tmp_path: Path, pack_copy: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pack_cache.NO_CACHE_ENV, "1")
    monkeypatch.setenv(pack_cache.CACHE_DIR_ENV, str(tmp_path / "off"))
    assert load_pack([pack_copy]).rules
    assert not (tmp_path / "off").exists()
    monkeypatch.delenv(pack_cache.NO_CACHE_ENV)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv(pack_cache.CACHE_DIR_ENV, str(blocker / "sub"))
    assert load_pack([pack_copy]).digest == _load_pack([pack_copy]).digest


def test_old_entries_are_pruned(cache: Path, pack_copy: Path) -> None:
    rule = pack_copy / "hipaa" / "ENC-001" / "rule.yaml"
    text = rule.read_text()
    for i in range(pack_cache.KEEP + 3):
        rule.write_text(text + f"\n# variant {i}\n")
        load_pack([pack_copy])
    assert len(_entries(cache)) == pack_cache.KEEP
