"""`grants within: phi` asks whether each binding's resource is in PHI scope. A resource whose
PHI scope comes from its own data (a Compute Engine instance on a PHI VPC network, in a project
outside PHI scope) has that data read in a scan even when no rule joins to its type, so a grant
on it counts as PHI reach; when the snapshot holds the resource's IAM policy but not the
resource, the reach is UNKNOWN, never a silent "no PHI".

Each scenario is a small CAI export (resources and IAM policies in separate files, as
`gcloud asset export` writes them) judged by a real scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from _paths import RULES
from phiguard.google._definitions import schema_of
from phiguard.inventory.asset import USER_TYPE, Asset, UnknownValue
from phiguard.inventory.inventory import REACH_TYPES, Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.types import NETWORK_PATHS
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
ORG = "organizations/123456789012"
CRM = "//cloudresourcemanager.googleapis.com/"
COMPUTE = "https://www.googleapis.com/compute/v1/"
PHI_VPC = f"{COMPUTE}projects/net-host/global/networks/phi-vpc"
APP = ("app-dev", "222222222222")
NET = ("net-host", "333333333333")
PHI = ("phi-prod", "111111111111")
INSTANCE = "compute.googleapis.com/Instance"
SA = "iam.googleapis.com/ServiceAccount"
DOMAIN = "example-health.com"


def _ancestors(project: tuple[str, str]) -> list[str]:
    return [f"projects/{project[1]}", ORG]


def _project(project: tuple[str, str]) -> dict[str, Any]:
    pid, number = project
    return {"name": f"{CRM}projects/{number}",
            "asset_type": "cloudresourcemanager.googleapis.com/Project",
            "resource": {"version": "v1", "discovery_name": "Project",
                         "parent": f"{CRM}{ORG}",
                         "data": {"projectNumber": number, "projectId": pid, "name": pid,
                                  "lifecycleState": "ACTIVE",
                                  "parent": {"type": "organization", "id": ORG.split("/")[1]}},
                         "location": "global"},
            "ancestors": _ancestors(project)}


def _instance_name(name: str) -> str:
    return f"//compute.googleapis.com/projects/{APP[0]}/zones/us-east4-a/instances/{name}"


def _instance(name: str, network: str) -> dict[str, Any]:
    zone = f"{COMPUTE}projects/{APP[0]}/zones/us-east4-a"
    return {"name": _instance_name(name), "asset_type": INSTANCE,
            "resource": {"version": "v1", "discovery_name": "Instance",
                         "parent": f"{CRM}projects/{APP[1]}",
                         "data": {"kind": "compute#instance", "id": "4471" + str(len(name)),
                                  "name": name, "status": "RUNNING", "zone": zone,
                                  "selfLink": f"{zone}/instances/{name}",
                                  "networkInterfaces": [{"kind": "compute#networkInterface",
                                                         "name": "nic0", "network": network,
                                                         "networkIP": "10.10.0.5"}]},
                         "location": "us-east4-a"},
            "ancestors": _ancestors(APP)}


def _account(account: str, unique_id: str) -> dict[str, Any]:
    email = f"{account}@{APP[0]}.iam.gserviceaccount.com"
    return {"name": f"//iam.googleapis.com/projects/{APP[0]}/serviceAccounts/{unique_id}",
            "asset_type": SA,
            "resource": {"version": "v1", "discovery_name": "ServiceAccount",
                         "parent": f"{CRM}projects/{APP[1]}",
                         "data": {"name": f"projects/{APP[0]}/serviceAccounts/{email}",
                                  "projectId": APP[0], "uniqueId": unique_id, "email": email,
                                  "disabled": False},
                         "location": "global"},
            "ancestors": _ancestors(APP)}


def _policy(name: str, bindings: list[tuple[str, str]]) -> dict[str, Any]:
    return {"name": _instance_name(name), "asset_type": INSTANCE,
            "iam_policy": {"version": 1, "etag": "BwYbybZBfPi=",
                           "bindings": [{"role": r, "members": [m]} for r, m in bindings]},
            "ancestors": _ancestors(APP)}


def _member(account: str) -> str:
    return f"serviceAccount:{account}@{APP[0]}.iam.gserviceaccount.com"


def _snapshot(root: Path, *, networks: bool = True, gone: bool = True) -> Path:
    """app-dev (outside PHI scope) runs vm-phi on the PHI VPC hosted in net-host, vm-plain on
    its own default network; vm-gone's IAM policy is exported, its resource is not."""
    root.mkdir()
    resources = [
        {"name": f"{CRM}{ORG}", "asset_type": "cloudresourcemanager.googleapis.com/Organization",
         "resource": {"version": "v1", "discovery_name": "Organization",
                      "data": {"name": ORG, "displayName": DOMAIN, "lifecycleState": "ACTIVE"},
                      "location": "global"},
         "ancestors": [ORG]},
        _project(APP), _project(NET), _project(PHI),
        _instance("vm-phi", PHI_VPC),
        _instance("vm-plain", f"{COMPUTE}projects/{APP[0]}/global/networks/default"),
        _account("ops-bot", "100000000000000000001"),
        _account("build-bot", "100000000000000000002"),
        _account("gone-bot", "100000000000000000003"),
    ]
    policies = [
        _policy("vm-phi", [("roles/compute.instanceAdmin.v1", _member("ops-bot")),
                           ("roles/compute.osAdminLogin", f"user:dana@{DOMAIN}")]),
        _policy("vm-plain", [("roles/compute.admin", _member("build-bot"))]),
    ]
    if gone:
        policies.append(_policy("vm-gone", [("roles/compute.admin", _member("gone-bot"))]))
    for file, records in (("resources.ndjson", resources), ("iam_policy.ndjson", policies)):
        (root / file).write_text("".join(json.dumps(r) + "\n" for r in records))
    user = {"kind": "admin#directory#user", "id": "300000000000000000001",
            "primaryEmail": f"dana@{DOMAIN}", "isAdmin": False, "isDelegatedAdmin": False,
            "suspended": False, "archived": False, "isEnrolledIn2Sv": False,
            "isEnforcedIn2Sv": False, "orgUnitPath": "/"}
    (root / "directory-users.json").write_text(json.dumps(
        {"kind": "admin#directory#users", "users": [user]}))
    phi = {"projects": [PHI[0]], "networks": [PHI_VPC] if networks else []}
    config = root.parent / f"{root.name}.yaml"
    config.write_text(json.dumps({"organization": ORG.split("/")[1], "phi": phi}))
    return config


