"""Pass 1 over a byte range of plain NDJSON (`_survey._survey_range`, which cuts the range at
its line feeds and surveys the common line in its own loop, a block of lines per call) must
give exactly the survey of `_survey_rows` over `range_lines`' rows, the reader it replaces:
the same entries, digests, held records, offsets, line numbers, plain and deferred records,
tenancy, projects, latest time, line and record counts, and the same error, for every kind
of line and every cut of the file at a line start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phiguard.inventory import _survey, readers
from phiguard.inventory.readers import BOM, range_lines
from phiguard.inventory.types import PROJECT_TYPE

FIREWALL = "compute.googleapis.com/Firewall"
INSTANCE = "compute.googleapis.com/Instance"
BUCKET = "storage.googleapis.com/Bucket"
NET = "https://www.googleapis.com/compute/v1/projects/host-1/global/networks/phi-vpc"
WANTED = frozenset({FIREWALL, PROJECT_TYPE, INSTANCE})
FIELDS = {FIREWALL: frozenset({"network", "allowed"})}


def _rec(asset_type: str, n: int, data: Any = None, **top: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": f"//compute.googleapis.com/projects/svc-{n % 3}/things/t{n}",
        "asset_type": asset_type,
        "resource": {"version": "v1", "parent": "//p/projects/123", "location": "us-east1",
                     "data": data if data is not None else {"name": f"t{n}"}},
        "ancestors": [f"projects/{100 + n % 3}", "folders/9", "organizations/1"],
        "update_time": f"2026-10-{1 + n % 28:02d}T00:00:00Z"}
    record.update(top)
    return record


def _lines() -> list[bytes]:
    """Every kind of line pass 1 tells apart: plain lines of types read by envelope (snake
    and camel case), of types kept whole, of a deferred type (shallow and not), with policy
    keys (null or not), with other keys, duplicates, odd times, and lines no reader takes."""
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    vm = {"name": "vm", "networkInterfaces": [{"network": NET}]}
    camel = _rec(BUCKET, 2)
    camel["assetType"] = camel.pop("asset_type")
    camel["updateTime"] = camel.pop("update_time")
    records: list[Any] = [
        _rec(BUCKET, 1), camel, _rec(BUCKET, 3, ancestors=None), _rec(BUCKET, 4, ancestors=[]),
        _rec(BUCKET, 5, update_time=None), _rec(BUCKET, 6, update_time="2026-12-01T00:00:00Z"),
        _rec(BUCKET, 7, update_time="2026-12-01T05:00:00+05:00"),
        _rec(BUCKET, 8, update_time="2026-12-01T00:00:00.5z"),
        _rec(BUCKET, 9, iam_policy=None), _rec(BUCKET, 10, org_policy=None, iamPolicy=None),
        _rec(BUCKET, 11, iam_policy={"bindings": [{"role": "roles/owner",
                                                   "members": ["user:a@example.com"]}]}),
        _rec(BUCKET, 12, related_assets={"x": 1}),
        {**_rec(BUCKET, 14), "resource": {"data": None}},
        {**_rec(BUCKET, 15), "resource": {}},
        {**_rec(BUCKET, 19), "asset_type": None, "assetType": BUCKET},
        _rec(BUCKET, 1),  # a duplicate
        _rec(FIREWALL, 20, {"name": "fw", "network": NET, "allowed": [{"IPProtocol": "tcp"}],
                            "other": 1}),
        _rec(FIREWALL, 21, iam_policy=None),
        _rec(PROJECT_TYPE, 22, {"projectId": "svc-1", "projectNumber": "101"}),
        _rec(INSTANCE, 23, vm), _rec(INSTANCE, 24, {**vm, "deep": deep}),
        _rec(INSTANCE, 29, {"name": "vm"}),  # no network shown: its project undecided
        _rec("compute.googleapis.com/Subnetwork", 25, {"network": NET}),
        _rec(BUCKET, 26, {"deep": deep}),
    ]
    out = [json.dumps(r).encode() + b"\n" for r in records]
    out.append(json.dumps(_rec(BUCKET, 27), separators=(",", ":")).encode() + b"\r\n")
    out.append(b"  " + json.dumps(_rec(BUCKET, 28)).encode() + b"  \n")
    return out


def _fields_of(result: _survey.Survey) -> tuple[Any, ...]:
    e = result.entries
    return (result.lines, result.records, str(result.error) if result.error else None,
            result.error.line if result.error else None, list(e.keys), bytes(e.digests),
            list(e.numbers), bytes(e.kinds), list(e.type_ids), e.type_names, result.parsed,
            result.latest, result.projects, result.offsets, result.line_numbers, result.plain,
            result.plain_rows, result.spent, result.deferred, result.tenancy.networks,
            result.tenancy.undecided)


def _both(path: Path, start: int, end: int,
          deferred: frozenset[str]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    new = _survey._survey_range(str(path), start, end, set(WANTED), FIELDS, deferred)
    lines_read = [0]
    old = _survey._survey_rows(range_lines(path, start, end, lines_read), set(WANTED),
                               _survey.Survey(str(path), start, end), FIELDS, track=True,
                               deferred=deferred)
    if old.error is None:
        old.lines = max(old.lines, lines_read[0])
    return _fields_of(new), _fields_of(old)


def _cuts(body: bytes) -> list[int]:
    return [0] + [i + 1 for i, byte in enumerate(body) if byte == 10 and i + 1 < len(body)]


@pytest.mark.parametrize("block", [None, 1, 700])
@pytest.mark.parametrize("deferred", [frozenset(), frozenset({INSTANCE})])
def test_range_survey_is_the_rows_survey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         deferred: frozenset[str], block: int | None) -> None:
    """(`block`: the loop's calls cut the range every so many bytes, mid-line too.)"""
    if block is not None:
        monkeypatch.setattr(_survey, "_BLOCK", block)
    lines = _lines()
    body = BOM + b"".join(lines[:5]) + b"\n  \n\t\r\n" + b"".join(lines[5:]) + b"\n\n \n"
    path = tmp_path / "a.ndjson"
    path.write_bytes(body)
    cuts = _cuts(body)
    for start in cuts[:3] + cuts[len(cuts) // 2:len(cuts) // 2 + 2] + cuts[-2:]:
        for end in [*[c for c in cuts if c > start][:2], -1]:
            new, old = _both(path, start, end, deferred)
            assert new == old, (start, end)
    new, _ = _both(path, 0, -1, deferred)
    assert new[2] is None and new[10] and new[15] and new[19] and new[20]
    assert len(new[15]) >= 10  # plain lines were read in the loop's own path
    if deferred:
        assert new[18]


@pytest.mark.parametrize("bad", [
    b'{"name": "x", "asset_type": "a/B", "resource": {}, "update_time": "yesterday"}\n',
    b'{"name": "x", "asset_type": "a/B", "resource": {"data": {}}\n',
    b'[1, 2]\n',
    b'{"name": "x", "asset_type": "a/B", "resource": {"data": [1, 2]}}\n',
    b'{"name": "x", "asset_type": "a/B"}\n',
    b'{"name": "", "asset_type": "a/B", "resource": {}}\n',
    b'{"name": "x", "asset_type": "", "resource": {}}\n',
    b'{"name": 5, "asset_type": "a/B", "resource": {}}\n',
    b'{"name": "x", "asset_type": "a/B", "resource": {"data": {"n": 1e400}}}\n',
    b'{"name": "x", "asset_type": "' + FIREWALL.encode() + b'", "resource": {"data": 5}}\n',
    b'\xef\xbb\xbf{"name": "x"}\n',
])
def test_bad_lines_fail_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              bad: bytes) -> None:
    monkeypatch.setattr(_survey, "_BLOCK", 200)
    lines = _lines()
    path = tmp_path / "a.ndjson"
    path.write_bytes(b"".join(lines[:3]) + b"\n" + bad + b"".join(lines[3:6]))
    new, old = _both(path, 0, -1, frozenset())
    assert new == old
    assert new[2] is not None or bad.count(b"{") < 4  # (a type not kept: read by envelope)
    second = len(lines[0])
    assert _both(path, second, -1, frozenset())[0] == _both(path, second, -1, frozenset())[1]


def test_a_line_too_long_fails_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines()
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", max(len(line) for line in lines) + 1)
    path = tmp_path / "a.ndjson"
    long = json.dumps(_rec(BUCKET, 40, {"x": "y" * 2000})).encode() + b"\n"
    path.write_bytes(b"".join(lines[:4]) + b"\n\n" + long + b"".join(lines[4:]))
    new, old = _both(path, 0, -1, frozenset())
    assert new[2] is not None and "longer than" in new[2] and new == old
