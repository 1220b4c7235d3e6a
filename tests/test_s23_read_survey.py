"""Pass 1's quick readers must survey a range exactly as the full decode does: a plain RESOURCE
line of a type kept whole (`held_line`, then `_held_row`) gives the record, entry, digest,
tenancy and projects `_full_row` gives it, and a line of a TENANT_PATHS type read by envelope
(`_note_raw`'s typed path decoder) notes the networks and undecided projects `note_tenancy`
notes from the whole decoded line. Each case is surveyed twice, with the quick readers and
with them turned off, and the two surveys compared field by field; lines either reader
refuses must fail with the same message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phiguard.inventory import _survey
from phiguard.inventory._envelopes import held_line
from phiguard.inventory.inventory import TENANT_PATHS
from phiguard.inventory.types import PROJECT_TYPE

FIREWALL = "compute.googleapis.com/Firewall"
INSTANCE = "compute.googleapis.com/Instance"
SQL = "sqladmin.googleapis.com/Instance"
DNS_POLICY = "dns.googleapis.com/Policy"
FORWARDING = "compute.googleapis.com/ForwardingRule"
NET = "https://www.googleapis.com/compute/v1/projects/host-1/global/networks/phi-vpc"
NET2 = "//compute.googleapis.com/projects/host-2/global/networks/other"


def _resource(data: Any = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"version": "v1", "discovery_document_uri": "https://x/rest",
                           "discovery_name": "Thing", "parent": "//p/projects/123",
                           "location": "us-central1"}
    if data is not ...:
        res["data"] = data
    res.update(extra)
    return res


def _rec(asset_type: str, n: int, data: Any = None, **top: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": f"//compute.googleapis.com/projects/svc-{n}/things/t{n}",
        "asset_type": asset_type, "resource": _resource(data),
        "ancestors": [f"projects/{100 + n}", "folders/9", "organizations/1"],
        "update_time": "2026-10-01T00:00:00Z"}
    record.update(top)
    return record


def _camel(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    out["assetType"] = out.pop("asset_type")
    if "update_time" in out:
        out["updateTime"] = out.pop("update_time")
    res = dict(out["resource"])
    for snake, camel in (("discovery_document_uri", "discoveryDocumentUri"),
                         ("discovery_name", "discoveryName")):
        if snake in res:
            res[camel] = res.pop(snake)
    out["resource"] = res
    return out


def _held_cases() -> list[str]:
    """Lines of a type kept whole (a firewall, and a project): the common shapes and the
    unusual ones each reader must pass on to the full decode."""
    fw = {"name": "fw", "network": NET, "direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"],
          "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}], "big": 10**30, "f": 1.5e-7,
          "text": "caf\u00e9 \\u00e9 \U0001f600", "nested": {"a": [1, {"b": None}]}}
    project = {"projectId": "svc-0", "projectNumber": "100", "labels": {"phi": "true"}}
    records: list[dict[str, Any]] = [
        _rec(FIREWALL, 1, fw),
        _camel(_rec(FIREWALL, 2, fw)),
        _rec(FIREWALL, 3, None),  # data null
        _rec(FIREWALL, 4, ...),  # data absent
        _rec(FIREWALL, 5, {}),
        _rec(FIREWALL, 6, fw, ancestors=None),
        _rec(FIREWALL, 7, fw, ancestors=[]),
        _rec(FIREWALL, 8, fw, update_time=None),
        _rec(FIREWALL, 9, fw, update_time="2026-10-01T00:00:00.123456789+02:00"),
        _rec(FIREWALL, 10, fw, iam_policy=None),  # a null policy key: not plain
        _rec(FIREWALL, 11, fw, related_assets={"x": 1}),  # a key of another name
        _rec(FIREWALL, 12, fw, iam_policy={"bindings": [{"role": "roles/viewer",
                                                         "members": ["user:a@b.c"]}]}),
        {**_rec(FIREWALL, 13, fw), "resource": _resource(fw, resource_url="https://r")},
        {**_rec(FIREWALL, 14, fw), "resource": _resource(fw, extra_key=5)},
        {**_rec(FIREWALL, 15, fw), "resource": _resource(fw, location=None, parent=None)},
        {**_rec(FIREWALL, 16, fw), "asset_type": None, "assetType": FIREWALL},
        _rec(PROJECT_TYPE, 17, project),
        _rec(PROJECT_TYPE, 18, project, ancestors=["projects/100", "organizations/1"]),
        _rec(FIREWALL, 1, fw),  # a duplicate of the first
        _rec(FIREWALL, 19, {"deep": [[[[[[[[[[1]]]]]]]]]]}),
    ]
    return [json.dumps(r) for r in records]


def _bad_held_lines() -> list[tuple[str, str]]:
    """(line, what the message says) of lines of a kept type the full parse refuses."""
    good = json.dumps(_rec(FIREWALL, 1, {"name": "fw"}))
    return [
        (good.replace('"2026-10-01T00:00:00Z"', '"yesterday"'), "RFC 3339"),
        (good.replace('"location": "us-central1"', '"location": 5'), "resource.location"),
        (good.replace('"parent": "//p/projects/123"', '"parent": ["x"]'), "resource.parent"),
        (json.dumps(_rec(FIREWALL, 2, [1, 2])), "resource.data"),
        (json.dumps(_rec(FIREWALL, 3, "text")), "resource.data"),
        (good.replace('{"name": "fw"}', '{"name": 1e400}'), "invalid JSON"),
        (good.replace('"name": "//', '"name": 7, "x": "//'), "`name` must be a string"),
        (good.replace('"ancestors": [', '"ancestors": [5, '), "ancestors[0]"),
        (good.replace('"name": "fw"', '"name": "\\ud800"'), "invalid JSON"),
    ]


def _tenant_cases() -> list[str]:
    """Lines of TENANT_PATHS types read by envelope: every way a network can be shown, or not."""
    ni = [{"network": NET, "subnetwork": "s"}, {"network": NET2}]
    records: list[dict[str, Any]] = [
        _rec(INSTANCE, 1, {"name": "vm", "networkInterfaces": ni, "disks": [{"a": 1}]}),
        _rec(INSTANCE, 2, {"name": "vm", "networkInterfaces": []}),
        _rec(INSTANCE, 3, {"name": "vm"}),  # required network absent: undecided
        _rec(INSTANCE, 4, {"name": "vm", "networkInterfaces": [{"subnetwork": "s"}]}),
        _rec(INSTANCE, 5, {"name": "vm", "networkInterfaces": [{"network": ""}]}),
        _rec(INSTANCE, 6, {"name": "vm", "networkInterfaces": [{"network": None}, ni[0]]}),
        _rec(INSTANCE, 7, {"name": "vm", "networkInterfaces": None}),
        _rec(INSTANCE, 8, None),
        _rec(INSTANCE, 9, ...),
        _rec(INSTANCE, 10, {"name": "vm", "networkInterfaces": {"network": NET}}),
        _rec(INSTANCE, 11, {"name": "vm", "networkInterfaces": [{"network": 5}]}),
        _rec(INSTANCE, 12, {"name": "vm", "networkInterfaces": ["x"]}),
        _rec(INSTANCE, 13, {"networkInterfaces": [{"network": NET}]}, ancestors=[]),
        _rec(INSTANCE, 14, {"networkInterfaces": [{"network": NET}]},
             ancestors=["folders/9"], name="//compute.googleapis.com/projects/named/x/y"),
        _camel(_rec(INSTANCE, 15, {"networkInterfaces": [{"network": NET2}]})),
        _rec(SQL, 16, {"settings": {"ipConfiguration": {"privateNetwork": NET}}}),
        _rec(SQL, 17, {"settings": {"ipConfiguration": {}}}),
        _rec(SQL, 18, {"settings": {"ipConfiguration": {"privateNetwork": ""}}}),
        _rec(SQL, 19, {"settings": []}),
        _rec(DNS_POLICY, 20, {"networks": [{"networkUrl": NET}, {"networkUrl": NET2}]}),
        _rec(DNS_POLICY, 21, {"networks": [{}]}),
        _rec(FORWARDING, 22, {"network": NET, "IPAddress": "10.0.0.1"}),
        _rec(FORWARDING, 23, {"IPAddress": "10.0.0.1"}),
        _rec(FORWARDING, 24, {"network": " " + NET2 + "/ "}),
    ]
    return [json.dumps(r) for r in records]


def _surveyed(tmp_path: Path, lines: list[str], wanted: frozenset[str],
            deferred: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    path = tmp_path / "assets.ndjson"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    fields = {FIREWALL: frozenset({"network", "allowed", "big", "text", "missing"})}
    got = _survey._survey_task(_survey._Plan(wanted, fields, deferred), (str(path), 0, -1))
    e = got.entries
    return (got.lines, got.records, str(got.error) if got.error else None, list(e.keys),
            bytes(e.digests), list(e.numbers), bytes(e.kinds), list(e.type_ids), e.type_names,
            got.parsed, got.latest, got.projects, got.offsets, got.line_numbers, got.plain,
            got.plain_rows, got.spent, got.deferred, got.tenancy.networks,
            got.tenancy.undecided)


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_survey, "held_line", lambda raw: None)
    monkeypatch.setattr(_survey, "_TENANT_READERS", {})


def test_held_lines_survey_as_the_full_parse(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _held_cases()
    wanted = frozenset({FIREWALL, PROJECT_TYPE})
    quick = _surveyed(tmp_path, lines, wanted)
    assert sum(held_line(line.encode()) is not None for line in lines) >= 14
    _slow(monkeypatch)
    assert quick == _surveyed(tmp_path, lines, wanted)
    assert quick[9]  # records were held whole


@pytest.mark.parametrize(("line", "said"), _bad_held_lines())
def test_held_lines_refused_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  line: str, said: str) -> None:
    assert held_line(line.encode()) is None
    wanted = frozenset({FIREWALL})
    quick = _surveyed(tmp_path, [json.dumps(_rec(FIREWALL, 9, {})), line], wanted)
    assert quick[2] is not None and said in quick[2]
    _slow(monkeypatch)
    assert quick == _surveyed(tmp_path, [json.dumps(_rec(FIREWALL, 9, {})), line], wanted)


@pytest.mark.parametrize("deferred", [False, True])
def test_tenancy_read_by_path_as_note_tenancy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             deferred: bool) -> None:
    lines = _tenant_cases()
    wanted = frozenset({INSTANCE}) if deferred else frozenset()
    later = frozenset({INSTANCE}) if deferred else frozenset()
    quick = _surveyed(tmp_path, lines, wanted, later)
    networks, undecided = quick[-2], quick[-1]
    assert networks and undecided  # both kinds of answer were exercised
    _slow(monkeypatch)
    assert quick == _surveyed(tmp_path, lines, wanted, later)


def test_every_tenant_type_has_a_path_reader() -> None:
    assert set(_survey._TENANT_READERS) == set(TENANT_PATHS)


def test_held_records_share_their_ancestry_parent_and_location(tmp_path: Path) -> None:
    """Pass 1 keeps one object per ancestry, parent and location among the records it holds,
    whichever reader made them (a million held records repeat a few thousand)."""
    fw = {"name": "fw", "network": NET}
    lines = [json.dumps({**_rec(FIREWALL, n, fw), "ancestors": ["projects/7", "organizations/1"]})
             for n in range(4)]
    lines.append(lines[0].replace('"asset_type"', '"iam_policy": null, "asset_type"'))  # parsed
    lines[-1] = lines[-1].replace("/t0", "/t9")
    got = _surveyed(tmp_path, lines, frozenset({FIREWALL}))
    held = list(got[9].values())
    assert len(held) == 5 and held[0].ancestors == ("projects/7", "organizations/1")
    for record in held[1:]:
        assert record.ancestors is held[0].ancestors
        assert record.parent is held[0].parent and record.location is held[0].location


def test_policies_and_ancestries_share_their_names(tmp_path: Path) -> None:
    """The roles and members of the IAM policies pass 1 holds, and the names of different
    ancestries, are one object per value too."""
    def grant(n: int, project: str) -> str:
        return json.dumps({"name": f"//storage.googleapis.com/b{n}", "asset_type": "b",
                           "iam_policy": {"bindings": [{"role": "roles/viewer",
                                                        "members": ["group:g@x.org"]}]},
                           "ancestors": [project, "folders/9", "organizations/1"]})
    got = _surveyed(tmp_path, [grant(1, "projects/1"), grant(2, "projects/2")], frozenset())
    first, second = got[9].values()
    assert first.ancestors != second.ancestors
    assert first.ancestors[1] is second.ancestors[1] and first.ancestors[2] is second.ancestors[2]
    one, two = first.iam_policy["bindings"][0], second.iam_policy["bindings"][0]
    assert one == two and one["role"] is two["role"] and one["members"][0] is two["members"][0]
