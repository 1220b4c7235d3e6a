"""An asset's facts come from its resource record, never from a policy-only view of it: the
grants index asks whether a binding's resource is PHI through the policy owner (the IAM record,
no `data`, no location), and that answer must not stand in for the resource judged later."""

from __future__ import annotations

from phiguard.inventory.asset import USER_TYPE, Asset, UnknownValue
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig

PROJECT = "//cloudresourcemanager.googleapis.com/projects/111"
VM = "//compute.googleapis.com/projects/app/zones/us-east1-b/instances/vm-1"
NET = "https://www.googleapis.com/compute/v1/projects/app/global/networks/phi-net"


def _inventory() -> tuple[Inventory, Asset]:
    owner = Asset(VM, "compute.googleapis.com/Instance",
                  iam_policy={"bindings": [{"role": "roles/compute.admin",
                                            "members": ["user:a@example.com"]}]},
                  ancestors=("projects/111", "organizations/1"),
                  content=frozenset({"IAM_POLICY"}))
    resource = Asset(VM, "compute.googleapis.com/Instance",
                     data={"networkInterfaces": [{"network": NET}], "zone": "us-east1-b"},
                     iam_policy=owner.iam_policy, ancestors=owner.ancestors,
                     location="us-east1-b", content=frozenset({"RESOURCE", "IAM_POLICY"}))
    project = Asset(PROJECT, "cloudresourcemanager.googleapis.com/Project",
                    data={"projectId": "app", "projectNumber": "111"},
                    ancestors=("projects/111", "organizations/1"))
    inv = Inventory([project], policies=[owner],
                    phi=PhiConfig(networks=frozenset({"projects/app/global/networks/phi-net"})))
    return inv, resource


def test_the_resource_gets_its_own_facts_after_grants_asked_about_its_policy() -> None:
    inv, resource = _inventory()
    alone = _inventory()[0].facts(resource)
    assert alone["location"] == "us-east1-b" and alone["region"] == "us-east1"
    assert alone["phi"] is True  # on a PHI network: only its data says so
    # grants within: phi asks about the binding's resource through the policy owner first
    user = Asset("//admin.googleapis.com/users/a", USER_TYPE,
                 data={"primaryEmail": "a@example.com"})
    # Only the resource's data puts it on the PHI network: the policy record alone cannot
    # tell (this Inventory does not hold the resource), so whether the grant reaches PHI is
    # unknown, never "no PHI grant".
    reach = inv.grants(user, within="phi")
    assert isinstance(reach, UnknownValue) and VM in reach.why
    assert inv.grants(user) == [{"role": "roles/compute.admin", "resource": VM,
                                 "member": "user:a@example.com"}]
    assert inv.facts(resource) == alone
