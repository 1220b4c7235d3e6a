"""The emulator refuses what Google refuses and serves only what Google could serve, checked
with the real client libraries (google-cloud-asset over REST, discovery clients for compute,
sqladmin, storage) on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from emulator import Emulator
from emulator.contract import served_method
from phiguard.collect.clients import Clients
from phiguard.fix.api import ApiError, FixApi
from phiguard.google import validate_body

ORG = "organizations/123456789012"


@pytest.fixture(scope="module")
def org(demo_dir: Path) -> Iterator[Emulator]:
    with Emulator(demo_dir) as server:
        yield server


@pytest.fixture()
def cloud() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


def _list(emu: Emulator, types: list[str]) -> list[Any]:
    client = Clients(emu.base).asset()
    return list(client.list_assets(request={"parent": ORG, "content_type": "RESOURCE",
                                            "asset_types": types, "page_size": 500}))


def _raw(emu: Emulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emu.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("asset_type", ["admin.googleapis.com/User",
                                        "compute.googleapis.com/RegionInstanceGroupManager",
                                        "compute.googleapis.com/RegionSslPolicy"])
def test_list_assets_refuses_a_type_cai_does_not_define(org: Emulator, asset_type: str) -> None:
    """ListAssets naming a type Cloud Asset does not define is INVALID_ARGUMENT (400: the REST
    client raises BadRequest) for the whole request, never a listing that leaves it out."""
    with pytest.raises(gexc.BadRequest, match="not a supported asset type"):
        _list(org, ["compute.googleapis.com/Firewall", asset_type])


def test_list_assets_serves_real_types_and_regional_ones_under_the_global_type(
        org: Emulator) -> None:
    """Regional managed instance groups come back under InstanceGroupManager, by name."""
    names = [a.name for a in _list(org, ["compute.googleapis.com/InstanceGroupManager"])]
    assert any("/regions/" in n for n in names) and any("/zones/" in n for n in names)


def test_list_assets_takes_a_regular_expression_as_the_api_does(org: Emulator) -> None:
    assets = _list(org, ["cloudkms.googleapis.com.*"])
    assert assets and {a.asset_type for a in assets} <= {
        "cloudkms.googleapis.com/KeyRing", "cloudkms.googleapis.com/CryptoKey",
        "cloudkms.googleapis.com/CryptoKeyVersion"}
    with pytest.raises(gexc.BadRequest):
        _list(org, ["nosuchservice.googleapis.com.*"])


def test_export_assets_refuses_a_type_cai_does_not_define(org: Emulator) -> None:
    """ExportAssets answers 400 INVALID_ARGUMENT in Google's error JSON shape."""
    status, body = _raw(org, "POST", f"/cloudasset/v1/{ORG}:exportAssets", {
        "assetTypes": ["admin.googleapis.com/User"], "contentType": "RESOURCE",
        "outputConfig": {"gcsDestination": {"uriPrefix": "gs://b/p"}}})
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
    assert "admin.googleapis.com/User" in body["error"]["message"]


def test_a_body_field_the_schema_lacks_is_refused(cloud: Emulator) -> None:
    """A firewall patch carrying `fingerprint` (compute Firewall has none) is a 400 naming the
    field, through the real discovery client, and nothing is written."""
    cloud.cloud.add_firewall("p1", "allow-ssh", direction="INGRESS",
                             sourceRanges=["0.0.0.0/0"])
    api = FixApi(Clients(cloud.base))
    with pytest.raises(ApiError) as caught:
        api.call("compute.firewalls.patch", {"project": "p1", "firewall": "allow-ssh"},
                 {"disabled": True, "fingerprint": "abc="})
    assert caught.value.status == 400
    assert cloud.cloud.writes == [] and cloud.cloud.firewalls[("p1", "allow-ssh")]["disabled"] \
        is False
    api.call("compute.firewalls.patch", {"project": "p1", "firewall": "allow-ssh"},
             {"disabled": True})
    assert cloud.cloud.firewalls[("p1", "allow-ssh")]["disabled"] is True


