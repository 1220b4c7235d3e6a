"""References inside repeated nested blocks resolve per block: a DNS policy bound to two planned
networks names each of them (the configuration's references are kept per block index)."""

from __future__ import annotations

from _plans import change, make_plan
from phiguard.terraform.world import build_world


def _net(name: str) -> dict[str, object]:
    return change("google_compute_network", name, {"name": name, "project": "p",
                                                   "auto_create_subnetworks": False})


def test_each_block_of_a_repeated_block_resolves_its_own_reference() -> None:
    policy = change("google_dns_policy", "logging", {
        "name": "logging", "project": "p", "enable_logging": True, "networks": [{}, {}]},
        unknown={"networks": [{"network_url": True}, {"network_url": True}]})
    config = {
        "google_dns_policy.logging": {"networks": [
            {"network_url": {"references": ["google_compute_network.a.id",
                                            "google_compute_network.a"]}},
            {"network_url": {"references": ["google_compute_network.b.id",
                                            "google_compute_network.b"]}}]},
        "google_compute_network.a": {}, "google_compute_network.b": {}}
    world = build_world(make_plan([_net("a"), _net("b"), policy], config), "after")
    (dns,) = [a for a in world.assets.values() if a.asset_type == "dns.googleapis.com/Policy"]
    urls = [n["networkUrl"] for n in dns.data["networks"]]
    assert urls == ["projects/p/global/networks/a", "projects/p/global/networks/b"]
