"""The plan gate's deletion path (a control that passes before the plan and not after, on an
asset holding or referencing what the plan deletes) takes the same FAIL -> UNKNOWN step as the
planned-resource path when the asset's PHI scope is known only after apply: a `scope: phi`
rule fails only if the asset is in PHI scope, which the plan does not tell yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _planned_vm import hardened, nic, vm_results
from _plans import change

WEB = "web-prod"  # not in PHI scope (fixtures/plans/phiguard.yaml: phi-prod)
PHI_NET = "projects/phi-prod/global/networks/phi-vpc"
PHI_SUBNET = "projects/phi-prod/regions/us-east4/subnetworks/app"
WEB_SUBNET = f"projects/{WEB}/regions/us-east4/subnetworks/app"


def _run(tmp_path: Path, after_network: str | None) -> dict[str, dict[str, Any]]:
    """The VM sits on the PHI network before the plan, with no external address (VM-001
    passes); the plan gives it one and moves it to a subnetwork whose network is known only
    after apply (unless `after_network`), and deletes an IAM member on it (the deletion path
    judges it as the holder of what is deleted)."""
    before = hardened("batch-1", WEB, "batch", nic(PHI_SUBNET, PHI_NET))
    after = hardened("batch-1", WEB, "batch", nic(WEB_SUBNET, after_network, external=True))
    nic_unknown: dict[str, Any] = {"network_ip": True, "name": True,
                                   "access_config": [{"nat_ip": True}]}
    if after_network is None:
        nic_unknown["network"] = True
    changes = [
        change("google_compute_instance", "batch", after, before=before,
               actions=("update",), unknown={"network_interface": [nic_unknown]}),
        change("google_compute_instance_iam_member", "viewer", None, actions=("delete",),
               before={"project": WEB, "zone": "us-east4-a", "instance_name": "batch-1",
                       "role": "roles/compute.viewer",
                       "member": "user:ann@example-health.com"}),
    ]
    return vm_results(tmp_path, changes)


def test_a_deletion_failure_on_an_undecided_scope_is_unknown(tmp_path: Path) -> None:
    """VM-001 FAILed through the deletion path although the VM may have left PHI scope."""
    found = _run(tmp_path, None)
    vm1 = found["VM-001"]
    assert vm1["outcome"] == "UNKNOWN", vm1["message"]
    assert "known only after apply" in vm1["message"]
    assert "deleting google_compute_instance_iam_member.viewer" in vm1["message"]


def test_a_deletion_failure_on_a_known_phi_asset_stays_a_failure(tmp_path: Path) -> None:
    """Still on the PHI network after the plan: the failure stands."""
    found = _run(tmp_path, PHI_NET)
    assert found["VM-001"]["outcome"] == "FAIL", found["VM-001"]["message"]
