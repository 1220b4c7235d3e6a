"""google_compute_instance's exposure and hardening attributes in `phiguard plan`: access
configs (IPv4 and IPv6), Shielded VM options with the API's defaults, metadata keys; each judged
by VM-001..005 as the CAI record after apply would be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _planned_vm import hardened, nic, planned_instance, vm_results
from _plans import change
from phiguard.inventory.asset import UnknownValue

P = "phi-prod"
VPC = f"projects/{P}/global/networks/phi-vpc"
SUBNET = f"projects/{P}/regions/us-east4/subnetworks/app"
ADDRESS = "google_compute_instance.x"


def _vm(**extra: Any) -> dict[str, Any]:
    interface = nic(SUBNET, VPC)
    interface.update(extra.pop("nic", {}))
    return {**hardened("ehr-api-1", P, "ehr-api", interface), **extra}


def _outcomes(tmp_path: Path, after: dict[str, Any], unknown: Any = None,
              config: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    found = vm_results(tmp_path, [change("google_compute_instance", "x", after,
                                         unknown=unknown)], config)
    return {rule_id: r["outcome"] for rule_id, r in found.items()}


def _data(after: dict[str, Any], unknown: Any = None,
          config: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return dict(planned_instance(after, unknown, config).data)


def test_hardened_vm_passes_every_vm_rule(tmp_path: Path) -> None:
    """Internal addresses, no forwarding, all Shielded VM options, serial console off and
    project keys blocked on the instance itself: nothing depends on the project or org."""
    assert _outcomes(tmp_path, _vm()) == {f"VM-00{i}": "PASS" for i in range(1, 6)}


def test_an_access_config_block_is_an_external_ipv4_address(tmp_path: Path) -> None:
    """`access_config {}` asks for an ephemeral external address, known only after apply: the
    record has a ONE_TO_ONE_NAT access config whatever the address, so VM-001 FAILs."""
    after = _vm(nic={"access_config": [{"network_tier": "PREMIUM"}]})
    unknown = {"network_interface": [{"access_config": [{"nat_ip": True}]}]}
    (nic,) = _data(after, unknown)["networkInterfaces"]
    (config,) = nic["accessConfigs"]
    assert config["type"] == "ONE_TO_ONE_NAT"
    assert isinstance(config["natIP"], UnknownValue)
    assert _outcomes(tmp_path, after, unknown)["VM-001"] == "FAIL"


def test_an_ipv6_access_config_alone_is_an_external_ipv6_address(tmp_path: Path) -> None:
    after = _vm(nic={"stack_type": "IPV4_IPV6",
                     "ipv6_access_config": [{"network_tier": "PREMIUM"}]})
    unknown = {"network_interface": [{"ipv6_access_config": [{"external_ipv6": True}]}]}
    (nic,) = _data(after, unknown)["networkInterfaces"]
    assert [c["type"] for c in nic["ipv6AccessConfigs"]] == ["DIRECT_IPV6"]
    assert nic.get("accessConfigs") in (None, [])
    assert _outcomes(tmp_path, after, unknown)["VM-001"] == "FAIL"


def test_shielded_block_left_to_the_provider_has_secure_boot_off(tmp_path: Path) -> None:
    """Without a configured shielded_instance_config the API's defaults apply after apply:
    Secure Boot off, vTPM and integrity monitoring on; VM-004 FAILs on Secure Boot."""
    after = _vm()
    del after["shielded_instance_config"]
    unknown = {"shielded_instance_config": True}
    config = {ADDRESS: {"name": {"constant_value": "ehr-api-1"}}}
    assert _data(after, unknown, config)["shieldedInstanceConfig"] == {
        "enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True}
    assert _outcomes(tmp_path, after, unknown, config)["VM-004"] == "FAIL"


def test_shielded_options_from_a_variable_are_unknown(tmp_path: Path) -> None:
    """A configured expression the plan cannot follow (var.*) stays unknown: VM-004 UNKNOWN."""
    after = _vm()
    del after["shielded_instance_config"]
    unknown = {"shielded_instance_config": True}
    config = {ADDRESS: {"shielded_instance_config": [{
        "enable_secure_boot": {"references": ["var.secure_boot"]}}]}}
    assert _outcomes(tmp_path, after, unknown, config)["VM-004"] == "UNKNOWN"


def test_metadata_keys_reach_the_serial_port_and_ssh_key_rules(tmp_path: Path) -> None:
    """serial-port-enable and enable-oslogin from the `metadata` map: the instance's own TRUE
    serial console is UNKNOWN without the org policies (disableSerialPortAccess could win);
    enable-oslogin FALSE with no block-project-ssh-keys FAILs VM-005 without the project."""
    after = _vm(metadata={"serial-port-enable": "TRUE", "enable-oslogin": "FALSE"},
                can_ip_forward=True)
    got = _outcomes(tmp_path, after)
    assert got["VM-002"] == "UNKNOWN"
    assert got["VM-005"] == "FAIL"
    assert got["VM-003"] == "FAIL"
