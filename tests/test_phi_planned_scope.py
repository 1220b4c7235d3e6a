"""A planned Compute Engine instance whose network is known only after apply: its PHI scope is
not known, so a `scope: phi` rule that would FAIL on it is UNKNOWN, a PASS holds either way, and
it is PHI when what the plan does show settles it (its subnetwork in a PHI project); never
silently "not PHI"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _planned_vm import hardened, nic, planned_instance, vm_results
from _plans import change
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.coverage import PLAN
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig

WEB = "web-prod"  # not in PHI scope (fixtures/plans/phiguard.yaml: phi-prod)
WEB_SUBNET = f"projects/{WEB}/regions/us-east4/subnetworks/app"
PHI_SUBNET = "projects/phi-prod/regions/us-east4/subnetworks/app"  # Shared VPC host: PHI


def _vm(subnetwork: str, *, external: bool = True, network: str | None = None,
        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A VM in web-prod, its network known only after apply unless given; `external`: an
    ephemeral external address (VM-001 FAILs on a PHI VM)."""
    nic_unknown: dict[str, Any] = {"network_ip": True, "name": True}
    if network is None:
        nic_unknown["network"] = True
    if external:
        nic_unknown["access_config"] = [{"nat_ip": True}]
    after = hardened("batch-1", WEB, "batch", nic(subnetwork, network, external=external))
    return after, {"instance_id": True, "network_interface": [nic_unknown]}


def _results(tmp_path: Path, after: dict[str, Any], unknown: dict[str, Any]) -> dict[str, Any]:
    return vm_results(tmp_path, [change("google_compute_instance", "x", after, unknown=unknown)])


def test_a_failure_on_a_vm_whose_network_is_known_after_apply_is_unknown(tmp_path: Path) -> None:
    """It gave no VM result at all before (as if surely outside PHI scope)."""
    found = _results(tmp_path, *_vm(WEB_SUBNET))
    assert found["VM-001"]["outcome"] == "UNKNOWN"
    assert "known only after apply" in found["VM-001"]["message"]
    assert "external" in found["VM-001"]["message"].lower()  # what would fail, if it applies
    assert {r["outcome"] for k, r in found.items() if k != "VM-001"} <= {"PASS", "UNKNOWN"}


def test_a_pass_holds_whatever_the_network(tmp_path: Path) -> None:
    found = _results(tmp_path, *_vm(WEB_SUBNET, external=False))
    assert found["VM-001"]["outcome"] == "PASS"


def test_a_subnetwork_in_a_phi_project_settles_it(tmp_path: Path) -> None:
    """A subnetwork sits in its network's project: the network is a PHI project's."""
    found = _results(tmp_path, *_vm(PHI_SUBNET))
    assert found["VM-001"]["outcome"] == "FAIL"


def test_a_known_non_phi_network_is_not_phi(tmp_path: Path) -> None:
    assert _results(tmp_path, *_vm(WEB_SUBNET, network=f"projects/{WEB}/global/networks/web")) \
        == {}


def test_a_held_subnetwork_tells_the_network() -> None:
    """The subnetwork the plan (or snapshot) holds names its network: a PHI network settles
    the instance's scope, a non-PHI one leaves it outside, none leaves it unknown."""
    vm = planned_instance(*_vm(WEB_SUBNET))
    phi_net = "projects/host/global/networks/phi-vpc"

    def scope(network: str | None) -> Any:
        held = [vm]
        if network is not None:
            held.append(type(vm)(name=f"//compute.googleapis.com/{WEB_SUBNET}",
                                 asset_type="compute.googleapis.com/Subnetwork",
                                 data={"network": network}, ancestors=(f"projects/{WEB}",)))
        inv = Inventory(held, phi=PhiConfig(networks=frozenset({phi_net})), origin=PLAN)
        return inv.facts(vm)["phi"]

    assert scope(phi_net) is True
    assert scope(f"projects/{WEB}/global/networks/web") is False
    assert isinstance(scope(None), UnknownValue)
    # a snapshot's records hold no value known only after apply: nothing changes there
    assert Inventory([vm], phi=PhiConfig(networks=frozenset({phi_net}))).facts(vm)["phi"] is False


def test_any_type_placed_by_its_network_is_unknown_while_the_network_is() -> None:
    """A planned Cloud SQL instance outside the PHI projects whose private network is known only
    after apply: its scope is unknown; with the network known and not PHI, it is outside."""
    from phiguard.inventory.asset import Asset

    def sql(network: Any) -> Any:
        asset = Asset(name=f"//cloudsql.googleapis.com/projects/{WEB}/instances/db",
                      asset_type="sqladmin.googleapis.com/Instance",
                      data={"settings": {"ipConfiguration": {"privateNetwork": network}}},
                      ancestors=(f"projects/{WEB}",))
        inv = Inventory([asset], phi=PhiConfig(projects=frozenset({"phi-prod"})), origin=PLAN)
        return inv.facts(asset)["phi"], inv.undecided_scope(asset)

    phi, why = sql(UnknownValue())
    assert isinstance(phi, UnknownValue) and why is phi
    assert sql(f"projects/{WEB}/global/networks/web") == (False, None)
    assert sql("projects/phi-prod/global/networks/phi-vpc") == (True, None)
