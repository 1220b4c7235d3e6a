"""The large-input paths of a scan: byte ranges, worker processes and their bookkeeping give
exactly what a single pass over the file gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _paths import RULES
from phiguard.config import load_config
from phiguard.errors import SnapshotError
from phiguard.inventory import snapshot
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import Scan

ANCESTORS = ["projects/111111111111", "folders/222", "organizations/123456789012"]


def _firewall(i: int, source: str) -> dict[str, Any]:
    name = f"fw-{i:04d}"
    link = f"https://www.googleapis.com/compute/v1/projects/phi-prod/global/firewalls/{name}"
    return {"name": f"//compute.googleapis.com/projects/phi-prod/global/firewalls/{name}",
            "asset_type": "compute.googleapis.com/Firewall",
            "resource": {"version": "v1", "data": {
                "name": name, "selfLink": link, "direction": "INGRESS",
                "network": "https://www.googleapis.com/compute/v1/projects/phi-prod/global/networks/phi",
                "sourceRanges": [source], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}},
            "ancestors": ANCESTORS, "update_time": f"2026-11-{1 + i % 20:02d}T00:00:00Z"}


def _route(i: int) -> dict[str, Any]:
    return {"name": f"//compute.googleapis.com/projects/phi-prod/global/routes/r-{i}",
            "asset_type": "compute.googleapis.com/Route",
            "resource": {"version": "v1", "data": {"name": f"r-{i}", "destRange": "10.0.0.0/8"}},
            "ancestors": ANCESTORS, "update_time": "2026-11-02T00:00:00Z"}


def _lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        record = _firewall(i, "0.0.0.0/0" if i % 3 == 0 else "10.1.0.0/16") if i % 2 else _route(i)
        out.append(json.dumps(record))
    return out


def _scan(path: Path, jobs: int) -> str:
    pack = load_pack([RULES])
    job = Scan([path], pack, load_config(None), jobs=jobs)
    out = path.parent / f"out-{jobs}.json"
    with out.open("w") as fh:
        job.write_json(fh, Tally())
    text = out.read_text()
    out.unlink()
    return text


@pytest.fixture()
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "RANGE_BYTES", 2048)


def test_ranges_and_workers_give_the_same_findings(tmp_path: Path, small_ranges: None) -> None:
    """Many small byte ranges, with one or two worker processes, give byte-identical JSON to
    one range, and every record is judged exactly once."""
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(_lines(120)) + "\n")
    many_serial = _scan(path, 1)
    many_parallel = _scan(path, 2)
    assert many_serial == many_parallel
    snapshot.RANGE_BYTES = 1 << 30
    one_range = _scan(path, 1)
    assert one_range == many_serial
    doc = json.loads(one_range)
    judged = [r for r in doc["results"] if r["rule_id"] == "NET-001"]
    assert len(judged) == 60
    assert sum(r["outcome"] == "FAIL" for r in judged) == 20
    assert doc["run"]["records"] == 120


@pytest.mark.parametrize("jobs", [1, 2])
def test_error_line_numbers_survive_byte_ranges(tmp_path: Path, small_ranges: None,
                                                jobs: int) -> None:
    """A bad record deep in a file is reported at its true line, whichever range read it."""
    lines = _lines(100)
    lines[86] = lines[86][: len(lines[86]) // 2]  # truncated: line 87
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotError) as info:
        _scan(path, jobs)
    assert info.value.line == 87
    assert f"{path}:87" in str(info.value)


@pytest.mark.parametrize("jobs", [1, 2])
def test_duplicates_across_ranges(tmp_path: Path, small_ranges: None, jobs: int) -> None:
    """An identical duplicate in a later range is judged once; a conflicting one names both
    places."""
    lines = _lines(60)
    same = [*lines, lines[5]]
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(same) + "\n")
    doc = json.loads(_scan(path, jobs))
    fw5 = [r for r in doc["results"] if r["asset"].endswith("/fw-0005")]
    assert len(fw5) == len({r["rule_id"] for r in fw5})
    changed = json.loads(lines[5])
    changed["resource"]["data"]["sourceRanges"] = ["192.168.0.0/16"]
    path.write_text("\n".join([*lines, json.dumps(changed)]) + "\n")
    with pytest.raises(SnapshotError) as info:
        _scan(path, jobs)
    assert "conflicting duplicate" in str(info.value)
    assert f"{path}:6" in str(info.value)
    assert info.value.line == 61


def test_unjudged_records_are_still_validated(tmp_path: Path) -> None:
    """A malformed record of a type no rule judges stops the scan (pass 2 validates it)."""
    lines = _lines(10)
    bad = json.loads(lines[0])
    bad["resource"]["data"] = ["not", "an", "object"]
    lines[4] = json.dumps(bad)
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SnapshotError) as info:
        _scan(path, 1)
    assert info.value.line == 5
