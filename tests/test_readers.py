"""Snapshot readers: every producer's flavour gives the same assets; bad input is located."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phiguard.cli import main
from phiguard.errors import SnapshotError
from phiguard.inventory import readers
from phiguard.inventory.asset import Asset
from phiguard.inventory.readers import decode_line, discover, iter_raw
from phiguard.inventory.records import parse_record
from phiguard.inventory.refs import ref_key, region_of
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.snapshot import LoadedContext, load_context, snapshot_assets
from phiguard.testing import assets_from_records

ORG = "organizations/9"
FOLDER = "folders/77"
PROJECT = "//cloudresourcemanager.googleapis.com/projects/123"
VM = "//compute.googleapis.com/projects/phi-prod/zones/us-east4-a/instances/vm1"
ANCESTORS = ["projects/123", FOLDER, ORG]
VM_LINK = "https://www.googleapis.com/compute/v1/projects/phi-prod/zones/us-east4-a/instances/vm1"

# One organization, written by `gcloud asset export`: snake_case envelope, one content type per
# record, numeric audit log types.
EXPORT: list[dict[str, Any]] = [
    {"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
     "resource": {"version": "v1", "data": {"projectNumber": "123", "projectId": "phi-prod",
                                             "labels": {"data": "phi"}},
                  "parent": "//cloudresourcemanager.googleapis.com/folders/77"},
     "ancestors": ANCESTORS, "update_time": "2026-11-01T00:00:00Z"},
    {"name": VM, "asset_type": "compute.googleapis.com/Instance",
     "resource": {"version": "v1", "data": {"name": "vm1", "selfLink": VM_LINK,
                                             "zone": "https://www.googleapis.com/compute/v1/"
                                                     "projects/phi-prod/zones/us-east4-a"},
                  "location": "us-east4-a"},
     "ancestors": ANCESTORS, "update_time": "2026-11-02T00:00:00.123456789Z"},
    {"name": PROJECT, "asset_type": "cloudresourcemanager.googleapis.com/Project",
     "iam_policy": {"version": 1, "etag": "BwX", "bindings": [
         {"role": "roles/owner", "members": ["user:a@example.com"]}],
         "audit_configs": [{"service": "allServices", "audit_log_configs": [
             {"log_type": 1}, {"log_type": 3, "exempted_members": ["user:x@example.com"]}]}]},
     "ancestors": ANCESTORS, "update_time": "2026-11-01T00:00:00Z"},
    {"name": "//cloudresourcemanager.googleapis.com/organizations/9",
     "asset_type": "cloudresourcemanager.googleapis.com/Organization",
     "org_policy": [{"constraint": "constraints/gcp.resourceLocations", "list_policy": {
         "allowed_values": ["in:us-locations"], "inherit_from_parent": True}},
         {"constraint": "constraints/iam.disableServiceAccountKeyCreation",
          "boolean_policy": {"enforced": True}}],
     "ancestors": [ORG], "update_time": "2026-11-01T00:00:00Z"},
]


def _camel_key(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def _camel(value: Any, *, inside_data: bool = False) -> Any:
    """The API / `gcloud asset list --format=json` spelling: camelCase envelope, string enums."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if inside_data:
                out[k] = v
            elif k == "log_type":
                out["logType"] = {1: "ADMIN_READ", 2: "DATA_WRITE", 3: "DATA_READ"}[v]
            else:
                out[_camel_key(k)] = _camel(v, inside_data=(k == "data"))
        return out
    if isinstance(value, list):
        return [_camel(v, inside_data=inside_data) for v in value]
    return value


API = [_camel(r) for r in EXPORT]


