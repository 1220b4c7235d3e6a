"""phiguard.google: the shipped definitions are faithful to their source and answer the
questions rules, fixtures, the collector and the fix module ask of them."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from _paths import REPO, RULES
from emulator import Emulator
from phiguard import google
from phiguard.collect.clients import Clients
from phiguard.collect.collector import CollectOptions, collect
from phiguard.config import load_config
from phiguard.google import _refresh
from phiguard.google.contracts import check_record
from phiguard.policy.rule import load_pack
from phiguard.runs.collect import asset_types_for


def test_trimmed_documents_are_what_the_installed_client_library_ships() -> None:
    """Each trimmed discovery document is exactly what `python -m phiguard.google._refresh`
    makes from the installed google-api-python-client when it is the version they were taken
    from; with another version, every schema, property, enum value and method phiguard ships
    still exists there (a refresh is due, but nothing shipped was invented)."""
    wanted = _refresh._wanted()
    shipped_from = {json.loads((_refresh.OUT / f"{a}.{v}.json").read_text())["_source"]
                    .split(",")[0] for a, v in wanted}
    assert len(shipped_from) == 1
    same_version = shipped_from.pop() == \
        f"google-api-python-client {version('google-api-python-client')}"
    for (api, v), (roots, methods) in sorted(wanted.items()):
        shipped = json.loads((_refresh.OUT / f"{api}.{v}.json").read_text())
        if same_version:
            assert _refresh.render(api, v, roots, methods) == \
                (_refresh.OUT / f"{api}.{v}.json").read_text(), f"{api}.{v}: run the refresh"
            continue
        source = json.loads(_refresh._source(api, v).read_text())
        for name, schema in shipped["schemas"].items():
            for prop, spec in schema.get("properties", {}).items():
                assert prop in source["schemas"][name]["properties"], (api, name, prop)
                assert set(spec.get("enum", [])) <= set(
                    source["schemas"][name]["properties"][prop].get("enum", [])), (name, prop)


def test_every_table_type_is_in_the_cai_list_or_marked_synthetic() -> None:
    for asset_type in google.asset_types_with_schema():
        ref = google.schema_of(asset_type)
        assert ref is not None
        assert google.is_cai_asset_type(asset_type) == ref.cai, asset_type
        assert ref.schema in google.discovery(ref.api, ref.version)["schemas"], asset_type


def test_the_cai_list_has_no_region_variants_google_does_not_define() -> None:
    """Regional SSL policies, proxies, URL maps, autoscalers and instance group managers are
    listed by CAI under the global type names; the list has only the two regional types Google
    defines, and never the directory-user type."""
    regional = {t for t in google.cai_asset_types() if "/Region" in t}
    assert regional == {"compute.googleapis.com/RegionBackendService",
                        "compute.googleapis.com/RegionDisk"}
    assert not google.is_cai_asset_type("admin.googleapis.com/User")


@pytest.mark.parametrize(("asset_type", "path", "exists"), [
    ("compute.googleapis.com/Firewall", "data.allowed[*].IPProtocol", True),
    ("compute.googleapis.com/Firewall", "allowed[0].ports", True),
    ("compute.googleapis.com/Firewall", "fingerprint", False),
    ("compute.googleapis.com/SslPolicy", "fingerprint", True),
    ("sqladmin.googleapis.com/Instance", "settings.ipConfiguration.sslMode", True),
    ("storage.googleapis.com/Bucket", "labels['any-key']", True),
    ("serviceusage.googleapis.com/Service", "config.name", True),  # REST has it, CAI omits it
    ("iam.googleapis.com/ServiceAccount", "uniqueId", True),
])
def test_field_paths(asset_type: str, path: str, exists: bool) -> None:
    assert google.field_exists(asset_type, path) is exists


def test_enum_values_and_the_cai_absent_exception() -> None:
    assert google.enum_values("compute.googleapis.com/Firewall", "direction") == (
        "EGRESS", "INGRESS")
    assert google.enum_values("compute.googleapis.com/Firewall", "name") is None
    absent = google.cai_absent("serviceusage.googleapis.com/Service", "data.config.name")
    assert absent is not None and "policy-library" in absent.reason
    assert all(e.reason for e in google.field_exceptions())


def test_methods_with_their_body_schema_and_query_parameters() -> None:
    patch = google.method("compute.firewalls.patch")
    assert patch is not None and patch.http_method == "PATCH" and patch.request == "Firewall"
    assert "requestId" in patch.parameters
    iam = google.method("storage.buckets.getIamPolicy")
    assert iam is not None and "optionsRequestedPolicyVersion" in iam.parameters
    assert google.method("compute.firewalls.setFingerprint") is None


def test_validate_resource_names_each_problem_with_its_path() -> None:
    problems = google.validate_resource("compute.googleapis.com/Firewall", {
        "name": "fw", "direction": "IN", "priority": "high", "fingerprint": "x",
        "allowed": [{"IPProtocol": "tcp", "ports": [22]}], "sourceRanges": None})
    assert sorted(str(p) for p in problems) == [
        "data.allowed[*].ports[*]: expected a string, found a number",
        "data.direction: 'IN' is not one of EGRESS, INGRESS",
        "data.fingerprint: unknown field: the discovery schema Firewall has no such property",
        "data.priority: expected an integer, found a string",
    ]
    assert google.validate_resource("x.googleapis.com/Y", {})[0].path == "asset_type"


def test_an_enum_may_be_sent_as_its_number_as_proto_json_allows() -> None:
    """GAPIC REST clients send enums as numbers (`enum-encoding=int`): ExportAssets with
    `contentType: 1` is valid, a negative number or a float is not."""
    body = {"contentType": 1, "outputConfig": {"gcsDestination": {"uriPrefix": "gs://b/p"}}}
    assert google.validate_body("cloudasset", "v1", "ExportAssetsRequest", body) == []
    body["contentType"] = -1
    assert google.validate_body("cloudasset", "v1", "ExportAssetsRequest", body) != []


def test_collect_asks_cloud_asset_for_cai_types_only(demo_dir: Path, tmp_path: Path) -> None:
    """With the default rule pack, `collect` sends Cloud Asset only CAI types (the emulator
    would answer 400 otherwise), records the directory-user type as not requested, gets the
    users from the Admin SDK, and regional groups arrive under InstanceGroupManager."""
    pack = load_pack([RULES])
    wanted = asset_types_for(pack, load_config(demo_dir / "phiguard.yaml"))
    with Emulator(demo_dir) as emu:
        manifest = collect(Clients(emu.base), CollectOptions(["organizations/123456789012"],
                                                             tmp_path / "snap",
                                                             asset_types=wanted,
                                                             directory_customer="my_customer"))
        sent = [r for r in emu.requests if "/assets?" in r]
    assert manifest["coverage_gaps"] == []
    assert manifest["asset_types_not_requested"] == ["admin.googleapis.com/User"]
    assert sent and all("admin.googleapis.com" not in r for r in sent)
    assert (tmp_path / "snap" / "directory-users.json").exists()
    igms = [json.loads(line)["name"] for line in
            (tmp_path / "snap" / "resource.ndjson").read_text().splitlines()
            if '"compute.googleapis.com/InstanceGroupManager"' in line]
    assert any("/regions/" in n for n in igms)


def test_collect_of_only_types_cai_does_not_define_is_a_usage_error(tmp_path: Path) -> None:
    """`--asset-type compute.googleapis.com/RegionSslPolicy` alone is exit 2 naming the type,
    before any request or output directory."""
    from click.testing import CliRunner

    from phiguard.cli import main

    result = CliRunner().invoke(main, ["collect", "--org", "123", "--output",
                                       str(tmp_path / "snap"), "--asset-type",
                                       "compute.googleapis.com/RegionSslPolicy"],
                                env={"PHIGUARD_GCP_ENDPOINT": "http://127.0.0.1:9"})
    assert result.exit_code == 2, result.output
    assert "compute.googleapis.com/RegionSslPolicy is not a Cloud Asset Inventory asset type" \
        in result.output
    assert not (tmp_path / "snap").exists()


# Where Google's Terraform converter writes CAI data that the REST schema does not define. These
# are the converter's own artifacts (its test inputs, or fields it copies from Terraform), not
# what Cloud Asset writes, so they are not exceptions of phiguard's definitions; each is named
# with the reason so a new departure fails the test below.
_CONVERTER_ARTIFACTS = {
    ("storage.googleapis.com/Bucket", "data.project"):
        "the converter copies Terraform's `project`; the Bucket resource has projectNumber",
    ("container.googleapis.com/NodePool", "data.cluster"):
        "Terraform's `cluster` argument, a path parameter of the REST API, not a field",
    ("container.googleapis.com/NodePool", "data.location"):
        "Terraform's `location` argument, a path parameter of the REST API, not a field",
    ("compute.googleapis.com/Snapshot", "data.zone"):
        "Terraform's `zone` argument (a path parameter of disks.createSnapshot)",
    ("cloudresourcemanager.googleapis.com/Folder", "data.display_name"):
        "snake_case spelling of displayName in two of the converter's folder templates",
    ("cloudkms.googleapis.com/KeyRing", "data"):
        "the converter writes `data: null` for a key ring with no fields",
    ("bigquery.googleapis.com/Table", "data.tableReference.project"):
        "the converter writes Terraform's `project` in the table reference; TableReference "
        "has projectId",
    ("cloudfunctions.googleapis.com/CloudFunction", "data.location"):
        "Terraform's `region` argument, a path parameter of the REST API, not a field",
    ("cloudfunctions.googleapis.com/CloudFunction", "data.trigger_http"):
        "Terraform's `trigger_http` argument copied in snake_case; the REST resource has "
        "httpsTrigger",
    ("cloudfunctions.googleapis.com/CloudFunction", "data.timeout"):
        "Terraform's `timeout` in seconds (a number); the REST field is a Duration string",
    ("bigquery.googleapis.com/Dataset", "data.defaultTableExpirationMs"):
        "Terraform's `default_table_expiration_ms` as a JSON number (3.6e+06); the REST field "
        "is an int64, written as a string",
}


def test_googles_converter_cai_validates_except_its_documented_artifacts() -> None:
    """Google's own expected CAI for the golden Terraform pairs (tests/tgc_golden, from
    terraform-google-conversion) validates against phiguard's definitions, apart from the
    converter's named artifacts and its test inputs' placeholder enum values (`test-...`):
    the definitions do not reject real Google data."""
    seen: set[tuple[str, str]] = set()
    checked = 0
    for path in sorted((REPO / "tests" / "tgc_golden").glob("*.json")):
        if path.name.endswith(".tfplan.json"):
            continue
        text = re.sub(r"\{\{[^}]*\}\}", "placeholder", path.read_text())
        for record in json.loads(text):
            if google.schema_of(record.get("asset_type", "")) is None:
                continue
            checked += 1
            for problem in check_record(record):
                if "'test-" in problem.message:  # the converter's test input, e.g. test-disk_type
                    continue
                seen.add((record["asset_type"], problem.path))
    assert checked >= 50
    assert seen <= set(_CONVERTER_ARTIFACTS), sorted(seen - set(_CONVERTER_ARTIFACTS))
