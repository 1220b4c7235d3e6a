"""Pass 1 reads the records of a reach-only type (a Compute Engine instance, held only for
`grants within: phi`) by envelope in byte ranges, and reads whole, at its end, only those whose
name carries an IAM policy; the records it reads whole (join targets, policies) are digested
from their raw line. What it holds, and every bad-input message, must be what reading every
record whole gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, RULES
from _reach import INSTANCE
from phiguard.config import load_config
from phiguard.errors import SnapshotError
from phiguard.inventory import snapshot
from phiguard.inventory.readers import BOM, discover
from phiguard.inventory.snapshot import LoadedContext, load_context
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack


def _engine() -> Engine:
    """The pack without NET-010, which finds the instances a firewall policy rule's target
    service accounts run on (so holds every instance): without it, instances are held only
    for `grants within: phi` (reach-only), the type these tests defer."""
    config = load_config(DEMO / "phiguard.yaml")
    return Engine(load_pack([RULES]).rules, params=config.params, disable={"NET-010"})


def _records() -> list[dict[str, Any]]:
    with open(DEMO / "resources.ndjson", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _grant(record: dict[str, Any]) -> dict[str, Any]:
    return {"name": record["name"], "asset_type": record["asset_type"],
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": [
                {"role": "roles/compute.osAdminLogin",
                 "members": ["user:alice@example-health.com"]}]},
            "ancestors": record["ancestors"]}


def _write(path: Path, records: list[dict[str, Any]], *, bom: bool = False) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.write_bytes((BOM if bom else b"") + body)


def _load(org: Path, engine: Engine, *, judged: bool, jobs: int = 1) -> LoadedContext:
    """As `Scan` loads it (`judged`: told what pass 2 judges, which lets pass 1 defer the
    reach-only types), or reading every record of them whole."""
    return load_context(discover([org]), engine.context_types(),
                        load_config(DEMO / "phiguard.yaml").phi, jobs=jobs,
                        fields=engine.context_fields(),
                        judged=(engine.subject_types(), engine.any_type_needs()) if judged
                        else None,
                        reach_only=engine.reach_only_types())


def _org(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A snapshot of the demo's resources with three instances granted: the first, moved to a
    file of its own that starts with a byte order mark; one in the middle, whose line carries
    its IAM policy (so it is read whole in pass 1); the last, repeated at the end with another
    update time (a duplicate). The first's and the last's IAM policies come after them, in a
    file of their own."""
    records = _records()
    instances = [r for r in records if r["asset_type"] == INSTANCE]
    assert len(instances) > 4
    first, middle, last = instances[0], instances[len(instances) // 2], instances[-1]
    org = tmp_path / "org"
    org.mkdir()
    _write(org / "a-first.ndjson", [first], bom=True)
    again = {**copy.deepcopy(last), "update_time": "2026-01-01T00:00:00Z"}
    inline = {**middle, "iam_policy": _grant(middle)["iam_policy"]}
    _write(org / "b-resources.ndjson",
           [inline if r is middle else r for r in records if r is not first] + [again])
    _write(org / "c-iam.ndjson", [_grant(first), _grant(last)])
    return org, [first, middle, last]


@pytest.mark.parametrize("jobs", [1, 2])
def test_deferred_instances_are_held_as_if_read_whole(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      jobs: int) -> None:
    monkeypatch.setattr(snapshot, "RANGE_BYTES", 64 * 1024)  # several ranges
    engine = _engine()
    assert INSTANCE in engine.reach_only_types() and INSTANCE in engine.subject_types()
    org, granted = _org(tmp_path)
    read_later: list[str] = []
    original = snapshot._read_later

    def spy(*args: Any) -> Any:
        found = original(*args)
        read_later.extend(record.name for _, _, record in found)
        return found

    monkeypatch.setattr(snapshot, "_read_later", spy)
    deferred = _load(org, engine, judged=True, jobs=jobs)
    assert read_later == [granted[0]["name"], granted[2]["name"]]  # only these, once each
    read_later.clear()
    whole = _load(org, engine, judged=False)
    assert read_later == []
    assert deferred.counts == whole.counts and deferred.records == whole.records
    held = deferred.inventory.of_types([INSTANCE])
    assert [a.name for a in held] == [r["name"] for r in granted]
    assert held == whole.inventory.of_types([INSTANCE])  # data, sources, times, policies
    assert deferred.skip == whole.skip
    assert [p.__dict__ for p in deferred.inventory.projects.all()] == \
        [p.__dict__ for p in whole.inventory.projects.all()]


def test_a_bad_deferred_instance_fails_at_its_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A granted instance that its envelope passes but the full parse refuses fails with what
    reading it whole says, at its line in the file (here in a later range)."""
    monkeypatch.setattr(snapshot, "RANGE_BYTES", 64 * 1024)
    engine = _engine()
    org, granted = _org(tmp_path)
    path = org / "b-resources.ndjson"
    lines = path.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if json.loads(line)["name"] == granted[2]["name"])
    assert sum(map(len, lines[:at])) > 64 * 1024
    bad = json.loads(lines[at])
    bad["resource"]["location"] = 5
    lines[at] = json.dumps(bad).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(SnapshotError) as deferred:
        _load(org, engine, judged=True)
    with pytest.raises(SnapshotError) as whole:
        _load(org, engine, judged=False)
    assert str(deferred.value) == str(whole.value)
    assert deferred.value.line == at + 1 and deferred.value.file == str(path)
    assert "resource.location must be a string" in str(deferred.value)


@pytest.mark.parametrize("judged", [True, False])
def test_held_records_repeated_in_other_words_are_duplicates(tmp_path: Path,
                                                             judged: bool) -> None:
    """A held record (join target, policy) repeated with other bytes but the same content (key
    order, update time, spacing) is a duplicate; with other content, a conflict naming the
    first place."""
    engine = _engine()
    records = _records()
    held = next(r for r in records if r["asset_type"] == "compute.googleapis.com/Firewall")
    reordered = dict(reversed(list(held.items())))
    reordered["update_time"] = "2020-01-01T00:00:00Z"
    org = tmp_path / "org"
    org.mkdir()
    _write(org / "a.ndjson", records)
    (org / "b.ndjson").write_text(json.dumps(reordered, indent=None, separators=(", ", ": "))
                                  + "\n" + json.dumps(_grant(held)) + "\n"
                                  + json.dumps(_grant(held)) + "\n")
    loaded = _load(org, engine, judged=judged)
    assert loaded.counts["compute.googleapis.com/Firewall"] == sum(
        r["asset_type"] == "compute.googleapis.com/Firewall" for r in records)
    assert (str(org / "b.ndjson"), 1) in loaded.skip
    changed = copy.deepcopy(held)
    changed["resource"]["data"]["priority"] = 4242
    (org / "b.ndjson").write_text(json.dumps(changed) + "\n")
    with pytest.raises(SnapshotError) as info:
        _load(org, engine, judged=judged)
    line = 1 + next(i for i, r in enumerate(records) if r is held)
    assert str(info.value) == (
        f"{org / 'b.ndjson'}:1: conflicting duplicate: {held['name']} (RESOURCE) differs "
        f"from the record at {org / 'a.ndjson'}:{line}")


def test_findings_are_those_of_reading_every_record(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan of a demo copy with granted instances, pass 1 deferring them and pass 2 not
    reading what pass 1 read whole and no rule judges (policy records; join targets of types
    no rule judges, e.g. snapshots): the same findings document as reading every record."""
    from click.testing import CliRunner

    import phiguard.scan
    from phiguard.cli import main

    monkeypatch.setattr(snapshot, "RANGE_BYTES", 64 * 1024)
    org, _ = _org(tmp_path)

    def scan(out: Path) -> bytes:
        result = CliRunner().invoke(main, [
            "scan", str(org), "--config", str(DEMO / "phiguard.yaml"), "--format", "json",
            "-o", str(out), "--at", "2026-11-25T00:00:00Z", "--jobs", "1"])
        assert result.exit_code in (0, 1), result.output
        return out.read_bytes()

    loaded: list[LoadedContext] = []

    def spy(*args: Any, **kwargs: Any) -> LoadedContext:
        loaded.append(load_context(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(phiguard.scan, "load_context", spy)
    picked = scan(tmp_path / "picked.json")
    (context,) = loaded
    assert [list(p[2]) for p in context.picks[str(org / "c-iam.ndjson")]] == [[]]
    assert sum(len(p[2]) for ps in context.picks.values() for p in ps) < context.records - 100

    def every_record(*args: Any, **kwargs: Any) -> LoadedContext:
        kwargs.pop("judged", None)
        return load_context(*args, **kwargs)

    monkeypatch.setattr(phiguard.scan, "load_context", every_record)
    assert scan(tmp_path / "all.json") == picked


@pytest.mark.parametrize("body", [
    BOM + b'{"a": 1}\n\n  \n\t \r\n{"b": 2}\r\n\x0b\n\x0c \n{"c": 3}',
    b'\n\n\n{"a": 1}\n   \n\n{"b": 2}\n\n',
    b'{"a": 1}\n' + b"\n" * 70000 + b' \r\n{"b": 2}\n \n \n',
    b"",
    b"\n \n",
    b'{"a": 1}',
])
def test_range_lines_reads_as_ndjson_lines(tmp_path: Path, body: bytes) -> None:
    """The rows (line, raw line, record number, byte offset) and line count of a range read in
    one go are `ndjson_lines`' reading it line by line, for every cut at a line start."""
    from phiguard.inventory.readers import ndjson_lines, range_lines

    path = tmp_path / "a.ndjson"
    path.write_bytes(body)
    starts = [0] + [i + 1 for i, byte in enumerate(body) if byte == 10 and i + 1 < len(body)]
    cuts = sorted({0, *starts[1:3], *starts[-2:]})
    for lo in cuts:
        for hi in [c for c in cuts if c > lo] + [-1]:
            old, new = [0], [0]
            assert list(range_lines(path, lo, hi, new)) == \
                list(ndjson_lines(path, lo, 0, 0, hi, old)), (lo, hi)
            assert new == old, (lo, hi)


def test_range_lines_refuses_a_line_too_long(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.inventory import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 64)
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'{"a": 1}\n\n{"b": "' + b"x" * 100 + b'"}\n')
    with pytest.raises(SnapshotError) as new:
        list(readers.range_lines(path, 0, -1, [0]))
    with pytest.raises(SnapshotError) as old:
        list(readers.ndjson_lines(path, 0, 0, 0, -1, [0]))
    assert str(new.value) == str(old.value) and new.value.line == 3


def test_new_asset_source_and_record_are_the_constructors() -> None:
    """The slot-setting makers give what `Asset(...)`, `Source(...)` and `Record(...)` give,
    still frozen."""
    import dataclasses

    from phiguard.inventory.asset import Asset, Source, new_asset, new_source
    from phiguard.inventory.records import Record, new_record

    source = new_source("f.ndjson", 7)
    assert source == Source("f.ndjson", 7) and hash(source) == hash(Source("f.ndjson", 7))
    assert repr(source) == repr(Source("f.ndjson", 7))
    values = ("//x/y", "t/T", {"a": 1}, {"bindings": []}, ({"constraint": "c"},),
              {"accessLevels": {}}, ("projects/1",), "us", "//p", "2026-01-01T00:00:00Z",
              source, frozenset({"RESOURCE"}))
    made, plain = new_asset(*values), Asset(*values)  # type: ignore[arg-type]
    assert made == plain and repr(made) == repr(plain)
    assert [getattr(made, f.name) for f in dataclasses.fields(Asset)] == list(values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
    record_values = ("//x/y", "t/T", frozenset({"RESOURCE"}), {"a": 1}, None, None, None,
                     ("projects/1",), "us", None, "2026-01-01T00:00:00Z", source)
    record = new_record(*record_values)
    assert record == Record(*record_values) and repr(record) == repr(Record(*record_values))
    assert hash(record.source) == hash(source)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("asset_type", ["compute.googleapis.com/Firewall", INSTANCE])
def test_a_held_record_nested_too_deeply_still_fails(tmp_path: Path, asset_type: str) -> None:
    """A record read whole (a join target; a deferred instance alike) nested deeper than its
    content digest can be made is refused at its line, as when every record read whole was
    digested by its content (a raw-line digest would not notice)."""
    import sys

    engine = _engine()
    deep: Any = "x"
    for _ in range(1000):
        deep = {"a": deep}
    record = {"name": "//compute.googleapis.com/projects/p/global/x/deep", "asset_type":
              asset_type, "resource": {"data": {"name": "deep", "deep": deep}},
              "ancestors": ["projects/1"], "update_time": "2026-01-01T00:00:00Z"}
    org = tmp_path / "org"
    org.mkdir()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10000)
    try:
        line = json.dumps(record)
    finally:
        sys.setrecursionlimit(limit)
    (org / "a.ndjson").write_text(json.dumps(_records()[0]) + "\n" + line + "\n")
    (org / "b.ndjson").write_text(json.dumps(_grant(record)) + "\n")
    with pytest.raises(SnapshotError) as info:
        _load(org, engine, judged=True)
    assert str(info.value) == f"{org / 'a.ndjson'}:2: record nested too deeply to be a CAI record"