def ndjson(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def array(records: list[Any]) -> bytes:
    return json.dumps(records, indent=2).encode()


def list_response(records: list[Any]) -> bytes:
    return json.dumps({"readTime": "2026-11-25T06:00:00Z", "assets": records,
                       "nextPageToken": ""}, indent=2).encode()


def load(*paths: Path, phi: PhiConfig | None = None) -> tuple[LoadedContext, list[Asset]]:
    files = discover(list(paths))
    loaded = load_context(files, [], phi or PhiConfig())
    return loaded, list(snapshot_assets(loaded, files, None))


def shape(assets: list[Asset]) -> dict[str, tuple[Any, ...]]:
    """Everything about the assets except where they were read from."""
    return {a.name: (a.asset_type, a.data, a.iam_policy, a.org_policy, a.access_policy,
                     a.ancestors, a.location, a.parent, a.update_time) for a in assets}


def expected_shape() -> dict[str, tuple[Any, ...]]:
    return shape(assets_from_records(EXPORT))


FLAVOURS = {
    "export-ndjson": lambda: ndjson(EXPORT),
    "api-ndjson": lambda: ndjson(API),
    "api-array": lambda: array(API),
    "list-response": lambda: list_response(API),
    "export-array": lambda: array(EXPORT),
    "compact-array": lambda: json.dumps(API).encode(),
    "compact-list-response": lambda: json.dumps({"assets": API}).encode(),
    "list-response-assets-first-line": lambda: (
        b'{"assets": [\n' + b",\n".join(json.dumps(r).encode() for r in API) + b"\n]}\n"),
    "bom-ndjson": lambda: b"\xef\xbb\xbf" + ndjson(EXPORT),
}


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_flavour_reads_to_the_same_assets(write: Any, flavour: str, compress: bool) -> None:
    """Export NDJSON, API NDJSON / arrays and ListAssets pages, plain or gzip, give one set of
    merged assets with camelCase string-enum policies."""
    body = FLAVOURS[flavour]()
    path = write("snap.json.gz" if compress else "snap.json",
                 gzip.compress(body) if compress else body)
    _, assets = load(path)
    assert shape(assets) == expected_shape()
    project = {a.name: a for a in assets}[PROJECT]
    assert project.data["projectId"] == "phi-prod"
    assert project.iam_policy is not None
    logs = project.iam_policy["auditConfigs"][0]["auditLogConfigs"]
    assert [c["logType"] for c in logs] == ["ADMIN_READ", "DATA_READ"]
    assert logs[1]["exemptedMembers"] == ["user:x@example.com"]


def test_directory_of_shards_reads_like_one_file(write: Any, tmp_path: Path) -> None:
    """A directory mixing flavours and gzip shards (one content type each) gives the same assets."""
    write("snap/resources.ndjson.gz", gzip.compress(ndjson(EXPORT[:2])))
    write("snap/sub/iam.json", array(API[2:3]))
    write("snap/org.jsonl", ndjson(EXPORT[3:]))
    write("snap/README.txt", "not data")
    _, assets = load(tmp_path / "snap")
    assert shape(assets) == expected_shape()


def test_resource_iam_and_org_records_merge_by_name(write: Any) -> None:
    """RESOURCE, IAM_POLICY and ORG_POLICY records for one name become one asset."""
    org = "//cloudresourcemanager.googleapis.com/organizations/9"
    records = [
        {"name": org, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
         "resource": {"data": {"displayName": "example.com"}}, "ancestors": [ORG]},
        {"name": org, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
         "iam_policy": {"bindings": [{"role": "roles/viewer", "members": ["group:g@x.com"]}]},
         "ancestors": [ORG]},
        EXPORT[3],
    ]
    _, assets = load(write("a.ndjson", ndjson(records)))
    assert len(assets) == 1
    (asset,) = assets
    assert asset.data == {"displayName": "example.com"}
    assert asset.iam_policy == {
        "bindings": [{"role": "roles/viewer", "members": ["group:g@x.com"]}]}
    assert [p["constraint"] for p in asset.org_policy] == [
        "constraints/gcp.resourceLocations", "constraints/iam.disableServiceAccountKeyCreation"]
    assert asset.org_policy[0]["listPolicy"] == {"allowedValues": ["in:us-locations"],
                                                  "inheritFromParent": True}


def test_policy_only_records_are_assets_too(write: Any) -> None:
    """An IAM policy whose resource was not exported is still an asset (with empty data)."""
    _, assets = load(write("a.ndjson", ndjson([EXPORT[2]])))
    assert [(a.name, a.data, bool(a.iam_policy)) for a in assets] == [(PROJECT, {}, True)]


def test_identical_duplicates_collapse(write: Any, tmp_path: Path) -> None:
    """The same record in two shards (any flavour, any key order) is one asset, judged once."""
    write("d/a.ndjson", ndjson(EXPORT))
    write("d/b.json", array(list(reversed(API))))
    loaded, assets = load(tmp_path / "d")
    assert sorted(a.name for a in assets) == sorted(expected_shape())
    assert shape(assets) == expected_shape()
    assert loaded.counts["compute.googleapis.com/Instance"] == 1


def test_duplicate_resource_with_new_policy_keeps_the_policy(write: Any) -> None:
    """A record repeating a known resource but adding an IAM policy is not dropped."""
    vm = EXPORT[1]
    both = {**vm, "iam_policy": {"bindings": [{"role": "roles/compute.admin",
                                               "members": ["user:b@example.com"]}]}}
    _, assets = load(write("a.ndjson", ndjson([vm, both])))
    assert [a.name for a in assets] == [VM]
    assert assets[0].iam_policy is not None
    assert assets[0].iam_policy["bindings"][0]["role"] == "roles/compute.admin"


def test_manifest_read_time_is_used(write: Any, tmp_path: Path) -> None:
    """manifest.json's read_time is the snapshot time, not the latest update_time."""
    write("s/manifest.json", json.dumps({"read_time": "2026-11-25T06:00:00Z"}))
    write("s/r.ndjson", ndjson(EXPORT))
    loaded, _ = load(tmp_path / "s")
    assert loaded.read_time is not None
    assert loaded.read_time.isoformat() == "2026-11-25T06:00:00+00:00"


def test_without_manifest_the_latest_update_time_is_the_read_time(write: Any) -> None:
    """With no manifest the read time falls back to the newest update_time (nanoseconds read)."""
    loaded, _ = load(write("r.ndjson", ndjson(EXPORT)))
    assert loaded.read_time is not None
    assert loaded.read_time.isoformat() == "2026-11-02T00:00:00.123456+00:00"


def test_bad_manifest_read_time_is_an_error(write: Any, tmp_path: Path) -> None:
    """A manifest read_time that is not RFC 3339 stops the load, naming the manifest."""
    write("s/manifest.json", json.dumps({"read_time": "yesterday"}))
    write("s/r.ndjson", ndjson(EXPORT))
    with pytest.raises(SnapshotError, match="yesterday") as info:
        load(tmp_path / "s")
    assert info.value.file is not None and info.value.file.endswith("manifest.json")


USERS_PAGE = {"kind": "admin#directory#users", "users": [
    {"primaryEmail": "Alice@Example.com", "isEnrolledIn2Sv": True, "aliases": ["al@example.com"]},
    {"primaryEmail": "bob@example.com", "isEnrolledIn2Sv": False}]}


@pytest.mark.parametrize("form", ["page", "compact-no-kind", "array-of-pages", "gzip"])
def test_directory_users_files_become_user_assets(write: Any, tmp_path: Path, form: str) -> None:
    """An Admin SDK users.list file is detected and its users become admin.googleapis.com/User."""
    body: bytes
    if form == "page":
        body = json.dumps(USERS_PAGE, indent=2).encode()
    elif form == "compact-no-kind":
        body = json.dumps({"users": USERS_PAGE["users"]}).encode()
    elif form == "array-of-pages":
        body = json.dumps([{"kind": "admin#directory#users", "users": [u]}
                           for u in USERS_PAGE["users"]], indent=2).encode()
    else:
        body = gzip.compress(json.dumps(USERS_PAGE).encode())
    write("s/users.json" + (".gz" if form == "gzip" else ""), body)
    write("s/r.ndjson", ndjson(EXPORT))
    files = discover([tmp_path / "s"])
    assert len(files.user_files) == 1 and len(files.asset_files) == 1
    loaded, assets = load(tmp_path / "s")
    users = [a for a in assets if a.asset_type == "admin.googleapis.com/User"]
    assert [u.name for u in users] == ["//admin.googleapis.com/users/alice@example.com",
                                       "//admin.googleapis.com/users/bob@example.com"]
    assert users[0].data["isEnrolledIn2Sv"] is True
    assert loaded.counts["admin.googleapis.com/User"] == 2
    assert not loaded.inventory.missing_sources


def test_without_users_the_directory_source_is_missing(write: Any) -> None:
    """A snapshot without a users file records the directory as a missing source."""
    loaded, _ = load(write("r.ndjson", ndjson(EXPORT)))
    assert "admin.googleapis.com/User" in loaded.inventory.missing_sources


# bad input ----------------------------------------------------------------------------------

GOOD = json.dumps(EXPORT[0])


def _fails(path: Path | list[Path], match: str, *, line: int | None = None,
           file: Path | None = None) -> SnapshotError:
    paths = path if isinstance(path, list) else [path]
    with pytest.raises(SnapshotError) as info:
        load(*paths)
    err = info.value
    assert re.search(match, err.message), err.message
    if line is not None:
        assert err.line == line, str(err)
    where = file or (paths[0] if not paths[0].is_dir() else None)
    if where is not None:
        assert err.file == str(where), str(err)
    return err


BAD_LINES = {
    "truncated": ('{"name": "//x/y", "asset_type": "t", "resource": {"da', "truncated"),
    "invalid": ('{"name": "//x/y", asset_type: 1}', "invalid JSON"),
    "not-an-object": ("[1, 2]", "expected a CAI asset object, got array"),
    "no-name": ('{"asset_type": "t", "resource": {"data": {}}}', "no `name`"),
    "empty-name": ('{"name": "", "asset_type": "t", "resource": {}}', "no `name`"),
    "no-type": ('{"name": "//x/y", "resource": {"data": {}}}', "no `asset_type`"),
    "no-content": ('{"name": "//x/y", "asset_type": "t"}', "carries no content"),
    "data-not-object": ('{"name": "//x/y", "asset_type": "t", "resource": {"data": [1]}}',
                        "resource.data must be an object, got array"),
    "resource-not-object": ('{"name": "//x/y", "asset_type": "t", "resource": "r"}',
                            "resource must be an object"),
    "members-not-strings": ('{"name": "//x/y", "asset_type": "t", "iam_policy": {"bindings": '
                            '[{"role": "roles/x", "members": ["user:a@x.com", 7]}]}}',
                            r"members\[1\] must be a string, got number"),
    "role-missing": ('{"name": "//x/y", "asset_type": "t", "iam_policy": {"bindings": '
                     '[{"members": ["user:a@x.com"]}]}}', r"bindings\[0\]\.role must be a string"),
    "exempted-not-strings": ('{"name": "//x/y", "asset_type": "t", "iam_policy": {"audit_configs": '
                             '[{"service": "s", "audit_log_configs": [{"log_type": 1, '
                             '"exempted_members": [{"a": 1}]}]}]}}', "exempted_members"),
    "log-type-bool": ('{"name": "//x/y", "asset_type": "t", "iam_policy": {"audit_configs": '
                      '[{"service": "s", "audit_log_configs": [{"log_type": true}]}]}}',
                      "log_type must be a string"),
    "ancestors-not-list": ('{"name": "//x/y", "asset_type": "t", "resource": {}, '
                           '"ancestors": "projects/1"}', "ancestors must be an array, got string"),
    "ancestors-empty-object": ('{"name": "//x/y", "asset_type": "t", "resource": {}, '
                               '"ancestors": {}}', "ancestors must be an array, got object"),
    "ancestor-not-string": ('{"name": "//x/y", "asset_type": "t", "resource": {}, '
                            '"ancestors": [1]}', r"ancestors\[0\] must be a string"),
    "bindings-not-list": ('{"name": "//x/y", "asset_type": "t", "iam_policy": {"bindings": {}}}',
                          "bindings must be an array"),
    "org-policy-not-list": ('{"name": "//x/y", "asset_type": "t", "org_policy": {"a": 1}}',
                            "org_policy must be an array"),
    "allowed-values-string": ('{"name": "//x/y", "asset_type": "t", "org_policy": [{"constraint": '
                              '"constraints/c", "list_policy": {"allowed_values": "in:us"}}]}',
                              "allowed_values must be an array"),
    "inherit-not-bool": ('{"name": "//x/y", "asset_type": "t", "org_policy": [{"constraint": '
                         '"constraints/c", "list_policy": {"inherit_from_parent": "yes"}}]}',
                         "inherit_from_parent must be"),
    "enforced-not-bool": ('{"name": "//x/y", "asset_type": "t", "org_policy": [{"constraint": '
                          '"constraints/c", "boolean_policy": {"enforced": "true"}}]}',
                          "enforced must be"),
    "update-time-bad": ('{"name": "//x/y", "asset_type": "t", "resource": {}, '
                        '"update_time": "last tuesday"}', "not an RFC 3339 time"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_ndjson_line_names_file_and_line(write: Any, case: str) -> None:
    """A malformed record on line 3 of an NDJSON file is a SnapshotError at FILE:3 saying what
    was expected, never a skip or another exception."""
    text, match = BAD_LINES[case]
    path = write("bad.ndjson", f"{GOOD}\n\n{text}\n{GOOD}\n")
    _fails(path, match, line=3)


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_array_element_names_file_and_line(write: Any, case: str) -> None:
    """The same bad records inside a JSON array fail at the line where the element starts."""
    text, match = BAD_LINES[case]
    if case == "truncated":
        path = write("bad.json", f"[\n{GOOD},\n{text}")
        _fails(path, "invalid JSON|truncated|unterminated")
        return
    path = write("bad.json", f"[\n{GOOD},\n{text}\n]\n")
    _fails(path, match if case != "invalid" else "invalid JSON", line=3)


def test_project_with_odd_data_types_loads(write: Any) -> None:
    """A Project whose body has a non-string projectId or numeric projectNumber still loads:
    the body is the producer's, and only documented types are learned from it."""
    records = [{"name": "//cloudresourcemanager.googleapis.com/projects/5",
                "asset_type": "cloudresourcemanager.googleapis.com/Project",
                "resource": {"data": {"projectId": {"a": 1}, "projectNumber": 5,
                                      "labels": ["x"]}}, "ancestors": ["projects/5"]}]
    loaded, assets = load(write("p.ndjson", ndjson(records)))
    facts = loaded.inventory.facts(assets[0])
    assert (facts["project"], facts["project_number"]) == ("5", "5")


def test_truncated_array_is_an_error(write: Any) -> None:
    """An array without its closing bracket is reported as truncated, not read as complete."""
    _fails(write("t.json", f"[\n{GOOD},\n{GOOD}\n"), "unterminated|truncated")


def test_trailing_garbage_after_a_document_is_an_error(write: Any) -> None:
    """Text after a JSON array or ListAssets object is an error on its line, not ignored."""
    _fails(write("t.json", f"[\n{GOOD}\n]\n{GOOD}\n"), "after the JSON document", line=4)


def test_list_response_without_assets_array_is_an_error(write: Any) -> None:
    """A pretty-printed object without an `assets` array is named for what it is not."""
    _fails(write("t.json", json.dumps({"items": []}, indent=2)), "`assets` array", line=1)


def test_deeply_nested_json_is_an_error(write: Any) -> None:
    """Pathologically nested JSON is a SnapshotError, not a RecursionError."""
    _fails(write("deep.json", "[" * 50000 + "]" * 50000), "nest|invalid JSON")
    _fails(write("deep2.ndjson", '{"a": ' * 3000 + "1" + "}" * 3000 + "\n"), "nest|invalid JSON",
           line=1)


def test_deep_data_in_array_flavour_is_read(write: Any) -> None:
    """Deep (300 levels) but valid resource data reads; the duplicate check copes with it."""
    deep: Any = 1
    for _ in range(300):
        deep = {"k": deep}
    record = {"name": "//x/y", "asset_type": "t", "resource": {"data": deep}}
    _, assets = load(write("deep.json", json.dumps([record, record])))
    assert len(assets) == 1


def test_huge_integers_in_array_flavour_are_read(write: Any) -> None:
    """Integers beyond 64 bits in a JSON array do not crash the duplicate check."""
    record = {"name": "//x/y", "asset_type": "t", "resource": {"data": {"n": 10**30}}}
    _, assets = load(write("big.json", json.dumps([record])))
    assert assets[0].data == {"n": 10**30}


def test_non_utf8_ndjson_names_line(write: Any) -> None:
    """Non-UTF-8 bytes in NDJSON are reported at their line."""
    path = write("b.ndjson", GOOD.encode() + b"\n" + b'{"name": "\xff\xfe"}\n')
    _fails(path, "UTF-8", line=2)


def test_non_utf8_array_names_line(write: Any) -> None:
    """Non-UTF-8 bytes in a JSON document are reported at their line."""
    path = write("b.json", b"[\n" + GOOD.encode() + b',\n{"name": "\xff"}\n]')
    _fails(path, "UTF-8", line=3)


def test_line_over_max_bytes_is_an_error(write: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than MAX_LINE_BYTES is refused at its line instead of being read whole."""
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1024)
    long = json.dumps({**EXPORT[1], "resource": {"data": {"pad": "x" * 2000}}})
    path = write("l.ndjson", f"{GOOD}\n{long}\n")
    _fails(path, "longer than", line=2)


def test_conflicting_duplicates_name_both_locations(write: Any, tmp_path: Path) -> None:
    """Two different RESOURCE records for one name fail at the second, naming the first."""
    other = {**EXPORT[1], "resource": {"data": {"name": "vm1", "changed": True}}}
    first = write("c/a.ndjson", ndjson(EXPORT[:2]))
    second = write("c/b.ndjson", ndjson([EXPORT[0], other]))
    err = _fails(tmp_path / "c", "conflicting duplicate", line=2, file=second)
    assert f"{first}:2" in err.message


def test_conflicting_asset_types_for_one_name_are_an_error(write: Any) -> None:
    """One name with two asset types (resource in one record, policy in another) is an error."""
    wrong = {**EXPORT[2], "asset_type": "compute.googleapis.com/Project"}
    _fails(write("t.ndjson", ndjson([EXPORT[0], wrong])), "asset type", line=2)


def test_truncated_gzip_is_an_error(write: Any) -> None:
    """A gzip shard cut short is a SnapshotError naming the file, not an EOFError."""
    body = gzip.compress(ndjson(EXPORT * 50))
    _fails(write("t.ndjson.gz", body[: len(body) // 2]), "compressed|truncated")
    small = gzip.compress(ndjson(EXPORT))
    _fails(write("u.json.gz", small[:-6]), "compressed|truncated")


def test_corrupt_gzip_is_an_error(write: Any) -> None:
    """A gzip stream whose body is garbage is a SnapshotError."""
    body = bytearray(gzip.compress(ndjson(EXPORT * 20)))
    body[20:40] = b"\x00" * 20
    _fails(write("t.ndjson.gz", bytes(body)), "compressed|gzip|invalid|UTF-8")


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    """A directory with no data files is an error, not an empty snapshot."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotError, match="no snapshot data"):
        discover([tmp_path / "empty"])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A snapshot path that does not exist is named."""
    with pytest.raises(SnapshotError, match="no such file") as info:
        discover([tmp_path / "nope"])
    assert info.value.file == str(tmp_path / "nope")


def test_users_file_without_primary_email_is_an_error(write: Any, tmp_path: Path) -> None:
    """A directory users file whose user has no primaryEmail fails at that user's line."""
    body = json.dumps({"users": [{"primaryEmail": "a@example.com"},
                                 {"name": {"fullName": "No Mail"}}]}, indent=2)
    users = write("s/users.json", body)
    write("s/r.ndjson", ndjson(EXPORT))
    _fails(tmp_path / "s", "primaryEmail", file=users)


def test_users_file_with_bad_types_is_an_error(write: Any, tmp_path: Path) -> None:
    """2SV flags must be booleans and alias lists strings, each named with the user."""
    for i, user in enumerate([{"primaryEmail": "a@x.com", "isEnrolledIn2Sv": "yes"},
                              {"primaryEmail": "a@x.com", "aliases": "b@x.com"},
                              {"primaryEmail": "a@x.com", "nonEditableAliases": 5}]):
        path = write(f"s{i}/users.json",
                     json.dumps({"kind": "admin#directory#users", "users": [user]}))
        with pytest.raises(SnapshotError, match=r"a@x\.com") as info:
            load(path)
        assert info.value.file == str(path)


def test_duplicate_users_are_an_error(write: Any, tmp_path: Path) -> None:
    """The same user in two pages is an error naming the user."""
    write("s/u1.json", json.dumps({"kind": "admin#directory#users",
                                   "users": [{"primaryEmail": "a@x.com"}]}))
    write("s/u2.json", json.dumps({"kind": "admin#directory#users",
                                   "users": [{"primaryEmail": "A@x.com"}]}))
    _fails(tmp_path / "s", "a@x.com appears twice")


def test_cli_scan_of_bad_snapshot_exits_2_with_location(write: Any) -> None:
    """`phiguard scan BAD` prints `phiguard: error: FILE:LINE: ...` and exits 2, no traceback."""
    path = write("bad.ndjson", f"{GOOD}\n{{\"name\": \"//x/y\"}}\n")
    result = CliRunner().invoke(main, ["scan", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"phiguard: error: {path}:2: "), result.stderr
    assert "asset_type" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_scan_of_truncated_gzip_exits_2(write: Any) -> None:
    """A truncated gzip shard through the CLI is exit 2 with the file named."""
    body = gzip.compress(ndjson(EXPORT * 50))
    path = write("t.ndjson.gz", body[: len(body) // 2])
    result = CliRunner().invoke(main, ["scan", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"phiguard: error: {path}"), result.stderr
    assert "Traceback" not in result.stderr


# property tests ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)

KEYS = ["name", "asset_type", "assetType", "resource", "data", "iam_policy", "iamPolicy",
        "org_policy", "orgPolicy", "ancestors", "update_time", "updateTime", "bindings",
        "members", "role", "audit_configs", "auditConfigs", "audit_log_configs", "log_type",
        "logType", "exempted_members", "list_policy", "listPolicy", "boolean_policy",
        "allowed_values", "all_values", "inherit_from_parent", "constraint", "location",
        "parent", "access_policy", "restore_default", "enforced", "projectId", "labels"]

cai_like = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-5, max_value=2**70)
    | st.sampled_from(["//x/y", "t", "projects/1", "roles/x", "user:a@b.c", "", "constraints/c"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    max_leaves=20,
)

records_like = st.fixed_dictionaries(
    {"name": st.sampled_from(["//x/y", "//cloudresourcemanager.googleapis.com/projects/1"])},
    optional={"asset_type": st.sampled_from(["t", "cloudresourcemanager.googleapis.com/Project"]),
              "resource": cai_like, "iam_policy": cai_like, "org_policy": cai_like,
              "ancestors": cai_like, "update_time": cai_like, "access_policy": cai_like},
)


def _read_everything(path: Path) -> None:
    """Read a snapshot file the way a scan does; only SnapshotError may escape."""
    try:
        for item in iter_raw(path):
            value = decode_line(item.raw, item.file, item.line) if item.raw is not None \
                else item.value
            parse_record(value, item.file, item.line)
        load(path)
    except SnapshotError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_snapshot_error(data: bytes) -> None:
    """Any bytes at all, as NDJSON or a document, parse or raise SnapshotError."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in (("a.ndjson", data), ("b.json", b"{" + data),
                           ("c.json", b"[" + data), ("d.json.gz", gzip.compress(data))):
            path = Path(tmp) / name
            path.write_bytes(body)
            _read_everything(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(json_values, records_like), min_size=1, max_size=4))
def test_arbitrary_json_values_parse_or_raise_snapshot_error(values: list[Any]) -> None:
    """Arbitrary JSON values and CAI-like records, as NDJSON lines or a JSON array, parse or
    raise SnapshotError, never another exception."""
    with tempfile.TemporaryDirectory() as tmp:
        nd = Path(tmp) / "a.ndjson"
        nd.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
        _read_everything(nd)
        doc = Path(tmp) / "b.json"
        doc.write_text(json.dumps(values, indent=1), encoding="utf-8")
        _read_everything(doc)
        for v in values:
            with contextlib.suppress(SnapshotError):
                parse_record(v, "<v>", 1)


segment = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(project=segment, zone=segment, name=segment,
       kind=st.sampled_from(["instances", "disks", "forwardingRules", "targetHttpsProxies",
                             "sslPolicies", "networks", "subnetworks", "firewalls"]),
       place=st.sampled_from(["global", "zones", "regions"]),
       api=st.sampled_from(["compute/v1", "compute/beta", "compute/alpha"]),
       host=st.sampled_from(["https://www.googleapis.com", "https://compute.googleapis.com"]))
def test_ref_key_unifies_compute_spellings(project: str, zone: str, name: str, kind: str,
                                           place: str, api: str, host: str) -> None:
    """The selfLink (v1, beta, alpha), relative path and CAI name of a compute resource share
    one key."""
    path = f"projects/{project}/" + ("global" if place == "global" else f"{place}/{zone}") + \
        f"/{kind}/{name}"
    keys = {ref_key(f"{host}/{api}/{path}"), ref_key(path), ref_key("/" + path),
            ref_key(f"//compute.googleapis.com/{path}"), ref_key(f" {host}/{api}/{path} ")}
    assert keys == {path}


@given(region=st.from_regex(r"[a-z]{2,12}-[a-z]{4,10}[0-9]{1,2}", fullmatch=True),
       suffix=st.sampled_from("abcdf"))
def test_region_of_zone_drops_the_zone_letter(region: str, suffix: str) -> None:
    """A zone (bare or as a URL) gives its region; a region stays itself."""
    assert region_of(f"{region}-{suffix}") == region
    assert region_of(f"https://www.googleapis.com/compute/v1/projects/p/zones/{region}-{suffix}") \
        == region
    assert region_of(region) == region


def test_wrong_type_name_is_named_as_such(tmp_path: Path) -> None:
    """A `name` or `asset_type` of the wrong JSON type is reported as that, not as missing."""
    from phiguard.errors import SnapshotError
    from phiguard.inventory.records import parse_record

    with pytest.raises(SnapshotError, match=r"`name` must be a string.*number"):
        parse_record({"name": 5, "asset_type": "t.googleapis.com/T", "resource": {}}, "f", 3)
    with pytest.raises(SnapshotError, match=r"`asset_type` must be a string.*array"):
        parse_record({"name": "//x", "asset_type": [], "resource": {}}, "f", 3)