def _scan(root: Path, config: Path, out: Path, **kwargs: Any) -> dict[tuple[str, str], Any]:
    from phiguard.cli._options import parse_at

    run_scan([root], config_path=config, outputs=[Output("json", str(out), "--output")],
             at=parse_at(AT), **kwargs)
    doc = json.loads(out.read_text())
    return {(r["rule_id"], r["asset"].rsplit("/", 1)[-1]): r for r in doc["results"]}


def _evidence(result: dict[str, Any], path: str) -> Any:
    return next(e["value"] for e in result["evidence"] if e["path"] == path)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    base = tmp_path_factory.mktemp("reach")
    config = _snapshot(base / "snapshot")
    return _scan(base / "snapshot", config, base / "local.json")


def test_a_grant_on_an_instance_on_a_phi_network_reaches_phi(
        scanned: dict[tuple[str, str], Any]) -> None:
    found = scanned[("IAM-001", "100000000000000000001")]
    assert found["outcome"] == "FAIL"
    assert _evidence(found, "phi_grants") == [
        {"role": "roles/compute.instanceAdmin.v1", "resource": _instance_name("vm-phi"),
         "member": _member("ops-bot")}]
    # the person with OS Admin Login on it is in MFA-001's population, and not enrolled
    assert scanned[("MFA-001", f"dana@{DOMAIN}")]["outcome"] == "FAIL"


def test_a_grant_on_an_instance_on_another_network_does_not(
        scanned: dict[tuple[str, str], Any]) -> None:
    found = scanned[("IAM-001", "100000000000000000002")]
    assert found["outcome"] == "PASS"
    assert _evidence(found, "phi_grants") == []


def test_a_grant_on_an_instance_whose_resource_is_absent_is_unknown(
        scanned: dict[tuple[str, str], Any]) -> None:
    found = scanned[("IAM-001", "100000000000000000003")]
    assert found["outcome"] == "UNKNOWN"
    assert "vm-gone" in found["message"] and "network" in found["message"]


def test_without_a_network_that_can_be_phi_an_absent_resource_reaches_none(
        tmp_path: Path) -> None:
    """No PHI network configured and no PHI project: no network can put vm-gone in scope."""
    root = tmp_path / "snapshot"
    config = _snapshot(root, networks=False)
    text = json.loads(config.read_text())
    text["phi"] = {"projects": [], "project_labels": {"data-classification": "phi"}}
    config.write_text(json.dumps(text))
    found = _scan(root, config, tmp_path / "out.json")
    assert found[("IAM-001", "100000000000000000003")]["outcome"] == "PASS"
    assert found[("IAM-001", "100000000000000000001")]["outcome"] == "PASS"


def test_the_inventory_alone_does_not_call_an_unheld_resource_outside_phi() -> None:
    """The Inventory asked about a policy owner whose resource it does not hold (no scan held
    it): the answer is unknown, not "no PHI"."""
    owner = Asset(_instance_name("vm-x"), INSTANCE,
                  iam_policy={"bindings": [{"role": "roles/compute.admin",
                                            "members": [f"user:a@{DOMAIN}"]}]},
                  ancestors=tuple(_ancestors(APP)), content=frozenset({"IAM_POLICY"}))
    inv = Inventory([], policies=[owner], phi=PhiConfig(networks=frozenset({PHI_VPC})))
    user = Asset("//admin.googleapis.com/users/a", USER_TYPE,
                 data={"primaryEmail": f"a@{DOMAIN}"})
    reach = inv.grants(user, within="phi")
    assert isinstance(reach, UnknownValue) and "vm-x" in reach.why


