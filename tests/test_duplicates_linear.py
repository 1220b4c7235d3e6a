"""Duplicate checking stays linear: records repeated with other raw bytes (a second export
that differs only in `update_time`, a re-exported record in another key order) are confirmed
by decoding each of them once, in one read of the files, not by re-reading the snapshot from
its start for every pair. Verdicts and messages are those of the record-by-record check."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phiguard.errors import SnapshotError
from phiguard.inventory import _envelopes, readers
from phiguard.inventory.readers import discover
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.snapshot import LoadedContext, load_context, snapshot_assets

PAIRS = 3000
BUCKET = "storage.googleapis.com/Bucket"
ANCESTORS = ["projects/123", "folders/77", "organizations/9"]


def _bucket(i: int, when: str, **data: Any) -> dict[str, Any]:
    return {"name": f"//storage.googleapis.com/bucket-{i:05d}", "asset_type": BUCKET,
            "resource": {"version": "v1", "location": "us-east4",
                         "parent": "//cloudresourcemanager.googleapis.com/projects/123",
                         "data": {"name": f"bucket-{i:05d}", "location": "US-EAST4",
                                  "storageClass": "STANDARD", **data}},
            "ancestors": ANCESTORS, "update_time": when}


def _ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


class _Counts:
    """Lines JSON-decoded and files opened while the snapshot is read; past `limit` decodes
    it stops the read (a quadratic check would go on for minutes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
        self.calls: Counter[str] = Counter()
        decode_line, open_ = _envelopes.decode_line, readers._open

        def counted_decode(raw: bytes, file: str, line: int) -> Any:
            self.calls["decoded"] += 1
            if self.calls["decoded"] > limit:
                raise AssertionError(f"more than {limit} lines decoded")
            return decode_line(raw, file, line)

        def counted_open(path: Path) -> Any:
            self.calls["opened"] += 1
            return open_(path)

        monkeypatch.setattr(_envelopes, "decode_line", counted_decode)
        monkeypatch.setattr(readers, "_open", counted_open)


def _load(path: Path) -> LoadedContext:
    return load_context(discover([path]), [], PhiConfig())


@pytest.fixture()
def two_exports(tmp_path: Path) -> Path:
    """Two exports of the same buckets concatenated in one file, an hour apart."""
    path = tmp_path / "export.ndjson"
    path.write_text(_ndjson([_bucket(i, "2026-11-25T05:00:00Z") for i in range(PAIRS)])
                    + _ndjson([_bucket(i, "2026-11-25T06:00:00Z") for i in range(PAIRS)]))
    return path


def test_thousands_of_repeats_differing_in_update_time_decode_each_line_once(
        two_exports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """3000 buckets exported twice (only `update_time` differs, so every raw digest does):
    each repeat is a duplicate, judged once, and confirming them decodes each line at most
    once and opens the file a bounded number of times (the check re-read the file from its
    start for every pair: 3000 x 3000 / 2 decodes)."""
    counts = _Counts(monkeypatch, limit=2 * PAIRS)
    loaded = _load(two_exports)
    assert counts.calls["decoded"] <= 2 * PAIRS
    assert counts.calls["opened"] <= 10
    assert loaded.records == 2 * PAIRS
    assert loaded.counts[BUCKET] == PAIRS
    assert len(loaded.skip) == PAIRS
    assert {index for _, index in loaded.skip} == set(range(PAIRS + 1, 2 * PAIRS + 1))


def test_repeats_across_files_and_key_orders_are_duplicates_read_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second export in another file, its keys in another order: the same content, no
    conflict, each line decoded at most once."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a.ndjson").write_text(_ndjson([_bucket(i, "2026-11-25T05:00:00Z")
                                            for i in range(PAIRS)]))
    reordered = [dict(reversed(list(_bucket(i, "2026-11-25T06:00:00Z").items())))
                 for i in range(PAIRS)]
    (snap / "b.ndjson").write_text(_ndjson(reordered))
    counts = _Counts(monkeypatch, limit=2 * PAIRS)
    loaded = _load(snap)
    assert counts.calls["decoded"] <= 2 * PAIRS
    assert counts.calls["opened"] <= 20
    assert loaded.counts[BUCKET] == PAIRS
    assert {file for file, _ in loaded.skip} == {str(snap / "b.ndjson")}
    assert len(loaded.skip) == PAIRS


def test_the_earliest_conflict_is_reported_with_the_first_place(tmp_path: Path) -> None:
    """Among thousands of same-content repeats, two buckets whose second record has other
    data: the error names the earlier conflicting one, at its line, and the first record's
    file and line, as before."""
    path = tmp_path / "export.ndjson"
    later = [_bucket(i, "2026-11-25T06:00:00Z") for i in range(PAIRS)]
    later[2500] = _bucket(2500, "2026-11-25T06:00:00Z", storageClass="NEARLINE")
    later[1200] = _bucket(1200, "2026-11-25T06:00:00Z", versioning={"enabled": True})
    path.write_text(_ndjson([_bucket(i, "2026-11-25T05:00:00Z") for i in range(PAIRS)])
                    + _ndjson(later))
    with pytest.raises(SnapshotError) as caught:
        _load(path)
    err = caught.value
    assert err.file == str(path) and err.line == PAIRS + 1201
    assert ("conflicting duplicate: //storage.googleapis.com/bucket-01200 (RESOURCE) differs "
            f"from the record at {path}:1201") in str(err)


def test_only_repeats_are_judged_once(two_exports: Path) -> None:
    """The assets judged: each bucket once, from its first record."""
    files = discover([two_exports])
    loaded = load_context(files, [], PhiConfig())
    names: Iterator[str] = (a.name for a in snapshot_assets(loaded, files, None))
    assert Counter(names) == {f"//storage.googleapis.com/bucket-{i:05d}": 1
                              for i in range(PAIRS)}
