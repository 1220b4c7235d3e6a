"""The read path's quick routes give what the full parse gives, or stand aside.

Pass 1 reads most lines by their envelope only (`raw_envelope`, which decodes just the top-level
keys it needs) and pass 2 validates the common record shapes without building a message per field
(`records._fast_fields`). Each must agree with the full parse (`_parse_record`) wherever it
answers, and answer None (so the full parse runs and says what is wrong) everywhere else.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _paths import DEMO
from phiguard.cli import main
from phiguard.errors import SnapshotError
from phiguard.inventory._duplicates import raw_digest
from phiguard.inventory._envelopes import raw_envelope
from phiguard.inventory._survey import _learn_from_name, _Learner
from phiguard.inventory.records import _Check, _fast_record, _parse_record, resource_asset
from phiguard.inventory.refs import project_of_name
from phiguard.inventory.scope import ProjectIndex

VM = "//compute.googleapis.com/projects/p1/zones/us-east4-a/instances/vm1"
RESOURCE = {"name": VM, "asset_type": "compute.googleapis.com/Instance",
            "resource": {"version": "v1", "data": {"name": "vm1", "status": "RUNNING"},
                         "location": "us-east4-a", "parent": "//x/projects/1"},
            "ancestors": ["projects/1", "folders/2", "organizations/3"],
            "update_time": "2026-11-01T10:00:00.123456789Z"}
IAM = {"name": VM, "assetType": "compute.googleapis.com/Instance",
       "iamPolicy": {"version": 1, "etag": "x", "bindings": [
           {"role": "roles/viewer", "members": ["user:a@example.com"],
            "condition": {"expression": "true"}}],
           "auditConfigs": [{"service": "allServices", "auditLogConfigs": [
               {"logType": 1}, {"log_type": "DATA_READ", "exempted_members": ["user:b@x"]}]}]},
       "ancestors": ["projects/1"], "updateTime": "2026-11-01T10:00:00Z"}


def _demo_records() -> list[Any]:
    out = []
    for path in sorted(DEMO.glob("*.ndjson")):
        out += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return out


def _full(obj: Any) -> Any:
    """The full parse's record, or the error it raises (as text)."""
    try:
        return _parse_record(obj, _Check("f", 7))
    except SnapshotError as exc:
        return f"error: {exc}"


def _agrees(obj: Any) -> bool:
    """The quick parse is None or the full parse's record; returns whether it answered."""
    fast = _fast_record(copy.deepcopy(obj), "f", 7)
    full = _full(obj)
    if fast is None:
        return False
    assert fast == full
    asset = resource_asset(copy.deepcopy(obj), "f", 7)
    if asset is not None:
        assert not isinstance(full, str)
        assert asset == full.to_asset()
    return True


def test_quick_parse_answers_for_the_demo_org_as_the_full_parse_does() -> None:
    records = _demo_records()
    answered = sum(_agrees(r) for r in records)
    # every RESOURCE and IAM_POLICY record of the demo org takes the quick route
    assert answered >= sum(1 for r in records if "org_policy" not in r
                           and "access_policy" not in r and "access_level" not in r
                           and "service_perimeter" not in r) > 100


@pytest.mark.parametrize("record", [RESOURCE, IAM])
def test_quick_parse_of_both_flavours(record: dict[str, Any]) -> None:
    assert _agrees(record)


# Every way to spoil one field: each must leave the answer to the full parse.
_SPOILS: list[tuple[str, Any]] = [
    ("name", None), ("name", ""), ("name", 5), ("asset_type", None), ("asset_type", ["x"]),
    ("resource", None), ("resource", "x"), ("resource.data", []), ("resource.data", None),
    ("resource.location", 5), ("resource.parent", {}), ("ancestors", "projects/1"),
    ("ancestors", [1]), ("ancestors", None), ("update_time", 20261101),
    ("update_time", "yesterday"), ("update_time", "2026-13-01T00:00:00Z"), ("update_time", None),
    ("extra", {"a": 1}), ("iam_policy", None), ("iam_policy", []), ("iam_policy", {}),
    ("iam_policy", {"bindings": {}}), ("iam_policy", {"bindings": [{"role": 5}]}),
    ("iam_policy", {"bindings": [{"role": "r", "members": "user:a"}]}),
    ("iam_policy", {"bindings": [{"role": "r", "members": [True]}]}),
    ("iam_policy", {"bindings": [{"role": "r", "condition": "c"}]}),
    ("iam_policy", {"audit_configs": [{"service": "s", "audit_log_configs": [
        {"log_type": True}]}]}),
    ("iam_policy", {"audit_configs": [{"service": "s", "audit_log_configs": [
        {"log_type": 7, "exempted_members": [3]}]}]}),
    ("iam_policy", {"audit_configs": [{"service": None}]}),
    ("org_policy", [{"constraint": "constraints/x", "boolean_policy": {"enforced": True}}]),
]


@pytest.mark.parametrize(("where", "value"), _SPOILS)
def test_quick_parse_stands_aside_or_agrees_on_every_spoiled_field(where: str,
                                                                   value: Any) -> None:
    record = copy.deepcopy(RESOURCE)
    *parents, key = where.split(".")
    target = record
    for part in parents:
        target = target[part]
    target[key] = value
    answered = _agrees(record)
    if isinstance(_full(record), str):
        assert not answered