@pytest.mark.parametrize(("path", "body", "expected"), [
    ("/sqladmin/v1/projects/p1/instances/db1",
     {"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED"}}}, "'ENCRYPTED' is not one of"),
    ("/sqladmin/v1/projects/p1/instances/db1",
     {"settings": {"backupConfiguration": {"enabled": "yes"}}}, "expected a boolean"),
    ("/storage/v1/b/phi-bucket", {"versioning": {"on": True}}, "unknown field"),
])
def test_bad_values_and_types_in_a_body_are_refused(cloud: Emulator, path: str, body: Any,
                                                    expected: str) -> None:
    status, answer = _raw(cloud, "PATCH", path, body)
    assert status == 400 and expected in answer["error"]["message"]


def test_a_query_parameter_the_method_lacks_is_refused(cloud: Emulator) -> None:
    cloud.cloud.add_bucket("phi-bucket")
    assert _raw(cloud, "GET", "/storage/v1/b/phi-bucket?ifEtagMatch=1")[0] == 400
    assert _raw(cloud, "GET", "/storage/v1/b/phi-bucket?projection=full")[0] == 200


def test_the_emulator_never_serves_an_invented_field(cloud: Emulator) -> None:
    """A test that seeds a field Google does not define gets a 500 naming it, so an invented
    field cannot slip into what the code under test reads."""
    cloud.cloud.add_ssl_policy("p1", "tls", minTlsVersion="TLS_1_2", fingerprints="x")
    status, body = _raw(cloud, "GET", "/compute/v1/projects/p1/global/sslPolicies/tls")
    assert status == 500 and "fingerprints" in body["error"]["message"]


def test_the_emulator_never_lists_a_cai_record_with_an_invented_field(demo_dir: Path,
                                                                      tmp_path: Path) -> None:
    """A fixture org whose record carries a field Google does not define is not served: the
    listing is a 500 naming the field, so no test can rest on invented CAI data."""
    import shutil

    org_dir = tmp_path / "org"
    shutil.copytree(demo_dir, org_dir)
    lines = (org_dir / "resources.ndjson").read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if '"compute.googleapis.com/Firewall"' in line)
    record = json.loads(lines[i])
    record["resource"]["data"]["fingerprint"] = "abc="
    lines[i] = json.dumps(record)
    (org_dir / "resources.ndjson").write_text("\n".join(lines) + "\n")
    with Emulator(org_dir) as emu, pytest.raises(gexc.InternalServerError, match="fingerprint"):
        _list(emu, ["compute.googleapis.com/Firewall"])


def test_every_seeded_resource_the_emulator_serves_validates(cloud: Emulator) -> None:
    """What each CloudState seeding helper makes, read back through its GET method, is a body
    its discovery response schema allows."""
    state = cloud.cloud
    state.add_ssl_policy("p1", "tls", minTlsVersion="TLS_1_2", profile="MODERN")
    state.add_firewall("p1", "fw", direction="INGRESS", sourceRanges=["0.0.0.0/0"],
                       allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])
    state.add_sql("p1", "db1", {"ipConfiguration": {"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"}},
                  databaseVersion="POSTGRES_15")
    state.add_bucket("phi-bucket")
    state.set_bucket_iam("phi-bucket", [{"role": "roles/storage.objectViewer",
                                         "members": ["allUsers"]}])
    state.set_project_iam("p1", [{"role": "roles/owner", "members": ["user:a@example.com"]}])
    state.add_https_proxy("p1", "px", urlMap="https://www.googleapis.com/compute/v1/projects/p1"
                          "/global/urlMaps/um")
    state.add_sa_key("p1", "sa@p1.iam.gserviceaccount.com", "k1")
    reads = [("GET", "/compute/v1/projects/p1/global/sslPolicies/tls"),
             ("GET", "/compute/v1/projects/p1/global/firewalls/fw"),
             ("GET", "/sqladmin/v1/projects/p1/instances/db1"),
             ("GET", "/storage/v1/b/phi-bucket"),
             ("GET", "/storage/v1/b/phi-bucket/iam"),
             ("POST", "/crm/v3/projects/p1:getIamPolicy"),
             ("GET", "/compute/v1/projects/p1/global/targetHttpsProxies/px"),
             ("GET", "/iam/v1/projects/p1/serviceAccounts/sa@p1.iam.gserviceaccount.com/keys/k1")]
    for method, path in reads:
        served = served_method(method, path)
        assert served is not None, path
        status, body = _raw(cloud, method, path, {} if method == "POST" else None)
        assert status == 200, (path, body)
        ref = served.raw["response"]["$ref"]
        assert validate_body(served.api, served.version, ref, body) == [], path
