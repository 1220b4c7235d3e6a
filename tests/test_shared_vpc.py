"""PHI reach of a Shared VPC's service projects: a grant on a project outside PHI scope whose
VM sits on a PHI network of another (host) project reaches that VM (it inherits the
project's IAM policy, and a resource on a PHI network is in PHI scope). Compute Engine v1:
`Instance.networkInterfaces[].network` / `.subnetwork` name the host's network and subnetwork.

Judged by both local engines (generated evaluator and the loop over rules) and the Beam engine,
over a snapshot on disk, as a scan reads it (pass 1 holds no instance without an IAM policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _crm import CRM, ORG, SA_MEMBER, SA_NAME, WEB_ANC, account, project, web
from _engines import looped
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]
HOST_ANC = ["projects/555555555555", "folders/222", ORG]
SVC_ANC = ["projects/666666666666", "folders/444", ORG]
COMPUTE = "https://www.googleapis.com/compute/v1/"
PHI_NET = "projects/net-host/global/networks/phi-vpc"
OTHER_NET = "projects/net-host/global/networks/web-vpc"
CONFIG = {"phi": {"projects": ["phi-prod"], "networks": [PHI_NET]}}


def _vm(network: str | None, *, nics: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "app-1", "status": "RUNNING",
        "zone": f"{COMPUTE}projects/svc-prod/zones/us-central1-a",
        "selfLink": f"{COMPUTE}projects/svc-prod/zones/us-central1-a/instances/app-1"}
    if nics:
        subnet = (network or OTHER_NET).replace("global/networks", "regions/us-central1/"
                                                "subnetworks")
        data["networkInterfaces"] = [{"name": "nic0", "network": f"{COMPUTE}{network}",
                                      "subnetwork": f"{COMPUTE}{subnet}",
                                      "networkIP": "10.0.0.2"}]
    return {"name": "//compute.googleapis.com/projects/svc-prod/zones/us-central1-a/"
                    "instances/app-1",
            "asset_type": "compute.googleapis.com/Instance",
            "resource": {"data": data, "location": "us-central1-a"}, "ancestors": SVC_ANC}


def _service_project_grant(role: str = "roles/compute.admin") -> dict[str, Any]:
    return {"name": f"{CRM}projects/666666666666",
            "asset_type": "cloudresourcemanager.googleapis.com/Project",
            "ancestors": SVC_ANC,
            "iam_policy": {"version": 1, "etag": "BwYb1xF3kQ1=",
                           "bindings": [{"role": role, "members": [SA_MEMBER]}]}}


def _snapshot(tmp_path: Path, vm: dict[str, Any]) -> tuple[Path, Path]:
    records = [account(), web(), project("111111111111", "phi-prod",
                                         ["projects/111111111111", "folders/222", ORG]),
               project("555555555555", "net-host", HOST_ANC),
               project("666666666666", "svc-prod", SVC_ANC), _service_project_grant(), vm]
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "assets.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records),
                                        encoding="utf-8")
    config = tmp_path / "phiguard.yaml"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    return snap, config


def _scan(snap: Path, config: Path, out: Path, engine: str = "local",
          args: list[str] | None = None) -> bytes:
    from phiguard.cli._options import parse_at

    run_scan([snap], config_path=config, outputs=[Output("json", out, "--output")],
             at=parse_at(AT), engine=engine, pipeline_args=args or [])
    return out.read_bytes()


def _iam_001(doc: bytes) -> dict[str, Any]:
    found = [r for r in json.loads(doc)["results"]
             if r["rule_id"] == "IAM-001" and r["asset"] == SA_NAME]
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def _all_engines(tmp_path: Path, vm: dict[str, Any]) -> dict[str, Any]:
    snap, config = _snapshot(tmp_path, vm)
    generated = _scan(snap, config, tmp_path / "generated.json")
    with looped():
        loop = _scan(snap, config, tmp_path / "loop.json")
    beam = _scan(snap, config, tmp_path / "beam.json", "beam", IN_PROCESS)
    assert loop == generated
    assert json.loads(beam)["results"] == json.loads(generated)["results"]
    return _iam_001(generated)


def test_admin_on_a_service_project_with_a_vm_on_the_phi_network_fails(tmp_path: Path) -> None:
    """PASSed before: the grant on svc-prod (no PHI project, no PHI network's host) was counted
    as reaching no PHI, though app-1 in it sits on the host's PHI network."""
    found = _all_engines(tmp_path, _vm(PHI_NET))
    assert found["outcome"] == "FAIL"
    assert "roles/compute.admin" in json.dumps(found["evidence"])


def test_admin_on_a_service_project_on_another_network_passes(tmp_path: Path) -> None:
    assert _all_engines(tmp_path, _vm(OTHER_NET))["outcome"] == "PASS"


def test_a_vm_whose_record_lacks_its_interfaces_makes_the_grant_unknown(tmp_path: Path) -> None:
    """Compute Engine always shows an instance's interfaces: a record without them does not
    tell whether svc-prod's grants reach the PHI network."""
    found = _all_engines(tmp_path, _vm(None, nics=False))
    assert found["outcome"] == "UNKNOWN"
    assert "svc-prod" in found["message"] or "666666666666" in found["message"]


@pytest.mark.parametrize("role", ["roles/compute.viewer"])
def test_a_role_no_rule_cares_about_decides_nothing(role: str, tmp_path: Path) -> None:
    """An unknown reach makes IAM-001 UNKNOWN only for a role it judges."""
    snap, config = _snapshot(tmp_path, _vm(None, nics=False))
    lines = (snap / "assets.ndjson").read_text(encoding="utf-8").replace(
        "roles/compute.admin", role)
    (snap / "assets.ndjson").write_text(lines, encoding="utf-8")
    assert _iam_001(_scan(snap, config, tmp_path / "o.json"))["outcome"] == "PASS"


def test_the_organization_above_an_undecided_service_project_is_unknown() -> None:
    from phiguard.inventory.asset import UnknownValue
    from phiguard.inventory.inventory import Inventory
    from phiguard.inventory.scope import PhiConfig, Tenancy
    from phiguard.testing import assets_from_records

    assets = assets_from_records([project("555555555555", "net-host", HOST_ANC),
                                  project("666666666666", "svc-prod", SVC_ANC),
                                  project("111111111111", "phi-prod",
                                          ["projects/111111111111", "folders/222", ORG]),
                                  web()])
    phi = PhiConfig(projects=frozenset({"phi-prod"}), networks=frozenset({PHI_NET}))
    undecided = Inventory(assets, phi=phi, tenancy=Tenancy(undecided={"666666666666"}))
    above = undecided.reach(f"{CRM}folders/444")
    assert isinstance(above, UnknownValue)
    assert "folders/444" in above.why
    assert isinstance(undecided.reach(f"{CRM}{SVC_ANC[0]}"), UnknownValue)
    assert undecided.reach(f"{CRM}folders/222") is True  # above phi-prod
    tenant = Inventory(assets, phi=phi, tenancy=Tenancy(
        networks={"666666666666": {PHI_NET}}))
    assert tenant.reach(f"{CRM}folders/444") is True
    assert tenant.reach(f"{CRM}{WEB_ANC[0]}") is False  # web-prod: no resource on it
    clean = Inventory(assets, phi=phi, tenancy=Tenancy(networks={"666666666666": {OTHER_NET}}))
    assert clean.reach(f"{CRM}folders/444") is False


@pytest.mark.parametrize(("network", "outcome"), [
    ("projects/phi-prod/global/networks/phi-vpc", "FAIL"),  # phi-prod hosts it: PHI
    ("projects/web-host/global/networks/web-vpc", "PASS"),
])
def test_a_planned_vm_on_a_phi_network_puts_its_project_in_reach(
        network: str, outcome: str, tmp_path: Path) -> None:
    """`phiguard plan`: a planned VM of svc-prod on a PHI network counts for svc-prod, whose
    planned compute.admin grant then reaches PHI (fixtures/plans/phiguard.yaml: phi-prod)."""
    import orjson
    from click.testing import CliRunner

    from _paths import PLANS
    from _planned_vm import hardened, nic
    from _plans import change, plan_doc
    from phiguard.cli import main

    email = "deployer@svc-prod.iam.gserviceaccount.com"
    subnet = network.replace("global/networks", "regions/us-east4/subnetworks")
    changes = [
        change("google_service_account", "deployer",
               {"account_id": "deployer", "project": "svc-prod", "email": email,
                "disabled": False}),
        change("google_project_iam_member", "admin",
               {"project": "svc-prod", "role": "roles/compute.admin",
                "member": f"serviceAccount:{email}", "condition": []}),
        change("google_compute_instance", "app",
               hardened("app-1", "svc-prod", "deployer", nic(subnet, network)))]
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(plan_doc(changes)))
    result = CliRunner().invoke(main, ["plan", str(plan), "-c", str(PLANS / "phiguard.yaml"),
                                       "--at", AT, "-f", "json"], catch_exceptions=False)
    found = [r for r in json.loads(result.stdout)["results"] if r["rule_id"] == "IAM-001"]
    assert [r["outcome"] for r in found] == [outcome]