_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from(["name", "asset_type", "assetType", "resource", "ancestors",
                         "update_time", "updateTime", "iam_policy", "iamPolicy"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=6), st.sampled_from([RESOURCE, IAM]))
def test_quick_parse_agrees_on_any_mix_of_fields(fields: dict[str, Any],
                                                 base: dict[str, Any]) -> None:
    record = {**copy.deepcopy(base), **fields}
    _agrees(record)


def _line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def test_envelope_read_agrees_with_the_full_parse() -> None:
    lines = [_line(r) for r in _demo_records()]
    read = 0
    for line in lines:
        env = raw_envelope(line, set())
        if env is None:
            continue
        read += 1
        record = _parse_record(orjson.loads(line), _Check("f", 1))
        assert env == (record.name, record.asset_type, record.update_time,
                       list(record.ancestors))
        assert record.kinds == {"RESOURCE"}
    assert read > 100


@pytest.mark.parametrize("record", [
    IAM, {**RESOURCE, "iam_policy": {"bindings": []}}, {**RESOURCE, "accessLevel": {}},
    {**RESOURCE, "v2_org_policies": []}, {**RESOURCE, "servicePerimeter": {"name": "x"}},
    {**RESOURCE, "resource": None}, {**RESOURCE, "resource": []}, {**RESOURCE, "name": ""},
    {**RESOURCE, "name": 7}, {**RESOURCE, "asset_type": None}, {**RESOURCE, "ancestors": "p"},
    {**RESOURCE, "update_time": 5},
])
def test_envelope_read_leaves_policies_and_odd_envelopes_to_the_full_parse(
        record: dict[str, Any]) -> None:
    assert raw_envelope(_line(record), set()) is None


@pytest.mark.parametrize("line", [b"[1, 2]\n", b"{\"name\": \"x\"\n", b"\xff\xfe{}\n",
                                  b"[" * 10000 + b"]" * 10000 + b"\n"])
def test_envelope_read_leaves_what_is_not_a_record_to_the_full_parse(line: bytes) -> None:
    assert raw_envelope(line, set()) is None


def test_envelope_read_skips_joined_types() -> None:
    line = _line(RESOURCE)
    assert raw_envelope(line, set()) is not None
    assert raw_envelope(line, {"compute.googleapis.com/Instance"}) is None


def test_raw_digest_ignores_the_line_ending_only() -> None:
    line = _line(RESOURCE)
    assert raw_digest(line) == raw_digest(line.rstrip(b"\n") + b"\r\n") == raw_digest(
        b"  " + line)
    assert raw_digest(line) != raw_digest(_line({**RESOURCE, "update_time": None}))
    assert len(raw_digest(line)) == 17 and raw_digest(line)[:1] == b"r"


_PROJECT = re.compile(r"(?:^|/)projects/([^/]+)")


@settings(max_examples=500)
@given(st.lists(st.sampled_from(["projects/", "/", "p", "1", "//", "x.googleapis.com",
                                 "projects", "\n"]), max_size=8).map("".join))
def test_project_of_name_is_the_first_project_segment(name: str) -> None:
    match = _PROJECT.search(name)
    assert project_of_name(name) == (match.group(1) if match else None)


_names = st.sampled_from(["//x/projects/p1/a", "//x/projects/p2/b", "//x/projects/11/c",
                          "//x/projects/12/d", "//x/folders/5", "//x/projects/p3/e"])
_chains = st.lists(st.sampled_from(["projects/11", "projects/12", "folders/5", "folders/6",
                                    "organizations/1"]), max_size=4)


@settings(max_examples=300)
@given(st.lists(st.tuples(_names, _chains), max_size=25))
def test_project_learning_skips_only_what_teaches_nothing(
        assets: list[tuple[str, list[str]]]) -> None:
    plain, quick = ProjectIndex(), ProjectIndex()
    learner = _Learner(quick)
    for name, ancestors in assets:
        _learn_from_name(plain, name, ancestors)
        learner(name, ancestors)
    assert ([(i.number, i.id, i.ancestors) for i in plain.all()]
            == [(i.number, i.id, i.ancestors) for i in quick.all()])


@pytest.mark.parametrize("field", ["name", "asset_type", "update_time", "ancestors"])
def test_envelope_that_is_not_utf8_is_located_not_an_internal_error(tmp_path: Path,
                                                                   field: str) -> None:
    """A stray byte in an envelope field of a plain line (read by envelope in pass 1) is a
    located `not valid UTF-8` with exit 2 (it was an internal error: the envelope's bytes were
    decoded unchecked)."""
    good = {"name": "//x/projects/p/a", "asset_type": "compute.googleapis.com/Instance",
            "resource": {"data": {}}, "ancestors": ["projects/1"],
            "update_time": "2026-11-01T00:00:00Z"}
    line = orjson.dumps(good)
    value = orjson.dumps(good[field])
    spoiled = value[:-2] + b"\xff" + value[-2:]
    path = tmp_path / "a.ndjson"
    path.write_bytes(line + b"\n" + line.replace(value, spoiled, 1) + b"\n")
    result = CliRunner().invoke(main, ["scan", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"phiguard: error: {path}:2: not valid UTF-8"), result.stderr
