"""Pass 2 reads only the records it may judge: pass 1 notes where every record of plain NDJSON
is and which are plain (no policy key, `resource` and `resource.data` objects), and pass 2
skips the plain records of types no rule judges (unless a rule on every type judges them by
the policies held for their name) and the duplicates. The findings and every bad-input
message must be what reading every line gives.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from _records import ANCESTORS, BUCKET, PROJECT
from phiguard.cli import main
from phiguard.errors import SnapshotError
from phiguard.inventory import snapshot
from phiguard.inventory._envelopes import envelope, raw_envelope
from phiguard.inventory.readers import discover, iter_ndjson_range, iter_picked
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.snapshot import load_context
from phiguard.policy.engine import Engine

ROUTE_TYPE = "compute.googleapis.com/Route"  # no rule of the bundled pack names it


def _route(n: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"//compute.googleapis.com/projects/phi-prod/global/routes/r{n}",
            "asset_type": ROUTE_TYPE,
            "resource": {"version": "v1", "discovery_name": "Route",
                         "data": {"name": f"r{n}", "network": "default"},
                         "parent": "//cloudresourcemanager.googleapis.com/projects/123"},
            "ancestors": ANCESTORS, "update_time": "2026-10-01T00:00:00Z", **extra}


def _line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


# envelope: raw_envelope's answer, and whether the line is plain ------------------------------

@pytest.mark.parametrize(("record", "plain"), [
    (_route(1), True),
    ({**_route(1), "iam_policy": None}, False),  # a policy key, even null
    ({**_route(1), "accessLevel": None}, False),
    ({**_route(1), "resource": {**_route(1)["resource"], "data": None}}, True),
    ({**_route(1), "resource": {"version": "v1"}}, True),
    ({**_route(1), "resource": {**_route(1)["resource"], "data": 5}}, False),  # judged in pass 2
    ({**_route(1), "resource": {**_route(1)["resource"], "data": []}}, False),
])
def test_envelope_is_raw_envelope_and_says_which_lines_are_plain(record: dict[str, Any],
                                                                 plain: bool) -> None:
    line = _line(record)
    found = envelope(line, set())
    assert found is not None
    assert found[:4] == raw_envelope(line, set())
    assert found[4] is plain


@pytest.mark.parametrize("record", [
    {**_route(1), "iam_policy": {"bindings": []}}, {**_route(1), "resource": None},
    {**_route(1), "resource": []}, {**_route(1), "name": ""}, {**_route(1), "asset_type": 5},
    {**_route(1), "ancestors": "p"}, {**_route(1), "update_time": 5},
    {**_route(1), "v2_org_policies": []},
])
def test_envelope_leaves_to_the_full_parse_what_raw_envelope_does(
        record: dict[str, Any]) -> None:
    line = _line(record)
    assert raw_envelope(line, set()) is None
    assert envelope(line, set()) is None
    assert envelope(_line(_route(1)), {ROUTE_TYPE}) is None


# pass 2 reads only what it may judge ---------------------------------------------------------

def _snapshot(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "assets.ndjson"
    path.write_bytes(b"".join(lines))
    return path


def _judged(engine: Engine) -> tuple[frozenset[str], frozenset[str] | None]:
    return engine.subject_types(), engine.any_type_needs()


def _picked(path: Path, engine: Engine) -> list[int]:
    loaded = load_context(discover([path]), engine.context_types(), PhiConfig(),
                          fields=engine.context_fields(), judged=_judged(engine))
    (picks,) = loaded.picks[str(path)]
    return list(picks[2])


def _engine() -> Engine:
    from phiguard import load_pack

    return Engine(load_pack().rules)


def test_pass_2_skips_plain_records_of_unjudged_types_and_duplicates(tmp_path: Path) -> None:
    engine = _engine()
    types, needs = _judged(engine)
    assert ROUTE_TYPE not in types and BUCKET["asset_type"] in types
    assert needs and "IAM_POLICY" in needs  # a rule on every type judges IAM policies
    route_iam = {"name": _route(3)["name"], "asset_type": ROUTE_TYPE,
                 "iam_policy": {"bindings": [{"role": "roles/viewer",
                                              "members": ["allUsers"]}]},
                 "ancestors": ANCESTORS}
    path = _snapshot(tmp_path, [
        _line(PROJECT),                                # 1 judged type
        _line(_route(1)),                              # 2 plain, unjudged: skipped
        _line(BUCKET),                                 # 3
        _line({**_route(2), "iam_policy": None}),      # 4 a policy key: read
        _line(_route(3)),                              # 5 its IAM policy comes later: read
        _line(BUCKET),                                 # 6 a duplicate of 3: skipped
        b"\n",
        _line(route_iam),                              # 7 an IAM policy record, read
        #                                                whole in pass 1: skipped
        _line({**_route(4), "resource": {"data": 5}}),  # 8 not plain: read (and refused)
    ])
    assert _picked(path, engine) == [1, 3, 4, 5, 8]


def _scan(*args: str) -> Result:
    result = CliRunner().invoke(main, ["scan", *args], catch_exceptions=True)
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _findings(path: Path, out: Path) -> bytes:
    result = _scan(str(path), "--format", "json", "-o", str(out), "--at",
                   "2026-11-25T00:00:00Z", "--jobs", "1")
    assert result.exit_code in (0, 1), result.output
    return out.read_bytes()


def test_findings_are_those_of_reading_every_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    public = {"name": _route(5)["name"], "asset_type": ROUTE_TYPE,
              "iam_policy": {"bindings": [{"role": "roles/viewer", "members": ["allUsers"]}]},
              "ancestors": ANCESTORS}
    lines = [_line(PROJECT), _line(BUCKET)]
    lines += [_line(_route(n)) for n in range(1, 30)]
    lines += [_line(public), _line({**BUCKET, "update_time": "2026-11-03T00:00:00Z"}),
              b"\n\n", _line(_route(7))]
    path = _snapshot(tmp_path, lines)
    picked = _findings(path, tmp_path / "picked.json")
    assert json.loads(picked)["results"]

    def every_line(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("judged", None)
        return load_context(*args, **kwargs)

    import phiguard.scan

    monkeypatch.setattr(phiguard.scan, "load_context", every_line)
    assert _findings(path, tmp_path / "all.json") == picked
    # the public route (an IAM policy a rule on every type judges) is among the findings
    assert _route(5)["name"] in picked.decode()


@pytest.mark.parametrize(("record", "message"), [
    ({**_route(2), "resource": {"data": 5}}, "resource.data must be an object, got number"),
    # a null policy key takes the full parse in pass 2, which checks the time
    ({**_route(2), "org_policy": None, "update_time": "2026-01-01T25:00:00Z"},
     "is not an RFC 3339 time"),
])
def test_bad_records_of_unjudged_types_still_stop_the_scan(tmp_path: Path,
                                                          record: dict[str, Any],
                                                          message: str) -> None:
    path = _snapshot(tmp_path, [_line(PROJECT), _line(_route(1)), b"\n", _line(record),
                                _line(BUCKET)])
    result = _scan(str(path), "--format", "json", "-o", str(tmp_path / "out.json"),
                   "--at", "2026-11-25T00:00:00Z", "--jobs", "1")
    assert result.exit_code == 2, result.output
    assert f"{path}:4" in result.output
    assert message in result.output


def test_picked_records_read_as_every_line_reads_them(tmp_path: Path) -> None:
    body = [b"\xef\xbb\xbf" + _line(PROJECT), b"\n", b"  \n", _line(BUCKET).rstrip() + b"\r\n",
            _line(_route(1)), _line(_route(2)).rstrip()]
    path = _snapshot(tmp_path, body)
    every = list(iter_ndjson_range(path))
    starts = [item.offset - 0 for item in every]
    for keep in ([0, 1, 2, 3], [1, 3], [0], [3]):
        picked = list(iter_picked(path, 0, 0, 0, -1, [starts[k] for k in keep],
                                  [every[k].line for k in keep], [every[k].index for k in keep]))
        assert picked == [every[k] for k in keep]
    # a range in the middle of the file, with lines and records before it
    middle = every[1].offset
    end = every[3].offset
    picked = list(iter_picked(path, middle, 3, 1, end, [every[2].offset - middle],
                              [every[2].line - 3], [every[2].index - 1]))
    assert picked == [every[2]]


def test_a_conflicting_duplicate_is_still_refused(tmp_path: Path) -> None:
    other = copy.deepcopy(_route(1))
    other["resource"]["data"]["network"] = "other"
    path = _snapshot(tmp_path, [_line(PROJECT), _line(_route(1)), _line(other)])
    with pytest.raises(SnapshotError, match="conflicting duplicate"):
        load_context(discover([path]), [], PhiConfig(), judged=(frozenset(), None))
    assert snapshot.load_context is load_context


# picked_assets: what materialize gives for the same records ----------------------------------

def _materialized(path: Path, engine: Engine, loaded: Any) -> list[Any]:
    types, needs = _judged(engine)
    out: list[Any] = []
    try:
        for item in iter_ndjson_range(path):
            out.append(snapshot.materialize(item, loaded.policies, loaded.skip, types, needs))
    except SnapshotError as exc:
        out.append(str(exc))
    return out


def _picked_assets(path: Path, engine: Engine, loaded: Any) -> list[Any]:
    types, needs = _judged(engine)
    (start, lines, records), = loaded.segments[str(path)]
    (picks,) = loaded.picks[str(path)]
    out: list[Any] = []
    try:
        for asset in snapshot.picked_assets(str(path), start, lines, records, -1, picks,
                                            loaded.policies, loaded.skip, types, needs):
            out.append(asset)
    except SnapshotError as exc:
        out.append(str(exc))
    return out


@pytest.mark.parametrize("last", [
    _line(BUCKET), b'{"name": "x", "asset_type": "storage.googleapis.com/Bucket", \n',
    _line({**BUCKET, "resource": {"data": []}}), _line({**BUCKET, "iam_policy": None}),
    _line({**BUCKET, "name": "//storage.googleapis.com/b2", "assetType": "x",
           "asset_type": ""}),
])
def test_picked_assets_are_what_materialize_gives(tmp_path: Path, last: bytes) -> None:
    engine = _engine()
    route_iam = {"name": _route(3)["name"], "asset_type": ROUTE_TYPE,
                 "iam_policy": {"bindings": [{"role": "roles/viewer",
                                              "members": ["allUsers"]}]},
                 "ancestors": ANCESTORS}
    bucket_iam = {"name": BUCKET["name"], "asset_type": BUCKET["asset_type"],
                  "iam_policy": {"bindings": []}, "ancestors": ANCESTORS}
    other = {**BUCKET, "name": "//storage.googleapis.com/other", "assetType": "ignored"}
    lines = [_line(PROJECT), _line(_route(1)), _line(BUCKET), _line(_route(3)),
             _line(route_iam), _line(bucket_iam), _line(other), b"\n", last]
    path = _snapshot(tmp_path, lines)
    # pass 1 reads the broken line as a whole-line JSON error: judge it without pass 1
    good = _snapshot(tmp_path, lines[:-1])
    loaded = load_context(discover([good]), engine.context_types(), PhiConfig(),
                          fields=engine.context_fields(), judged=_judged(engine))
    # every record picked, so both routes see the same ones
    (start, line_count, record_count), = loaded.segments[str(good)]
    offsets = [item.offset for item in iter_ndjson_range(path)]
    every = [item for item in iter_ndjson_range(path)]
    loaded.segments = {str(path): [(start, line_count, record_count)]}
    from array import array

    loaded.picks = {str(path): [(array("i", offsets), array("i", [i.line for i in every]),
                                 array("i", [i.index for i in every]))]}
    picked = _picked_assets(path, engine, loaded)
    assert picked == _materialized(path, engine, loaded)
    assert any(asset is not None for asset in picked)