def test_a_definite_phi_grant_stays_beside_one_whose_reach_is_unknown() -> None:
    """One grant surely reaches PHI, another may: the list keeps the first and an unknown
    value for the second (a rule over its elements is UNKNOWN unless the first decides)."""
    vm = Asset(_instance_name("vm-x"), INSTANCE,
               iam_policy={"bindings": [{"role": "roles/compute.admin",
                                         "members": [f"user:a@{DOMAIN}"]}]},
               ancestors=tuple(_ancestors(APP)), content=frozenset({"IAM_POLICY"}))
    project = Asset(f"{CRM}projects/{PHI[1]}", "cloudresourcemanager.googleapis.com/Project",
                    data={"projectId": PHI[0], "projectNumber": PHI[1]},
                    iam_policy={"bindings": [{"role": "roles/viewer",
                                              "members": [f"user:a@{DOMAIN}"]}]},
                    ancestors=tuple(_ancestors(PHI)))
    inv = Inventory([project], policies=[vm], phi=PhiConfig(projects=frozenset({PHI[0]})))
    user = Asset("//admin.googleapis.com/users/a", USER_TYPE,
                 data={"primaryEmail": f"a@{DOMAIN}"})
    grants = inv.grants(user, within="phi")
    assert isinstance(grants, list) and len(grants) == 2
    assert {"role": "roles/viewer", "resource": project.name,
            "member": f"user:a@{DOMAIN}"} in grants
    unknown = [g for g in grants if isinstance(g, UnknownValue)]
    assert len(unknown) == 1 and "roles/compute.admin" in unknown[0].why


def test_the_beam_engine_writes_the_same_findings(tmp_path: Path) -> None:
    """Both engines hold the instances' network through Engine.context_types/context_fields
    and judge the grant on vm-phi alike (DirectRunner, in process)."""
    root = tmp_path / "snapshot"
    config = _snapshot(root, gone=False)
    local = _scan(root, config, tmp_path / "local.json")
    beam = _scan(root, config, tmp_path / "beam.json", engine="beam",
                 pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert (tmp_path / "beam.json").read_bytes() == (tmp_path / "local.json").read_bytes()
    assert beam[("IAM-001", "100000000000000000001")]["outcome"] == "FAIL"
    assert local[("MFA-001", f"dana@{DOMAIN}")]["outcome"] == "FAIL"


def _collections(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for child in node.get("resources", {}).values():
        yield child
        yield from _collections(child)


def _has_iam_policy(asset_type: str) -> bool:
    """Google's discovery document (google-api-python-client's) gives the collection whose
    `get` returns this type's schema a `getIamPolicy` method."""
    ref = schema_of(asset_type)
    assert ref is not None, asset_type
    docs = resources.files("googleapiclient").joinpath("discovery_cache/documents")
    doc = json.loads(docs.joinpath(f"{ref.api}.{ref.version}.json").read_text())
    owners = [c for c in _collections(doc)
              if c.get("methods", {}).get("get", {}).get("response", {}).get("$ref")
              == ref.schema]
    assert owners, f"no collection of {ref.api} {ref.version} gets a {ref.schema}"
    return any("getIamPolicy" in c.get("methods", {}) for c in owners)


@pytest.mark.parametrize("asset_type", sorted(NETWORK_PATHS))
def test_reach_types_are_the_network_scoped_types_that_carry_iam_policies(
        asset_type: str) -> None:
    assert (asset_type in REACH_TYPES) == _has_iam_policy(asset_type)


def test_the_engine_names_the_types_held_only_for_reach() -> None:
    """The bundled pack asks grants within phi and joins to subnetworks, not instances:
    instances are held for their network only, projected to it; a pack that never asks
    grants within phi holds neither for it."""
    rules = load_pack([RULES]).rules
    engine = Engine(rules)
    assert engine.context_types() >= REACH_TYPES
    assert engine.reach_only_types() == {INSTANCE}
    fields = engine.context_fields()[INSTANCE]
    assert fields is not None and "networkInterfaces" in fields and "disks" not in fields
    identity = Engine([r for r in rules if r.id in ("IAM-001", "MFA-001")])
    assert identity.reach_only_types() == REACH_TYPES
    others = Engine([r for r in rules if r.id in ("BAK-008", "IAM-004")])
    assert INSTANCE not in others.context_types() and others.reach_only_types() == frozenset()


def test_the_beam_engine_judges_an_absent_resource_alike(tmp_path: Path) -> None:
    """The IAM policy of an instance the snapshot does not hold: UNKNOWN in both engines (the
    Beam engine's grants once judged the policy record alone and said PASS)."""
    root = tmp_path / "snapshot"
    config = _snapshot(root)
    local = _scan(root, config, tmp_path / "local.json")
    beam = _scan(root, config, tmp_path / "beam.json", engine="beam",
                 pipeline_args=["--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert local[("IAM-001", "100000000000000000003")]["outcome"] == "UNKNOWN"
    assert beam[("IAM-001", "100000000000000000003")]["outcome"] == "UNKNOWN"
    assert (tmp_path / "beam.json").read_bytes() == (tmp_path / "local.json").read_bytes()
